"""Issue 15 item 9: the OpenAPI document states what the server enforces. schemathesis generates requests
from ``GET /openapi.json`` of a real ``modelyard serve`` (SQLite and PostgreSQL) and checks every
response: no server error, statuses, content types, headers and bodies as documented, invalid data
refused, 405s with ``Allow``. Examples are bounded (derandomized in CI) so this stays well under a minute.
"""

from __future__ import annotations

import os
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import positive_data_acceptance

from modelyard.api.openapi import INT64_PATTERN
from modelyard.resources.codec import ResourceError, decode_message
from modelyard.resources.model import ID_PATTERN, MODEL
from tests.support.server import Server

#: Examples per operation and generation mode (5 operations, positive and negative data).
EXAMPLES = int(os.environ.get("MODELYARD_FUZZ_EXAMPLES", "5"))


#: Parameters with a grammar of their own (AIP-160 filters, AIP-132 orderBy, field masks) or opaque
#: signed values (page tokens): a schema can only say "a string".
MODELS_PATHS = ("/v1/accounts/{account_id}/models",)
GRAMMARS = {"filter", "orderBy", "readMask", "updateMask", "pageToken"}
#: Rules between fields of a Model (the seed's kind rules) that OpenAPI 3.0 cannot express.
CROSS_FIELD = re.compile(
    r"required when|must not be set when|must be specified when|is required( \(at least one module\))?$"
    r"|must be between 4 and 64|is not valid for month"
)


def _beyond_openapi(field: str, message: str) -> bool:
    return field in GRAMMARS or CROSS_FIELD.search(message) is not None


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_the_server_does_what_its_openapi_document_says(server: Server, mode: GenerationMode) -> None:
    account = server.new_account("fuzz")
    schema = schemathesis.openapi.from_url(server.base_url + "/openapi.json")
    # The five Models operations (List, Create, Get, Update, Delete): the file verbs and the identity
    # resources have their own tests of bad input (tests/files/test_bad_input.py, tests/api/test_identity_*).
    everything = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in everything if op.path.startswith(MODELS_PATHS) and ":" not in op.path]
    assert len(operations) == 5, [f"{op.method} {op.path}" for op in everything]

    @given(case=st.one_of(*(op.as_strategy(generation_mode=mode) for op in operations)))
    @settings(
        max_examples=EXAMPLES * len(operations),
        deadline=None,
        derandomize=bool(os.environ.get("CI")),
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case: Case) -> None:
        params = case.path_parameters or {}
        generated = params.get("account_id")
        if generated is not None and ID_PATTERN.fullmatch(generated) and hash(generated) % 4:
            # Mostly the caller's own account, so writes get past the permission check to validation.
            params["account_id"] = account.id
        if case.query:
            # Unknown query parameters are ignored (documented in the README), not refused.
            declared = {p.name for p in case.operation.query}
            case.query = {k: v for k, v in case.query.items() if k in declared}
        if case.headers and "Authorization" in case.headers:
            # The generated credentials become the account's key (a negative case may leave them out).
            case.headers["Authorization"] = f"Bearer {account.key}"
        response = case.call_and_validate(
            base_url=server.base_url, excluded_checks=[positive_data_acceptance]
        )
        statuses.append(response.status_code)
        if mode is GenerationMode.POSITIVE and response.status_code == 400:
            # Schema-valid data may only be refused for what OpenAPI cannot state.
            body = response.json()
            fields = [v["field"] for d in body["details"] for v in d.get("fieldViolations", [])]
            assert fields and all(_beyond_openapi(f, body["message"]) for f in fields), body

    statuses: list[int] = []
    check()
    # The requests reached the resource, not just the authentication or the router.
    assert 200 in statuses or mode is GenerationMode.NEGATIVE, statuses
    assert 400 in statuses, statuses


@pytest.mark.parametrize("value", ["٣", " 3", "3 ", "+3", "3e2", "", "9223372036854775808", "0" * 20])
def test_int64_text_is_ascii_decimal_as_the_openapi_pattern_says(value: str) -> None:
    """Issue 15 item 9: what the OpenAPI document's int64 pattern refuses, the codec refuses."""
    assert re.fullmatch(INT64_PATTERN, value) is None
    with pytest.raises(ResourceError):
        decode_message(
            MODEL, {"baseModelDetails": {"parameterCount": value}}, path="", allow_output_only=True
        )
