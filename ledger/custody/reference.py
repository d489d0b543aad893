"""Official code lists an operator loads: the 利用/处置方式 codes and the general industrial solid
waste codes (一般工业固体废物).

Neither list is available to this project as data (nothing of them ships in ``ledger/data`` or
in ``../shared/data``), and none is made up here: ``waste-ledger reference import`` loads the
official table, validated, and keeps it verbatim in ``reference_lists`` with the log size at
the moment it was committed (``from_index``, taken under the append lock), like catalogue
editions (``ledger.custody.editions``). An entry is checked only against a list loaded before
its log index, so replaying the log chooses exactly as the original append did.

- ``disposal_methods``: ``code,name,method`` — the code of the 利用/处置方式 (as the permit
  categories write it), its Chinese name, and ``利用`` or ``处置``. Once loaded, a disposal
  entry's ``method_code`` must be one of them, of the entry's method.
- ``general_waste``: ``category,code,name`` — the category ``SW`` + two digits and the code
  ``NNN-NNN-SNN`` (the form the label renderer prints, ``900-001-S17``; ``NN`` the category's
  digits). Once loaded, a general industrial solid waste batch must use one of its codes.

Until a list is loaded the rule it feeds is not applied; the pages and ``reference list`` say
so plainly.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import re
from dataclasses import dataclass

from sqlalchemy import BigInteger, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ledger.errors import Conflict, InvalidInput
from ledger.tlog.db import write_transaction
from ledger.tlog.log import read_head
from ledger.tlog.models import Base

METHODS = "disposal_methods"
GENERAL = "general_waste"
LISTS = (METHODS, GENERAL)

#: The method a 利用/处置方式 code belongs to, as the table writes it.
METHOD_WORDS = {"利用": "utilisation", "处置": "disposal", "utilisation": "utilisation",
                "disposal": "disposal"}

_METHOD_CODE_RE = re.compile(r"[A-Z][A-Z0-9.]{0,7}", re.ASCII)
_GENERAL_CODE_RE = re.compile(r"([0-9]{3})-([0-9]{3})-S([0-9]{2})", re.ASCII)
_SW_RE = re.compile(r"SW([0-9]{2})", re.ASCII)

IMPORT_HINT = {
    METHODS: "waste-ledger reference import disposal_methods.csv --list disposal_methods",
    GENERAL: "waste-ledger reference import general_waste.csv --list general_waste",
}


class ReferenceList(Base):
    """A loaded official list, verbatim, and from which log index entries are checked
    against it. Not a projection: ``rebuild`` keeps it."""

    __tablename__ = "reference_lists"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    csv_text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(200))
    imported_ms: Mapped[int] = mapped_column(BigInteger)
    from_index: Mapped[int] = mapped_column(Integer)


@dataclass(frozen=True)
class MethodCode:
    """A 利用/处置方式: code, Chinese name, utilisation or disposal."""

    code: str
    name: str
    method: str


@dataclass(frozen=True)
class GeneralCode:
    """A general industrial solid waste code: ``900-001-S17`` in category ``SW17``."""

    code: str
    category: str
    name: str

    @property
    def digits(self) -> str:
        """The batch code's form: ``900-001-17``."""
        return self.code.replace("-S", "-")


class ListError(InvalidInput):
    """A table that cannot be loaded, naming the line to blame."""


def _rows(text: str, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if reader.fieldnames is None or tuple(f.strip() for f in reader.fieldnames) != columns:
        raise ListError(f"the header must be {','.join(columns)}", code="reference_invalid",
                        field="file")
    out = []
    for n, row in enumerate(reader, start=2):
        out.append((n, {k.strip(): (v or "").strip() for k, v in row.items() if k}))
    if not out:
        raise ListError("the table has no rows", code="reference_invalid", field="file")
    return out


@functools.lru_cache(maxsize=8)
def parse_methods(text: str) -> dict[str, MethodCode]:
    """The rows of a 利用/处置方式 table, validated: unique codes, a name, 利用 or 处置."""
    out: dict[str, MethodCode] = {}
    for n, row in _rows(text, ("code", "name", "method")):
        code, name, method = row["code"].upper(), row["name"], row["method"]
        if not _METHOD_CODE_RE.fullmatch(code):
            raise ListError(f"line {n}: code {row['code']!r} is not a code like R4 or D10",
                            code="reference_invalid", field="file")
        if not name or len(name) > 200:
            raise ListError(f"line {n}: the name is empty or too long",
                            code="reference_invalid", field="file")
        if method not in METHOD_WORDS:
            raise ListError(f"line {n}: method must be 利用 or 处置, got {method!r}",
                            code="reference_invalid", field="file")
        if code in out:
            raise ListError(f"line {n}: code {code} is listed twice", code="reference_invalid",
                            field="file")
        out[code] = MethodCode(code, name, METHOD_WORDS[method])
    return out


@functools.lru_cache(maxsize=8)
def parse_general(text: str) -> dict[str, GeneralCode]:
    """The rows of a general industrial solid waste table, validated: category SW + two
    digits, code NNN-NNN-SNN whose last digits are the category's, unique codes, a name.
    Keyed by the batch code's form (``900-001-17``)."""
    out: dict[str, GeneralCode] = {}
    for n, row in _rows(text, ("category", "code", "name")):
        category, code, name = row["category"].upper(), row["code"].upper(), row["name"]
        sw, m = _SW_RE.fullmatch(category), _GENERAL_CODE_RE.fullmatch(code)
        if sw is None:
            raise ListError(f"line {n}: category {row['category']!r} is not SW and two digits",
                            code="reference_invalid", field="file")
        if m is None or m.group(3) != sw.group(1):
            raise ListError(f"line {n}: code {row['code']!r} is not NNN-NNN-S{sw.group(1)}",
                            code="reference_invalid", field="file")
        if not name or len(name) > 200:
            raise ListError(f"line {n}: the name is empty or too long",
                            code="reference_invalid", field="file")
        item = GeneralCode(code, category, name)
        if item.digits in out:
            raise ListError(f"line {n}: code {code} is listed twice", code="reference_invalid",
                            field="file")
        out[item.digits] = item
    return out


def _count(name: str, text: str) -> int:
    return len(parse_methods(text)) if name == METHODS else len(parse_general(text))


@dataclass(frozen=True)
class ImportResult:
    name: str
    rows: int
    from_index: int
    created: bool


def import_list(session: Session, name: str, text: str, *, source: str = "",
                now_ms: int = 0) -> ImportResult:
    """Validate and store an official list (idempotent for the same table; a loaded list
    cannot be replaced by another, since entries were checked against it)."""
    if name not in LISTS:
        raise InvalidInput(f"list must be one of {', '.join(LISTS)}", code="reference_unknown",
                           field="list")
    rows = _count(name, text)
    digest = hashlib.sha256(text.encode()).hexdigest()
    with write_transaction(session):
        head = read_head(session, lock=True)  # the append lock: from_index is exact
        from_index = head.size if head is not None else 0
        existing = session.get(ReferenceList, name)
        if existing is not None:
            if existing.sha256 != digest:
                raise Conflict(f"{name} is already loaded with another table; it cannot be "
                               "replaced once entries were checked against it",
                               code="reference_exists", field="list")
            return ImportResult(name, rows, existing.from_index, False)
        session.add(ReferenceList(name=name, csv_text=text, sha256=digest,
                                  source=source[:200], imported_ms=now_ms,
                                  from_index=from_index))
    return ImportResult(name, rows, from_index, True)


def _loaded(session: Session, name: str, index: int | None) -> str | None:
    row = session.execute(select(ReferenceList.csv_text, ReferenceList.from_index).where(
        ReferenceList.name == name)).first()
    if row is None or (index is not None and row.from_index > index):
        return None
    return str(row.csv_text)


def method_codes(session: Session, index: int | None = None) -> dict[str, MethodCode] | None:
    """The loaded 利用/处置方式 (for an entry at ``index``: loaded before it), or None."""
    text = _loaded(session, METHODS, index)
    return None if text is None else parse_methods(text)


def general_codes(session: Session, index: int | None = None) -> dict[str, GeneralCode] | None:
    """The loaded general industrial solid waste codes, keyed ``900-001-17``, or None."""
    text = _loaded(session, GENERAL, index)
    return None if text is None else parse_general(text)
