"""Hub repo ids and modelyard names: the one mapping every Hub route uses (decisions.md, "Hugging Face Hub
protocol").

A repo id is ``ACCOUNT/MODEL``. Hub-style names map to ids by lower-casing them and writing ``.`` as ``p``
and ``_`` as ``-`` (``acme/Qwen2.5-7B_x`` is ``acme/qwen2p5-7b-x``); what still breaks the id rules
(``resources.model.ID_PATTERN``) is refused with 400 naming the rule.
"""

from __future__ import annotations

from modelyard.hub.errors import HubError
from modelyard.resources.codec import ResourceError, check_id


def hub_id(name: str) -> str:
    """A Hub-style name as a modelyard id: lower case, ``.`` -> ``p``, ``_`` -> ``-``."""
    return name.lower().replace(".", "p").replace("_", "-")


def repo_ids(namespace: str, name: str) -> tuple[str, str]:
    """(account id, model id) of the repo ``namespace/name``; 400 when they break the id rules."""
    account_id, model_id = hub_id(namespace), hub_id(name)
    for value, what, original in ((account_id, "account id", namespace), (model_id, "model id", name)):
        try:
            check_id(value, what)
        except ResourceError as e:
            raise HubError(
                400, f"invalid repo id {namespace}/{name}: {original!r} maps to {what} {value!r}: {e.message}"
            ) from None
    return account_id, model_id


def repo_id(account_id: str, model_id: str) -> str:
    return f"{account_id}/{model_id}"
