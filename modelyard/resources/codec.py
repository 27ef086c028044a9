"""Proto3 JSON for the Model resource: decode and validate input, canonicalise output.

The canonical form of a Model is its proto3 JSON object: lowerCamelCase keys, enums as names, int64 as
decimal strings, timestamps as RFC 3339 UTC strings with ``Z``, ``google.type.Date`` as
``{year, month, day}``, and every field at its default value omitted.
"""

from __future__ import annotations

import math
import re
from typing import Any

from modelyard.aip.schema import INT32_RANGE, INT64_RANGE, FieldDecl, Kind, MessageDecl, TypeDecl
from modelyard.aip.timestamps import format_rfc3339, is_canonical, parse_rfc3339
from modelyard.resources.limits import (
    MAX_LIST_ENTRIES,
    MAX_MAP_KEYS,
    MAX_STRING,
    NUL_IN_STRING,
    string_limit,
    too_long,
    too_many_entries,
    too_many_keys,
)
from modelyard.resources.model import MAX_DESCRIPTION, MAX_DISPLAY_NAME, MODEL, is_valid_id


class ResourceError(ValueError):
    """Invalid input for a resource field; ``field`` is the JSON path (``model.baseModelDetails.r``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


def check_id(value: str, what: str = "model id") -> None:
    """Resource id rules: 1-63 characters of a-z, 0-9 and '-', no leading digit or hyphen, no trailing
    hyphen. Raises ResourceError naming the rule that was broken."""
    if is_valid_id(value):
        return
    field = "modelId" if what == "model id" else "accountId"
    if not value:
        raise ResourceError(field, f"{what} must not be empty")
    if len(value) > 63:
        raise ResourceError(
            field, f"{what} {value!r} is {len(value)} characters long; at most 63 are allowed"
        )
    bad = sorted({c for c in value if not ("a" <= c <= "z" or "0" <= c <= "9" or c == "-")})
    if bad:
        named = [repr(c) for c in bad]
        listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
        upper = " (upper case letters are not allowed)" if any(c.isupper() for c in bad) else ""
        raise ResourceError(
            field,
            f"{what} {value!r} contains {listed}{upper}; only a-z, 0-9 and '-' are allowed",
        )
    if value[0].isdigit():
        raise ResourceError(field, f"{what} {value!r} must not start with a digit")
    if value[0] == "-" or value[-1] == "-":
        raise ResourceError(field, f"{what} {value!r} must not start or end with '-'")
    if not is_valid_id(value):  # pragma: no cover - the rules above cover the pattern
        raise ResourceError(field, f"{what} {value!r} is not a valid id")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def decode_message(
    message: MessageDecl, data: Any, *, path: str, allow_output_only: bool, partial: bool = False
) -> dict[str, Any]:
    """Decode a JSON object into the canonical form of ``message``.

    Keys may be lowerCamelCase or snake_case. Output-only fields are dropped unless
    ``allow_output_only``. With ``partial`` the result keeps fields sent at their default value (an update
    must know which keys were present); otherwise defaults are omitted.
    """
    if not isinstance(data, dict):
        raise ResourceError(path, f"expected a JSON object, got {_json_type(data)}")
    out: dict[str, Any] = {}
    fast = _fast_paths(message)
    for key, raw in data.items():
        plan = fast.get(key)
        if plan is None:
            if not isinstance(key, str):  # pragma: no cover - JSON keys are strings
                raise ResourceError(path, "object keys must be strings")
            hint = message.suggest(key)
            suffix = f"; did you mean {_camel(message, hint)!r}?" if hint else ""
            raise ResourceError(_join(path, key), f"unknown field {key!r} in {message.name}{suffix}")
        decl, shape, enum_names, enum_default = plan
        json_name = decl.json_name
        if json_name in out:
            raise ResourceError(_join(path, key), f"field {json_name!r} is given twice")
        if decl.output_only and not allow_output_only:
            continue
        # Fast paths for the common scalar cases (import speed); everything else, and every error, goes
        # through decode_field.
        raw_type = type(raw)
        if (
            (shape is _STRING and raw_type is str and len(raw) <= MAX_STRING and "\x00" not in raw)
            or (shape is _BOOL and raw_type is bool)
            or (shape is _INT32 and raw_type is int and INT32_RANGE[0] <= raw <= INT32_RANGE[1])
        ):
            if raw or partial:
                out[json_name] = raw
            continue
        if shape is _ENUM and raw_type is str and raw in enum_names:
            if partial or raw != enum_default:
                out[json_name] = raw
            continue
        if shape is _MESSAGE and raw_type is dict:
            assert decl.type.message is not None
            out[json_name] = decode_message(
                decl.type.message,
                raw,
                path=_join(path, json_name),
                allow_output_only=allow_output_only,
                partial=partial,
            )
            continue
        if shape is _TIMESTAMP and raw_type is str and is_canonical(raw):
            nanos = parse_rfc3339(raw)
            if nanos is not None and INT64_RANGE[0] < nanos < INT64_RANGE[1]:
                out[json_name] = raw
                continue
        if shape is _INT64:
            text = None
            if raw_type is str and len(raw) <= 18 and raw.isascii() and raw.isdigit():
                text = str(int(raw))
            elif raw_type is int and INT64_RANGE[0] <= raw <= INT64_RANGE[1]:
                text = str(raw)
            if text is not None:
                if partial or text != "0":
                    out[json_name] = text
                continue
        if (
            shape is _STRINGS
            and raw_type is list
            and len(raw) <= MAX_LIST_ENTRIES
            and all(type(x) is str and len(x) <= MAX_STRING and "\x00" not in x for x in raw)
        ):
            if raw or partial:
                out[json_name] = list(raw)
            continue
        value = decode_field(
            decl, raw, path=_join(path, json_name), allow_output_only=allow_output_only, partial=partial
        )
        if partial or not is_default(decl, value):
            out[json_name] = value
    return out


_STRING, _BOOL, _INT32, _INT64, _ENUM = "string", "bool", "int32", "int64", "enum"
_TIMESTAMP, _MESSAGE, _STRINGS, _OTHER = "timestamp", "message", "repeated string", "other"
_SCALAR_SHAPES = {
    Kind.STRING: _STRING,
    Kind.BOOL: _BOOL,
    Kind.INT32: _INT32,
    Kind.INT64: _INT64,
    Kind.TIMESTAMP: _TIMESTAMP,
}
_FastPath = tuple[FieldDecl, str, frozenset[str], str]
#: False: every value goes through ``decode_field`` (the reference the fast paths are tested against).
FAST_PATHS = True
_FAST_PATHS: dict[int, dict[str, _FastPath]] = {}


def _fast_paths(message: MessageDecl) -> dict[str, _FastPath]:
    """Every accepted key of ``message`` (snake_case and lowerCamelCase) -> its field, the shape of
    value the decoder checks inline, and for enums their names and default (computed once per message)."""
    found = _FAST_PATHS.get(id(message))
    if found is not None:
        return found
    table: dict[str, _FastPath] = {}
    for decl in message.fields:
        kind = decl.type.kind
        shape = _OTHER
        names: frozenset[str] = frozenset()
        default = ""
        if decl.repeated:
            if kind is Kind.STRING:
                shape = _STRINGS
        elif kind in _SCALAR_SHAPES:
            shape = _SCALAR_SHAPES[kind]
        elif kind is Kind.MESSAGE and decl.type.message is not None and decl.type.message.name != "typeDate":
            shape = _MESSAGE
        elif kind is Kind.ENUM and decl.type.enum is not None:
            shape, names, default = _ENUM, decl.type.enum.names, decl.type.json_zero
        if not FAST_PATHS:
            shape = _OTHER
        for key in (decl.name, decl.json_name):
            if message.field(key) is decl:
                table[key] = (decl, shape, names, default)
    _FAST_PATHS[id(message)] = table
    return table


def _camel(message: MessageDecl, name: str) -> str:
    decl = message.field(name)
    return decl.json_name if decl else name


def decode_field(
    decl: FieldDecl, raw: Any, *, path: str, allow_output_only: bool, partial: bool = False
) -> Any:
    if raw is None:
        return [] if decl.repeated else default_of(decl.type)
    if decl.repeated:
        if not isinstance(raw, list):
            raise ResourceError(path, f"expected a JSON array, got {_json_type(raw)}")
        if len(raw) > MAX_LIST_ENTRIES:
            raise ResourceError(path, too_many_entries(len(raw)))
        limit = string_limit(decl)
        return [
            decode_value(
                decl.type, item, path=f"{path}[{i}]", allow_output_only=allow_output_only, max_length=limit
            )
            for i, item in enumerate(raw)
        ]
    return decode_value(
        decl.type,
        raw,
        path=path,
        allow_output_only=allow_output_only,
        partial=partial,
        max_length=string_limit(decl),
    )


def decode_value(
    t: TypeDecl,
    raw: Any,
    *,
    path: str,
    allow_output_only: bool,
    partial: bool = False,
    max_length: int = MAX_STRING,
) -> Any:
    """Decode one JSON value of type ``t``; a string may be at most ``max_length`` characters long."""
    kind = t.kind
    if kind is Kind.STRING:
        if not isinstance(raw, str):
            raise ResourceError(path, f"expected a string, got {_json_type(raw)}")
        check_string(raw, path, max_length)
        return raw
    if kind is Kind.BOOL:
        if not isinstance(raw, bool):
            raise ResourceError(path, f"expected true or false, got {_json_type(raw)}")
        return raw
    if kind in (Kind.INT32, Kind.INT64):
        value = _integer(raw, path)
        lo, hi = INT32_RANGE if kind is Kind.INT32 else INT64_RANGE
        if not lo <= value <= hi:
            raise ResourceError(path, f"{value} is out of range for {kind.value}")
        return str(value) if kind is Kind.INT64 else value
    if kind in (Kind.FLOAT, Kind.DOUBLE):
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ResourceError(path, f"expected a number, got {_json_type(raw)}")
        value_f = float(raw)
        if not math.isfinite(value_f):
            raise ResourceError(path, "expected a finite number")
        return value_f
    if kind is Kind.ENUM:
        assert t.enum is not None
        if isinstance(raw, int) and not isinstance(raw, bool):
            named = t.enum.name_of(raw)
            if named is not None:
                return named
            raise ResourceError(path, f"{raw} is not a value of {t.enum.name}")
        if not isinstance(raw, str):
            raise ResourceError(path, f"expected an enum name, got {_json_type(raw)}")
        if t.enum.number(raw) is None:
            from modelyard.aip.schema import suggest

            hint = suggest(raw, t.enum.values)
            suffix = f"; did you mean {hint!r}?" if hint else ""
            raise ResourceError(
                path, f"{raw!r} is not a value of {t.enum.name} ({', '.join(t.enum.values)}){suffix}"
            )
        return raw
    if kind is Kind.TIMESTAMP:
        if not isinstance(raw, str):
            raise ResourceError(path, f"expected an RFC 3339 timestamp string, got {_json_type(raw)}")
        nanos = parse_rfc3339(raw)
        if nanos is None:
            raise ResourceError(path, f"{raw!r} is not an RFC 3339 timestamp such as '2025-01-31T12:00:00Z'")
        if not INT64_RANGE[0] < nanos < INT64_RANGE[1]:
            raise ResourceError(
                path, f"{raw!r} is out of range: timestamps are stored from 1677-09-21 to 2262-04-11 (UTC)"
            )
        if is_canonical(raw):
            return raw  # already what format_rfc3339(nanos) would write
        return format_rfc3339(nanos)
    if kind is Kind.MAP:
        assert t.map_value is not None
        if not isinstance(raw, dict):
            raise ResourceError(path, f"expected a JSON object, got {_json_type(raw)}")
        if len(raw) > MAX_MAP_KEYS:
            raise ResourceError(path, too_many_keys(len(raw)))
        decoded: dict[str, Any] = {}
        for k, v in raw.items():
            key = str(k)
            check_string(key, path, MAX_STRING, what=f"key {key[:40]!r}")
            decoded[key] = decode_value(
                t.map_value, v, path=f"{path}.{key}", allow_output_only=allow_output_only
            )
        return decoded
    if kind is Kind.MESSAGE:
        assert t.message is not None
        decoded = decode_message(
            t.message, raw, path=path, allow_output_only=allow_output_only, partial=partial
        )
        if t.message.name == "typeDate":
            _check_date(decoded, path)
        return decoded
    raise ResourceError(path, f"unsupported type {kind.value}")  # pragma: no cover


def check_string(value: str, path: str, max_length: int = MAX_STRING, *, what: str = "") -> None:
    """ResourceError unless ``value`` has no NUL character and at most ``max_length`` characters;
    ``what`` names the string inside the field (e.g. a map key)."""
    prefix = f"{what}: " if what else ""
    if "\x00" in value:
        raise ResourceError(path, prefix + NUL_IN_STRING)
    if len(value) > max_length:
        raise ResourceError(path, prefix + too_long(len(value), max_length))


#: An integer as a JSON string: an optional '-' and 1-19 ASCII digits (the range is checked after).
_DECIMAL = re.compile(r"-?[0-9]{1,19}")


def _integer(raw: Any, path: str) -> int:
    if isinstance(raw, bool):
        raise ResourceError(path, "expected an integer, got a boolean")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        if raw.is_integer():
            return int(raw)
        raise ResourceError(path, f"expected an integer, got {raw}")
    if isinstance(raw, str) and _DECIMAL.fullmatch(raw):
        return int(raw)
    raise ResourceError(path, f"expected an integer, got {_json_type(raw)}")


def _check_date(date: dict[str, Any], path: str) -> None:
    year, month, day = date.get("year", 0), date.get("month", 0), date.get("day", 0)
    if not 0 <= year <= 9999:
        raise ResourceError(f"{path}.year", "year must be from 1 to 9999, or 0")
    if not 0 <= month <= 12:
        raise ResourceError(f"{path}.month", "month must be from 1 to 12, or 0")
    if not 0 <= day <= 31:
        raise ResourceError(f"{path}.day", "day must be from 1 to 31, or 0")
    if day and month:
        import calendar

        last = calendar.monthrange(year or 2000, month)[1]
        if day > last:
            raise ResourceError(f"{path}.day", f"day {day} is not valid for month {month}")


def _json_type(raw: Any) -> str:
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return "a boolean"
    if isinstance(raw, int | float):
        return "a number"
    if isinstance(raw, str):
        return "a string"
    if isinstance(raw, list):
        return "an array"
    return "an object"


def default_of(t: TypeDecl) -> Any:
    """The canonical JSON default of ``t`` (``TypeDecl.json_zero``; a fresh ``{}`` for maps)."""
    return {} if t.kind is Kind.MAP else t.json_zero


def is_default(decl: FieldDecl, value: Any) -> bool:
    """Whether a canonical JSON value is the field's default (and so omitted on output).

    A set message is never default, even when empty (``teftDetails: {}`` is present)."""
    if decl.repeated:
        return not value
    zero = decl.type.json_zero
    if zero is None:
        return value is None
    return bool(value == zero)


def prune(resource: dict[str, Any], message: MessageDecl = MODEL) -> dict[str, Any]:
    """Drop default values (recursively), producing the canonical output form."""
    out: dict[str, Any] = {}
    for key, value in resource.items():
        decl = message.field(key)
        if decl is None:
            out[key] = value
            continue
        if is_default(decl, value):
            continue
        sub = decl.type.message
        if decl.kind is Kind.MESSAGE and sub is not None:
            value = [prune(v, sub) for v in value] if decl.repeated else prune(value, sub)
        out[decl.json_name] = value
    return out


def validate_model(model: dict[str, Any], *, path: str = "model", check_peft_rank: bool = True) -> None:
    """The seed's rules for a complete (merged) Model in canonical form."""
    display_name = model.get("displayName", "")
    if len(display_name) > MAX_DISPLAY_NAME:
        raise ResourceError(
            f"{path}.displayName", f"must be fewer than 64 characters long (got {len(display_name)})"
        )
    description = model.get("description", "")
    if len(description) > MAX_DESCRIPTION:
        raise ResourceError(
            f"{path}.description", f"must be fewer than 1000 characters long (got {len(description)})"
        )
    kind = model.get("kind", "KIND_UNSPECIFIED")
    has_base = model.get("baseModelDetails") is not None
    if kind == "HF_BASE_MODEL" and not has_base:
        raise ResourceError(f"{path}.baseModelDetails", "is required when kind is HF_BASE_MODEL")
    if kind != "HF_BASE_MODEL" and has_base:
        raise ResourceError(
            f"{path}.baseModelDetails", f"must not be set when kind is {kind} (only with HF_BASE_MODEL)"
        )
    peft = model.get("peftDetails")
    if kind in ("HF_PEFT_ADDON", "HF_TEFT_ADDON"):
        if peft is None:
            raise ResourceError(f"{path}.peftDetails", f"is required when kind is {kind}")
        if not peft.get("baseModel"):
            raise ResourceError(f"{path}.peftDetails.baseModel", "is required")
        r = peft.get("r", 0)
        if check_peft_rank and not 4 <= r <= 64:
            raise ResourceError(f"{path}.peftDetails.r", f"must be between 4 and 64 inclusive (got {r})")
        if not peft.get("targetModules"):
            raise ResourceError(f"{path}.peftDetails.targetModules", "is required (at least one module)")
    has_teft = model.get("teftDetails") is not None
    if kind == "HF_TEFT_ADDON" and not has_teft:
        raise ResourceError(f"{path}.teftDetails", "is required when kind is HF_TEFT_ADDON")
    if kind != "HF_TEFT_ADDON" and has_teft:
        raise ResourceError(f"{path}.teftDetails", f"must not be set when kind is {kind}")
    if model.get("defaultDraftModel") and not model.get("defaultDraftTokenCount"):
        raise ResourceError(
            f"{path}.defaultDraftTokenCount", "must be specified when defaultDraftModel is specified"
        )
    if model.get("defaultDraftTokenCount", 0) < 0:
        raise ResourceError(f"{path}.defaultDraftTokenCount", "must not be negative")
    for key in ("contextLength", "trainingContextLength"):
        if model.get(key, 0) < 0:
            raise ResourceError(f"{path}.{key}", "must not be negative")
    conv = model.get("conversationConfig")
    if conv is not None and not conv.get("style"):
        raise ResourceError(f"{path}.conversationConfig.style", "is required when conversationConfig is set")
