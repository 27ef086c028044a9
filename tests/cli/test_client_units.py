"""In-process units of the client (no server): counts, the profile file and the HTTP client's errors and
paging guard."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

import httpx
import pytest

from modelyard.client.cli import human_count, parse_count
from modelyard.client.config import dump_profiles, resolve, write_profile
from modelyard.client.http import ApiConnectionError, ApiError, ModelyardClient

# -- in-process units (no server) -------------------------------------------------------------------------


def test_counts() -> None:
    counts = ("8030000000", "70553706496", "671026419200", "1000000000000", "350000000", "999", None)
    assert [human_count(v) for v in counts] == ["8.0B", "70.6B", "671B", "1.0T", "350M", "999", ""]
    assert [parse_count(v) for v in ("8B", "8.03b", "70.6B", "350M", "1_000", "1.5T", "12")] == [
        "8000000000",
        "8030000000",
        "70600000000",
        "350000000",
        "1000",
        "1500000000000",
        "12",
    ]


def test_profile_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "profiles.toml"
    tricky = 'a "quoted" \\ back\tslash\nand\x01control é'
    write_profile(path, "we.ird name", {"api_key": tricky, "account": "a"})
    write_profile(path, "default", {"api_key": "k"})
    assert tomllib.loads(path.read_text()) == {
        "we.ird name": {"api_key": tricky, "account": "a"},
        "default": {"api_key": "k"},
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    dumped = dump_profiles({"p": {"n": 1, "b": True, "nested": {"x": 1}}})
    assert tomllib.loads(dumped) == {"p": {"n": 1, "b": True}}
    env = {"MODELYARD_CONFIG": str(path), "MODELYARD_PROFILE": "we.ird name", "FIREWORKS_ACCOUNT_ID": "fw"}
    settings = resolve(env=env)
    assert settings.api_key.value == tricky and settings.account.value == "fw"
    assert (settings.base_url.value, settings.base_url.source) == (
        "http://127.0.0.1:8765",
        "built-in default",
    )


def test_http_client_errors_and_paging_guard() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.url.path.endswith("/models/missing"):
            return httpx.Response(404, json={"code": 5, "message": "model x not found", "details": []})
        if request.url.path.endswith("/models/html"):
            return httpx.Response(502, text="<html><body>Bad   gateway</body></html>")
        # a broken server that hands out the same token forever
        page = {"models": [{"name": f"m{len(calls)}"}], "nextPageToken": "same", "totalSize": 99}
        return httpx.Response(200, json=page)

    with ModelyardClient("http://test/prefix", "k", transport=httpx.MockTransport(handler)) as client:
        assert [m["name"] for m in client.iter_models("acct", page_size=1, filter="a=1")] == ["m1", "m2"]
        assert str(calls[0].url) == "http://test/prefix/v1/accounts/acct/models?filter=a%3D1&pageSize=1"
        assert calls[1].url.params["pageToken"] == "same"
        assert calls[0].headers["authorization"] == "Bearer k"
        with pytest.raises(ApiError) as info:
            client.get_model("acct", "missing")
        assert (info.value.status, info.value.code, info.value.message) == (
            404,
            "NOT_FOUND",
            "model x not found",
        )
        assert str(info.value) == "NOT_FOUND (404): model x not found"
        with pytest.raises(ApiError) as info:
            client.delete_model("acct", "html")
        assert str(info.value) == "UNAVAILABLE (502): <html><body>Bad gateway</body></html>"
        client.update_model("acct", "a b/c", {"public": True}, update_mask="")
        assert calls[-1].url.raw_path == b"/prefix/v1/accounts/acct/models/a%20b%2Fc"
        assert calls[-1].method == "PATCH" and json.loads(calls[-1].content) == {"public": True}
    with ModelyardClient("http://127.0.0.1:9", "k") as client, pytest.raises(ApiConnectionError) as conn:
        client.list_models("acct")
    assert str(conn.value) == "cannot reach http://127.0.0.1:9: connection refused"


@pytest.mark.parametrize(
    ("include", "exclude"),
    [
        (["*.json"], None),
        (["*.json", "sub/"], ["tok*"]),
        (None, ["*.safetensors", "sub/deep/"]),
        (["sub/*.txt"], None),
        (["model-0000?-of-*.safetensors"], ["*-00002-*"]),
        (["[ab]*"], None),
    ],
)
def test_download_globs_choose_the_files_hf_download_chooses(
    include: list[str] | None, exclude: list[str] | None
) -> None:
    """``--include/--exclude`` keep exactly what huggingface_hub's ``filter_repo_objects`` keeps."""
    from huggingface_hub.utils import filter_repo_objects

    from modelyard.client.download import wanted

    names = [
        "config.json", "tokenizer.json", "tokenizer_config.json", "a/b.json", "sub/x.txt", "sub/deep/y.bin",
        "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "README.md", "b.txt",
    ]  # fmt: skip
    hf = list(filter_repo_objects(names, allow_patterns=include, ignore_patterns=exclude))
    assert [n for n in names if wanted(n, include, exclude)] == hf
