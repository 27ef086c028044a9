"""What a Hugging Face ``config.json`` (and chat template) says about a model: context length, mixture of
experts, image input, tool use; and the short texts the importer writes (counts, descriptions)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

#: Keys that hold the maximum context length, in order of preference.
_CONTEXT_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "max_sequence_length",
    "seq_length",
    "n_ctx",
    "max_seq_len",
)
#: Keys that hold the number of experts of a mixture-of-experts model.
_EXPERT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts")
#: Sub-configs of multimodal configs that describe the language model.
_TEXT_CONFIG_KEYS = ("text_config", "llm_config", "language_config")
#: Keys whose (non-empty) presence means the model takes images.
_VISION_KEYS = ("vision_config", "vision_tower", "mm_vision_tower", "image_token_index")
#: The openers of Jinja statements, expressions and comments, and their closers.
_JINJA_CLOSERS = {"{%": "%}", "{{": "}}", "{#": "#}"}
_TOOLS_WORD_RE = re.compile(r"\b(tools|tool_calls|tool_call)\b")


def sub_configs(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The config itself, then its language-model sub-configs (multimodal models)."""
    subs = [config]
    for key in _TEXT_CONFIG_KEYS:
        sub = config.get(key)
        if isinstance(sub, dict):
            subs.append(sub)
    return subs


def positive_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, float) and value.is_integer() and value > 0:
        return int(value)
    return None


def context_length_of(config: dict[str, Any]) -> int | None:
    """The maximum context length a ``config.json`` declares, or None."""
    for sub in sub_configs(config):
        for key in _CONTEXT_KEYS:
            value = positive_int(sub.get(key))
            if value is not None:
                return value
    return None


def is_moe(config: dict[str, Any]) -> bool:
    """Whether a ``config.json`` describes a mixture-of-experts model (more than one expert)."""
    for sub in sub_configs(config):
        for key in _EXPERT_KEYS:
            value = positive_int(sub.get(key))
            if value is not None and value > 1:
                return True
    return False


def supports_image_input(config: dict[str, Any]) -> bool:
    """Whether a ``config.json`` describes a model with a vision tower."""
    for key in _VISION_KEYS:
        value = config.get(key)
        if value is not None and value is not False and value != "" and value != {}:
            return True
    return False


def code_blocks(template: str) -> Iterator[str]:
    """The text inside the ``{% ... %}`` and ``{{ ... }}`` blocks of a Jinja template, in order; the text
    of ``{# comments #}`` and literal text between blocks are skipped.

    Linear in the template's length whatever it holds: each opener is found by a regex search from the
    end of the previous block, and its closer by one ``find``. (A regex of lazy ``.*?`` blocks rescans
    the rest of the template from every opener that is never closed: 39 KiB of ``{{`` took 8 s.) An
    opener that is never closed starts no block, and no later opener of its kind can be closed either:
    the search goes on without that kind.
    """
    live = set(_JINJA_CLOSERS)
    openers = re.compile("|".join(re.escape(o) for o in sorted(live)))
    position = 0
    while True:
        match = openers.search(template, position)
        if match is None:
            return
        opener = match.group()
        closer_at = template.find(_JINJA_CLOSERS[opener], match.end())
        if closer_at < 0:
            live.discard(opener)
            if not live:
                return
            openers = re.compile("|".join(re.escape(o) for o in sorted(live)))
            position = match.start() + 1
            continue
        if opener != "{#":
            yield template[match.end() : closer_at]
        position = closer_at + 2


def template_uses_tools(template: str) -> bool:
    """Whether a Jinja chat template refers to ``tools`` / ``tool_calls`` / ``tool_call`` in its code.

    Only ``{% ... %}`` and ``{{ ... }}`` blocks are searched (:func:`code_blocks`), so the words in
    literal template text or ``{# comments #}`` do not count.
    """
    return any(_TOOLS_WORD_RE.search(block) for block in code_blocks(template))


def human_count(n: int) -> str:
    """``6736`` -> ``"6.74K"``, ``494032768`` -> ``"494M"``, ``7241732096`` -> ``"7.24B"``."""
    units = ("", "K", "M", "B", "T")
    value = float(n)
    for i, unit in enumerate(units):
        if float(f"{value:.3g}") < 1000 or i == len(units) - 1:
            return f"{value:.3g}{unit}" if unit else str(n)
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def architecture_of(config: dict[str, Any]) -> str | None:
    archs = config.get("architectures")
    if isinstance(archs, list) and archs and isinstance(archs[0], str):
        return archs[0]
    return None
