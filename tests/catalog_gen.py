"""Generators for filter tests: catalogs of varied Model resources, and well-typed filter text.

* :func:`generate_catalog` is a deterministic generator (seeded) of a few hundred Models in canonical
  proto3 JSON without ``name``, ready for ``Store.import_batch(account, [(model_id, resource), ...])``;
  :func:`catalogs` is the same as a hypothesis strategy.
* :func:`filters` is a hypothesis strategy of random, well-typed AIP-160 filter text for the Model schema
  whose values are drawn from (or near) a catalog's actual values, so that results are non-trivial.

Strings stick to ASCII, Latin-1 letters, Greek (``Σ`` never at the end of a word: no final-sigma
case-folding) and CJK, so that SQLite (Python ``str.lower``) and PostgreSQL (ICU ``lower``) agree on
case-insensitive matching. They include ``%``, ``_``, ``\\`` and ``*`` but never U+0000 or U+001F.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import strategies as st

from modelyard.aip.timestamps import NANOS, format_rfc3339, parse_rfc3339
from modelyard.resources.model import CHECKPOINT_FORMAT, KIND, PRECISION

# -- vocabulary ------------------------------------------------------------------------------------

FAMILIES = [
    "llama", "mistral", "mixtral", "qwen", "deepseek", "gemma", "phi", "falcon", "yi", "starcoder",
    "cafe", "resume", "sigma", "zhong",
]  # fmt: skip
WORDS = [
    "Llama", "LLAMA", "llama", "Mistral", "MIXTRAL", "Qwen2", "DeepSeek", "Gemma", "Phi", "Falcon",
    "Instruct", "instruct", "Chat", "chat", "Base", "Coder", "Vision", "Turbo", "mini", "MoE",
    "Café", "CAFÉ", "café", "Résumé", "RÉSUMÉ", "naïve", "Ñandú", "Øre", "Ærø", "façade",
    "Σigma", "σigma", "ΣΙΓΜΑ", "Δelta", "δέλτα", "Ωmega", "αβγ", "ΑΒΓ",
    "中文", "模型", "大模型", "聊天", "日本語",
    "100%", "50%_off", "a_b", "x%y", "under_score", "back\\slash", "C:\\models", "star*", "*lead",
    "2.5", "70B", "8x7B", "v0.1", "4-bit", "fp8", "FP8", "(beta)", "[exp]", "'quoted'", '"dq"',
]  # fmt: skip
STYLES = ["llama-3", "Llama-3", "chatml", "ChatML", "alpaca", "vicuna", "mistral", "passthrough"]
MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "Q_PROJ", "lm_head"]
HF_FILES = ["config.json", "model.safetensors", "tokenizer.json", "model-00001-of-00002.safetensors",
            "README.md", "generation_config.json"]  # fmt: skip
MODEL_TYPES = ["llama", "mistral", "qwen2", "gemma", "phi3", "deepseek_v3", "Llama", "mixtral"]
SAMPLING_KEYS = ["temperature", "top_p", "top_k", "max_tokens", "repetition_penalty"]
ODD_KEYS = ["top p", "a.b", 'x"y', "a,b", "{c}", "it's", "$", "[0]", "中", "back\\slash"]  # see zz-odd-keys
SAMPLING_VALUES = [0.0, 0.1, 0.2, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.5, 2.0, 40.0, 50.0,
                   512.0, 4096.0, -1.0]  # fmt: skip
CONTEXT_LENGTHS = [0, 0, 0, 512, 2048, 4096, 4096, 8192, 8192, 16384, 32768, 65536, 131072, 1_000_000]
PARAMETER_COUNTS = [
    0, 1, 1_000_000, 124_000_000, 7_000_000_000, 7_241_732_096, 8_030_261_248, 70_553_706_496,
    671_000_000_000, 2**31, 2**32 + 1, 2**53 - 1, 2**53, 2**53 + 1, 2**53 + 2, 2**62, 2**63 - 2, 2**63 - 1,
]  # fmt: skip
BOOL_FIELDS = [
    "supportsImageInput", "supportsTools", "supportsLora", "useHfApplyChatTemplate", "calibrated", "tunable",
    "rlTunable", "supportsServerless", "supervisedLoraTunable", "supervisedFullParameterTunable",
    "rlLoraTunable", "rlFullParameterTunable",
]  # fmt: skip
# Model kinds that are valid without extra messages (HF_BASE_MODEL, HF_PEFT_ADDON and HF_TEFT_ADDON have
# their own rules).
PLAIN_KINDS = [k for k in KIND.values if k not in ("HF_BASE_MODEL", "HF_PEFT_ADDON", "HF_TEFT_ADDON")]
YEAR_2018 = parse_rfc3339("2018-01-01T00:00:00Z") or 0
YEAR_2026 = parse_rfc3339("2026-06-01T00:00:00Z") or 0


def simple_case(text: str) -> bool:
    """Whether lower-casing ``text`` is the same as lower-casing each character alone (no final sigma,
    no expansions): then every database's ``lower`` agrees with Python's."""
    return text.lower() == "".join(c.lower() for c in text)


def _text(rng: random.Random, lo: int, hi: int, limit: int) -> str:
    words = [rng.choice(WORDS + FAMILIES) for _ in range(rng.randint(lo, hi))]
    seps = [rng.choice([" ", " ", " ", "-", "_", "/", ": ", "  "]) for _ in words]
    out = "".join(w + s for w, s in zip(words, seps, strict=True)).strip()
    if rng.random() < 0.1:
        out = " " + out  # leading blank: sorts before letters
    return out[:limit].rstrip()


def _timestamp(rng: random.Random) -> int:
    nanos = rng.randint(YEAR_2018, YEAR_2026)
    style = rng.random()
    if style < 0.5:
        return nanos // NANOS * NANOS  # whole seconds
    if style < 0.8:
        return nanos // 1_000 * 1_000  # microseconds
    if style < 0.9:
        return nanos // 1_000_000 * 1_000_000  # milliseconds
    return nanos  # nanoseconds


def _model(rng: random.Random, index: int, ids: Sequence[str]) -> dict[str, Any]:
    m: dict[str, Any] = {}
    if rng.random() < 0.85:
        name = _text(rng, 1, 5, 63)
        if name:
            m["displayName"] = name
    if rng.random() < 0.7:
        desc = _text(rng, 2, 25, 999)
        if desc:
            m["description"] = desc
    created = _timestamp(rng)
    m["createTime"] = format_rfc3339(created)
    if rng.random() < 0.6:
        m["updateTime"] = format_rfc3339(
            created + rng.choice([0, 1_000, NANOS, 86_400 * NANOS * rng.randint(1, 400)])
        )
    state = rng.choice(["STATE_UNSPECIFIED", "UPLOADING", "READY", "READY", "READY"])
    if state != "STATE_UNSPECIFIED":
        m["state"] = state
    if rng.random() < 0.08:
        status: dict[str, Any] = {}  # possibly set but empty
        code = rng.choice(["OK", "INVALID_ARGUMENT", "NOT_FOUND", "INTERNAL"])
        if code != "OK":
            status["code"] = code
        message = rng.choice(["", "failed: bad config", "OK"])
        if message:
            status["message"] = message
        m["status"] = status
    roll = rng.random()
    if roll < 0.4:
        kind = "HF_BASE_MODEL"
    elif roll < 0.6:
        kind = "HF_PEFT_ADDON"
    elif roll < 0.65:
        kind = "HF_TEFT_ADDON"
    else:
        kind = rng.choice(PLAIN_KINDS)
    if kind != "KIND_UNSPECIFIED":
        m["kind"] = kind
    if rng.random() < 0.2:
        m["githubUrl"] = f"https://github.com/org/{rng.choice(FAMILIES)}"
    if rng.random() < 0.4:
        m["huggingFaceUrl"] = (
            f"https://huggingface.co/{rng.choice(['meta-llama', 'Qwen', 'mistralai'])}/"
            f"{rng.choice(FAMILIES)}-{index}"
        )
    if kind == "HF_BASE_MODEL":
        details: dict[str, Any] = {}
        if rng.random() < 0.85:  # otherwise a set, empty message
            if rng.random() < 0.6:
                details["worldSize"] = rng.choice([1, 2, 4, 8])
            fmt = rng.choice(CHECKPOINT_FORMAT.values)
            if fmt != CHECKPOINT_FORMAT.values[0]:
                details["checkpointFormat"] = fmt
            files = rng.sample(HF_FILES, rng.randint(0, 4))
            if files:
                details["huggingfaceFiles"] = files
            count = rng.choice(PARAMETER_COUNTS)
            if count:
                details["parameterCount"] = str(count)
            for key in ("moe", "tunable", "supportsFireattention", "supportsMtp"):
                if rng.random() < 0.4:
                    details[key] = True
            if rng.random() < 0.7:
                details["modelType"] = rng.choice(MODEL_TYPES)
            if rng.random() < 0.3:
                details["defaultPrecision"] = rng.choice(["FP16", "FP8", "BF16"])
        m["baseModelDetails"] = details
    if kind in ("HF_PEFT_ADDON", "HF_TEFT_ADDON"):
        base = rng.choice(ids[: max(1, index)] or ["llama-base"])
        peft: dict[str, Any] = {
            "baseModel": f"accounts/fireworks/models/{base}",
            "r": rng.choice([4, 8, 8, 16, 16, 32, 64, rng.randint(4, 64)]),
            "targetModules": rng.sample(MODULES, rng.randint(1, 4)),
        }
        if rng.random() < 0.2:
            peft["mergeAddonModelName"] = f"accounts/fireworks/models/{rng.choice(FAMILIES)}-merged"
        m["peftDetails"] = peft
        if kind == "HF_TEFT_ADDON":
            m["teftDetails"] = {}
    if rng.random() < 0.15:
        m["public"] = True
    if rng.random() < 0.6:
        conv: dict[str, Any] = {"style": rng.choice(STYLES)}
        if rng.random() < 0.3:
            conv["system"] = rng.choice(["You are a helpful assistant.", "Σύστημα", "系统"])
        if rng.random() < 0.2:
            conv["template"] = "{% for m in messages %}{{ m.content }}{% endfor %}"
        m["conversationConfig"] = conv
    ctx = rng.choice(CONTEXT_LENGTHS)
    if ctx:
        m["contextLength"] = ctx
    for key in BOOL_FIELDS:
        if rng.random() < 0.3:
            m[key] = True
    if rng.random() < 0.1:
        m["defaultDraftModel"] = f"accounts/fireworks/models/{rng.choice(FAMILIES)}-draft"
        m["defaultDraftTokenCount"] = rng.choice([2, 4, 8])
    if rng.random() < 0.2:
        m["trainingContextLength"] = rng.choice([2048, 4096, 8192, 32768])
    if rng.random() < 0.25:
        date = {"year": rng.randint(2024, 2030), "month": rng.randint(1, 12), "day": rng.randint(1, 28)}
        if rng.random() < 0.2:
            date = {"year": date["year"]}  # a partial date
        m["deprecationDate"] = date
    if rng.random() < 0.5:
        keys = rng.sample(SAMPLING_KEYS, rng.randint(1, 4))
        m["defaultSamplingParams"] = {k: rng.choice(SAMPLING_VALUES) for k in keys}
    if rng.random() < 0.5:
        m["supportedPrecisions"] = rng.sample(PRECISION.values[1:], rng.randint(1, 4))
    if rng.random() < 0.15:
        m["supportedPrecisionsWithCalibration"] = rng.sample(PRECISION.values[1:], rng.randint(1, 3))
    if rng.random() < 0.05:
        m["snapshotType"] = "INCREMENTAL_SNAPSHOT"
    if rng.random() < 0.05:
        m["importedFrom"] = f"hf://{rng.choice(FAMILIES)}"
    return m


def _model_id(rng: random.Random, index: int) -> str:
    family = rng.choice(FAMILIES)
    suffix = rng.choice(["", "-instruct", "-chat", "-base", "-8b", "-70b", "-v2", "-lora", "-coder"])
    return f"{family}{suffix}-{index:03d}"


def generate_catalog(seed: int = 0, size: int = 300) -> list[tuple[str, dict[str, Any]]]:
    """``size`` Models as ``(model_id, canonical resource without name)``, deterministic for ``seed``."""
    rng = random.Random(seed)
    ids = [_model_id(rng, i) for i in range(size)]
    catalog = [(model_id, _model(rng, i, ids)) for i, model_id in enumerate(ids)]
    # A few fixed models for the corner cases the regression examples name.
    fixed: list[tuple[str, dict[str, Any]]] = [
        ("zz-bare", {"createTime": "2018-01-01T00:00:00Z"}),
        ("zz-empty-details", {"createTime": "2019-05-05T05:05:05.000000001Z", "kind": "HF_BASE_MODEL",
                              "baseModelDetails": {}}),
        ("zz-moe", {"createTime": "2020-02-02T02:02:02Z", "kind": "HF_BASE_MODEL",
                    "displayName": "MoE 100%_x", "public": True,
                    "baseModelDetails": {"moe": True, "parameterCount": str(2**53 + 1)}}),
        ("zz-special", {"createTime": "2021-03-03T03:03:03.500Z", "displayName": "a%b_c\\d*e",
                        "description": "Percent % under_score back\\slash star* CAFÉ Σigma 中文"}),
        ("zz-negative", {"createTime": "2022-04-04T04:04:04Z", "displayName": "neg ", "status": {},
                         "defaultSamplingParams": {"temperature": -1.0}}),
        # map keys that need quoting in JSON paths (SQLite '$."k"', PostgreSQL text[] literals)
        ("zz-odd-keys", {"createTime": "2023-05-05T05:05:05Z",
                         "defaultSamplingParams": {
                             "top p": 0.5, "a.b": 1.0, "x\"y": 2.0, "a,b": 3.0, "{c}": 4.0, "it's": 5.0,
                             "$": 6.0, "[0]": 7.0, "中": 8.0, "": 9.0, "back\\slash": 10.0, "*": 11.0}}),
    ]  # fmt: skip
    for _, resource in catalog + fixed:
        for key in ("displayName", "description"):
            assert simple_case(resource.get(key, "")), resource[key]
    return catalog + fixed


def catalogs(min_size: int = 50, max_size: int = 300) -> st.SearchStrategy[list[tuple[str, dict[str, Any]]]]:
    """Catalogs as a hypothesis strategy (a seed and a size drawn, the rest deterministic)."""
    return st.builds(generate_catalog, seed=st.integers(0, 2**32 - 1), size=st.integers(min_size, max_size))


# -- filter text -----------------------------------------------------------------------------------

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
