"""Update masks (AIP-134) applied to JSON resources: what a PATCH changes. Framework- and database-free:
the API's Update and anything else that patches a resource use :func:`merge_update`."""

from __future__ import annotations

from typing import Any

from modelyard.aip.fieldmask import FieldMask
from modelyard.aip.schema import FieldDecl, MessageDecl


def merge_update(
    message: MessageDecl, current: dict[str, Any], sent: dict[str, Any], mask: FieldMask | None
) -> dict[str, Any]:
    """Apply an update. Without a mask, the mask is implied by the body as grpc-gateway does: every
    leaf sent (descending into singular messages, not into maps or lists) is updated, so
    ``{"baseModelDetails": {"moe": true}}`` leaves ``parameterCount`` alone. With a mask, each masked
    path takes the sent value, or is cleared when the body does not have it; ``*`` replaces every
    writable field. Output-only fields never change."""
    new = dict(current)
    if mask is not None and mask.paths is None:  # "*": a full replacement of the writable fields
        for decl in message.fields:
            if not decl.output_only:
                new.pop(decl.json_name, None)
        new.update(sent)
        return new
    if mask is None:
        paths = implied_paths(sent, message)
    else:
        assert mask.paths is not None
        paths = []
        for path in mask.paths:
            fields = [s for s in path if isinstance(s, FieldDecl)]
            if not any(f.output_only for f in fields):
                paths.append([f.json_name for f in fields])
    for keys in paths:
        set_path(new, sent, keys)
    return new


def implied_paths(
    sent: dict[str, Any], message: MessageDecl, prefix: tuple[str, ...] = ()
) -> list[list[str]]:
    """The update mask a body implies (grpc-gateway): every leaf sent, descending into singular messages
    but not into maps or lists."""
    paths: list[list[str]] = []
    for key, value in sent.items():
        decl = message.field(key)
        sub = decl.type.message if decl is not None else None
        if decl is not None and sub is not None and not decl.repeated and isinstance(value, dict) and value:
            paths += implied_paths(value, sub, (*prefix, key))
        else:
            paths.append([*prefix, key])
    return paths


def set_path(target: dict[str, Any], source: dict[str, Any], keys: list[str]) -> None:
    """Copy the field at ``keys`` from ``source`` into ``target``, or clear it there when ``source``
    lacks it."""
    head, rest = keys[0], keys[1:]
    if not rest:
        if head in source:
            target[head] = source[head]
        else:
            target.pop(head, None)
        return
    sub_source = source.get(head)
    if not isinstance(sub_source, dict) and target.get(head) is None:
        return  # clearing a field of an unset message: nothing to do (and the message stays unset)
    sub_target = dict(target.get(head) or {})
    set_path(sub_target, sub_source if isinstance(sub_source, dict) else {}, rest)
    target[head] = sub_target
