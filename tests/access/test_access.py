"""``modelyard.access`` on its own (no web framework): the role table, ``can``/``require`` in and across
accounts, the anonymous principal, and ``authenticate`` on a real store (SQLite) with the app's abuse
limits: a valid key, a bad key counted against its client with a growing delay, the per-key rate limit,
and the key check inside the store's error boundary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from modelyard import access
from modelyard.access import ANONYMOUS, Action, InvalidKey, Principal, RateLimited, can, may_read, require
from modelyard.api.ratelimit import BadKeyThrottle, RateLimit, TokenBuckets
from modelyard.errors import RegistryError, not_found
from modelyard.store.engine import make_engine
from modelyard.store.errors import Unavailable
from modelyard.store.repository import Store
from tests.support.databases import migrated_store


def _principal(role: str, account: str = "a") -> Principal:
    return Principal(account, role, role, f"key-{role}")


def test_roles_in_their_own_account() -> None:
    expected = {
        "admin": set(Action),
        "user": set(Action) - {Action.MANAGE_USERS, Action.MANAGE_KEYS, Action.READ_AUDIT},
        "contributor": {Action.READ_MODELS, Action.WRITE_MODELS, Action.READ_FILES, Action.WRITE_FILES,
                        Action.READ_ACCOUNT, Action.OWN_KEYS},
        "inference-user": {Action.READ_MODELS, Action.READ_FILES, Action.READ_ACCOUNT, Action.OWN_KEYS},
    }  # fmt: skip
    for role, allowed in expected.items():
        assert {a for a in Action if can(_principal(role), a, "a")} == allowed, role


def test_another_account_is_read_only_and_hidden_where_asked() -> None:
    admin = _principal("admin")
    assert can(admin, Action.READ_MODELS, "b") and can(admin, Action.READ_FILES, "b")
    assert can(admin, Action.READ_MODELS, "-")
    assert not any(can(admin, a, "b") for a in set(Action) - access.VISIBLE_ACROSS_ACCOUNTS)
    with pytest.raises(RegistryError) as refused:
        require(admin, Action.WRITE_FILES, "b")
    assert (refused.value.status, refused.value.http, refused.value.reason) == (
        "PERMISSION_DENIED", 403, "PERMISSION_DENIED",
    )  # fmt: skip
    hidden = not_found("user", "accounts/b/users/u")
    with pytest.raises(RegistryError) as concealed:
        require(admin, Action.MANAGE_USERS, "b", hidden=hidden)
    assert concealed.value is hidden and concealed.value.http == 404
    with pytest.raises(RegistryError) as role:
        require(_principal("contributor"), Action.DELETE_MODELS, "a", hidden=hidden)
    assert role.value.reason == "ROLE_PERMISSION_DENIED"  # own account: the role's refusal, not hidden


def test_the_anonymous_principal_reads_public_models_only() -> None:
    assert ANONYMOUS.anonymous and ANONYMOUS.reader == ""
    assert can(ANONYMOUS, Action.READ_MODELS, "a") and can(ANONYMOUS, Action.READ_FILES, "a")
    with pytest.raises(RegistryError) as refused:
        require(ANONYMOUS, Action.WRITE_MODELS, "a")
    assert refused.value.status == "UNAUTHENTICATED" and refused.value.reason == "MISSING_API_KEY"
    assert may_read(ANONYMOUS, "a", public=True) and not may_read(ANONYMOUS, "a", public=False)
    assert may_read(_principal("user"), "a", public=False) and not may_read(_principal("user"), "b", False)


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    with migrated_store(f"sqlite:///{tmp_path / 'access.db'}") as opened:
        yield opened


def test_authenticate_a_key_and_the_visibility_rule_in_sql(store: Store) -> None:
    key = store.create_api_key("acct")
    store.create_model("other", "private", {"kind": "HF_BASE_MODEL", "public": False})
    store.create_model("other", "open", {"kind": "HF_BASE_MODEL", "public": True})
    principal = access.authenticate(store, key)
    assert (principal.account_id, principal.user_id, principal.role) == ("acct", "admin", "admin")
    assert anyio.run(lambda: access.aauthenticate(store, key)) == principal
    # The reader a door reads with: another account's private model is not found, a public one is.
    assert store.get_model("accounts/other/models/private", reader=principal.reader) is None
    assert store.get_model("accounts/other/models/open", reader=principal.reader) is not None
    assert store.get_model("accounts/other/models/private", reader=ANONYMOUS.reader) is None
    assert store.get_model("accounts/other/models/open", reader=ANONYMOUS.reader) is not None
    assert access.authenticate(store, None, anonymous=True) is ANONYMOUS
    with pytest.raises(RegistryError) as missing:
        access.authenticate(store, None)
    assert missing.value.reason == "MISSING_API_KEY"


def test_bad_keys_grow_a_delay_per_client_and_keys_are_rate_limited(store: Store) -> None:
    limits = access.Limits(
        rate_limits=TokenBuckets(RateLimit(rate=0.001, burst=2)), bad_keys=BadKeyThrottle(free=3)
    )
    delays = []
    for _ in range(6):
        with pytest.raises(InvalidKey) as bad:
            access.authenticate(store, "my_not-a-key", limits=limits, client="10.0.0.1")
        assert bad.value.http == 401 and bad.value.reason == "INVALID_API_KEY"
        delays.append(bad.value.delay)
    assert delays[:3] == [0.0, 0.0, 0.0] and 0 < delays[3] < delays[4] < delays[5]
    with pytest.raises(InvalidKey) as other_client:
        access.authenticate(store, "my_not-a-key", limits=limits, client="10.0.0.2")
    assert other_client.value.delay == 0.0
    key = store.create_api_key("acct")
    access.authenticate(store, key, limits=limits)
    access.authenticate(store, key, limits=limits)
    with pytest.raises(RateLimited) as limited:
        access.authenticate(store, key, limits=limits)
    assert limited.value.http == 429 and int(limited.value.headers["Retry-After"]) >= 1


def test_the_key_check_runs_inside_the_stores_error_boundary() -> None:
    unreachable = Store(make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"))
    try:
        with pytest.raises(Unavailable):
            access.authenticate(unreachable, "my_some-key")
    finally:
        unreachable.dispose()
