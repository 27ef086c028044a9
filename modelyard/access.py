"""Who may do what: the one access rule every door applies (the Fireworks API, the catalog, the file verbs,
the signed-URL endpoints, the identity routes, and the Hub and OCI doors). Free of any web framework.

* :class:`Principal`: who is calling (account, user, role, key id, email); :data:`ANONYMOUS` for a door
  that lets visitors without a key read public models (the catalog, the Hub door).
* :class:`Action` and :data:`PERMISSIONS`, the role table (``shared/spec/decisions.md``, "Identity"):
  ``admin`` everything; ``user`` reads and writes models and files and manages its own keys;
  ``contributor`` as ``user`` but cannot delete models; ``inference-user`` reads and downloads, and
  manages its own keys; ``anonymous`` reads (public models only, by the visibility rule).
* :func:`can` and :func:`require`: a principal acts in its own account with what its role grants; in
  another account it may only read models and download their files, and then only what the visibility
  rule lets it see. ``require`` raises a :class:`~modelyard.errors.RegistryError` (403, or NOT_FOUND
  when the door hides another account's resources, or 401 for an anonymous caller).
* The visibility rule: a reader sees its own account's models and every public model (an anonymous
  reader: public models only). Reads apply it in SQL, with :attr:`Principal.reader` as the reader:
  ``store.planner.visible_to(reader)`` (``Store.get_model(name, reader=...)``, List's scopes).
  :func:`may_read` states it for a row a part already holds.
* :func:`authenticate` / :func:`aauthenticate`: a raw API key to a :class:`Principal`, with the per-key
  rate limit (429 ``Retry-After``) and the growing delay for clients that keep presenting bad keys
  (:class:`InvalidKey` carries the delay; the door holds its 401 that long without holding a thread).
  The key check runs inside the store's error boundary: a database that does not answer is 503.

A door extracts the key from its own headers (``modelyard.doorway.request_key``: ``Authorization:
Bearer``, ``X-Api-Key``, or the password of HTTP Basic) and calls :func:`authenticate`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Protocol

import anyio.to_thread

from modelyard.errors import RegistryError
from modelyard.resources.identity import user_name
from modelyard.store import audit
from modelyard.store.keys import KeyOwner


class Action(enum.Enum):
    READ_MODELS = "read models"
    WRITE_MODELS = "create and update models"
    DELETE_MODELS = "delete models"
    READ_FILES = "download model files"
    WRITE_FILES = "upload model files"
    READ_ACCOUNT = "read the account"
    OWN_KEYS = "manage its own API keys"
    MANAGE_USERS = "manage users"
    MANAGE_KEYS = "manage other users' API keys"
    READ_AUDIT = "read the audit log"


#: Actions allowed in another account's models: the visibility rule then decides which models.
VISIBLE_ACROSS_ACCOUNTS = frozenset({Action.READ_MODELS, Action.READ_FILES})

_READER = frozenset({Action.READ_MODELS, Action.READ_FILES, Action.READ_ACCOUNT, Action.OWN_KEYS})
_CONTRIBUTOR = _READER | {Action.WRITE_MODELS, Action.WRITE_FILES}

#: The role an unauthenticated visitor has where a door allows one.
ANONYMOUS_ROLE = "anonymous"

#: What each role may do.
PERMISSIONS: dict[str, frozenset[Action]] = {
    "admin": frozenset(Action),
    "user": _CONTRIBUTOR | {Action.DELETE_MODELS},
    "contributor": _CONTRIBUTOR,
    "inference-user": _READER,
    ANONYMOUS_ROLE: VISIBLE_ACROSS_ACCOUNTS,
}


@dataclass(frozen=True)
class Principal:
    account_id: str
    user_id: str
    role: str
    key_id: str
    email: str = ""

    @property
    def anonymous(self) -> bool:
        return self.role == ANONYMOUS_ROLE

    @property
    def name(self) -> str:
        return "an anonymous visitor" if self.anonymous else user_name(self.account_id, self.user_id)

    @property
    def reader(self) -> str:
        """The reader the visibility rule is applied with: the principal's account ("" for an anonymous
        visitor: an account id is never empty, so only public models match)."""
        return self.account_id

    @staticmethod
    def of(owner: KeyOwner) -> Principal:
        return Principal(owner.account_id, owner.user_id, owner.role, owner.key_id, owner.email)


#: The caller of a door that allows reads without a key (no account: it sees public models only).
ANONYMOUS = Principal("", "", ANONYMOUS_ROLE, "")


def can(principal: Principal, action: Action, account_id: str) -> bool:
    """Whether ``principal`` may perform ``action`` in ``account_id`` (``-``: every account it can read).
    Reads of another account are allowed here; which of its models are seen is the visibility rule's."""
    if action not in PERMISSIONS.get(principal.role, frozenset()):
        return False
    return principal.account_id == account_id or action in VISIBLE_ACROSS_ACCOUNTS


def require(
    principal: Principal, action: Action, account_id: str, *, hidden: RegistryError | None = None
) -> None:
    """Raise unless ``can(principal, action, account_id)``: UNAUTHENTICATED for an anonymous visitor,
    PERMISSION_DENIED otherwise, or ``hidden`` (a NOT_FOUND) when the refusal is for another account whose
    resources the door does not reveal (users, keys, another account's models on write)."""
    if can(principal, action, account_id):
        return
    if principal.anonymous:
        raise missing_key()
    if principal.account_id != account_id:
        if hidden is not None:
            raise hidden
        raise RegistryError(
            "PERMISSION_DENIED",
            f"the API key of account {principal.account_id!r} cannot {action.value} in account "
            f"{account_id!r}",
            reason="PERMISSION_DENIED",
            metadata={"account": account_id},
        )
    raise RegistryError(
        "PERMISSION_DENIED",
        f"role {principal.role!r} of {principal.name} cannot {action.value} in account {account_id!r}",
        reason="ROLE_PERMISSION_DENIED",
        metadata={"account": account_id, "role": principal.role},
    )


def may_read(principal: Principal, account_id: str, public: bool) -> bool:
    """The visibility rule for a model row already read (``account_id``, ``public``): its own account's
    models and every public one. Reads that can should apply it in SQL (``store.planner.visible_to``)."""
    return public or (not principal.anonymous and principal.account_id == account_id)


# -- authentication --------------------------------------------------------------------------------------


class KeyChecker(Protocol):
    """What authentication needs of the store (``Store.cached_key``, ``Store.check_key``)."""

    def cached_key(self, key: str) -> KeyOwner | None: ...

    def check_key(self, key: str) -> KeyOwner | None: ...


class RateLimits(Protocol):
    """Per-key token buckets (``api/ratelimit.py``'s ``TokenBuckets``): seconds to wait, 0 to go."""

    def take(self, key_id: str) -> float: ...


class BadKeys(Protocol):
    """Failures per client (``api/ratelimit.py``'s ``BadKeyThrottle``): seconds to hold the answer."""

    def failure(self, client: str) -> float: ...


def missing_key() -> RegistryError:
    return RegistryError(
        "UNAUTHENTICATED",
        "missing API key: send 'Authorization: Bearer <API key>' (or 'X-Api-Key: <API key>')",
        reason="MISSING_API_KEY",
    )


class InvalidKey(RegistryError):
    """401: the key is unknown, deleted or expired (the same answer for each). ``delay``: seconds the
    door holds its answer (the client kept presenting bad keys); doors do not hold a thread for it."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__("UNAUTHENTICATED", "the API key is not valid", reason="INVALID_API_KEY")
        self.delay = delay


class RateLimited(RegistryError):
    """429 RESOURCE_EXHAUSTED with ``Retry-After`` (whole seconds, at least 1)."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(
            "RESOURCE_EXHAUSTED",
            f"too many requests with this API key; retry after {self.retry_after} s",
            reason="RATE_LIMIT_EXCEEDED",
            metadata={"retryAfterSeconds": str(self.retry_after)},
            headers={"Retry-After": str(self.retry_after)},
        )


@dataclass(frozen=True)
class Limits:
    """The abuse limits a door authenticates under (the app's, shared by every door)."""

    rate_limits: RateLimits | None = None
    bad_keys: BadKeys | None = None


def _admit(owner: KeyOwner | None, limits: Limits, client: str) -> Principal:
    if owner is None:
        delay = limits.bad_keys.failure(client) if limits.bad_keys is not None else 0.0
        raise InvalidKey(delay)
    if limits.rate_limits is not None:
        wait = limits.rate_limits.take(owner.key_id)
        if wait > 0:
            raise RateLimited(wait)
    ctx = audit.current.get()
    if ctx is not None:  # the audit entry of this write names its caller
        ctx.principal = owner.principal
        ctx.api_key_id = owner.key_id
    return Principal.of(owner)


def _keyless(anonymous: bool) -> Principal:
    """A request without a key: the anonymous principal where the door allows one, else 401."""
    if anonymous:
        return ANONYMOUS
    raise missing_key()


def authenticate(
    store: KeyChecker,
    key: str | None,
    *,
    limits: Limits = Limits(),
    client: str = "",
    anonymous: bool = False,
) -> Principal:
    """The caller presenting ``key`` (None: no key; :data:`ANONYMOUS` if the door allows it, else 401).
    ``client`` (its address) counts bad keys. Synchronous: call it from a worker thread."""
    if key is None:
        return _keyless(anonymous)
    return _admit(store.check_key(key), limits, client)


async def aauthenticate(
    store: KeyChecker,
    key: str | None,
    *,
    limits: Limits = Limits(),
    client: str = "",
    anonymous: bool = False,
) -> Principal:
    """:func:`authenticate` on the event loop: a key checked in the last seconds costs no read and no
    thread."""
    if key is None:
        return _keyless(anonymous)
    owner = store.cached_key(key)
    if owner is None:
        owner = await anyio.to_thread.run_sync(store.check_key, key)
    return _admit(owner, limits, client)
