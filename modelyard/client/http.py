"""A small synchronous client for the Models API (``/v1/accounts/{account}/models``).

It speaks the Fireworks Gateway REST wire format, so it works against modelyard and against
``https://api.fireworks.ai`` alike. Errors become :class:`ApiError`, read from the server's google.rpc
body (``{"code", "message", "details"}``) when there is one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from modelyard import __version__
from modelyard.resources.model import CODE

DEFAULT_TIMEOUT = 30.0

#: google.rpc.Code numbers -> names (by number: UNAUTHENTICATED is 16, so not the gatewayCode enum order).
GRPC_CODES: tuple[str, ...] = tuple(CODE.name_of(n) or str(n) for n in range(17))  # by number

#: The usual gRPC code for an HTTP status, for error bodies that do not carry one.
_HTTP_TO_GRPC: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_MAX_RAW_MESSAGE = 300


class ApiError(Exception):
    """An error answer from the server.

    ``status`` is the HTTP status (0 when no answer came), ``code`` the gRPC code name (``NOT_FOUND``),
    ``message`` the server's message, ``details`` the google.rpc details and ``reason`` the
    ``ErrorInfo.reason`` when the server sent one.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: list[Any] | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details: list[Any] = details or []
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.code} ({self.status}): {self.message}"

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        status = response.status_code
        fallback_code = _HTTP_TO_GRPC.get(status, "UNKNOWN" if status >= 500 else "FAILED_PRECONDITION")
        try:
            body: Any = response.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            body = body["error"]  # the {"error": {...}} envelope some gateways use
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            raw_code = body.get("code")
            if isinstance(raw_code, int) and 0 <= raw_code < len(GRPC_CODES):
                code = GRPC_CODES[raw_code]
            elif isinstance(raw_code, str) and raw_code.upper() in GRPC_CODES:
                code = raw_code.upper()
            else:
                code = fallback_code
            details = body.get("details")
            details_list: list[Any] = details if isinstance(details, list) else []
            reason = None
            for d in details_list:
                if isinstance(d, dict) and str(d.get("@type", "")).endswith("google.rpc.ErrorInfo"):
                    reason = d.get("reason") if isinstance(d.get("reason"), str) else None
                    break
            return cls(status, code, body["message"], details=details_list, reason=reason)
        text = " ".join(response.text.split())
        if len(text) > _MAX_RAW_MESSAGE:
            text = text[:_MAX_RAW_MESSAGE] + "..."
        return cls(status, fallback_code, text or response.reason_phrase or "no message")


class ApiConnectionError(ApiError):
    """The server could not be reached (or did not answer in time)."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "UNAVAILABLE", message)

    def __str__(self) -> str:
        return self.message


def _describe_transport_error(exc: httpx.TransportError) -> str:
    text = str(exc)
    lowered = text.lower()
    if "connection refused" in lowered:
        return "connection refused"
    if any(
        s in lowered
        for s in (
            "name or service not known",
            "nodename nor servname",
            "getaddrinfo failed",
            "temporary failure in name resolution",
            "no address associated",
        )
    ):
        return "unknown host"
    if "certificate" in lowered:
        return f"TLS error ({text})"
    return text or type(exc).__name__


def _segment(value: str) -> str:
    """A single percent-encoded path segment."""
    return quote(value, safe="")


class ModelyardClient:
    """Models API calls over one keep-alive :class:`httpx.Client`.

    ``base_url`` may carry a path prefix (``https://host/prefix``); request paths are appended to it.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                "User-Agent": f"modelyard-cli/{__version__}",
            },
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
        )

    def __enter__(self) -> ModelyardClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- plumbing ---------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        content = None
        headers = {}
        if body is not None:
            content = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        try:
            response = self._http.request(method, path, params=query, content=content, headers=headers)
        except httpx.TimeoutException:
            raise ApiConnectionError(f"no answer from {self.base_url} (timed out)") from None
        except httpx.TransportError as e:
            raise ApiConnectionError(
                f"cannot reach {self.base_url}: {_describe_transport_error(e)}"
            ) from None
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        try:
            data: Any = response.json()
        except (ValueError, UnicodeDecodeError):
            snippet = " ".join(response.text.split())[:120]
            raise ApiError(
                response.status_code,
                "UNKNOWN",
                f"the answer from {self.base_url} is not JSON (is this a modelyard server?): {snippet!r}",
            ) from None
        if not isinstance(data, dict):
            raise ApiError(response.status_code, "UNKNOWN", "the server's answer is not a JSON object")
        return data

    @staticmethod
    def _collection(account: str) -> str:
        if not account:
            raise ValueError("account must not be empty")
        return f"/v1/accounts/{_segment(account)}/models"

    def _resource(self, account: str, model_id: str) -> str:
        if not model_id:
            raise ValueError("model_id must not be empty")
        return f"{self._collection(account)}/{_segment(model_id)}"

    # -- the API --------------------------------------------------------------------------------------

    def list_models(
        self,
        account: str,
        *,
        filter: str | None = None,
        order_by: str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        read_mask: str | None = None,
    ) -> dict[str, Any]:
        """One page: ``{"models": [...], "nextPageToken": "...", "totalSize": N}``."""
        params = {
            "filter": filter or None,
            "orderBy": order_by or None,
            "pageSize": page_size,
            "pageToken": page_token or None,
            "readMask": read_mask or None,
        }
        return self._request("GET", self._collection(account), params=params)

    def iter_pages(
        self,
        account: str,
        *,
        filter: str | None = None,
        order_by: str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        read_mask: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every page, following ``nextPageToken``. Stops at an empty page, a missing token, or a token
        already seen (a guard against servers that loop)."""
        token = page_token or None
        seen: set[str] = {token} if token else set()
        while True:
            page = self.list_models(
                account,
                filter=filter,
                order_by=order_by,
                page_size=page_size,
                page_token=token,
                read_mask=read_mask,
            )
            yield page
            next_token = page.get("nextPageToken") or None
            if not page.get("models") or not isinstance(next_token, str) or next_token in seen:
                return
            seen.add(next_token)
            token = next_token

    def iter_models(
        self,
        account: str,
        *,
        filter: str | None = None,
        order_by: str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        read_mask: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every model of every page (see :meth:`iter_pages`)."""
        for page in self.iter_pages(
            account,
            filter=filter,
            order_by=order_by,
            page_size=page_size,
            page_token=page_token,
            read_mask=read_mask,
        ):
            models = page.get("models") or []
            yield from (m for m in models if isinstance(m, dict))

    def get_model(self, account: str, model_id: str, *, read_mask: str | None = None) -> dict[str, Any]:
        return self._request("GET", self._resource(account, model_id), params={"readMask": read_mask or None})

    def create_model(
        self, account: str, model_id: str, model: dict[str, Any], cluster: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"modelId": model_id, "model": model}
        if cluster:
            body["cluster"] = cluster
        return self._request("POST", self._collection(account), body=body)

    def update_model(
        self, account: str, model_id: str, fields: dict[str, Any], update_mask: str | None = None
    ) -> dict[str, Any]:
        """PATCH with a flat body of Model fields; without ``update_mask`` only the keys sent change."""
        return self._request(
            "PATCH",
            self._resource(account, model_id),
            params={"updateMask": update_mask or None},
            body=fields,
        )

    def delete_model(self, account: str, model_id: str) -> dict[str, Any]:
        return self._request("DELETE", self._resource(account, model_id))

    # -- model files (the upload / validate / download lifecycle) -------------------------------------------

    def get_upload_endpoint(
        self,
        account: str,
        model_id: str,
        filename_to_size: dict[str, int],
        *,
        enable_resumable_upload: bool = False,
    ) -> dict[str, Any]:
        """Declare the model's files (``{name: size}``): ``{"filenameToSignedUrls": {name: url}, ...}``.
        Sizes go out as int64 strings; a later call replaces the declared list."""
        sizes = {name: str(size) for name, size in filename_to_size.items()}
        body: dict[str, Any] = {"filenameToSize": sizes}
        if enable_resumable_upload:
            body["enableResumableUpload"] = True
        return self._request("POST", self._resource(account, model_id) + ":getUploadEndpoint", body=body)

    def validate_upload(
        self,
        account: str,
        model_id: str,
        *,
        config_only: bool = False,
        skip_hf_config_validation: bool = False,
        trust_remote_code: bool = False,
    ) -> dict[str, Any]:
        """Check the uploaded files; the model becomes ``READY``. Returns ``{"warnings": [...]}``."""
        flags = {
            "configOnly": config_only,
            "skipHfConfigValidation": skip_hf_config_validation,
            "trustRemoteCode": trust_remote_code,
        }
        params = {k: "true" for k, v in flags.items() if v}
        return self._request("GET", self._resource(account, model_id) + ":validateUpload", params=params)

    def get_download_endpoint(
        self, account: str, model_id: str, *, revision: str | None = None
    ) -> dict[str, Any]:
        """``{"filenameToSignedUrls": {name: url}}``: one signed GET URL per file of a ``READY`` model's
        ``main``. modelyard adds ``filenameToSize``, ``filenameToSha256`` and ``revision`` (the commit id),
        and takes ``revision`` (a branch, a tag or a 40-hex commit id; Fireworks serves ``main`` only)."""
        return self._request(
            "GET",
            self._resource(account, model_id) + ":getDownloadEndpoint",
            params={"revision": revision},
        )

    def prepare_model(self, account: str, model_id: str, precision: str) -> dict[str, Any]:
        """``:prepare`` (``{"precision": "FP8"}``): ``{}`` at once; the model is ``PREPARING`` until the
        precision is in ``supportedPrecisions`` (``READY``), or ``READY`` with a failure ``status``."""
        return self._request(
            "POST", self._resource(account, model_id) + ":prepare", body={"precision": precision}
        )

    # -- multipart uploads (S3 storage; a modelyard extension, see modelyard.files.multipart) ----------------

    def start_multipart_upload(
        self, account: str, model_id: str, filename: str, part_size: int
    ) -> dict[str, Any]:
        """``{"uploadId", "partSize", "partCount"}`` for a declared file (the server may raise the size)."""
        body = {"filename": filename, "partSize": str(part_size)}
        return self._request("POST", self._resource(account, model_id) + ":startMultipartUpload", body=body)

    def get_upload_part_urls(
        self, account: str, model_id: str, filename: str, upload_id: str, part_size: int, numbers: list[int]
    ) -> dict[str, Any]:
        """``{"partUrls": {"1": url}, "partsHeld": {"1": "size"}}``."""
        body = {
            "filename": filename,
            "uploadId": upload_id,
            "partSize": str(part_size),
            "partNumbers": numbers,
        }
        return self._request("POST", self._resource(account, model_id) + ":getUploadPartUrls", body=body)

    def complete_multipart_upload(
        self, account: str, model_id: str, filename: str, upload_id: str, part_size: int
    ) -> dict[str, Any]:
        body = {"filename": filename, "uploadId": upload_id, "partSize": str(part_size)}
        return self._request(
            "POST", self._resource(account, model_id) + ":completeMultipartUpload", body=body
        )


__all__ = ["GRPC_CODES", "ApiConnectionError", "ApiError", "ModelyardClient"]
