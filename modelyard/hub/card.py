"""The model card's front matter as the Hub's ``cardData``: parsed below the doors, in
``modelyard/files/card.py`` (the catalog's model page reads cards too); re-exported here for the Hub door."""

from __future__ import annotations

from modelyard.files.card import MAX_CARD_BYTES, MAX_NODES, card_data

__all__ = ["MAX_CARD_BYTES", "MAX_NODES", "card_data"]
