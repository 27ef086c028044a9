"""The Hub door's one adapter to modelyard's access rules: every authentication and permission call of
``modelyard.hub`` goes through here, and from here to ``modelyard.doorway`` and ``modelyard.access``,
the rules every door shares.

A request without ``Authorization`` is anonymous: it reads public models only. ``Authorization: Bearer
<modelyard API key>`` (what ``HF_TOKEN`` sends) is checked like every API request (expiry, revocation,
the rate limit, the bad-key delay); an invalid key is 401 ``Invalid credentials in Authorization header``,
as the Hub answers a bad token. Visibility is not decided here: reads ask the store with
:func:`reader` as the reader (own account, or public), the store's one visibility rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from modelyard import access, doorway
from modelyard.access import Action, Principal, RateLimited
from modelyard.errors import RegistryError
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
        return self.principal is None or access.can(
            self.principal, Action.READ_FILES, self.principal.account_id
        )


async def caller(request: Request) -> Caller:
    """The request's caller (anonymous without an ``Authorization`` or ``X-Api-Key`` header)."""
    try:
        principal = await doorway.authenticate(request, anonymous=True)
    except RateLimited as e:
        raise HubError(429, e.message, headers={"Retry-After": str(e.retry_after)}) from None
    except RegistryError as e:
        if e.status == "UNAUTHENTICATED":
            raise HubError(401, BAD_CREDENTIALS) from None
        raise HubError(e.http, e.message) from None
    return Caller(None if principal.anonymous else principal)


async def authenticated(request: Request) -> Principal:
    """The caller, who must present a valid key (``whoami``)."""
    found = await caller(request)
    if found.principal is None:
        raise HubError(401, BAD_CREDENTIALS)
    return found.principal


def can_write(principal: Principal) -> bool:
    """Whether the principal's role may upload files (``whoami``'s token role)."""
    return access.can(principal, Action.WRITE_FILES, principal.account_id)
