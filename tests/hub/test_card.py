"""The model card's front matter as ``cardData`` (``hub/card.py``): YAML mappings only, safe loading, and
bounded work on hostile input."""

from __future__ import annotations

from modelyard.hub.card import card_data
from modelyard.hub.names import hub_id


def test_front_matter_becomes_card_data() -> None:
    card = b"---\nlicense: mit\ntags: [a, b]\ndate: 2024-01-02\nbase_model:\n  - x/y\n---\n# Title\n"
    assert card_data(card) == {
        "license": "mit",
        "tags": ["a", "b"],
        "date": "2024-01-02",
        "base_model": ["x/y"],
    }
    assert card_data(b"\xef\xbb\xbf---\r\nlicense: mit\r\n---\r\ntext") == {"license": "mit"}


def test_what_is_not_a_card() -> None:
    assert card_data(b"# No front matter\n---\nlicense: mit\n---\n") is None
    assert card_data(b"---\n- a list\n---\n") is None
    assert card_data(b"---\nlicense: [unclosed\n---\n") is None
    assert card_data(b"---\n!!python/object/apply:os.system ['true']\n---\n") is None  # safe_load refuses


def test_an_alias_bomb_is_no_card() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    bomb = ("---\n" + "\n".join(lines) + "\n---\n").encode()
    assert card_data(bomb) is None  # 10^9 values if expanded: refused after 100,000


def test_hub_names_map_to_ids() -> None:
    assert hub_id("Qwen2.5-7B_x") == "qwen2p5-7b-x"
    assert hub_id("acme") == "acme"
