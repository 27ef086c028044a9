"""The model card: ``README.md``'s YAML front matter is the Hub's ``cardData`` (license, tags,
base_model, pipeline_tag, ...). Read with ``yaml.safe_load`` (no tags that build objects), from at most
:data:`MAX_CARD_BYTES`; a card without front matter, or whose front matter is not a YAML mapping, has none.

Below the doors: the Hub door (``cardData`` in ``model_info``) and the catalog (the card on the model
page, :func:`split_card` for its Markdown body) both read cards through this module.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

import yaml

#: The most of a README read for its front matter.
MAX_CARD_BYTES = 1024 * 1024
#: The most values a card's front matter may hold.
MAX_NODES = 100_000
_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\n(.*?)\n?^---[ \t]*$", re.S | re.M)


def card_data(readme: bytes) -> dict[str, Any] | None:
    """The front matter of a model card as JSON-ready data, or None."""
    return split_card(readme)[0]


def split_card(readme: bytes) -> tuple[dict[str, Any] | None, str]:
    """``(cardData or None, the Markdown body)`` of a model card read from at most
    :data:`MAX_CARD_BYTES`; the body is the text after the front matter (all of it when there is none).
    Front matter that is not a YAML mapping is still stripped from the body."""
    text = readme[:MAX_CARD_BYTES].decode("utf-8", errors="replace").replace("\r\n", "\n")
    match = _FRONT_MATTER.match(text)
    if match is None:
        return None, text.removeprefix("\ufeff")
    return _front_matter(match.group(1)), text[match.end() :].lstrip("\n")


def _front_matter(source: str) -> dict[str, Any] | None:
    try:
        data = yaml.safe_load(source)
    except yaml.YAMLError:
        return None
    if not isinstance(data, dict):
        return None
    try:
        cleaned = _jsonable(data, [MAX_NODES])
    except _TooLarge:
        return None
    return cleaned if isinstance(cleaned, dict) else None


class _TooLarge(Exception):
    pass


def _jsonable(value: Any, budget: list[int], depth: int = 0) -> Any:
    """YAML values as JSON values (dates as ISO text, keys as text). Nesting past 32 levels is dropped;
    more than :data:`MAX_NODES` values (YAML aliases can repeat a value exponentially) is no card."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLarge
    if depth > 32:
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v, budget, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, budget, depth + 1) for v in value]
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | bool | int | float):
        return value
    return str(value)
