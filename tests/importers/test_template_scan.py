"""``hf_config.code_blocks`` (the chat-template scan behind ``supportsTools``, issue 25 item 14): the same
blocks as the lazy regex it replaced, on any template without comments, and linear on inputs that made
that regex quadratic (1 MiB of ``{{`` would take it hours; the test would time out)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.importers.hf_config import code_blocks, template_uses_tools

#: The regex this scan replaced (quadratic on unclosed openers).
OLD = re.compile(r"\{%(.*?)%\}|\{\{(.*?)\}\}", re.DOTALL)


def _old_blocks(template: str) -> list[str]:
    return [a if m.group(1) is not None else b for m in OLD.finditer(template) for a, b in [m.groups()]]


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="{}%x tols_", max_size=60))
def test_the_same_blocks_as_the_old_regex(template: str) -> None:
    assert list(code_blocks(template)) == _old_blocks(template)


def test_comments_are_not_code() -> None:
    assert list(code_blocks("{# {{ tools }} #}{{ a }}")) == [" a "]
    assert not template_uses_tools("{# tools #}")
    assert template_uses_tools("{# unclosed {{ tools }}")


def test_unclosed_openers_are_linear() -> None:
    size = 1024 * 1024
    assert list(code_blocks("{{" * (size // 2))) == []
    assert list(code_blocks("{%" * (size // 2) + "{{ tools }}")) == [" tools "]
    assert len(list(code_blocks("{{}}" * (size // 4)))) == size // 4
