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
    "DEFAULT_EDITION",
    "HAZARD_CHARACTERISTICS",
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

    ``subject`` is the source's 类别/代码 cell verbatim; ``codes`` and ``categories`` hold the
    waste codes and HW categories it names. Rows about a kind of origin rather than a code
    (生活垃圾中的危险废物, 突发环境事件, 历史遗留, and the point-to-point rule "-") name neither.
    """

    seq: int
    subject: str
    codes: tuple[str, ...]
    categories: tuple[str, ...]
    waste: str
    stage: str  # 豁免环节, e.g. 运输 / 利用 / 全部环节
    condition: str  # 豁免条件
    content: str  # 豁免内容
    edition: str


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
    ) -> None:
        self.edition = edition
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
    categories = [Category(row["category"], row["name"]) for row in _read(edition, "categories")]
    codes = [_waste_code(row, edition) for row in _read(edition, "catalogue")]
    exemptions = [_exemption(row, edition) for row in _read(edition, "exemptions")]
    _check_consistency(edition, codes, categories, exemptions)
    return Catalogue(edition, codes, categories, exemptions)


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
}


def _read(edition: str, table: str) -> list[dict[str, str]]:
    """Rows of ``hw_<table>_<edition>.csv`` as dicts, after checking the header."""
    resource = _data_root() / edition / f"hw_{table}_{edition}.csv"
    try:
        # The files have CRLF line ends; csv wants the text undecoded by universal newlines.
        text = resource.read_bytes().decode("utf-8-sig")
    except (FileNotFoundError, UnicodeDecodeError) as exc:
        raise _data_error(edition, f"cannot read {resource.name}: {exc}") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames != _COLUMNS[table]:
        raise _data_error(edition, f"{resource.name} has columns {reader.fieldnames}")
    return [{key: (value or "").strip() for key, value in row.items()} for row in reader]


def _data_error(edition: str, detail: str) -> ConfigurationError:
    return ConfigurationError(
        f"catalogue {edition} package data is broken: {detail}", code="catalogue_data_invalid"
    )


def _waste_code(row: dict[str, str], edition: str) -> WasteCode:
    code = row["code"]
    if not _HYPHENATED_RE.fullmatch(code):
        raise _data_error(edition, f"malformed code {code!r}")
    return WasteCode(
        code=code,
        category=row["category"],
        industry=row["industry"],
        description=row["description"],
        hazards=_hazards(row["hazard"], edition),
        edition=edition,
    )


def _hazards(raw: str, edition: str) -> tuple[str, ...]:
    """Normalise "T/C/I/R", "T,I", "R,T" to letters in the catalogue's order: ("T", "I")."""
    letters = {part.strip() for part in re.split(r"[,/]", raw) if part.strip()}
    if not letters or not letters <= HAZARD_CHARACTERISTICS.keys():
        raise _data_error(edition, f"unknown hazard characteristics {raw!r}")
    return tuple(letter for letter in HAZARD_CHARACTERISTICS if letter in letters)


def _exemption(row: dict[str, str], edition: str) -> Exemption:
    parts = [part.strip() for part in row["category_or_code"].split(";")]
    try:
        seq = int(row["seq"])
    except ValueError as exc:
        raise _data_error(edition, f"exemption seq {row['seq']!r}") from exc
    return Exemption(
        seq=seq,
        subject=row["category_or_code"],
        codes=tuple(part for part in parts if _HYPHENATED_RE.fullmatch(part)),
        categories=tuple(part for part in parts if _CATEGORY_RE.fullmatch(part)),
        waste=row["waste"],
        stage=row["exempt_stage"],
        condition=row["exempt_condition"],
        content=row["exempt_content"],
        edition=edition,
    )


def _check_consistency(
    edition: str,
    codes: Sequence[WasteCode],
    categories: Sequence[Category],
    exemptions: Sequence[Exemption],
) -> None:
    """Refuse data whose tables disagree, so a bad 2025 drop-in fails at load, not in use."""
    category_codes = {category.code for category in categories}
    if len(category_codes) != len(categories) or not category_codes <= HW_CATEGORY_CODES:
        raise _data_error(edition, "categories are duplicated or not HW01-HW50")
    seen: set[str] = set()
    for entry in codes:
        if entry.code in seen:
            raise _data_error(edition, f"code {entry.code} is listed twice")
        seen.add(entry.code)
        if entry.category != "HW" + entry.code[-2:] or entry.category not in category_codes:
            raise _data_error(edition, f"code {entry.code} has category {entry.category}")
    for row in exemptions:
        unknown = (set(row.codes) - seen) | (set(row.categories) - category_codes)
        if unknown:
            raise _data_error(edition, f"exemption {row.seq} names unknown {sorted(unknown)}")


def is_hazardous_code(code: str, edition: str = DEFAULT_EDITION) -> bool:
    """Whether a well-formed waste code is a listed hazardous waste (危险废物).

    False means a general industrial solid waste code (一般工业固体废物) or an unlisted code;
    which of the two to accept is left to the caller. A malformed code raises InvalidInput.
    """
    return load_catalogue(edition).is_hazardous(code)
