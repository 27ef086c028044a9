"""Model records of import files: the admin decoding of one Model JSON object.

The admin path may set output-only fields (``state``, ``createTime``, ``supportsServerless``, ...),
unlike the API. Every importer (JSON Lines, Hugging Face, the demo catalog) goes through
:func:`admin_model`.
"""

from __future__ import annotations

from typing import Any

from modelyard.resources.codec import ResourceError, check_id, decode_message, validate_model
from modelyard.resources.model import MODEL, apply_default_kind, parse_model_name


def admin_model(data: Any, *, account: str) -> tuple[str, dict[str, Any]]:
    """(model id, canonical resource without ``name``) from one Model JSON object of an import file.

    The id comes from ``name`` (``accounts/*/models/<id>``; the account part is replaced by
    ``account``) or from ``modelId``."""
    if not isinstance(data, dict):
        raise ResourceError("", "each line must be a JSON object (a Model)")
    data = dict(data)
    name = data.pop("name", None)
    model_id = data.pop("modelId", None) or data.pop("model_id", None)
    if name is not None:
        if not isinstance(name, str):
            raise ResourceError("name", "must be a string")
        parsed = parse_model_name(name)
        if parsed is None:
            raise ResourceError("name", f"{name!r} is not of the form accounts/<account>/models/<model>")
        model_id = parsed[1]
    if not model_id:
        raise ResourceError("name", "each model needs a name (accounts/<account>/models/<id>) or a modelId")
    check_id(model_id)
    check_id(account, "account id")
    resource = decode_message(MODEL, data, path="", allow_output_only=True)
    resource.setdefault("state", "READY")
    apply_default_kind(resource)
    validate_model(resource, path="", check_peft_rank=False)  # decode_message already omitted defaults
    return model_id, resource
