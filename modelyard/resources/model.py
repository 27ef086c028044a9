"""The Model resource: enums and field declarations, the one source of truth for field names.

Names, enums and output-only flags follow ``shared/seed/list-models.openapi.md`` plus the SDK's
``supportedPrecisions`` and ``supportedPrecisionsWithCalibration``.
"""

from __future__ import annotations

import re
from typing import Any

from modelyard.aip.schema import (
    DURATION_FUNCTION,
    T_BOOL,
    T_FLOAT,
    T_INT32,
    T_INT64,
    T_STRING,
    T_TIMESTAMP,
    TIMESTAMP_FUNCTION,
    EnumDecl,
    FieldDecl,
    Kind,
    MessageDecl,
    Schema,
    TypeDecl,
)

STATE = EnumDecl("gatewayModelState", ("STATE_UNSPECIFIED", "UPLOADING", "READY", "PREPARING"))
KIND = EnumDecl(
    "ModelKind",
    (
        "KIND_UNSPECIFIED",
        "HF_BASE_MODEL",
        "HF_PEFT_ADDON",
        "HF_TEFT_ADDON",
        "FLUMINA_BASE_MODEL",
        "FLUMINA_ADDON",
        "DRAFT_ADDON",
        "FIRE_AGENT",
        "LIVE_MERGE",
        "CUSTOM_MODEL",
        "EMBEDDING_MODEL",
        "SNAPSHOT_MODEL",
    ),
)
SNAPSHOT_TYPE = EnumDecl("ModelSnapshotType", ("FULL_SNAPSHOT", "INCREMENTAL_SNAPSHOT"))
CODE = EnumDecl(
    "gatewayCode",
    (
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "UNAUTHENTICATED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
    ),
    numbers=(0, 1, 2, 3, 4, 5, 6, 7, 16, 8, 9, 10, 11, 12, 13, 14, 15),
)
CHECKPOINT_FORMAT = EnumDecl(
    "BaseModelDetailsCheckpointFormat",
    ("CHECKPOINT_FORMAT_UNSPECIFIED", "NATIVE", "HUGGINGFACE", "UNINITIALIZED"),
)
PRECISION = EnumDecl(
    "DeploymentPrecision",
    (
        "PRECISION_UNSPECIFIED",
        "FP16",
        "FP8",
        "FP8_MM",
        "FP8_AR",
        "FP8_MM_KV_ATTN",
        "FP8_KV",
        "FP8_MM_V2",
        "FP8_V2",
        "FP8_MM_KV_ATTN_V2",
        "NF4",
        "FP4",
        "BF16",
        "FP4_BLOCKSCALED_MM",
        "FP4_MX_MOE",
    ),
)
DEPLOYED_MODEL_STATE = EnumDecl(
    "gatewayDeployedModelState",
    ("STATE_UNSPECIFIED", "UNDEPLOYING", "DEPLOYING", "DEPLOYED", "UPDATING"),
)


def _enum(decl: EnumDecl) -> TypeDecl:
    return TypeDecl(Kind.ENUM, enum=decl)


def _message(decl: MessageDecl) -> TypeDecl:
    return TypeDecl(Kind.MESSAGE, message=decl)


STATUS = MessageDecl(
    "gatewayStatus",
    (FieldDecl("code", _enum(CODE)), FieldDecl("message", T_STRING)),
)
BASE_MODEL_DETAILS = MessageDecl(
    "gatewayBaseModelDetails",
    (
        FieldDecl("world_size", T_INT32),
        FieldDecl("checkpoint_format", _enum(CHECKPOINT_FORMAT)),
        FieldDecl("huggingface_files", T_STRING, repeated=True),
        FieldDecl("parameter_count", T_INT64),
        FieldDecl("moe", T_BOOL),
        FieldDecl("tunable", T_BOOL),
        FieldDecl("model_type", T_STRING),
        FieldDecl("supports_fireattention", T_BOOL),
        FieldDecl("default_precision", _enum(PRECISION), output_only=True),
        FieldDecl("supports_mtp", T_BOOL),
    ),
)
PEFT_DETAILS = MessageDecl(
    "gatewayPEFTDetails",
    (
        FieldDecl("base_model", T_STRING),
        FieldDecl("r", T_INT32),
        FieldDecl("target_modules", T_STRING, repeated=True),
        FieldDecl("base_model_type", T_STRING, output_only=True),
        FieldDecl("merge_addon_model_name", T_STRING),
    ),
)
TEFT_DETAILS = MessageDecl("gatewayTEFTDetails", ())
CONVERSATION_CONFIG = MessageDecl(
    "gatewayConversationConfig",
    (FieldDecl("style", T_STRING), FieldDecl("system", T_STRING), FieldDecl("template", T_STRING)),
)
DEPLOYED_MODEL_REF = MessageDecl(
    "gatewayDeployedModelRef",
    (
        FieldDecl("name", T_STRING, output_only=True),
        FieldDecl("deployment", T_STRING, output_only=True),
        FieldDecl("state", _enum(DEPLOYED_MODEL_STATE), output_only=True),
        FieldDecl("default", T_BOOL, output_only=True),
        FieldDecl("public", T_BOOL, output_only=True),
    ),
)
DATE = MessageDecl(
    "typeDate",
    (FieldDecl("year", T_INT32), FieldDecl("month", T_INT32), FieldDecl("day", T_INT32)),
)

MODEL = MessageDecl(
    "gatewayModel",
    (
        FieldDecl("name", T_STRING, output_only=True),
        FieldDecl("display_name", T_STRING),
        FieldDecl("description", T_STRING),
        FieldDecl("create_time", T_TIMESTAMP, output_only=True),
        FieldDecl("state", _enum(STATE), output_only=True),
        FieldDecl("status", _message(STATUS), output_only=True),
        FieldDecl("kind", _enum(KIND)),
        FieldDecl("github_url", T_STRING),
        FieldDecl("hugging_face_url", T_STRING),
        FieldDecl("base_model_details", _message(BASE_MODEL_DETAILS)),
        FieldDecl("peft_details", _message(PEFT_DETAILS)),
        FieldDecl("teft_details", _message(TEFT_DETAILS)),
        FieldDecl("public", T_BOOL),
        FieldDecl("conversation_config", _message(CONVERSATION_CONFIG)),
        FieldDecl("context_length", T_INT32),
        FieldDecl("supports_image_input", T_BOOL),
        FieldDecl("supports_tools", T_BOOL),
        FieldDecl("imported_from", T_STRING, output_only=True),
        FieldDecl("fine_tuning_job", T_STRING, output_only=True),
        FieldDecl("default_draft_model", T_STRING),
        FieldDecl("default_draft_token_count", T_INT32),
        FieldDecl("deployed_model_refs", _message(DEPLOYED_MODEL_REF), repeated=True, output_only=True),
        FieldDecl("cluster", T_STRING, output_only=True),
        FieldDecl("deprecation_date", _message(DATE)),
        FieldDecl("calibrated", T_BOOL, output_only=True),
        FieldDecl("tunable", T_BOOL, output_only=True),
        FieldDecl("supports_lora", T_BOOL),
        FieldDecl("use_hf_apply_chat_template", T_BOOL),
        FieldDecl("update_time", T_TIMESTAMP, output_only=True),
        FieldDecl("default_sampling_params", TypeDecl(Kind.MAP, map_value=T_FLOAT), output_only=True),
        FieldDecl("rl_tunable", T_BOOL, output_only=True),
        FieldDecl("training_context_length", T_INT32),
        FieldDecl("snapshot_type", _enum(SNAPSHOT_TYPE)),
        FieldDecl("supports_serverless", T_BOOL, output_only=True),
        FieldDecl("supervised_lora_tunable", T_BOOL, output_only=True),
        FieldDecl("supervised_full_parameter_tunable", T_BOOL, output_only=True),
        FieldDecl("rl_lora_tunable", T_BOOL, output_only=True),
        FieldDecl("rl_full_parameter_tunable", T_BOOL, output_only=True),
        FieldDecl("supported_precisions", _enum(PRECISION), repeated=True, output_only=True),
        FieldDecl("supported_precisions_with_calibration", _enum(PRECISION), repeated=True, output_only=True),
    ),
)

#: What List Models filters are checked against. Bare literals search the model id, display name and
#: description.
MODEL_FILTER_SCHEMA = Schema(
    root=MODEL,
    functions=(TIMESTAMP_FUNCTION, DURATION_FUNCTION),
    global_search=True,
)

#: Fields that List never returns (AIP: "Populated from GetModel API call only").
GET_ONLY_FIELDS = frozenset({"deployedModelRefs"})

#: The fields global search looks in (JSON names; ``modelId`` is the last segment of ``name``).
SEARCH_FIELDS = ("modelId", "displayName", "description")

MAX_DISPLAY_NAME = 63  # "fewer than 64 characters"
MAX_DESCRIPTION = 999  # "fewer than 1000 characters"


#: Resource ids (model and account ids): 1-63 characters of a-z, 0-9 and '-', starting with a letter, not
#: ending with '-' (``codec.check_id`` names the rule a bad id breaks).
ID_PATTERN = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")

#: The kind a model gets when it is created, updated or imported without one (Fireworks' default).
DEFAULT_KIND = "HF_PEFT_ADDON"
_KIND_UNSET = _enum(KIND).json_zero  # "KIND_UNSPECIFIED"


def is_valid_id(value: str) -> bool:
    """Whether ``value`` is a valid model or account id."""
    return ID_PATTERN.fullmatch(value) is not None


def model_name(account_id: str, model_id: str) -> str:
    """The resource name ``accounts/{account_id}/models/{model_id}``."""
    return f"accounts/{account_id}/models/{model_id}"


def parse_model_name(name: str) -> tuple[str, str] | None:
    """``(account_id, model_id)`` of ``accounts/{account_id}/models/{model_id}``, else None (the ids are
    not checked)."""
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "accounts" or parts[2] != "models":
        return None
    return parts[1], parts[3]


def apply_default_kind(model: dict[str, Any]) -> None:
    """Give a canonical Model without a kind (or with ``KIND_UNSPECIFIED``) :data:`DEFAULT_KIND`."""
    if model.get("kind", _KIND_UNSET) == _KIND_UNSET:
        model["kind"] = DEFAULT_KIND
