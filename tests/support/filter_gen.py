"""Well-typed AIP-160 filter text for the Model schema, as hypothesis strategies.

:func:`filters` draws random filter text whose values come from (or near) a catalog's actual values (see
``tests.support.catalog_gen``), so that results are non-trivial. Strings follow the catalog's alphabet
rules, so SQLite and PostgreSQL agree on case-insensitive matching.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import strategies as st

from modelyard.aip.timestamps import NANOS, format_rfc3339, parse_rfc3339
from modelyard.resources.model import CHECKPOINT_FORMAT, KIND, PRECISION
from tests.support.catalog_gen import (
    FAMILIES,
    HF_FILES,
    MODULES,
    ODD_KEYS,
    SAMPLING_KEYS,
    WORDS,
    YEAR_2018,
    simple_case,
)

_BARE_WORD = re.compile(r"^[A-Za-zÀ-ÖØ-öø-ÿͰ-Ͽ一-鿿][A-Za-z0-9_À-ÖØ-öø-ÿͰ-Ͽ一-鿿]*$")
_KEYWORDS = {"AND", "OR", "NOT", "and", "or", "not", "true", "false", "null"}


def quote(text: str) -> str:
    """``text`` as a filter STRING literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _bare_ok(text: str) -> bool:
    return bool(_BARE_WORD.match(text)) and text not in _KEYWORDS and "*" not in text


def _lookup(resource: dict[str, Any], path: str) -> Any:
    value: Any = resource
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


STRING_FIELDS = {  # filter path -> JSON path
    "display_name": "displayName",
    "description": "description",
    "name": "name",
    "github_url": "githubUrl",
    "hugging_face_url": "huggingFaceUrl",
    "default_draft_model": "defaultDraftModel",
    "imported_from": "importedFrom",
    "base_model_details.model_type": "baseModelDetails.modelType",
    "peft_details.base_model": "peftDetails.baseModel",
    "peft_details.merge_addon_model_name": "peftDetails.mergeAddonModelName",
    "conversation_config.style": "conversationConfig.style",
    "conversation_config.system": "conversationConfig.system",
    "status.message": "status.message",
}
INT_FIELDS = {
    "context_length": "contextLength",
    "training_context_length": "trainingContextLength",
    "default_draft_token_count": "defaultDraftTokenCount",
    "base_model_details.world_size": "baseModelDetails.worldSize",
    "base_model_details.parameter_count": "baseModelDetails.parameterCount",
    "peft_details.r": "peftDetails.r",
    "deprecation_date.year": "deprecationDate.year",
    "deprecation_date.month": "deprecationDate.month",
    "deprecation_date.day": "deprecationDate.day",
}
BOOL_FILTER_FIELDS = [
    "public", "supports_serverless", "supports_tools", "supports_image_input", "supports_lora",
    "use_hf_apply_chat_template", "calibrated", "tunable", "rl_tunable", "supervised_lora_tunable",
    "base_model_details.moe", "base_model_details.tunable", "base_model_details.supports_fireattention",
    "base_model_details.supports_mtp", "supportsServerless", "baseModelDetails.moe",
]  # fmt: skip
ENUM_FIELDS = {
    "state": ["STATE_UNSPECIFIED", "UPLOADING", "READY"],
    "kind": list(KIND.values),
    "snapshot_type": ["FULL_SNAPSHOT", "INCREMENTAL_SNAPSHOT"],
    "base_model_details.checkpoint_format": list(CHECKPOINT_FORMAT.values),
    "base_model_details.default_precision": ["PRECISION_UNSPECIFIED", "FP16", "FP8", "BF16"],
    "status.code": ["OK", "INVALID_ARGUMENT", "NOT_FOUND", "INTERNAL"],
}
TIMESTAMP_FIELDS = {"create_time": "createTime", "update_time": "updateTime"}
PRESENCE_FIELDS = [
    "display_name", "description", "context_length", "public", "state", "kind", "create_time", "update_time",
    "base_model_details", "peft_details", "teft_details", "conversation_config", "deprecation_date", "status",
    "supported_precisions", "supported_precisions_with_calibration", "default_sampling_params",
    "base_model_details.moe", "base_model_details.parameter_count", "base_model_details.huggingface_files",
    "peft_details.target_modules", "conversation_config.system", "deprecation_date.month",
    "default_sampling_params.temperature", "default_sampling_params.top_p", "default_sampling_params.top_k",
    "baseModelDetails", "defaultSamplingParams.temperature",
]  # fmt: skip
OPS = ["=", "!=", "<", "<=", ">", ">="]


class Pools:
    """Values that occur in a catalog, by filter path."""

    def __init__(self, resources: Sequence[dict[str, Any]]) -> None:
        self.strings: dict[str, list[str]] = {}
        for path, json_path in STRING_FIELDS.items():
            values = {str(v) for r in resources if (v := _lookup(r, json_path)) is not None}
            if path == "name":
                values = {v.rsplit("/", 1)[-1] for v in values}  # the account differs per run
            self.strings[path] = sorted(values) or [""]
        self.ints: dict[str, list[int]] = {}
        for path, json_path in INT_FIELDS.items():
            values_i = {int(v) for r in resources if (v := _lookup(r, json_path)) is not None}
            self.ints[path] = sorted(values_i | {0})
        self.times = sorted(
            {parse_rfc3339(v) or 0 for r in resources for k in TIMESTAMP_FIELDS.values() if (v := r.get(k))}
        )
        self.floats = sorted(
            {float(v) for r in resources for v in (r.get("defaultSamplingParams") or {}).values()}
        )
        words: set[str] = set()
        for r in resources:
            for key in ("displayName", "description"):
                words.update(w for w in re.split(r"[\s/:]+", r.get(key, "")) if w)
            words.add(r.get("name", "").rsplit("/", 1)[-1])
        self.words = sorted(words | set(WORDS) | set(FAMILIES))
        self.search_words = [w for w in self.words if _bare_ok(w)]


def _substring(draw: st.DrawFn, text: str) -> str:
    if not text:
        return ""
    i = draw(st.integers(0, len(text) - 1))
    j = draw(st.integers(i + 1, min(len(text), i + 12)))
    return text[i:j]


def _case_variant(draw: st.DrawFn, text: str) -> str:
    how = draw(st.sampled_from(["same", "same", "lower", "upper", "swap"]))
    if how == "lower":
        return text.lower()
    if how == "upper":
        # str.upper may expand (ß -> SS) or produce a final sigma on lowering: keep letters that round-trip
        up = text.upper()
        return up if len(up) == len(text) and up.lower() == text.lower() else text
    if how == "swap":
        sw = text.swapcase()
        return sw if len(sw) == len(text) and sw.lower() == text.lower() else text
    return text


def _string_value(draw: st.DrawFn, pool: list[str]) -> str:
    base = draw(st.sampled_from(pool))
    how = draw(st.sampled_from(["exact", "exact", "exact", "prefix", "plus", "minus", "empty", "word"]))
    if how == "prefix":
        return base[: draw(st.integers(0, len(base)))]
    if how == "plus":
        return base + draw(st.sampled_from(["a", " ", "~", "é", "0"]))
    if how == "minus" and base:
        return base[:-1] + chr(max(32, ord(base[-1]) - 1))
    if how == "empty":
        return ""
    if how == "word":
        return draw(st.sampled_from(WORDS))
    return base


def _value_literal(draw: st.DrawFn, text: str) -> str:
    """A string literal: quoted (single or double), or bare when it lexes as a single TEXT token."""
    if _bare_ok(text) and draw(st.booleans()):
        return text
    if "'" not in text and "\\" not in text and draw(st.integers(0, 4)) == 0:
        return "'" + text + "'"
    return quote(text)


@st.composite
def _string_restriction(draw: st.DrawFn, pools: Pools) -> str:
    path = draw(st.sampled_from(sorted(STRING_FIELDS)))
    pool = pools.strings[path]
    kind = draw(st.sampled_from(["compare", "compare", "has", "has", "wildcard", "wildcard"]))
    if path == "name" and kind == "compare":
        kind = "wildcard"  # names carry the (random) account id: match them by suffix or substring
    if kind == "has":
        text = _case_variant(draw, _substring(draw, draw(st.sampled_from(pool))))
        text = text.replace("*", "")
        if not text or not simple_case(text):
            text = draw(st.sampled_from(["a", "e", "llama", "_", "%", "\\"]))
        return f"{path}:{_value_literal(draw, text)}"
    if kind == "wildcard":
        base = draw(st.sampled_from(pool)).replace("*", "")
        shape = draw(
            st.sampled_from(
                ["prefix", "suffix", "contains", "any"] if path != "name" else ["suffix", "contains"]
            )
        )
        if shape == "prefix":
            text = base[: draw(st.integers(0, len(base)))] + "*"
        elif shape == "suffix":
            text = "*" + base[draw(st.integers(0, len(base))) :]
        elif shape == "contains":
            text = "*" + _substring(draw, base) + "*"
        else:
            text = "*"
        if draw(st.integers(0, 5)) == 0:
            text = _case_variant(draw, text)
        op = draw(st.sampled_from(["=", "=", "!="]))
        return f"{path} {op} {quote(text)}"
    value = _string_value(draw, pool).replace("*", "")
    op = draw(st.sampled_from(OPS))
    return f"{path} {op} {_value_literal(draw, value)}"


@st.composite
def _int_restriction(draw: st.DrawFn, pools: Pools) -> str:
    path = draw(st.sampled_from(sorted(INT_FIELDS)))
    base = draw(st.sampled_from(pools.ints[path]))
    delta = draw(st.sampled_from([0, 0, 0, 1, -1, 2, -1000]))
    value = base + delta
    if draw(st.integers(0, 9)) == 0:
        value = -value - 1  # negative numbers
    limit = 2**63 if path.endswith("parameter_count") else 2**31
    value = max(-limit, min(limit - 1, value))
    op = draw(st.sampled_from(OPS))
    return f"{path} {op} {value}"


@st.composite
def _bool_restriction(draw: st.DrawFn) -> str:
    path = draw(st.sampled_from(BOOL_FILTER_FIELDS))
    form = draw(st.sampled_from(["=", "!=", "bare"]))
    if form == "bare":
        return path
    return f"{path} {form} {draw(st.sampled_from(['true', 'false']))}"


@st.composite
def _enum_restriction(draw: st.DrawFn) -> str:
    path = draw(st.sampled_from(sorted(ENUM_FIELDS)))
    value = draw(st.sampled_from(ENUM_FIELDS[path]))
    if draw(st.integers(0, 3)) == 0:
        value = quote(value)
    return f"{path} {draw(st.sampled_from(['=', '!=']))} {value}"


def _format_time(draw: st.DrawFn, nanos: int) -> str:
    style = draw(st.sampled_from(["z", "z", "offset", "frac"]))
    if style == "offset":
        hours = draw(st.integers(-12, 14))
        minutes = draw(st.sampled_from([0, 30, 45]))
        offset = (hours * 60 + (minutes if hours >= 0 else -minutes)) * 60 * NANOS
        local = format_rfc3339(nanos + offset)[:-1]
        sign = "+" if offset >= 0 else "-"
        total = abs(offset) // (60 * NANOS)
        return f"{local}{sign}{total // 60:02d}:{total % 60:02d}"
    if style == "frac":
        seconds, frac = divmod(nanos, NANOS)
        return format_rfc3339(seconds * NANOS)[:-1] + f".{frac:09d}Z"
    return format_rfc3339(nanos)


@st.composite
def _time_restriction(draw: st.DrawFn, pools: Pools) -> str:
    path = draw(st.sampled_from(sorted(TIMESTAMP_FIELDS)))
    base = draw(st.sampled_from(pools.times)) if pools.times else YEAR_2018
    delta = draw(st.sampled_from([0, 0, 0, 1, -1, 1_000, -1_000, NANOS, -NANOS, 86_400 * NANOS * 30]))
    if draw(st.integers(0, 9)) == 0:
        base, delta = 0, 0  # the epoch: what unset times equal
    text = quote(_format_time(draw, base + delta))
    if draw(st.integers(0, 4)) == 0:
        text = f"timestamp({text})"
    return f"{path} {draw(st.sampled_from(OPS))} {text}"


@st.composite
def _collection_restriction(draw: st.DrawFn, pools: Pools) -> str:
    kind = draw(
        st.sampled_from(
            ["presence", "presence", "modules", "precision", "files", "key", "key_presence", "map"]
        )
    )
    if kind == "presence":
        return f"{draw(st.sampled_from(PRESENCE_FIELDS))}:*"
    if kind == "modules":
        return (
            f"peft_details.target_modules:{_value_literal(draw, draw(st.sampled_from([*MODULES, 'proj'])))}"
        )
    if kind == "precision":
        field = draw(st.sampled_from(["supported_precisions", "supported_precisions_with_calibration"]))
        return f"{field}:{draw(st.sampled_from(PRECISION.values))}"
    if kind == "files":
        return f"base_model_details.huggingface_files:{quote(draw(st.sampled_from([*HF_FILES, 'config'])))}"
    key = draw(st.sampled_from([*SAMPLING_KEYS, "seed", *ODD_KEYS]))
    key = key if _bare_ok(key) else quote(key)
    if kind == "key":
        return f"default_sampling_params:{key}"
    if kind == "key_presence":
        return f"default_sampling_params.{key}:*"
    value = draw(st.sampled_from(pools.floats or [0.5]))
    value = value + draw(st.sampled_from([0.0, 0.0, 0.05, -0.05]))
    literal = repr(float(value)) if draw(st.booleans()) or not float(value).is_integer() else str(int(value))
    if "e" in literal or "inf" in literal or "nan" in literal:
        literal = "0.5"
    return f"default_sampling_params.{key} {draw(st.sampled_from(OPS))} {literal}"


@st.composite
def _search(draw: st.DrawFn, pools: Pools) -> str:
    form = draw(st.sampled_from(["bare", "bare", "quoted", "number"]))
    if form == "number":
        return str(draw(st.sampled_from([0, 1, 2, 3, 7, 8, 70, 100, 5])))
    if form == "bare" and pools.search_words:
        word = _case_variant(draw, draw(st.sampled_from(pools.search_words)))
        if draw(st.booleans()):
            word = _substring(draw, word)
        if _bare_ok(word) and simple_case(word):
            return word
    phrase = draw(st.sampled_from(pools.words))
    if draw(st.booleans()):
        phrase = _substring(draw, phrase)
    phrase = _case_variant(draw, phrase).replace("*", "")
    return quote(phrase if phrase and simple_case(phrase) else "a")


def _restriction(pools: Pools) -> st.SearchStrategy[str]:
    return st.one_of(
        _string_restriction(pools),
        _int_restriction(pools),
        _bool_restriction(),
        _enum_restriction(),
        _time_restriction(pools),
        _collection_restriction(pools),
        _search(pools),
    )


def _negated(draw: st.DrawFn, text: str, simple: bool) -> str:
    if not simple:
        text = f"({text})"
    if text.startswith(("NOT ", "-")) or text[:1].isdigit():
        text = f"({text})"  # NOT NOT a and --a are errors; -8 is a negative number, not NOT 8
    return draw(st.sampled_from(["NOT ", "-"])) + text


def filters(resources: Sequence[dict[str, Any]], max_depth: int = 4) -> st.SearchStrategy[str]:
    """Random well-typed filter text for the Model schema, with values drawn from ``resources``
    (canonical Models, with or without ``name``)."""
    pools = Pools(resources)
    restriction = _restriction(pools)

    @st.composite
    def expr(draw: st.DrawFn, depth: int) -> str:
        if depth <= 0 or draw(st.integers(0, 1)) == 0:
            text = draw(restriction)
            if draw(st.integers(0, 5)) == 0:
                text = _negated(draw, text, True)
            return text
        n = draw(st.integers(2, 3))
        parts = [draw(expr(depth - 1)) for _ in range(n)]
        joiner = draw(st.sampled_from([" AND ", " OR ", " "]))
        text = joiner.join(parts)
        if draw(st.integers(0, 3)) == 0:
            return _negated(draw, text, False)
        if draw(st.integers(0, 2)) == 0:
            return f"({text})"
        return text

    return expr(max_depth)


def filter_strategy_for(
    catalog: Sequence[tuple[str, dict[str, Any]]],
) -> Callable[[], st.SearchStrategy[str]]:
    """A factory of :func:`filters` for a generated catalog (ids become ``name`` suffixes)."""
    resources = [{**r, "name": f"accounts/any/models/{model_id}"} for model_id, r in catalog]
    return lambda: filters(resources)
