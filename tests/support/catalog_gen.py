"""Generators for filter tests: catalogs of varied Model resources (and, in ``tests.support.filter_gen``,
well-typed filter text).

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
from collections.abc import Sequence
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
