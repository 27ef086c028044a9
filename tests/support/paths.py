"""Where the repository's files are, seen from the tests (never anything outside the clone)."""

from __future__ import annotations

from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = TESTS_DIR.parent
README = REPO_ROOT / "README.md"
#: The AIP-160 conformance table the tests read (CI compares it with the project's shared copy).
FILTER_CASES = TESTS_DIR / "data" / "filter_cases.jsonl"
