"""Editions of the national catalogue side by side, chosen by the day a waste was generated.

The 2021 edition (部令第15号) ships as package data. Later editions are imported by the operator
from the official table (``waste-ledger catalogue import``) and kept in ``catalogue_editions``
as the exact CSV text that passed validation, so every process parses the same rows.

Which edition applies to a batch is decided once, when it is declared: the newest edition in
force on its ``generated_on`` day (a batch generated in 2024 keeps 2021 after 2025 is loaded)
among the editions loaded *before that entry's log index*. An import records the log size at
the moment it was committed (``from_index``, taken under the append lock), so replaying the
log (``waste-ledger rebuild``) chooses exactly as the original append did.

The 2025 edition (生态环境部等五部门令第36号, in force 2025-01-01) is not available to this
project as data. Until an operator imports it, the edition in force is "not loaded": batches
generated since 2025-01-01 are checked against 2021, the newest loaded edition, and the pages
and ``waste-ledger init`` say so (`in_force`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass

from sqlalchemy import BigInteger, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ledger.custody.catalogue import (
    Catalogue,
    TableError,
    WasteCode,
    available_editions,
    is_identified_code,
    load_catalogue,
    normalise_waste_code,
    parse_edition,
)
from ledger.errors import Conflict, InvalidInput, NotFound, RuleViolation
from ledger.tlog.db import write_transaction
from ledger.tlog.log import read_head
from ledger.tlog.models import Base

__all__ = [
    "KNOWN_EDITIONS",
    "batch_edition",
    "describe_code",
    "CatalogueEdition",
    "EditionInfo",
    "InForce",
    "catalogue",
    "edition_for",
    "editions",
    "import_edition",
    "in_force",
    "waste_entry",
]


@dataclass(frozen=True)
class KnownEdition:
    """An edition as the law publishes it: when it came into force and by which order."""

    effective_from: str
    order: str


#: The editions whose dates are law (the 2025 edition's table is not shipped; see module doc).
KNOWN_EDITIONS: dict[str, KnownEdition] = {
    "2021": KnownEdition("2021-01-01", "生态环境部等 部令第15号"),
    "2025": KnownEdition("2025-01-01", "生态环境部等五部门令第36号"),
}

IMPORT_HINT = ("waste-ledger catalogue import hw_catalogue_{edition}.csv --edition {edition} "
               "--effective {effective} --exemptions hw_exemptions_{edition}.csv")

_EDITION_RE = re.compile(r"[0-9]{4}", re.ASCII)


class CatalogueEdition(Base):
    """An imported edition of the catalogue: the validated tables, verbatim, and when it
    started to apply in the log. Not a projection: ``rebuild`` keeps it."""

    __tablename__ = "catalogue_editions"

    edition: Mapped[str] = mapped_column(String(4), primary_key=True)
    effective_from: Mapped[str] = mapped_column(String(10))
    catalogue_csv: Mapped[str] = mapped_column(Text)
    categories_csv: Mapped[str] = mapped_column(Text)
    exemptions_csv: Mapped[str] = mapped_column(Text)
    successors_csv: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(200))
    imported_ms: Mapped[int] = mapped_column(BigInteger)
    from_index: Mapped[int] = mapped_column(Integer)  # log size at import


@dataclass(frozen=True)
class EditionInfo:
    """One loaded edition."""

    edition: str
    effective_from: str
    from_index: int  # entries from this log index on may use it
    origin: str  # package | imported
    sha256: str = ""

    @property
    def order(self) -> str:
        known = KNOWN_EDITIONS.get(self.edition)
        return known.order if known else ""


@dataclass(frozen=True)
class InForce:
    """The edition the law has in force on a day, and whether this installation has it."""

    day: str
    edition: str  # what the law has in force
    effective_from: str
    order: str
    loaded: bool
    used: str  # the newest loaded edition in force that day: what batches are checked against

    @property
    def import_command(self) -> str:
        return IMPORT_HINT.format(edition=self.edition, effective=self.effective_from)


def editions(session: Session) -> tuple[EditionInfo, ...]:
    """Every loaded edition, shipped and imported, oldest in force first."""
    shipped = [EditionInfo(e, load_catalogue(e).effective_from or f"{e}-01-01", 0, "package")
               for e in available_editions()]
    rows = session.execute(select(CatalogueEdition.edition, CatalogueEdition.effective_from,
                                  CatalogueEdition.from_index, CatalogueEdition.sha256))
    imported = [EditionInfo(e, eff, idx, "imported", sha) for e, eff, idx, sha in rows]
    return tuple(sorted(shipped + imported, key=lambda e: (e.effective_from, e.edition)))


def catalogue(session: Session, edition: str) -> Catalogue:
    """One loaded edition's catalogue (cached per edition and content)."""
    if edition in available_editions():
        return load_catalogue(edition)
    row = session.execute(select(CatalogueEdition.sha256).where(
        CatalogueEdition.edition == edition)).first() if isinstance(edition, str) else None
    if row is None:
        raise NotFound(f"catalogue edition {edition!r} is not loaded",
                       code="catalogue_edition_unknown", field="edition")
    return _imported(session, edition, row.sha256)


def _imported(session: Session, edition: str, sha: str) -> Catalogue:
    cached = _parsed.get((edition, sha))
    if cached is None:
        row = session.get(CatalogueEdition, edition)
        assert row is not None
        cached = _parse(edition, row.effective_from, row.catalogue_csv, row.categories_csv,
                        row.exemptions_csv, row.successors_csv)
        _parsed[(edition, sha)] = cached
    return cached


# Editions are immutable once imported (a different table is refused), so content-keyed
# parses never go stale; a few editions at most.
_parsed: dict[tuple[str, str], Catalogue] = {}


def edition_for(session: Session, generated_on: str, at_index: int | None = None) -> EditionInfo:
    """The edition that applies to waste generated on ``generated_on`` (YYYY-MM-DD): the newest
    loaded edition in force that day, counting only editions loaded before log index
    ``at_index`` (None: every loaded edition)."""
    usable = [e for e in editions(session)
              if e.effective_from <= generated_on and (at_index is None
                                                       or e.from_index <= at_index)]
    if not usable:
        oldest = min(editions(session), key=lambda e: e.effective_from)
        raise RuleViolation(
            f"no loaded catalogue edition was in force on {generated_on}; the oldest loaded "
            f"is {oldest.edition}, in force from {oldest.effective_from}",
            code="catalogue_edition_not_loaded", field="data.generated_on")
    return usable[-1]


def in_force(session: Session, day: dt.date | str) -> InForce:
    """What the law has in force on ``day`` and whether it is loaded here."""
    text = day.isoformat() if isinstance(day, dt.date) else day
    name, known = max(((n, k) for n, k in KNOWN_EDITIONS.items() if k.effective_from <= text),
                      key=lambda item: item[1].effective_from,
                      default=min(KNOWN_EDITIONS.items(), key=lambda i: i[1].effective_from))
    loaded = {e.edition for e in editions(session)}
    return InForce(text, name, known.effective_from, known.order, name in loaded,
                   edition_for(session, text).edition)


def waste_entry(cat: Catalogue, code: str) -> WasteCode:
    """A waste code as the edition lists it, or a 900-000-×× code found hazardous by
    identification (its hazards are the declarer's, so none here). NotFound otherwise, naming
    the successor when the edition says the code was merged or split."""
    key = normalise_waste_code(code)
    if is_identified_code(key):
        return WasteCode(code=key, category="HW" + key[-2:], industry="非特定行业",
                         description="经鉴别属于危险废物、名录中无适用代码的固体废物",
                         hazards=(), edition=cat.edition)
    try:
        return cat.get(key)
    except NotFound:
        later = cat.successor(key)
        if later is None:
            raise
        raise NotFound(
            f"waste code {key} is not in the {cat.edition} catalogue: "
            + (f"{'merged into' if later.change == 'merged' else 'split into'} "
               f"{', '.join(later.successors)}" if later.successors else "removed"),
            code="waste_code_superseded", field="waste_code",
            successors=list(later.successors), change=later.change) from None


def describe_code(session: Session, code: str) -> WasteCode | None:
    """A code as the newest loaded edition listing it describes it (900-000-×× included);
    None for a code no loaded edition lists (general industrial solid waste)."""
    for info in reversed(editions(session)):
        try:
            return waste_entry(catalogue(session, info.edition), code)
        except (NotFound, InvalidInput):
            continue
    return None


def batch_edition(session: Session, generated_on: str, declared_at: int) -> str:
    """The edition a hazardous batch was checked against when it was declared."""
    return edition_for(session, generated_on, declared_at).edition


# --- import -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    info: EditionInfo
    created: bool
    codes: int
    exemptions: int
    successors: int
    categories_from: str | None  # the edition whose category names were reused, if any


def import_edition(session: Session, edition: str, effective_from: str, *, catalogue_csv: str,
                   exemptions_csv: str, categories_csv: str | None = None,
                   successors_csv: str | None = None, source: str = "",
                   now_ms: int = 0) -> ImportResult:
    """Validate and store an edition of the catalogue (idempotent for the same tables).

    ``categories_csv`` may be left out when every category the table uses is named by an
    earlier loaded edition; those names are then copied (and the result says from where)."""
    _check_edition(edition, effective_from)
    with write_transaction(session):
        head = read_head(session, lock=True)  # the append lock: from_index is exact
        from_index = head.size if head is not None else 0
        categories_csv, reused = _categories(session, catalogue_csv, categories_csv)
        parsed = _parse(edition, effective_from, catalogue_csv, categories_csv, exemptions_csv,
                        successors_csv)
        digest = hashlib.sha256("\x1e".join(
            (effective_from, catalogue_csv, categories_csv, exemptions_csv,
             successors_csv or "")).encode()).hexdigest()
        existing = session.get(CatalogueEdition, edition)
        if existing is not None:
            if existing.sha256 != digest:
                raise Conflict(f"edition {edition} is already loaded with other tables; an "
                               "edition cannot be replaced once batches may use it",
                               code="catalogue_edition_exists", field="edition")
            created = False
            from_index = existing.from_index
        else:
            session.add(CatalogueEdition(
                edition=edition, effective_from=effective_from, catalogue_csv=catalogue_csv,
                categories_csv=categories_csv, exemptions_csv=exemptions_csv,
                successors_csv=successors_csv, sha256=digest, source=source[:200],
                imported_ms=now_ms, from_index=from_index))
            created = True
    info = EditionInfo(edition, effective_from, from_index, "imported", digest)
    return ImportResult(info, created, len(parsed), len(parsed.exemptions()),
                        len(parsed.successors()), reused)


def _check_edition(edition: str, effective_from: str) -> None:
    if not isinstance(edition, str) or not _EDITION_RE.fullmatch(edition):
        raise InvalidInput(f"edition must be a year like 2025, got {edition!r}",
                           code="catalogue_edition_invalid", field="edition")
    if edition in available_editions():
        raise Conflict(f"edition {edition} ships with waste-ledger and cannot be imported",
                       code="catalogue_edition_exists", field="edition")
    try:
        dt.date.fromisoformat(effective_from)
        if len(effective_from) != 10:
            raise ValueError(effective_from)
    except (TypeError, ValueError):
        raise InvalidInput(f"effective date must be YYYY-MM-DD, got {effective_from!r}",
                           code="date_invalid", field="effective") from None
    known = KNOWN_EDITIONS.get(edition)
    if known is not None and known.effective_from != effective_from:
        raise InvalidInput(f"the {edition} edition ({known.order}) is in force from "
                           f"{known.effective_from}, not {effective_from}",
                           code="catalogue_effective_mismatch", field="effective")


def _categories(session: Session, catalogue_csv: str,
                categories_csv: str | None) -> tuple[str, str | None]:
    """The categories table given, or one made of the newest loaded edition's names."""
    if categories_csv is not None:
        return categories_csv, None
    used = sorted(set(re.findall(r"^(HW[0-9]{2}),", catalogue_csv, flags=re.M)))
    for info in reversed(editions(session)):
        known = {c.code: c.name for c in catalogue(session, info.edition).categories()}
        if set(used) <= known.keys():
            lines = ["category,name", *(f"{c},{known[c]}" for c in used)]
            return "\r\n".join(lines) + "\r\n", info.edition
    raise InvalidInput("the table uses categories no loaded edition names: give --categories",
                       code="catalogue_import_invalid", field="categories")


def _parse(edition: str, effective_from: str, catalogue_csv: str, categories_csv: str,
           exemptions_csv: str, successors_csv: str | None) -> Catalogue:
    try:
        return parse_edition(edition, catalogue=catalogue_csv, categories=categories_csv,
                             exemptions=exemptions_csv, successors=successors_csv,
                             effective_from=effective_from)
    except TableError as exc:
        raise InvalidInput(f"catalogue {edition}: {exc.detail}",
                           code="catalogue_import_invalid", field="file") from None
