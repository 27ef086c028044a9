"""The audit log: an entry for every write (models, users, keys), allowed or refused, written in the same
transaction as the write; ``GET /v1/accounts/{a}/auditLogs`` (admins only, newest first, signed page
tokens, startTime/endTime) through the real server on both databases."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from modelyard.aip.timestamps import format_rfc3339, parse_rfc3339
from modelyard.store import audit
from modelyard.store.errors import AlreadyExists
from modelyard.store.repository import Store
from modelyard.store.tables import audit_logs, models
from tests.support.api import base_model
from tests.support.identity import Team, make_team
from tests.support.server import Server


@pytest.fixture()
def team(server: Server) -> Iterator[Team]:
    t = make_team(server, "audit")
    yield t
    t.close()


def entries(client: httpx.Client, account: str, **params: Any) -> list[dict[str, Any]]:
    """Every entry, walking the pages."""
    out: list[dict[str, Any]] = []
    query = dict(params)
    while True:
        resp = client.get(f"/v1/accounts/{account}/auditLogs", params=query)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        out += page["auditLogs"]
        if "nextPageToken" not in page:
            return out
        assert page["auditLogs"], "no empty page with a token"
        query["pageToken"] = page["nextPageToken"]


def test_each_write_is_recorded_with_who_what_and_how_it_ended(server: Server, team: Team) -> None:
    a = team.account
    admin, contributor = team.client("admin"), team.client("contributor")
    model = f"m-{secrets.token_hex(3)}"
    rid = f"req-{secrets.token_hex(4)}"
    calls = [
        (admin.post(f"/v1/accounts/{a}/models", json={"modelId": model, "model": base_model()},
                    headers={"X-Request-Id": rid}), 200),
        (contributor.patch(f"/v1/accounts/{a}/models/{model}", json={"description": "d"}), 200),
        (contributor.delete(f"/v1/accounts/{a}/models/{model}"), 403),
        (admin.post(f"/v1/accounts/{a}/models", json={"modelId": model, "model": base_model()}), 409),
        (admin.post(f"/v1/accounts/{a}/users", params={"userId": "dave"}, json={"role": "user"}), 200),
        (admin.patch(f"/v1/accounts/{a}/users/dave", json={"role": "contributor"}), 200),
        (admin.post(f"/v1/accounts/{a}/users/dave/apiKeys", json={"apiKey": {"displayName": "k"}}), 200),
        (contributor.post(f"/v1/accounts/{a}/users/dave/apiKeys", json={"apiKey": {}}), 403),
        (admin.delete(f"/v1/accounts/{a}/models/{model}"), 200),
        (admin.delete(f"/v1/accounts/{a}/models/{model}"), 404),
    ]  # fmt: skip
    assert [r.status_code for r, _ in calls] == [code for _, code in calls], [r.text for r, _ in calls]
    key_id = calls[6][0].json()["keyId"]
    deleted = admin.post(f"/v1/accounts/{a}/users/dave/apiKeys:delete", json={"keyId": key_id})
    assert deleted.status_code == 200
    assert admin.delete(f"/v1/accounts/{a}/users/dave").status_code == 200
    bad_key = httpx.Client(base_url=server.base_url, headers={"Authorization": "Bearer my_bad"})
    assert bad_key.delete(f"/v1/accounts/{a}/models/{model}").status_code == 401
    bad_key.close()

    log = entries(admin, a)
    got = [(e["method"], e["resource"], e["responseCode"], e.get("principal", "")) for e in reversed(log)]
    name = f"accounts/{a}/models/{model}"
    dave = f"accounts/{a}/users/dave"
    assert got == [
        ("CreateModel", name, 200, "admin@example.com"),
        ("UpdateModel", name, 200, "contributor@example.com"),
        ("DeleteModel", name, 403, "contributor@example.com"),
        ("CreateModel", name, 409, "admin@example.com"),
        ("CreateUser", dave, 200, "admin@example.com"),
        ("UpdateUser", dave, 200, "admin@example.com"),
        ("CreateApiKey", f"{dave}/apiKeys/{key_id}", 200, "admin@example.com"),
        ("CreateApiKey", f"{dave}/apiKeys", 403, "contributor@example.com"),
        ("DeleteModel", name, 200, "admin@example.com"),
        ("DeleteModel", name, 404, "admin@example.com"),
        ("DeleteApiKey", f"{dave}/apiKeys/{key_id}", 200, "admin@example.com"),
        ("DeleteUser", dave, 200, "admin@example.com"),
        ("DeleteModel", name, 401, ""),  # a refused write by nobody is recorded too
    ]
    newest_first = [parse_rfc3339(e["timestamp"]) for e in log]
    assert newest_first == sorted(newest_first, reverse=True)  # type: ignore[type-var]
    first = log[-1]
    assert first["requestId"] == rid and first["apiKeyId"] == team.key_ids["admin"]
    assert "message" not in first  # success: nothing to say
    refused = log[-3]
    assert "contributor" in refused["message"] and "cannot delete models" in refused["message"]
    assert "already exists" in log[-4]["message"]
    assert all(e["requestId"] for e in log)


def test_paging_time_window_and_admin_only(server: Server, team: Team) -> None:
    a = team.account
    admin = team.client("admin")
    for i in range(5):
        resp = admin.post(f"/v1/accounts/{a}/models", json={"modelId": f"p{i}", "model": base_model()})
        assert resp.status_code == 200
    everything = entries(admin, a)
    assert len(everything) == 5
    paged = entries(admin, a, pageSize=2)
    assert paged == everything
    middle = parse_rfc3339(everything[2]["timestamp"])
    assert middle is not None
    newer = entries(admin, a, startTime=format_rfc3339(middle))
    older = entries(admin, a, endTime=format_rfc3339(middle))
    assert newer + older == everything and len(newer) == 3
    first = admin.get(f"/v1/accounts/{a}/auditLogs", params={"pageSize": 2}).json()
    swapped = admin.get(
        f"/v1/accounts/{a}/auditLogs",
        params={"pageSize": 2, "pageToken": first["nextPageToken"], "startTime": "2020-01-01T00:00:00Z"},
    )
    assert swapped.status_code == 400 and "startTime" in swapped.json()["message"]
    bad_time = admin.get(f"/v1/accounts/{a}/auditLogs", params={"startTime": "yesterday"})
    assert bad_time.status_code == 400 and "startTime" in bad_time.json()["message"]
    for role in ("user", "contributor", "inference-user"):
        assert team.client(role).get(f"/v1/accounts/{a}/auditLogs").status_code == 403


def test_the_entry_is_written_in_the_writes_transaction(server: Server) -> None:
    """If the audit row cannot be written, neither is the model (and the other way round)."""
    store = Store(server.store.engine)
    account = f"tx-{secrets.token_hex(4)}"
    store.accounts.ensure(account)

    class Broken(audit.AuditContext):
        def values(self, code: int, message: str) -> dict[str, Any]:
            raise RuntimeError("the audit row cannot be written")

    def count(table: Any) -> int:
        with store.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(table).where(table.c.account_id == account)
                ).scalar_one()
            )

    token = audit.current.set(Broken(account, "CreateModel", f"accounts/{account}/models/x"))
    try:
        with pytest.raises(RuntimeError):
            store.create_model(account, "x", {"kind": "HF_BASE_MODEL"})
    finally:
        audit.current.reset(token)
    assert (count(models), count(audit_logs)) == (0, 0)

    ctx = audit.AuditContext(account, "CreateModel", f"accounts/{account}/models/x")
    token = audit.current.set(ctx)
    try:
        store.create_model(account, "x", {"kind": "HF_BASE_MODEL"})
        assert ctx.recorded
        again = audit.AuditContext(account, "CreateModel", f"accounts/{account}/models/x")
        audit.current.set(again)
        with pytest.raises(AlreadyExists):
            store.create_model(account, "x", {"kind": "HF_BASE_MODEL"})
        assert not again.recorded  # rolled back with the write; the API records it on its own
    finally:
        audit.current.reset(token)
    assert (count(models), count(audit_logs)) == (1, 1)
