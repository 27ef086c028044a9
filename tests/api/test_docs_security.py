"""Issue 25, item 26 (the HTTP part): ``/docs`` is sent with a Content-Security-Policy under which Swagger
UI still renders (checked in Chromium when it is installed), every JSON error (which may echo the
request's path) carries ``X-Content-Type-Options: nosniff``, and the OpenAPI document gives the id
patterns of the identity paths (real ``modelyard serve``)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path

import pytest

from tests.support.server import Server

ID_REGEX = "^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$"
CHROMIUM = os.environ.get("MODELYARD_CHROMIUM", "/usr/bin/chromium")


def test_docs_has_a_content_security_policy(server: Server) -> None:
    page = server.anonymous().get("/docs")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    inline = re.findall(rb"<script>(.*?)</script>", page.content, re.DOTALL)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0]).digest()).decode()
    assert directives["script-src"] == f"'self' 'sha256-{digest}'"
    assert "unsafe-inline" not in directives["script-src"]
    assert page.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/accounts/a/models/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/v1/nothing/<b>here</b>",
        "/v1/accounts/a/models/m:<i>verb</i>",
    ],
)
def test_json_errors_are_not_sniffed(server: Server, path: str) -> None:
    response = server.anonymous().get(path)
    assert response.status_code >= 400
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.json()["code"] > 0


def test_identity_paths_give_their_id_patterns(server: Server) -> None:
    doc = server.anonymous().get("/openapi.json").json()
    checked = 0
    for path, item in doc["paths"].items():
        for operation in item.values():
            for param in operation.get("parameters", []):
                if param["in"] == "path" and param["name"] in ("account_id", "user_id", "model_id"):
                    # the id rule, or (listing models) the rule or "-" for every readable account
                    allowed = {ID_REGEX, "^(-|" + ID_REGEX[1:-1] + ")$"}
                    assert param["schema"].get("pattern") in allowed, (path, param)
                    checked += 1
    users = doc["paths"]["/v1/accounts/{account_id}/users/{user_id}"]["get"]["parameters"]
    assert {p["name"]: p["schema"]["pattern"] for p in users if p["in"] == "path"} == {
        "account_id": ID_REGEX,
        "user_id": ID_REGEX,
    }
    assert checked > 10


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")
def test_swagger_ui_renders_under_its_policy(server: Server) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            violations: list[str] = []
            page.on(
                "console",
                lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
            )
            page.goto(server.base_url + "/docs")
            page.locator(".opblock").first.wait_for(timeout=60_000)
            assert page.locator(".opblock").count() > 10
            assert violations == []
        finally:
            browser.close()
