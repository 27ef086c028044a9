"""The catalog's facets and sort orders: each facet option is a clause of the List filter language, each
sort an ``orderBy`` text, so the pages ask the store exactly what the API would be asked."""

from __future__ import annotations

from dataclasses import dataclass

from modelyard.resources.model import KIND


@dataclass(frozen=True)
class Option:
    value: str  # the URL query value
    label: str
    clause: str  # AIP-160 filter text


@dataclass(frozen=True)
class Facet:
    param: str  # the URL query parameter (repeated for several options)
    label: str
    options: tuple[Option, ...]
    #: "or": a model matches when it matches any selected option (kinds, ranges); "and": every one
    #: (capabilities, which a model has together).
    combine: str
    hide_empty: bool = False  # options with no model are not shown (unless selected)

    def option(self, value: str) -> Option | None:
        return next((o for o in self.options if o.value == value), None)

    def clause(self, values: tuple[str, ...]) -> str:
        """The filter text of the selected options ("" when none)."""
        clauses = [f"({o.clause})" for o in self.options if o.value in values]
        if not clauses:
            return ""
        joined = f" {self.combine.upper()} ".join(clauses)
        return f"({joined})" if len(clauses) > 1 else joined


_KIND_LABELS = {
    "HF_BASE_MODEL": "Base model",
    "HF_PEFT_ADDON": "LoRA add-on",
    "HF_TEFT_ADDON": "TEFT add-on",
    "FLUMINA_BASE_MODEL": "Flumina base model",
    "FLUMINA_ADDON": "Flumina add-on",
    "DRAFT_ADDON": "Draft model",
    "FIRE_AGENT": "Agent",
    "LIVE_MERGE": "Live merge",
    "CUSTOM_MODEL": "Custom model",
    "EMBEDDING_MODEL": "Embedding model",
    "SNAPSHOT_MODEL": "Snapshot",
}


def kind_label(kind: str) -> str:
    return _KIND_LABELS.get(kind, kind.replace("_", " ").capitalize())


def _range(field: str, low: int, high: int | None) -> str:
    parts = [f"{field} >= {low}" if low else f"{field} > 0"]
    if high is not None:
        parts.append(f"{field} < {high}")
    return " AND ".join(parts)


_B = 1_000_000_000
_K = 1024
_PARAMS = "base_model_details.parameter_count"

FACETS: tuple[Facet, ...] = (
    Facet(
        "kind",
        "Kind",
        tuple(Option(k, kind_label(k), f"kind = {k}") for k in KIND.values if k != "KIND_UNSPECIFIED"),
        "or",
        hide_empty=True,
    ),
    Facet(
        "cap",
        "Capabilities",
        (
            Option("serverless", "Serverless", "supports_serverless"),
            Option("tools", "Tool calling", "supports_tools"),
            Option("image", "Image input", "supports_image_input"),
            Option("tunable", "Fine-tunable", "tunable"),
        ),
        "and",
    ),
    Facet(
        "ctx",
        "Context length",
        (
            Option("lt32k", "Under 32K", _range("context_length", 0, 32 * _K)),
            Option("32k-128k", "32K to 128K", _range("context_length", 32 * _K, 128 * _K)),
            Option("128k-256k", "128K to 256K", _range("context_length", 128 * _K, 256 * _K)),
            Option("256k", "256K and more", _range("context_length", 256 * _K, None)),
        ),
        "or",
    ),
    Facet(
        "params",
        "Parameters",
        (
            Option("lt10b", "Under 10B", _range(_PARAMS, 0, 10 * _B)),
            Option("10b-40b", "10B to 40B", _range(_PARAMS, 10 * _B, 40 * _B)),
            Option("40b-100b", "40B to 100B", _range(_PARAMS, 40 * _B, 100 * _B)),
            Option("100b-300b", "100B to 300B", _range(_PARAMS, 100 * _B, 300 * _B)),
            Option("300b", "300B and more", _range(_PARAMS, 300 * _B, None)),
        ),
        "or",
    ),
)
FACETS_BY_PARAM = {f.param: f for f in FACETS}


@dataclass(frozen=True)
class Sort:
    value: str
    label: str
    order_by: str


SORTS: tuple[Sort, ...] = (
    Sort("name", "Name (A to Z)", "display_name"),
    Sort("name-desc", "Name (Z to A)", "display_name desc"),
    Sort("updated", "Recently updated", "update_time desc"),
    Sort("newest", "Newest", "create_time desc"),
    Sort("oldest", "Oldest", "create_time"),
    Sort("largest", "Most parameters", f"{_PARAMS} desc"),
    Sort("smallest", "Fewest parameters", _PARAMS),
    Sort("context", "Longest context", "context_length desc"),
    Sort("id", "Model id", "name"),
)
SORTS_BY_VALUE = {s.value: s for s in SORTS}
DEFAULT_SORT = "name"
