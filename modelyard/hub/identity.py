"""The Hub door's one adapter to modelyard's access rules: every authentication and permission call of
``modelyard.hub`` goes through here (``api/auth.py`` today; the single access module when it lands).

A request without ``Authorization`` is anonymous: it reads public models only. ``Authorization: Bearer
<modelyard API key>`` (what ``HF_TOKEN`` sends) is checked like every API request (expiry, revocation,
the rate limit, the bad-key delay); an invalid key is 401 ``Invalid credentials in Authorization header``,
as the Hub answers a bad token. Visibility is not decided here: reads ask the store with
:func:`reader` as the reader (own account, or public), the store's one visibility rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from modelyard.api.auth import Action, Principal, RateLimited, authenticate
from modelyard.api.errors import ApiError
from modelyard.hub.errors import BAD_CREDENTIALS, HubError


@dataclass(frozen=True)
class Caller:
    """Who is calling: a principal, or nobody (anonymous)."""

    principal: Principal | None

    @property
    def reader(self) -> str:
        """The account the store reads as: the caller's, or ``""`` (no account: public models only)."""
        return self.principal.account_id if self.principal is not None else ""

    def may_download(self) -> bool:
        """Roles: every role may read and download (``inference-user`` included); anonymous callers
        read public models."""
        return self.principal is None or self.principal.can(Action.READ_FILES)


async def caller(request: Request) -> Caller:
    """The request's caller (anonymous without an ``Authorization`` or ``X-Api-Key`` header)."""
    if not request.headers.get("authorization") and not request.headers.get("x-api-key"):
        return Caller(None)
    try:
        return Caller(await authenticate(request))
    except RateLimited as e:
        raise HubError(429, e.message, headers={"Retry-After": str(e.retry_after)}) from None
    except ApiError as e:
        if e.status == "UNAUTHENTICATED":
            raise HubError(401, BAD_CREDENTIALS) from None
        raise HubError(400, e.message) from None


async def authenticated(request: Request) -> Principal:
    """The caller, who must present a valid key (``whoami``)."""
    found = await caller(request)
    if found.principal is None:
        raise HubError(401, BAD_CREDENTIALS)
    return found.principal


def can_write(principal: Principal) -> bool:
    """Whether the principal's role may upload files (``whoami``'s token role)."""
    return principal.can(Action.WRITE_FILES)
