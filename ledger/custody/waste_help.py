"""Help for a small enterprise choosing a waste code (申报批次): everyday names (废机油, 漆渣,
含油抹布 …), the codes its region sees most and the codes it declared before listed first, the
true number of matches, and a short, whole name per code to start the batch's name from.

The data is in ``ledger/data/declare/`` (see its README): every row names catalogue text as
evidence, and a test checks each against the catalogue, so nothing here invents a code.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import desc, func, select
from sqlalchemy.orm import Session

from ledger.custody.catalogue import Catalogue, WasteCode, _fold, normalise_waste_code
from ledger.custody.projections import Batch
from ledger.tlog.entries import parse_entry
from ledger.tlog.models import LogEntry

#: Longest name the rule may produce; a label prints it on one or two lines.
MAX_NAME = 40
#: Names that say nothing without their process: the rule then keeps the process too.
GENERIC = frozenset({"废物", "残渣", "废液", "废渣", "残余物", "残液", "废酸", "废碱", "浮渣",
                     "油泥", "酸泥", "熔渣", "污泥", "粉尘", "滤渣", "母液", "焦油", "废水"})
_PARENS = re.compile(r"（[^（）]*）|\([^()]*\)")
_CLAUSES = re.compile(r"[，；;。]")
_PRODUCED = ("产生的", "收集的", "剥离下的")
_LEADING = re.compile(r"^(以及|及其|及|和|或|与)")  # a clause that continues the one before
#: Why a suggestion is where it is in the list, strongest first.
WHY = ("previous", "region", "synonym", "match")


@dataclass(frozen=True)
class Suggestion:
    """One waste code offered to the declarer, with its short name and why it is offered."""

    entry: WasteCode
    name: str
    why: str  # one of WHY
    synonym: str | None = None  # the everyday name that found it, if one did


@dataclass(frozen=True)
class Suggestions:
    total: int  # every match, not only this page
    offset: int
    limit: int
    items: tuple[Suggestion, ...]


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("ledger").joinpath("data", "declare", name).read_text("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@cache
def synonyms() -> tuple[tuple[str, str, str], ...]:
    """(everyday name folded, waste code, evidence) in file order."""
    return tuple((_fold(r["term"]), normalise_waste_code(r["code"]), r["evidence"])
                 for r in _rows("synonyms.csv"))


@cache
def region_wastes() -> tuple[tuple[str, str, str, str], ...]:
    """(region prefix, waste code, evidence, why) in file order."""
    return tuple((r["region"], normalise_waste_code(r["code"]), r["evidence"], r["why"])
                 for r in _rows("region_wastes.csv"))


@cache
def curated_names() -> dict[str, str]:
    return {normalise_waste_code(r["code"]): r["name"] for r in _rows("names.csv")}


def short_name(entry: WasteCode) -> str:
    """A short name that is a whole phrase of the catalogue's text (or a curated one): what
    the process leaves ("…产生的" X, up to the end of its clause, enumerations kept whole),
    with the process kept when X alone says nothing ("废物")."""
    curated = curated_names().get(entry.code)
    if curated:
        return curated
    text, before = entry.description, ""
    while text != before:  # notes may nest: （不包括：…（…）…）
        before, text = text, _PARENS.sub("", text)
    clauses = [c.strip() for c in _CLAUSES.split(text) if c.strip()]
    clause = next((c for c in reversed(clauses) if any(p in c for p in _PRODUCED)), clauses[0])
    name = clause
    for marker in _PRODUCED:
        at = clause.rfind(marker)
        if at >= 0:
            name = clause[at + len(marker):]
            break
    if name in GENERIC or len(name) < 2:
        name = clause
    return _LEADING.sub("", name)


def suggest(catalogue: Catalogue, q: str, *, region: str = "", previous: Sequence[str] = (),
            offset: int = 0, limit: int = 12) -> Suggestions:
    """The codes matching ``q`` (every term, as ``Catalogue.search``) or an everyday name in
    it, ordered: codes this organisation declared before (``previous``, newest first), the
    region's common wastes, everyday-name matches, then the catalogue's own ranking. With an
    empty ``q``: the previous and the region's codes only."""
    folded = "".join(_fold(q).split())
    found = [w.code for w in catalogue.search(q, limit=None)] if folded else []
    named: dict[str, str] = {}
    if len(folded) >= 2:
        for term, code, _ in synonyms():
            if (term in folded or folded in term) and code not in named and code in catalogue:
                named[code] = term
    local = [code for prefix, code, _, _ in region_wastes()
             if prefix and region.startswith(prefix) and code in catalogue]
    pool = set(found) | set(named)
    if not folded:
        pool = {c for c in (*previous, *local) if c in catalogue}
    order: dict[str, tuple[int, int]] = {}
    for bucket, codes in enumerate((previous, local, list(named), found)):
        for i, code in enumerate(codes):
            if code in pool and code not in order:
                order[code] = (bucket, i)
    ranked = sorted(order, key=order.__getitem__)
    page = ranked[offset:offset + limit]
    return Suggestions(
        total=len(ranked), offset=offset, limit=limit,
        items=tuple(Suggestion(catalogue.get(c), short_name(catalogue.get(c)),
                               WHY[order[c][0]], named.get(c)) for c in page))


# --- what this organisation declared before -----------------------------------------------------

#: Description fields "the same as last time" copies (never the mass or the date: those are
#: this batch's own).
REPEATED = ("waste_code", "name", "form", "hazards", "container", "location", "components",
            "harmful_components", "precautions", "notes", "hazardous")


def declared_codes(session: Session, org: str, limit: int = 20) -> list[str]:
    """The waste codes ``org`` has declared, most recent first (each once)."""
    rows = session.execute(select(Batch.waste_code, func.max(Batch.declared_at).label("last"))
                           .where(Batch.generator == org, Batch.consolidated.is_(False))
                           .group_by(Batch.waste_code).order_by(desc("last")).limit(limit))
    return [code for code, _ in rows]


def last_declaration(session: Session, org: str) -> dict[str, Any] | None:
    """The description ``org`` signed in its latest declaration, as the form repeats it."""
    code = session.scalar(select(Batch.code).where(
        Batch.generator == org, Batch.consolidated.is_(False))
        .order_by(Batch.declared_at.desc()).limit(1))
    if code is None:
        return None
    first = session.scalar(select(LogEntry).where(LogEntry.stream == code, LogEntry.seq == 0))
    if first is None:
        return None
    data = parse_entry(first.note, max_size=len(first.note)).data
    return {"batch": code, **{k: data[k] for k in REPEATED if k in data}}
