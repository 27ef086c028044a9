"""Operator observability through real ``modelyard serve`` processes: ``/metrics`` (Prometheus text),
``X-Request-Id``, JSON access logs, ``/readyz`` (also while draining) and graceful shutdown.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from modelyard import __version__
from modelyard.api.observability import Observability, redact_query
from modelyard.store.engine import make_engine
from modelyard.store.migrate import upgrade
from modelyard.store.repository import Store
from tests.support.accounts import Account
from tests.support.api import base_model, uid
from tests.support.metrics import LIST_ROUTE, labelled, scrape, value
from tests.support.server import Server, start_server, stop_server

HEX32 = re.compile(r"^[0-9a-f]{32}$")
#: The access log is written at INFO; conftest.start_server runs servers at --log-level warning.
INFO = ("--log-level", "info")
RFC3339_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _url(store: Store) -> str:
    return str(store.engine.url.render_as_string(hide_password=False))


def _rest(proc: subprocess.Popen[str]) -> str:
    """What the server printed after its "listening on" line (call once it has exited)."""
    assert proc.stdout is not None
    return proc.stdout.read()


def _refused(base_url: str) -> bool:
    """Whether the server no longer serves new connections: refused, or (when the probe raced the
    listener's close and sat in its accept backlog) reset without an answer."""
    try:
        httpx.get(base_url + "/healthz", timeout=30)
    except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
        return True
    return False


# -- /metrics ------------------------------------------------------------------------------------------
def test_metrics_count_requests_and_read_gauges_at_scrape_time(server: Server, account: Account) -> None:
    counter, count = "modelyard_http_requests_total", "modelyard_http_request_duration_seconds_count"
    before = scrape(server.base_url, counter, count)

    for _ in range(3):
        r = account.client.post(account.url(), json={"modelId": uid(), "model": base_model()})
        assert r.status_code == 200, r.text
    for _ in range(2):
        assert account.client.get(account.url()).status_code == 200
    assert server.anonymous().get(account.url()).status_code == 401

    after = scrape(server.base_url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(counter, route=LIST_ROUTE, method="GET", status="200") == 2
    assert delta(counter, route=LIST_ROUTE, method="GET", status="401") == 1
    assert delta(counter, route=LIST_ROUTE, method="POST", status="200") == 3
    assert delta(count, route=LIST_ROUTE, method="GET") == 3
    assert delta(count, route=LIST_ROUTE, method="POST") == 3
    bucket = "modelyard_http_request_duration_seconds_bucket"
    inf = value(after, bucket, route=LIST_ROUTE, method="GET", le="+Inf")
    assert inf == value(after, count, route=LIST_ROUTE, method="GET")
    buckets = labelled(after, bucket, "le")
    assert {"0.0005", "0.005", "0.05", "0.5", "5.0", "+Inf"} <= set(buckets)

    pool = labelled(after, "modelyard_db_pool_connections", "state")
    assert set(pool) == {"checked_out", "size", "overflow"}
    assert pool["size"] >= 1
    assert 0 <= pool["checked_out"] <= pool["size"] + pool["overflow"]

    assert value(after, "modelyard_build_info", version=__version__) == 1

    # Per-account model counts are opt-in (tests/server/test_metrics_workers.py).
    assert labelled(after, "modelyard_models", "account") == {}


# -- X-Request-Id --------------------------------------------------------------------------------------
def test_request_id_is_echoed_or_generated_on_every_response(server: Server, account: Account) -> None:
    anonymous = server.anonymous()
    cases: list[tuple[httpx.Client, str, int]] = [
        (account.client, account.url(), 200),
        (anonymous, account.url(), 401),
        (account.client, "/no/such/endpoint", 404),
        (account.client, account.url() + "/" + uid(), 404),
        (anonymous, "/healthz", 200),
        (anonymous, "/readyz", 200),
    ]
    seen: set[str] = set()
    for client, path, status in cases:
        given = f"req-{uid()}:{status}/ok=yes"
        r = client.get(path, headers={"X-Request-Id": given})
        assert (r.status_code, r.headers["x-request-id"]) == (status, given), (path, r.text)
        r = client.get(path)
        assert r.status_code == status
        generated = r.headers["x-request-id"]
        assert HEX32.match(generated), generated
        assert generated not in seen
        seen.add(generated)
    for bad in (b"x" * 129, b"tab\there", b"caf\xc3\xa9", b""):
        r = anonymous.get(account.url(), headers={b"X-Request-Id": bad})
        assert r.status_code == 401
        assert HEX32.match(r.headers["x-request-id"]), bad
    r = anonymous.get("/healthz", headers={"X-Request-Id": "y" * 128})
    assert r.headers["x-request-id"] == "y" * 128


# -- access log ----------------------------------------------------------------------------------------
def test_json_access_log_has_request_ids_and_no_secrets(sqlite_store: Store) -> None:
    key = sqlite_store.create_api_key("logs", "test")
    secret_token = "SECRETTOKEN" + "z" * 40
    proc, base = start_server(_url(sqlite_store), *INFO, capture=True)
    try:
        requests: list[tuple[str, dict[str, str], str, int]] = [
            ("/v1/accounts/logs/models", {"Authorization": f"Bearer {key}"}, "rid-bearer", 200),
            ("/v1/accounts/logs/models?pageSize=5", {"X-Api-Key": key}, "rid-xapikey", 200),
            (
                f"/v1/accounts/logs/models?pageSize=2&pageToken={secret_token}&page_token={secret_token}",
                {"Authorization": f"Bearer {key}"},
                "rid-token",
                400,
            ),
            ("/v1/accounts/logs/models", {}, "rid-anonymous", 401),
            ("/nowhere", {}, "rid-404", 404),
        ]
        with httpx.Client(base_url=base, timeout=30, headers={"User-Agent": "obs-test/1.0"}) as client:
            for path, headers, rid, status in requests:
                r = client.get(path, headers={**headers, "X-Request-Id": rid})
                assert r.status_code == status, r.text
            r = client.get("/healthz")
            generated = r.headers["x-request-id"]
            # A static file goes out with sendfile (http.response.pathsend): no body messages to count.
            css = client.get("/catalog/static/catalog.css", headers={"X-Request-Id": "rid-file"})
            assert css.status_code == 200 and css.content
    finally:
        stop_server(proc)
    output = _rest(proc)
    assert key not in output
    assert key[:12] not in output
    lines = [line for line in output.splitlines() if line.startswith("{")]
    assert lines
    assert not [line for line in lines if secret_token in line]
    entries = [json.loads(line) for line in lines]
    by_id = {e["request_id"]: e for e in entries}
    for path, _headers, rid, status in requests:
        entry = by_id[rid]
        assert list(entry) == [
            "ts",
            "request_id",
            "method",
            "path",
            "query",
            "route",
            "status",
            "duration_ms",
            "client",
            "user_agent",
            "bytes",
        ]
        assert entry["path"] == path.partition("?")[0]
        assert entry["method"] == "GET"
        assert entry["status"] == status
        assert RFC3339_MS.match(entry["ts"]), entry
        assert isinstance(entry["duration_ms"], float) and entry["duration_ms"] >= 0
        assert entry["client"] == "127.0.0.1"
        assert entry["user_agent"] == "obs-test/1.0"
        assert entry["bytes"] > 0
        assert entry["route"] == ("unmatched" if status == 404 else LIST_ROUTE)
    assert by_id["rid-bearer"]["query"] == ""
    assert by_id["rid-xapikey"]["query"] == "pageSize=5"
    assert by_id["rid-token"]["query"] == "pageSize=2&pageToken=SECRETTO...&page_token=SECRETTO..."
    assert by_id[generated]["route"] == "/healthz"
    assert by_id["rid-file"]["bytes"] == len(css.content)


def test_redact_query() -> None:
    assert redact_query(b"") == ""
    assert redact_query(b"pageSize=5&filter=a%3Db") == "pageSize=5&filter=a%3Db"
    assert redact_query(b"pageToken=short") == "pageToken=short"
    assert redact_query(b"pageToken=0123456789abcdef&x=1") == "pageToken=01234567...&x=1"
    assert redact_query(b"page%54oken=0123456789abcdef") == "page%54oken=01234567..."
    assert redact_query(b"page_token=0123456789&pageToken") == "page_token=01234567...&pageToken"


# -- readiness and shutdown ----------------------------------------------------------------------------
def test_readyz_fails_while_draining(sqlite_store: Store) -> None:
    """MODELYARD_DRAIN_SECONDS: after SIGTERM the server keeps serving for a while, /readyz says 503
    (/healthz stays 200), then the listener closes. MODELYARD_ACCESS_LOG=0 silences the access log."""
    key = sqlite_store.create_api_key("drain", "test")
    proc, base = start_server(
        _url(sqlite_store),
        *INFO,
        capture=True,
        env={"MODELYARD_DRAIN_SECONDS": "2", "MODELYARD_ACCESS_LOG": "0"},
    )
    try:
        r = httpx.get(base + "/readyz", timeout=10)
        assert (r.status_code, r.json()) == (200, {"status": "ok"})
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        deadline = signalled + 60  # a hang guard, not a timing assertion
        r = httpx.get(base + "/readyz", timeout=10)
        while r.status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.02)
            r = httpx.get(base + "/readyz", timeout=10)
        assert r.status_code == 503
        body: dict[str, Any] = r.json()
        assert body["code"] == 14
        assert body["details"][0]["reason"] == "SHUTTING_DOWN"
        assert HEX32.match(r.headers["x-request-id"])
        assert r.headers["connection"] == "close"
        assert httpx.get(base + "/healthz", timeout=10).status_code == 200
        listed = httpx.get(base + "/v1/accounts/drain/models", headers={"X-Api-Key": key}, timeout=10)
        assert listed.status_code == 200
        while not _refused(base) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _refused(base)
        assert time.monotonic() - signalled >= 1.5  # it kept serving for the drain period
        proc.wait(timeout=15)
    finally:
        stop_server(proc)
    output = _rest(proc)
    assert not [line for line in output.splitlines() if line.startswith("{")], output


def _read_until(sock: socket.socket, marker: bytes | None) -> bytes:
    """Read from ``sock`` until ``marker`` has arrived (None: until the peer closes); returns everything
    read."""
    data = b""
    while marker is None or marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_graceful_shutdown_finishes_in_flight_requests(sqlite_store: Store) -> None:
    """SIGTERM during a create whose body is held back: new connections are refused, yet the request in
    flight completes and is answered 200 before the process exits.

    Ordered by the protocol, not by sleeps: the client sends ``Expect: 100-continue`` and sends the body
    only after the server's ``100 Continue`` (so the server has parsed the request and the app is reading
    its body), and only after the listener is seen closed."""
    key = sqlite_store.create_api_key("grace", "test")
    proc, base = start_server(_url(sqlite_store), *INFO, capture=True)
    model_id = uid()
    body = json.dumps({"modelId": model_id, "model": base_model()}).encode()
    url = httpx.URL(base)
    head = (
        f"POST /v1/accounts/grace/models HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    ).encode()
    try:
        with socket.create_connection((url.host, url.port), timeout=30) as sock:  # timeout: a hang guard
            sock.sendall(head)
            interim = _read_until(sock, b"\r\n\r\n")
            assert interim.startswith(b"HTTP/1.1 100"), interim
            continued = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            give_up = time.monotonic() + 60  # a hang guard, not a timing assertion
            while not _refused(base) and time.monotonic() < give_up:
                time.sleep(0.05)
            assert _refused(base), "the server still accepts connections after SIGTERM"
            sent = time.monotonic()
            sock.sendall(body)
            raw = _read_until(sock, None)  # Connection: close: read to the end
        status_line, _, rest = raw.partition(b"\r\n")
        headers, _, payload = rest.partition(b"\r\n\r\n")
        assert status_line.startswith(b"HTTP/1.1 200"), raw
        assert json.loads(payload)["name"] == f"accounts/grace/models/{model_id}"
        request_ids = [h for h in headers.split(b"\r\n") if h.lower().startswith(b"x-request-id:")]
        assert len(request_ids) == 1 and HEX32.match(request_ids[0].split(b":", 1)[1].strip().decode())
        proc.wait(timeout=30)
    finally:
        stop_server(proc)
    assert sqlite_store.get_model(f"accounts/grace/models/{model_id}") is not None
    created = [
        json.loads(line) for line in _rest(proc).splitlines() if line.startswith("{") and '"POST"' in line
    ]
    assert [(e["status"], e["route"]) for e in created] == [(200, LIST_ROUTE)]
    # The logged duration covers the whole request: it began before the server asked for the body and
    # ended after the body (held back until the listener closed) arrived.
    assert created[0]["duration_ms"] >= (sent - continued) * 1000 - 1


def test_schema_check_compares_with_the_alembic_head(tmp_path: Path) -> None:
    store = Store(make_engine(f"sqlite:///{tmp_path / 'empty.db'}"))
    try:
        obs = Observability(store, access_log=False)
        assert obs.schema_current() == (False, "none")
        assert obs.expected_revision()
        upgrade(store.engine)
        assert obs.schema_current() == (True, "")
    finally:
        store.engine.dispose()
