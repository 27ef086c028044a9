"""Errors as the Hub sends them, so ``huggingface_hub.utils.hf_raise_for_status`` raises the right class.

The client reads ``X-Error-Code`` (``RepoNotFound`` -> ``RepositoryNotFoundError``, ``RevisionNotFound``
-> ``RevisionNotFoundError``, ``EntryNotFound`` -> ``EntryNotFoundError``), ``X-Error-Message`` (HEAD
answers have no body) and the JSON body ``{"error": "..."}``. A 401 whose message is
``Invalid credentials in Authorization header`` is a bad token, not a missing repo.
"""

from __future__ import annotations

import orjson
from starlette.responses import Response

REPO_NOT_FOUND = "RepoNotFound"
REVISION_NOT_FOUND = "RevisionNotFound"
ENTRY_NOT_FOUND = "EntryNotFound"
#: The message huggingface_hub recognises as a bad token (it raises HfHubHTTPError, not RepoNotFound).
BAD_CREDENTIALS = "Invalid credentials in Authorization header"


class HubError(Exception):
    def __init__(
        self, status: int, message: str, *, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})

    def response(self, *, head: bool = False) -> Response:
        headers = {**self.headers, "X-Error-Message": _header_safe(self.message)}
        if self.code is not None:
            headers["X-Error-Code"] = self.code
        body = b"" if head else orjson.dumps({"error": self.message})
        return Response(body, status_code=self.status, media_type="application/json", headers=headers)


def repo_not_found(repo: str) -> HubError:
    """What a missing repository and another account's private one both answer."""
    return HubError(404, f"Repository Not Found: {repo}", code=REPO_NOT_FOUND)


def revision_not_found(repo: str, revision: str) -> HubError:
    return HubError(404, f"Invalid rev id: {revision} in {repo}", code=REVISION_NOT_FOUND)


def entry_not_found(repo: str, revision: str, path: str) -> HubError:
    return HubError(404, f"Entry not found: {path} at {revision} in {repo}", code=ENTRY_NOT_FOUND)


def _header_safe(text: str) -> str:
    """A header value: printable ASCII on one line."""
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)[:1000]
