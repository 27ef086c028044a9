"""Size limits on Model input, the same on every write path (the API and every importer).

decisions.md ("Model files", limits): lists at most 10,000 entries, maps at most 1,000 keys, no NUL
character anywhere (map keys included); each refusal names the field and the limit. Strings follow the
seed's rule for ``displayName`` (fewer than 64 characters) and ``description`` (fewer than 1000): every
other string must be fewer than 4,096 characters, except the chat template and system prompt of a
``conversationConfig`` (Hugging Face chat templates run to tens of kilobytes), fewer than 65,536.
The request body limit (1 MiB by default) is a server setting (``Settings.max_body_bytes``); importers
apply the same limit to each Model record.
"""

from __future__ import annotations

from modelyard.aip.schema import FieldDecl
from modelyard.resources.model import CONVERSATION_CONFIG

#: Most entries a repeated field may hold.
MAX_LIST_ENTRIES = 10_000
#: Most keys a map field may hold.
MAX_MAP_KEYS = 1_000
#: Most characters of a string (and of a map key) without a limit of its own: "fewer than 4096".
MAX_STRING = 4_095
#: Most characters of a chat template or a system prompt: "fewer than 65536".
MAX_LONG_STRING = 65_535
#: Default most bytes of a JSON request body, and of one Model record of an import file (1 MiB).
DEFAULT_MAX_BODY_BYTES = 1 << 20


def _field(message_field: FieldDecl | None) -> FieldDecl:
    assert message_field is not None
    return message_field


#: Strings with a limit of their own (by declaration identity); ``displayName`` and ``description`` are
#: checked by ``codec.validate_model`` (their limits are below MAX_STRING).
_STRING_LIMITS: dict[int, int] = {
    id(_field(CONVERSATION_CONFIG.field("template"))): MAX_LONG_STRING,
    id(_field(CONVERSATION_CONFIG.field("system"))): MAX_LONG_STRING,
}


def string_limit(decl: FieldDecl | None) -> int:
    """The most characters a value of this string field may have."""
    if decl is None:
        return MAX_STRING
    return _STRING_LIMITS.get(id(decl), MAX_STRING)


def too_long(length: int, limit: int) -> str:
    """The refusal of a string ``length`` characters long (phrased as the seed's rules are)."""
    return f"must be fewer than {limit + 1} characters long (got {length})"


def too_many_entries(count: int) -> str:
    return f"has {count:,} entries; at most {MAX_LIST_ENTRIES:,} are allowed"


def too_many_keys(count: int) -> str:
    return f"has {count:,} keys; at most {MAX_MAP_KEYS:,} are allowed"


NUL_IN_STRING = "strings must not contain the NUL character (U+0000)"
