"""API keys: expiry, revocation seen by another replica within 5 seconds, no information in a refusal,
constant-time comparison, the per-key rate limit, the bad-key delay, and the 0003 migration keeping
existing keys valid (real servers and databases, both backends)."""

from __future__ import annotations

import hmac
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fireworks import Fireworks, RateLimitError

from modelyard.api.ratelimit import BadKeyThrottle, RateLimit, TokenBuckets
from modelyard.store.engine import make_engine
from modelyard.store.keys import ApiKeys, hash_key
from tests.support.identity import Team, make_team
from tests.support.server import Server, start_server, stop_server


@pytest.fixture()
def team(server: Server) -> Iterator[Team]:
    t = make_team(server, "keys")
    yield t
    t.close()


def _get(base_url: str, key: str, path: str = "/v1/accounts") -> httpx.Response:
    return httpx.get(base_url + path, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def test_an_expired_key_is_refused_like_an_unknown_one(server: Server, team: Team) -> None:
    expires = time.time_ns() + 1_500_000_000
    values, key = server.store.users.create_key(
        team.account, "user", display_name="short", expire_time=expires
    )
    assert _get(server.base_url, key).status_code == 200  # and now cached by the server
    while time.time_ns() <= expires:
        time.sleep(0.1)
    expired = _get(server.base_url, key)
    unknown = _get(server.base_url, "my_" + secrets.token_urlsafe(32))
    assert expired.status_code == unknown.status_code == 401
    assert expired.json() == unknown.json()  # nothing tells an expired key from one that never existed
    listed = team.client("user").get(f"/v1/accounts/{team.account}/users/user/apiKeys").json()["apiKeys"]
    assert any(k["keyId"] == values["key_id"] and "expireTime" in k for k in listed)


def test_a_deleted_key_is_refused_by_another_replica_within_5_seconds(server: Server, team: Team) -> None:
    """Replica B caches the key; replica A deletes it; B refuses it within KEY_CACHE_SECONDS (< 5 s)."""
    proc, replica_b = start_server(server.db_url)
    try:
        created = team.client("user").post(
            f"/v1/accounts/{team.account}/users/user/apiKeys", json={"apiKey": {}}
        )
        key, key_id = created.json()["key"], created.json()["keyId"]
        assert _get(replica_b, key).status_code == 200
        assert _get(replica_b, key).status_code == 200  # served from B's cache
        deleted = team.client("user").post(
            f"/v1/accounts/{team.account}/users/user/apiKeys:delete", json={"keyId": key_id}
        )
        assert deleted.status_code == 200
        revoked_at = time.monotonic()
        assert _get(server.base_url, key).status_code == 401  # the deleting replica: at once
        seen = None
        while time.monotonic() - revoked_at < 5:
            if _get(replica_b, key).status_code == 401:
                seen = time.monotonic() - revoked_at
                break
            time.sleep(0.1)
        assert seen is not None, "replica B still accepts the deleted key after 5 s"
        assert _get(replica_b, team.keys["user"]).status_code == 200  # other keys are unaffected
    finally:
        stop_server(proc)


def test_keys_are_compared_in_constant_time(
    server: Server, team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both the database path and the cache path compare the stored hash with hmac.compare_digest."""
    compared: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def recording(a: Any, b: Any) -> bool:
        compared.append((bytes(a), bytes(b)))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)  # what store/keys.py calls
    cache = ApiKeys(server.store.database)
    key = team.keys["contributor"]
    owner = cache.check(key)
    assert owner is not None and (owner.user_id, owner.role) == ("contributor", "contributor")
    assert compared == [(hash_key(key), hash_key(key))]
    assert cache.check(key) == owner  # from the cache, compared again
    assert len(compared) == 2 and compared[1] == (hash_key(key), hash_key(key))
    assert cache.check("my_" + secrets.token_urlsafe(32)) is None


def test_the_rate_limit_answers_429_with_retry_after(server: Server, team: Team) -> None:
    proc, limited = start_server(server.db_url, "--rate-limit", "0.2/2")
    try:
        answers = [_get(limited, team.keys["user"]) for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 429]
        body = answers[2].json()
        assert body["code"] == 8 and "retry after" in body["message"]
        assert body["details"][0]["reason"] == "RATE_LIMIT_EXCEEDED"
        assert 1 <= int(answers[2].headers["retry-after"]) <= 5
        assert _get(limited, team.keys["admin"]).status_code == 200  # per key
        with (
            Fireworks(
                api_key=team.keys["user"], base_url=limited, account_id=team.account, max_retries=0
            ) as sdk,
            pytest.raises(RateLimitError),
        ):
            sdk.accounts.get()
        list_path = f"/v1/accounts/{team.account}/models"  # List's fast path is limited too
        assert _get(limited, team.keys["user"], list_path).status_code == 429
    finally:
        stop_server(proc)
    assert _get(server.base_url, team.keys["user"]).status_code == 200  # off by default


def test_rate_limit_settings_are_checked() -> None:
    assert RateLimit.parse("") is None and RateLimit.parse("0") is None
    assert RateLimit.parse("20") == RateLimit(20, 20) and RateLimit.parse("0.5/3") == RateLimit(0.5, 3)
    for bad in ("fast", "-1", "5/0", "nan"):
        with pytest.raises(ValueError, match="rate limit"):
            RateLimit.parse(bad)
    run = subprocess.run(
        [sys.executable, "-m", "modelyard.cli", "serve", "--rate-limit", "fast", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "--rate-limit" in run.stderr


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(RateLimit(rate=2, burst=3), clock=lambda: now[0])
    assert [buckets.take("k") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("k") == pytest.approx(0.5)
    assert buckets.take("other") == 0
    now[0] += 0.5
    assert buckets.take("k") == 0
    assert buckets.take("k") > 0


def test_bad_key_delay_grows_is_bounded_and_drains() -> None:
    now = [0.0]
    throttle = BadKeyThrottle(free=3, leak=1.0, base=0.05, ceiling=0.4, clock=lambda: now[0])
    delays = [throttle.failure("10.0.0.1") for _ in range(8)]
    assert delays == [0, 0, 0, 0.05, 0.1, 0.2, 0.4, 0.4]
    assert throttle.failure("10.0.0.2") == 0  # per client
    now[0] += 60
    assert throttle.failure("10.0.0.1") == 0  # drained


def test_only_wrong_keys_count_toward_the_delay(server: Server, team: Team) -> None:
    """Requests without a key are not guesses; wrong keys are (checked through the app in process)."""
    from fastapi.testclient import TestClient

    from modelyard.api import auditing
    from modelyard.api.app import create_app
    from modelyard.store.repository import Store

    counted: list[str] = []

    class Recording(BadKeyThrottle):
        def failure(self, client: str) -> float:
            counted.append(client)
            return 0.0

    monkey = pytest.MonkeyPatch()
    monkey.setattr("modelyard.api.app.BadKeyThrottle", Recording)
    try:
        store = Store(make_engine(server.db_url))
        with TestClient(create_app(store, migrate=False)) as client:
            assert client.get("/v1/accounts").status_code == 401
            assert client.get("/v1/accounts", headers={"Authorization": "Bearer my_wrong"}).status_code == 401
            assert (
                client.get(f"/v1/accounts/{team.account}/models", headers={"X-Api-Key": "my_x"}).status_code
                == 401
            )
            ok = client.get("/v1/accounts", headers={"Authorization": f"Bearer {team.keys['user']}"})
            assert ok.status_code == 200
        store.engine.dispose()
    finally:
        monkey.undo()
    assert counted == ["testclient", "testclient"]
    assert auditing.IdentityMiddleware is not None
