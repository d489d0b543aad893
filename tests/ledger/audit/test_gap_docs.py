"""The documents name every gap type: README's count and docs/gaps.md's table of types (a
stranger read "eleven" in README when there were twelve)."""

from __future__ import annotations

import re
from pathlib import Path

from ledger.audit.gaps import GAP_TYPES

ROOT = Path(__file__).resolve().parents[3]


def test_readme_counts_the_gap_types():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"{len(GAP_TYPES)} typed findings" in readme


def test_docs_gaps_lists_every_gap_type_in_its_table():
    text = (ROOT / "docs" / "gaps.md").read_text(encoding="utf-8")
    types = text.split("## 1. The types", 1)[1].split("\n## ", 1)[0]
    assert set(re.findall(r"^\| `([a-z_]+)` \|", types, flags=re.M)) == set(GAP_TYPES)
