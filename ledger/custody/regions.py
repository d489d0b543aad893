"""Names of administrative divisions (GB/T 2260 行政区划代码) for display: a regulator reads
"331002 椒江区", not the name of the agency that happens to sit there.

The tables are package data under ``ledger/data/regions/`` (one CSV per province; see its
README for the source). Names are for people only: no rule depends on them, and a code that is
not in a table is shown bare.
"""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib import resources

from ledger.custody.codes import PROVINCES, region_level, validate_region
from ledger.errors import LedgerError


@cache
def _province_table(province: str) -> dict[str, str]:
    """Code -> name for one province, or {} when the repository has no table for it."""
    path = resources.files("ledger").joinpath("data", "regions", f"{province}0000.csv")
    if not path.is_file():
        return {}
    rows = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))
    return {row["code"]: row["name"] for row in rows}


def region_name(code: str) -> str:
    """The division's own name: 331002 -> 椒江区, 331000 -> 台州市, 330000 -> 浙江省.

    '' for a code that is malformed or not in the tables (a division abolished or renamed, or a
    province without a table), so callers show the bare code."""
    try:
        text = validate_region(code)
    except LedgerError:  # a name is a courtesy: a bad code simply has none
        return ""
    if text.endswith("0000"):
        return PROVINCES.get(text[:2], "")
    return _province_table(text[:2]).get(text, "")


def region_full_name(code: str) -> str:
    """The name with its parents: 331002 -> 浙江省台州市椒江区; '' when the division is unknown."""
    own = region_name(code)
    if not own:
        return ""
    text = validate_region(code)
    parents = [text[:2] + "0000"]
    if region_level(text) == "county" and not text[2:4] == "90":  # 省直辖县 have no city
        parents.append(text[:4] + "00")
    names = [region_name(p) for p in parents if p != text]
    return "".join(n for n in names if n) + own


def region_label(code: str | None) -> str:
    """What a page or an export shows for a region: "331002 椒江区", or the bare code."""
    if not code:
        return ""
    name = region_name(code)
    return f"{code} {name}" if name else code
