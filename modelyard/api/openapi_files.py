"""The OpenAPI entries of the model-file verbs (``api/files.py``), merged into ``/openapi.json``."""

from __future__ import annotations

from typing import Any

from modelyard.resources.model import ID_PATTERN

_ERROR = {
    "description": "An error (google.rpc.Status)",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/googleRpcStatus"}}},
}
_ID = {"type": "string", "pattern": f"^{ID_PATTERN.pattern}$"}
_PATH_PARAMS = [
    {"name": name, "in": "path", "required": True, "description": text, "schema": _ID}
    for name, text in (("account_id", "The Account Id"), ("model_id", "The Model Id"))
]
_URL_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_STRING_MAP = _URL_MAP  # file name -> a string (an int64 size, a SHA-256 in hex)


def _bool(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": {"type": "boolean"}}


def _ok(properties: dict[str, Any]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties}
    return {"description": "A successful response.", "content": {"application/json": {"schema": schema}}}


def file_paths() -> dict[str, Any]:
    base = "/v1/accounts/{account_id}/models/{model_id}"
    return {
        base + ":getUploadEndpoint": {
            "post": {
                "tags": ["Gateway"],
                "summary": "Get Model Upload Endpoint",
                "description": "One signed PUT URL per declared file, valid 1 hour and bound to its size; "
                "calling it again replaces the file list. The model must be UPLOADING.",
                "operationId": "Gateway_GetModelUploadEndpoint",
                "parameters": _PATH_PARAMS,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["filenameToSize"],
                                "properties": {
                                    "filenameToSize": {
                                        "type": "object",
                                        "additionalProperties": {"type": "string", "format": "int64"},
                                        "description": "File name (relative path) to size in bytes.",
                                    },
                                    "enableResumableUpload": {"type": "boolean"},
                                    "readMask": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _ok({"filenameToSignedUrls": _URL_MAP, "filenameToUnsignedUris": _URL_MAP}),
                    "default": _ERROR,
                },
            }
        },
        base + ":validateUpload": {
            "get": {
                "tags": ["Gateway"],
                "summary": "Validate Model Upload",
                "description": "Checks that every declared file arrived and is sound for the model's kind, "
                "fills what the files say and makes the model READY.",
                "operationId": "Gateway_ValidateModelUpload",
                "parameters": [
                    *_PATH_PARAMS,
                    _bool("configOnly", "Skip the tokenizer checks."),
                    _bool("skipHfConfigValidation", "Do not require config.json."),
                    _bool("trustRemoteCode", "Accepted; modelyard never executes anything."),
                ],
                "responses": {
                    "200": _ok({"warnings": {"type": "array", "items": {"type": "string"}}}),
                    "default": _ERROR,
                },
            }
        },
        base + ":getDownloadEndpoint": {
            "get": {
                "tags": ["Gateway"],
                "summary": "Get Model Download Endpoint",
                "description": "One signed GET URL per file of a READY model's main revision (Range "
                "honoured), valid 1 hour. modelyard extensions: `revision` serves another revision, and the "
                "answer names each file's size and SHA-256 and the commit id served.",
                "operationId": "Gateway_GetModelDownloadEndpoint",
                "parameters": [
                    *_PATH_PARAMS,
                    {"name": "readMask", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "revision",
                        "in": "query",
                        "description": "A branch (main, fp8, ...), a tag or a 40-hex commit id; default main "
                        "(a modelyard extension). An unknown one is 404 REVISION_NOT_FOUND.",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": _ok(
                        {
                            "filenameToSignedUrls": _URL_MAP,
                            "filenameToSize": _STRING_MAP,
                            "filenameToSha256": _STRING_MAP,
                            "revision": {"type": "string", "description": "The commit id served."},
                        }
                    ),
                    "default": _ERROR,
                },
            }
        },
    }
