"""The National Catalogue of Hazardous Wastes (国家危险废物名录) and its exemption list.

The tables ship as package data under ``ledger/data/catalogue/<edition>/`` and are read with
``importlib.resources``, so they work from an installed wheel as well as from a checkout.
Every record keeps its edition: the 2021 edition is in force for this project, and a 2025 table
can be dropped in beside it (``hw_catalogue_2025.csv`` etc.) and loaded with
``load_catalogue("2025")`` without disturbing batches declared under 2021 codes.

A waste code (废物代码) is eight digits written ``NNN-NNN-NN``: the GB/T 4754 industry (or
``900`` for 非特定行业), a sequence number, and the category number, so ``900-039-49`` is in
category ``HW49``.

General industrial solid waste (一般工业固体废物) is not in this catalogue: its codes are supplied
by the organisation that produces it. `is_hazardous_code` tells the two apart for a well-formed
code; what to accept as a general code is the caller's decision.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from ledger.errors import ConfigurationError, InvalidInput, NotFound

__all__ = [
    "ALL_STAGES",
    "DEFAULT_EDITION",
    "HAZARD_CHARACTERISTICS",
    "IDENTIFIED_PREFIX",
    "STAGES",
    "Successor",
    "TableError",
    "exemption_stages",
    "is_identified_code",
    "parse_edition",
    "HW_CATEGORY_CODES",
    "Catalogue",
    "Category",
    "Exemption",
    "WasteCode",
    "available_editions",
    "compact_waste_code",
    "is_hazardous_code",
    "load_catalogue",
    "normalise_category",
    "normalise_waste_code",
]

DEFAULT_EDITION = "2021"

#: Hazard characteristics (危险特性) in the order the catalogue explains them.
HAZARD_CHARACTERISTICS: dict[str, str] = {
    "T": "毒性",  # toxicity
    "C": "腐蚀性",  # corrosivity
    "I": "易燃性",  # ignitability
    "R": "反应性",  # reactivity
    "In": "感染性",  # infectivity
}

#: The 46 categories of the 2021 edition: HW01-HW50, of which HW41-HW44 do not exist.
HW_CATEGORY_CODES = frozenset(f"HW{n:02d}" for n in (*range(1, 41), *range(45, 51)))

_WASTE_CODE_RE = re.compile(r"([0-9]{3})-?([0-9]{3})-?([0-9]{2})", re.ASCII)
_HYPHENATED_RE = re.compile(r"[0-9]{3}-[0-9]{3}-[0-9]{2}", re.ASCII)
_CATEGORY_RE = re.compile(r"HW[0-9]{2}", re.ASCII)
_CODE_TERM_RE = re.compile(r"[0-9-]*[0-9][0-9-]*", re.ASCII)
_EDITION_RE = re.compile(r"[0-9]{4}", re.ASCII)
_DATA_DIR = ("data", "catalogue")

# Search ranks: lower is better.
_EXACT, _PREFIX, _CATEGORY, _TEXT = range(4)


@dataclass(frozen=True)
class WasteCode:
    """One kind of hazardous waste in the catalogue (名录中的一种危险废物)."""

    code: str  # "900-039-49"
    category: str  # "HW49"
    industry: str  # 行业来源, e.g. "非特定行业"
    description: str  # 危险废物 (the description as printed)
    hazards: tuple[str, ...]  # among T, C, I, R, In, in that order
    edition: str

    @property
    def compact(self) -> str:
        """The eight digits without hyphens, as used inside batch codes."""
        return self.code.replace("-", "")


@dataclass(frozen=True)
class Category:
    """A waste category (废物类别), e.g. HW49 其他废物."""

    code: str
    name: str


@dataclass(frozen=True)
class Exemption:
    """One row of the exemption list (危险废物豁免管理清单).

    ``seq`` is the list's 序号 (the item), ``row`` the row's place within its item (item 20
    has two rows, both 利用, with different conditions): together they name the row, as in
    "清单第 22 项第 1 行". ``subject`` is the source's 类别/代码 cell verbatim; ``codes`` and
    ``categories`` hold the waste codes and HW categories it names. Rows about a kind of origin
    rather than a code (生活垃圾中的危险废物, 突发环境事件, 历史遗留, and the point-to-point
    rule "-") name neither.
    """

    seq: int
    subject: str
    codes: tuple[str, ...]
    categories: tuple[str, ...]
    waste: str
    stage: str  # 豁免环节, e.g. 运输 / 利用 / 利用、处置 / 全部环节
    condition: str  # 豁免条件
    content: str  # 豁免内容
    edition: str
    row: int = 1
    line: int = 0  # the line of the source table, for error messages

    @property
    def stages(self) -> frozenset[str]:
        """The concrete stages the row exempts (全部环节: all of 收集, 运输, 利用, 处置)."""
        return exemption_stages(self.stage)

    @property
    def names_code(self) -> bool:
        """Whether the row is about listed codes or categories (not an origin such as 突发)."""
        return bool(self.codes or self.categories)

    def concerns(self, code: str) -> bool:
        """Whether the row applies to a waste code: it names the code or its category, or
        it names neither (origin rows apply to whatever waste has that origin)."""
        return not self.names_code or code in self.codes or "HW" + code[-2:] in self.categories


@dataclass(frozen=True)
class Successor:
    """What became of a code that an edition no longer lists (整合, 拆分, 删除)."""

    code: str
    change: str  # merged | split | removed
    successors: tuple[str, ...]
    edition: str


#: The stages of the exemption list this product can tell apart, in the list's words.
STAGES = ("收集", "运输", "利用", "处置")
ALL_STAGES = "全部环节"

#: Wastes found hazardous by identification (鉴别) with no listed code that fits are classed
#: by category as 900-000-×× (名录 第六条).
IDENTIFIED_PREFIX = "900-000-"


def is_identified_code(code: str) -> bool:
    """Whether a well-formed waste code is 900-000-×× with ×× a hazardous waste category."""
    key = normalise_waste_code(code)
    return key.startswith(IDENTIFIED_PREFIX) and "HW" + key[-2:] in HW_CATEGORY_CODES


def _malformed_code(value: object) -> InvalidInput:
    return InvalidInput(
        f"waste code must be 8 digits written NNN-NNN-NN or NNNNNNNN, got {value!r}",
        code="waste_code_malformed",
        field="waste_code",
    )


def normalise_waste_code(s: str) -> str:
    """Return the hyphenated form of a waste code: "90003949" or "900-039-49" -> "900-039-49"."""
    if not isinstance(s, str):
        raise _malformed_code(s)
    text = s.strip()
    match = _WASTE_CODE_RE.fullmatch(text)
    # Either all hyphens or none: "900-03949" is more likely a typo than a code.
    if match is None or ("-" in text and not _HYPHENATED_RE.fullmatch(text)):
        raise _malformed_code(s)
    return "-".join(match.groups())


def compact_waste_code(s: str) -> str:
    """Return the eight digits of a waste code: "900-039-49" -> "90003949"."""
    return normalise_waste_code(s).replace("-", "")


def normalise_category(s: str) -> str:
    """Return a category code in canonical form: " hw49 " -> "HW49" (format only)."""
    text = s.strip().upper() if isinstance(s, str) else ""
    if not _CATEGORY_RE.fullmatch(text):
        raise InvalidInput(
            f"waste category must be HW followed by two digits, got {s!r}",
            code="waste_category_malformed",
            field="category",
        )
    return text


def _fold(text: str) -> str:
    """Fold for matching: full-width forms to ASCII (NFKC), then case-insensitive."""
    return unicodedata.normalize("NFKC", text).casefold()


@dataclass(frozen=True)
class _SearchKey:
    compact: str
    category: str  # folded, "hw49"
    category_name: str
    text: str  # industry and description


class Catalogue:
    """One edition of the catalogue: waste codes, categories and exemptions, read-only."""

    def __init__(
        self,
        edition: str,
        codes: Iterable[WasteCode],
        categories: Iterable[Category],
        exemptions: Iterable[Exemption] = (),
        *,
        effective_from: str = "",
        successors: Iterable[Successor] = (),
    ) -> None:
        self.edition = edition
        self.effective_from = effective_from  # YYYY-MM-DD, "" if not known
        self._successors = {entry.code: entry for entry in successors}
        self._codes = {entry.code: entry for entry in codes}
        self._categories = {category.code: category for category in categories}
        self._exemptions = tuple(exemptions)
        self._ordered = tuple(self._codes.values())
        self._keys = tuple(self._search_key(entry) for entry in self._ordered)

    def _search_key(self, entry: WasteCode) -> _SearchKey:
        name = self._categories[entry.category].name if entry.category in self._categories else ""
        return _SearchKey(
            compact=entry.compact,
            category=entry.category.casefold(),
            category_name=_fold(name),
            text=_fold(f"{entry.industry} {entry.description}"),
        )

    def __repr__(self) -> str:
        return f"<Catalogue {self.edition}: {len(self._codes)} codes>"

    def __len__(self) -> int:
        return len(self._codes)

    def __iter__(self) -> Iterator[WasteCode]:
        return iter(self._ordered)

    def __contains__(self, code: object) -> bool:
        try:
            return isinstance(code, str) and self.is_hazardous(code)
        except InvalidInput:
            return False

    def get(self, code: str) -> WasteCode:
        """The entry for a waste code ("900-039-49" or "90003949"); NotFound if not listed."""
        key = normalise_waste_code(code)
        try:
            return self._codes[key]
        except KeyError:
            raise NotFound(
                f"waste code {key} is not in the {self.edition} catalogue",
                code="waste_code_unknown",
                field="waste_code",
            ) from None

    def is_hazardous(self, code: str) -> bool:
        """Whether a well-formed waste code is listed (InvalidInput if malformed)."""
        return normalise_waste_code(code) in self._codes

    def category(self, code: str) -> Category:
        """A category by its code ("HW49"), or the category of a listed waste code."""
        if isinstance(code, str) and code.strip().upper().startswith("HW"):
            key = normalise_category(code)
        else:
            key = self.get(code).category
        try:
            return self._categories[key]
        except KeyError:
            raise NotFound(
                f"waste category {key} is not in the {self.edition} catalogue",
                code="waste_category_unknown",
                field="category",
            ) from None

    def categories(self) -> tuple[Category, ...]:
        """All categories, HW01 first."""
        return tuple(self._categories.values())

    def codes(self, category: str | None = None) -> tuple[WasteCode, ...]:
        """All waste codes in catalogue order, or those of one category."""
        if category is None:
            return self._ordered
        key = self.category(category).code
        return tuple(entry for entry in self._ordered if entry.category == key)

    def search(self, q: str, limit: int | None = 50) -> list[WasteCode]:
        """Find waste codes by code, category or Chinese text.

        Each whitespace-separated term must match. A term matches a code exactly or as a
        prefix (hyphens optional: "900-249", "900249"), a category ("HW08" or words of its
        name), or the industry and description text ("活性炭", "VOCs"). Results are ranked
        exact code > code prefix > category > text, then in catalogue order.
        """
        terms = _search_terms(q)
        limit = _search_limit(limit)
        if not terms or limit == 0:
            return []
        ranked = []
        for index, key in enumerate(self._keys):
            rank = _entry_rank(terms, key)
            if rank is not None:
                ranked.append((rank, index))
        ranked.sort()  # by rank, then catalogue position: a stable, repeatable order
        return [self._ordered[index] for _, index in ranked[:limit]]

    def exemptions(self) -> tuple[Exemption, ...]:
        """The whole exemption list in source order."""
        return self._exemptions

    def exemption(self, seq: int, row: int = 1) -> Exemption:
        """One row of the exemption list by item (序号) and row within it; NotFound if absent."""
        for entry in self._exemptions:
            if (entry.seq, entry.row) == (seq, row):
                return entry
        raise NotFound(
            f"the {self.edition} exemption list has no item {seq} row {row}",
            code="exemption_unknown",
            field="exemption",
        )

    def successor(self, code: str) -> Successor | None:
        """What this edition says became of a code it no longer lists, if it says."""
        return self._successors.get(normalise_waste_code(code))

    def successors(self) -> tuple[Successor, ...]:
        return tuple(self._successors.values())

    def exemptions_for(self, code: str) -> tuple[Exemption, ...]:
        """Exemptions that concern a waste code or a category.

        For a waste code: rows naming that code or its category. For a category ("HW34"): rows
        naming the category or any code in it. Rows about an origin (household, emergencies,
        legacy sites, point-to-point) name no code; read them with `exemptions`.
        """
        if isinstance(code, str) and code.strip().upper().startswith("HW"):
            category = self.category(code).code
            return tuple(
                row
                for row in self._exemptions
                if category in row.categories or any(c[-2:] == category[2:] for c in row.codes)
            )
        entry = self.get(code)
        return tuple(
            row
            for row in self._exemptions
            if entry.code in row.codes or entry.category in row.categories
        )


def _search_terms(q: str) -> list[str]:
    if not isinstance(q, str):
        raise InvalidInput("search query must be a string", code="search_query_invalid", field="q")
    return _fold(q).split()


def _search_limit(limit: int | None) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InvalidInput(
            f"search limit must be a non-negative integer, got {limit!r}",
            code="search_limit_invalid",
            field="limit",
        )
    return limit


def _entry_rank(terms: Sequence[str], key: _SearchKey) -> int | None:
    """An entry ranks by its weakest term; None unless every term matches."""
    worst = _EXACT
    for term in terms:
        rank = _term_rank(term, key)
        if rank is None:
            return None
        worst = max(worst, rank)
    return worst


def _term_rank(term: str, key: _SearchKey) -> int | None:
    """The best rank at which one folded search term matches one entry, None if it doesn't."""
    if _CODE_TERM_RE.fullmatch(term):
        digits = term.replace("-", "")
        if digits == key.compact:
            return _EXACT
        if key.compact.startswith(digits):
            return _PREFIX
    if term == key.category or term in key.category_name:
        return _CATEGORY
    if term in key.text:
        return _TEXT
    return None


# ---------------------------------------------------------------------------------------------
# Loading the package data


def available_editions() -> tuple[str, ...]:
    """Editions shipped as package data, oldest first."""
    root = _data_root()
    return tuple(
        sorted(item.name for item in root.iterdir() if item.is_dir() and _is_edition(item.name))
    )


def _is_edition(name: str) -> bool:
    return _EDITION_RE.fullmatch(name) is not None


def _data_root() -> Traversable:
    root = resources.files("ledger")
    for part in _DATA_DIR:
        root = root / part
    return root


def load_catalogue(edition: str = DEFAULT_EDITION) -> Catalogue:
    """Load one edition of the catalogue from package data (cached: one object per edition)."""
    # The cache sits on a helper that always receives the edition: functools.cache keys on
    # the call's arguments, so load_catalogue() and load_catalogue("2021") would differ.
    return _load_edition(edition)


@functools.cache
def _load_edition(edition: str) -> Catalogue:
    if not (isinstance(edition, str) and _is_edition(edition)) or (
        edition not in available_editions()
    ):
        raise NotFound(
            f"catalogue edition {edition!r} is not available; shipped: "
            + ", ".join(available_editions()),
            code="catalogue_edition_unknown",
            field="edition",
        )
    try:
        return parse_edition(
            edition,
            catalogue=_read_text(edition, "catalogue"),
            categories=_read_text(edition, "categories"),
            exemptions=_read_text(edition, "exemptions"),
            effective_from=PACKAGE_EFFECTIVE.get(edition, ""),
        )
    except TableError as exc:
        raise _data_error(edition, exc.detail) from None


def _read_text(edition: str, table: str) -> str:
    resource = _data_root() / edition / f"hw_{table}_{edition}.csv"
    try:
        return resource.read_bytes().decode("utf-8-sig")
    except (FileNotFoundError, UnicodeDecodeError) as exc:
        raise _data_error(edition, f"cannot read {resource.name}: {exc}") from exc


#: When the shipped editions came into force (部令第15号: 2021-01-01).
PACKAGE_EFFECTIVE = {"2021": "2021-01-01"}

_COLUMNS = {
    "catalogue": ["category", "industry", "code", "description", "hazard"],
    "categories": ["category", "name"],
    "exemptions": [
        "seq",
        "category_or_code",
        "waste",
        "exempt_stage",
        "exempt_condition",
        "exempt_content",
    ],
    "successors": ["code", "change", "successors"],
}

#: What became of a code a newer edition no longer lists (the ministry's own words: 整合, 拆分).
SUCCESSOR_CHANGES = {"merged": "整合", "split": "拆分", "removed": "删除"}


class TableError(Exception):
    """A catalogue table that cannot be used, with the file and line to blame."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def parse_edition(
    edition: str,
    *,
    catalogue: str,
    categories: str,
    exemptions: str,
    successors: str | None = None,
    effective_from: str = "",
) -> Catalogue:
    """Parse and cross-check the tables of one edition (CSV text in the 2021 files' columns).

    Raises `TableError` naming the table and line of the first defect: a missing column, a
    malformed or repeated code, a category that is not HW + the code's last two digits, hazards
    outside T/C/I/R/In, an exemption or successor naming a code the edition does not have.
    """
    category_rows = _rows("categories", categories)
    named = [Category(row["category"], row["name"]) for _, row in category_rows]
    codes = [_waste_code(row, edition, line) for line, row in _rows("catalogue", catalogue)]
    exempt = _exemptions(_rows("exemptions", exemptions), edition)
    _check_consistency(codes, named, exempt, [line for line, _ in category_rows])
    later = _successors(successors, edition, {entry.code for entry in codes})
    return Catalogue(edition, codes, named, exempt, effective_from=effective_from,
                     successors=later)


def _rows(table: str, text: str) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs of a CSV table after checking its header."""
    # The files have CRLF line ends; csv wants the text undecoded by universal newlines.
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    if reader.fieldnames != _COLUMNS[table]:
        raise TableError(f"{table} table has columns {reader.fieldnames}, "
                         f"expected {_COLUMNS[table]}")
    out = []
    for row in reader:
        if None in row or any(value is None for value in row.values()):
            raise TableError(f"{table} line {reader.line_num}: wrong number of cells")
        out.append((reader.line_num, {key: value.strip() for key, value in row.items()}))
    return out


def _data_error(edition: str, detail: str) -> ConfigurationError:
    return ConfigurationError(
        f"catalogue {edition} package data is broken: {detail}", code="catalogue_data_invalid"
    )


def _waste_code(row: dict[str, str], edition: str, line: int) -> WasteCode:
    code = row["code"]
    if not _HYPHENATED_RE.fullmatch(code):
        raise TableError(f"catalogue line {line}: malformed code {code!r}")
    category = row["category"]
    if category != "HW" + code[-2:]:
        raise TableError(f"catalogue line {line}: code {code} has category {category}, "
                         f"expected HW{code[-2:]}")
    if not row["description"]:
        raise TableError(f"catalogue line {line}: code {code} has no description")
    return WasteCode(
        code=code,
        category=category,
        industry=row["industry"],
        description=row["description"],
        hazards=_hazards(row["hazard"], f"catalogue line {line} (code {code})"),
        edition=edition,
    )


def _hazards(raw: str, where: str) -> tuple[str, ...]:
    """Normalise "T/C/I/R", "T,I", "R,T" to letters in the catalogue's order: ("T", "I")."""
    letters = {part.strip() for part in re.split(r"[,/]", raw) if part.strip()}
    if not letters or not letters <= HAZARD_CHARACTERISTICS.keys():
        raise TableError(f"{where}: unknown hazard characteristics {raw!r} "
                         "(use T, C, I, R, In)")
    return tuple(letter for letter in HAZARD_CHARACTERISTICS if letter in letters)


def _exemptions(rows: list[tuple[int, dict[str, str]]], edition: str) -> list[Exemption]:
    out: list[Exemption] = []
    parts_seen: dict[int, int] = {}
    for line, row in rows:
        try:
            item = int(row["seq"])
        except ValueError:
            raise TableError(f"exemptions line {line}: exemption seq {row['seq']!r}") from None
        stages = exemption_stages(row["exempt_stage"])
        if not stages:
            raise TableError(f"exemptions line {line}: unknown stage {row['exempt_stage']!r} "
                             f"(use {', '.join(STAGES)}, 利用、处置 or 全部环节)")
        parts_seen[item] = parts_seen.get(item, 0) + 1
        parts = [part.strip() for part in row["category_or_code"].split(";")]
        out.append(Exemption(
            seq=item,
            row=parts_seen[item],
            subject=row["category_or_code"],
            codes=tuple(part for part in parts if _HYPHENATED_RE.fullmatch(part)),
            categories=tuple(part for part in parts if _CATEGORY_RE.fullmatch(part)),
            waste=row["waste"],
            stage=row["exempt_stage"],
            condition=row["exempt_condition"],
            content=row["exempt_content"],
            edition=edition,
            line=line,
        ))
    return out


def exemption_stages(stage: str) -> frozenset[str]:
    """The stages a 豁免环节 cell names: "利用、处置" -> {利用, 处置}; 全部环节 -> all four."""
    text = stage.strip()
    if text == ALL_STAGES:
        return frozenset(STAGES)
    parts = {part.strip() for part in re.split(r"[、,，/]", text) if part.strip()}
    return frozenset(parts) if parts and parts <= set(STAGES) else frozenset()


def _check_consistency(
    codes: Sequence[WasteCode],
    categories: Sequence[Category],
    exemptions: Sequence[Exemption],
    category_lines: Sequence[int],
) -> None:
    """Refuse tables that disagree, so a bad edition fails when loaded, not in use."""
    category_codes: set[str] = set()
    for category, line in zip(categories, category_lines, strict=True):
        if category.code not in HW_CATEGORY_CODES or category.code in category_codes:
            raise TableError(f"categories line {line}: {category.code} is duplicated or not "
                             "HW01-HW50")
        category_codes.add(category.code)
    seen: set[str] = set()
    for entry in codes:
        if entry.code in seen:
            raise TableError(f"catalogue: code {entry.code} is listed twice")
        seen.add(entry.code)
        if entry.category not in category_codes:
            raise TableError(f"catalogue: code {entry.code} has category {entry.category}, "
                             "which the categories table does not name")
    for row in exemptions:
        unknown = (set(row.codes) - seen) | (set(row.categories) - category_codes)
        if unknown:
            raise TableError(f"exemptions line {row.line}: exemption {row.seq} names unknown "
                             f"{sorted(unknown)}")


def _successors(text: str | None, edition: str, listed: set[str]) -> list[Successor]:
    if not text:
        return []
    out: dict[str, Successor] = {}
    for line, row in _rows("successors", text):
        code = row["code"]
        if not _HYPHENATED_RE.fullmatch(code) or code in listed or code in out:
            raise TableError(f"successors line {line}: {code!r} must be a code this edition "
                             "no longer lists, once")
        if row["change"] not in SUCCESSOR_CHANGES:
            raise TableError(f"successors line {line}: change {row['change']!r} is not one of "
                             f"{', '.join(SUCCESSOR_CHANGES)}")
        later = tuple(part.strip() for part in row["successors"].split(";") if part.strip())
        if row["change"] == "removed" and later or row["change"] != "removed" and not later:
            raise TableError(f"successors line {line}: a {row['change']} code "
                             + ("names no successor" if later else "needs its successors"))
        missing = sorted(set(later) - listed)
        if missing:
            raise TableError(f"successors line {line}: successor {missing[0]} is not in the "
                             f"{edition} table")
        out[code] = Successor(code=code, change=row["change"], successors=later,
                              edition=edition)
    return list(out.values())


def is_hazardous_code(code: str, edition: str = DEFAULT_EDITION) -> bool:
    """Whether a well-formed waste code is a listed hazardous waste (危险废物).

    False means a general industrial solid waste code (一般工业固体废物) or an unlisted code;
    which of the two to accept is left to the caller. A malformed code raises InvalidInput.
    """
    return load_catalogue(edition).is_hazardous(code)
