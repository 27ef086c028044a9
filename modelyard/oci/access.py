"""Who calls the OCI door and what they may do: the door's one adapter to modelyard's access rules.

Credentials, as OCI clients send them:

* ``Authorization: Basic base64(<any user name>:<API key>)`` (``docker login``, ``--creds user:KEY``);
* ``Authorization: Bearer <API key>``;
* ``Authorization: Bearer <token>`` with a token from ``GET /v2/token`` (the Docker token flow). An
  authenticated caller's token *is* its API key (nothing new to revoke: deleting the key ends it); an
  anonymous caller gets a short-lived token signed with the database-held secret ``oci_token_key``,
  good for pulling public models only.

The key is checked by ``modelyard.doorway.authenticate_key`` (rate limit, audit principal, bad-key
delay), the one path every door shares, and every decision is ``modelyard.access``'s: this module only
reads the OCI credential forms and renders refusals as OCI errors.
Rules: anyone pulls public models; a key's account pulls its own models (roles that may download);
writes need the account's write role; another account's private model is ``NAME_UNKNOWN``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from dataclasses import dataclass

from starlette.requests import Request

from modelyard import access, doorway
from modelyard.access import Action, Principal, RateLimited
from modelyard.errors import RegistryError
from modelyard.oci.errors import OciError

SERVICE = "modelyard"
#: How long an anonymous token stays valid.
ANONYMOUS_TTL = 300
_ANON_PREFIX = "anon."


@dataclass(frozen=True)
class Caller:
    """The caller of one request: a principal, or anonymous (``principal`` None)."""

    principal: Principal | None

    @property
    def anonymous(self) -> bool:
        return self.principal is None

    def reads(self, account_id: str, public: bool) -> bool:
        """Whether the caller may pull a model of ``account_id`` (``public`` or not)."""
        principal = self.principal or access.ANONYMOUS
        return access.can(principal, Action.READ_FILES, account_id) and access.may_read(
            principal, account_id, public
        )


class Tokens:
    """Anonymous pull tokens: ``anon.<expiry>.<HMAC-SHA256>`` under a secret every replica shares."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, expires: int) -> str:
        return hmac.new(self._secret, f"oci-anonymous\n{expires}".encode(), hashlib.sha256).hexdigest()

    def anonymous(self, now: float | None = None) -> str:
        expires = int(now if now is not None else time.time()) + ANONYMOUS_TTL
        return f"{_ANON_PREFIX}{expires}.{self._mac(expires)}"

    def valid(self, token: str) -> bool:
        expires, _, mac = token[len(_ANON_PREFIX) :].partition(".")
        if not expires.isdigit() or len(expires) > 12:
            return False
        return hmac.compare_digest(self._mac(int(expires)), mac) and int(expires) >= time.time()


def base_url(request: Request) -> str:
    public: str | None = getattr(request.app.state.settings, "public_url", None)
    return (public or str(request.base_url)).rstrip("/")


def challenge(request: Request, scope: str | None = None) -> dict[str, str]:
    value = f'Bearer realm="{base_url(request)}/v2/token",service="{SERVICE}"'
    if scope:
        value += f',scope="{scope}"'
    return {"WWW-Authenticate": value}


def unauthorized(request: Request, message: str, scope: str | None = None) -> OciError:
    return OciError("UNAUTHORIZED", message, headers=challenge(request, scope))


def credentials(request: Request) -> tuple[str, str] | None:
    """``("key", API key)``, ``("anonymous", token)`` or None (no credentials); UNAUTHORIZED when the
    header is malformed."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise unauthorized(request, "the Basic credentials are not base64 of 'user:API key'") from None
        _, sep, password = decoded.partition(":")
        if not sep or not password:
            raise unauthorized(request, "Basic credentials need an API key as the password (any user name)")
        return "key", password
    if scheme.lower() == "bearer" and value:
        if value.startswith(_ANON_PREFIX):
            return "anonymous", value
        return "key", value
    raise unauthorized(request, "the Authorization header must be 'Basic ...' or 'Bearer <token or API key>'")


async def principal_of(request: Request, key: str) -> Principal:
    """The principal of an API key, through the shared ``doorway.authenticate_key``."""
    try:
        return await doorway.authenticate_key(request, key)
    except RateLimited as e:
        raise OciError("TOOMANYREQUESTS", e.message, headers={"Retry-After": str(e.retry_after)}) from None
    except RegistryError as e:
        if e.status == "UNAUTHENTICATED":
            raise unauthorized(request, e.message) from None
        raise


async def caller(request: Request, tokens: Tokens) -> Caller:
    """The request's caller (anonymous without credentials or with a valid anonymous token)."""
    found = credentials(request)
    if found is None:
        return Caller(None)
    kind, value = found
    if kind == "anonymous":
        if not tokens.valid(value):
            raise unauthorized(request, "the anonymous token is not valid or has expired; get a new one")
        return Caller(None)
    return Caller(await principal_of(request, value))


def require_write(
    request: Request, who: Caller, account_id: str, model_id: str, *, create: bool
) -> Principal:
    """The principal allowed to push to (or delete in) ``account_id/model_id``; ``create`` when the push
    would create the model."""
    scope = f"repository:{account_id}/{model_id}:pull,push"
    if who.principal is None:
        raise unauthorized(request, "pushing needs an API key (basic auth or a token)", scope)
    principal = who.principal
    needed = [Action.WRITE_FILES] + ([Action.WRITE_MODELS] if create else [])
    for action in needed:
        try:
            access.require(principal, action, account_id)
        except RegistryError as e:
            raise OciError("DENIED", e.message) from None
    return principal


def require_delete(request: Request, who: Caller, account_id: str, model_id: str) -> Principal:
    return require_write(request, who, account_id, model_id, create=False)
