"""The National Catalogue of Hazardous Wastes 2021 (国家危险废物名录) as package data."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import pytest

import ledger.custody.catalogue as catalogue_module
from ledger.custody.catalogue import (
    HW_CATEGORY_CODES,
    Catalogue,
    available_editions,
    compact_waste_code,
    is_hazardous_code,
    load_catalogue,
    normalise_category,
    normalise_waste_code,
)
from ledger.errors import ConfigurationError, InvalidInput, LedgerError, NotFound

# The shipped tables, pinned: a change to the data must be deliberate and show up in review.
DATA_SHA256 = {
    "hw_catalogue_2021.csv": "b51831b27446f66b3d16243289e74fa84654938c5acda3cc34f6019102497a30",
    "hw_categories_2021.csv": "12a0e3447a61b9d9ae3207f6df50caef54dff329f961bbcfda841a1522eb6129",
    "hw_exemptions_2021.csv": "2b89e98a5b0d1576e1174ec53cdcf4bea164f75c582c3fd35638cab0dbc0ae61",
}


@contextmanager
def raises_code(
    cls: type[LedgerError], code: str, field: str | None
) -> Iterator[pytest.ExceptionInfo[LedgerError]]:
    with pytest.raises(cls) as info:
        yield info
    assert (info.value.code, info.value.field) == (code, field), str(info.value)


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return load_catalogue()


def codes_of(entries: list[catalogue_module.WasteCode]) -> list[str]:
    return [entry.code for entry in entries]


# --- the data and its loading


def test_package_data_is_pinned() -> None:
    folder = resources.files("ledger") / "data" / "catalogue" / "2021"
    for name, digest in DATA_SHA256.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    assert (folder / "README.md").is_file()


def test_counts(cat: Catalogue) -> None:
    assert cat.edition == "2021"
    assert len(cat) == 467
    assert len(list(cat)) == 467 == len(cat.codes())
    assert len(cat.categories()) == 46
    assert len(cat.exemptions()) == 57


def test_category_is_hw_plus_last_two_digits(cat: Catalogue) -> None:
    for entry in cat:
        assert entry.category == "HW" + entry.code[-2:]
        assert entry.edition == "2021"
    assert {entry.category for entry in cat} == HW_CATEGORY_CODES
    assert {category.code for category in cat.categories()} == HW_CATEGORY_CODES
    assert not {"HW41", "HW42", "HW43", "HW44"} & HW_CATEGORY_CODES


def test_loading_is_cached_per_edition() -> None:
    assert load_catalogue() is load_catalogue("2021")
    assert "2021" in available_editions()


@pytest.mark.parametrize("edition", ["2025", "1998", "../2021", "", "2021/", 2021])
def test_unknown_edition(edition: str) -> None:
    with raises_code(NotFound, "catalogue_edition_unknown", "edition"):
        load_catalogue(edition)


def test_entries_are_frozen(cat: Catalogue) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        cat.get("900-039-49").code = "900-041-49"  # type: ignore[misc]


# --- look-up


def test_get_by_either_form(cat: Catalogue) -> None:
    entry = cat.get("900-039-49")
    assert cat.get("90003949") is entry
    assert cat.get(" 900-039-49\n") is entry
    assert entry.category == "HW49"
    assert entry.industry == "非特定行业"
    assert "废活性炭" in entry.description
    assert entry.hazards == ("T",)
    assert entry.compact == "90003949"


@pytest.mark.parametrize(
    ("code", "category", "hazards"),
    [
        ("321-026-48", "HW48", ("R",)),  # 铝灰渣
        ("900-249-08", "HW08", ("T", "I")),
        ("900-041-49", "HW49", ("T", "In")),  # source "T/In"
        ("900-252-12", "HW12", ("T", "I")),
        ("900-006-09", "HW09", ("T",)),
        ("841-004-01", "HW01", ("T", "C", "I", "R")),  # source "T/C/I/R"
        ("900-256-12", "HW12", ("T", "C", "I")),  # source "T,I,C"
        ("267-001-15", "HW15", ("T", "R")),  # source "R,T"
    ],
)
def test_typical_codes(cat: Catalogue, code: str, category: str, hazards: tuple[str, ...]) -> None:
    entry = cat.get(code)
    assert (entry.category, entry.hazards) == (category, hazards)


def test_hazards_are_normalised_everywhere(cat: Catalogue) -> None:
    order = ["T", "C", "I", "R", "In"]
    for entry in cat:
        assert entry.hazards, entry.code
        assert list(entry.hazards) == sorted(set(entry.hazards), key=order.index), entry.code
    assert {h for entry in cat for h in entry.hazards} == set(order)


def test_unknown_code(cat: Catalogue) -> None:
    with raises_code(NotFound, "waste_code_unknown", "waste_code") as info:
        cat.get("900-000-49")
    assert "900-000-49" in info.value.message


MALFORMED = ["", "900-39-49", "9000394", "900039490", "900-03949", "900 039 49", "HW49",
             "900_039_49", "９００-０３９-４９", "900-039-4a"]  # fmt: skip


@pytest.mark.parametrize("code", [*MALFORMED, None, 90003949])
def test_malformed_code(cat: Catalogue, code: str) -> None:
    with raises_code(InvalidInput, "waste_code_malformed", "waste_code"):
        cat.get(code)
    with raises_code(InvalidInput, "waste_code_malformed", "waste_code"):
        normalise_waste_code(code)
    assert code not in cat


def test_normalise_and_compact() -> None:
    assert normalise_waste_code("90003949") == "900-039-49"
    assert normalise_waste_code(" 900-039-49 ") == "900-039-49"
    assert compact_waste_code("900-039-49") == "90003949"
    assert compact_waste_code("90003949") == "90003949"


def test_is_hazardous_code_leaves_general_waste_to_the_caller(cat: Catalogue) -> None:
    assert is_hazardous_code("900-039-49")
    assert is_hazardous_code("90024908")
    # Well formed but unlisted: a general industrial solid waste code, or a typo.
    assert not is_hazardous_code("900-001-99")
    assert "900-039-49" in cat and "900-001-99" not in cat
    with raises_code(InvalidInput, "waste_code_malformed", "waste_code"):
        is_hazardous_code("SW59")


# --- categories


def test_categories(cat: Catalogue) -> None:
    categories = cat.categories()
    assert (categories[0].code, categories[0].name) == ("HW01", "医疗废物")
    assert categories[-1].code == "HW50"
    assert cat.category("HW49").name == "其他废物"
    assert cat.category(" hw08 ").name == "废矿物油与含矿物油废物"
    assert cat.category("900-039-49") is cat.category("HW49")
    assert cat.category("90003949") is cat.category("HW49")
    assert normalise_category("hw34") == "HW34"


def test_unknown_and_malformed_categories(cat: Catalogue) -> None:
    with raises_code(NotFound, "waste_category_unknown", "category"):
        cat.category("HW41")
    for bad in ["HW4", "HW049", "HWxx"]:
        with raises_code(InvalidInput, "waste_category_malformed", "category"):
            cat.category(bad)
    with raises_code(NotFound, "waste_code_unknown", "waste_code"):
        cat.category("900-000-49")


def test_codes_of_a_category(cat: Catalogue) -> None:
    hw08 = cat.codes("HW08")
    assert len(hw08) == 32
    assert all(entry.category == "HW08" for entry in hw08)
    assert sum(len(cat.codes(c.code)) for c in cat.categories()) == 467


# --- search


def test_search_chinese_text(cat: Catalogue) -> None:
    found = cat.search("活性炭")
    assert "900-039-49" in codes_of(found)
    assert all("活性炭" in entry.description for entry in found)


def test_search_aluminium_dross(cat: Catalogue) -> None:
    assert codes_of(cat.search("铝灰")) == ["321-024-48", "321-026-48", "321-034-48"]


@pytest.mark.parametrize("q", ["HW08", "hw08", " HW08 "])
def test_search_category_code(cat: Catalogue, q: str) -> None:
    assert cat.search(q) == list(cat.codes("HW08"))


@pytest.mark.parametrize("q", ["900-249", "900249", "900-24", "9002490"])
def test_search_code_prefix(cat: Catalogue, q: str) -> None:
    assert codes_of(cat.search(q))[0] == "900-249-08"
    assert all(e.compact.startswith(q.replace("-", "")) for e in cat.search(q))


@pytest.mark.parametrize("q", ["90024908", "900-249-08", "９００－２４９－０８"])
def test_search_exact_code(cat: Catalogue, q: str) -> None:
    assert codes_of(cat.search(q)) == ["900-249-08"]


def test_search_ranks_exact_code_above_text(cat: Catalogue) -> None:
    # 900-039-49's description excludes "900-405-06类废物": a text match, ranked after the code.
    assert codes_of(cat.search("900-405-06")) == ["900-405-06", "900-039-49"]


def test_search_ranks_category_above_text(cat: Catalogue) -> None:
    found = cat.search("废酸")  # the name of HW34, and words in two other descriptions
    categories = [entry.category for entry in found]
    assert categories[: len(cat.codes("HW34"))] == ["HW34"] * len(cat.codes("HW34"))
    assert codes_of(found)[len(cat.codes("HW34")) :] == ["265-003-29", "900-047-49"]


def test_search_ranks_prefix_above_category(cat: Catalogue) -> None:
    found = cat.search("900-2")
    assert found and all(entry.code.startswith("900-2") for entry in found)


def test_search_order_within_a_rank_is_catalogue_order(cat: Catalogue) -> None:
    position = {entry.code: i for i, entry in enumerate(cat)}
    found = codes_of(cat.search("活性炭", limit=None))
    assert [position[c] for c in found] == sorted(position[c] for c in found)
    assert codes_of(cat.search("活性炭", limit=None)) == found


def test_search_all_terms_must_match(cat: Catalogue) -> None:
    found = cat.search("活性炭 HW49")
    assert codes_of(found) == ["900-039-49"]
    assert codes_of(cat.search("900 活性炭"))[-1] == "900-039-49"
    assert cat.search("活性炭 铝灰") == []


@pytest.mark.parametrize("q", ["VOCs", "vocs", "ＶＯＣｓ"])
def test_search_folds_case_and_width(cat: Catalogue, q: str) -> None:
    assert "900-039-49" in codes_of(cat.search(q))


def test_search_category_name(cat: Catalogue) -> None:
    assert cat.search("其他废物", limit=None)[: len(cat.codes("HW49"))] == list(cat.codes("HW49"))


def test_search_limit(cat: Catalogue) -> None:
    assert len(cat.search("HW49", limit=3)) == 3
    assert cat.search("HW49", limit=0) == []
    assert len(cat.search("废", limit=None)) > 300
    assert len(cat.search("900")) == 50
    with raises_code(InvalidInput, "search_limit_invalid", "limit"):
        cat.search("900", limit=-1)


@pytest.mark.parametrize("q", ["", "   ", "不存在的废物名称"])
def test_search_finds_nothing(cat: Catalogue, q: str) -> None:
    assert cat.search(q) == []


def test_search_query_must_be_text(cat: Catalogue) -> None:
    with raises_code(InvalidInput, "search_query_invalid", "q"):
        cat.search(None)  # type: ignore[arg-type]


# --- exemptions (危险废物豁免管理清单)


def seqs(rows: tuple[catalogue_module.Exemption, ...]) -> list[int]:
    return [row.seq for row in rows]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("900-249-08", [8]),  # 废铁质油桶
        ("90024908", [8]),
        ("321-026-48", [22]),  # 铝灰渣
        ("900-006-09", [9]),  # named with 900-200-08 in one entry
        ("900-041-49", [24]),
        ("841-001-01", [2, 2, 2, 2, 3, 3]),  # HW01 rows apply to every HW01 code
        ("900-039-49", []),
    ],
)
def test_exemptions_for_code(cat: Catalogue, code: str, expected: list[int]) -> None:
    assert seqs(cat.exemptions_for(code)) == expected


def test_exemptions_for_category(cat: Catalogue) -> None:
    assert seqs(cat.exemptions_for("HW34")) == [20, 20]
    assert seqs(cat.exemptions_for("hw01")) == [2, 2, 2, 2, 3, 3, 4, 4, 5, 5]
    assert seqs(cat.exemptions_for("HW48")) == [22, 23]


def test_exemption_rows(cat: Catalogue) -> None:
    row = cat.exemptions_for("900-006-09")[0]
    assert row.codes == ("900-200-08", "900-006-09")
    assert row.stage == "利用"
    assert "不按危险废物管理" in row.content
    assert row.edition == "2021"
    origin_rows = {r.seq for r in cat.exemptions() if not r.codes and not r.categories}
    assert origin_rows == {1, 25, 26, 32}


def test_exemptions_for_unknown(cat: Catalogue) -> None:
    with raises_code(NotFound, "waste_code_unknown", "waste_code"):
        cat.exemptions_for("900-000-49")
    with raises_code(NotFound, "waste_category_unknown", "category"):
        cat.exemptions_for("HW42")


# --- a second edition beside the first, and broken data


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the package data the loader reads instead of the real one."""
    source = Path(catalogue_module.__file__).parents[1] / "data" / "catalogue"
    shutil.copytree(source, tmp_path, dirs_exist_ok=True)
    monkeypatch.setattr(catalogue_module, "_data_root", lambda: tmp_path)
    catalogue_module._load_edition.cache_clear()
    yield tmp_path
    catalogue_module._load_edition.cache_clear()


def add_edition(root: Path, edition: str) -> Path:
    folder = root / edition
    folder.mkdir()
    for table in ("catalogue", "categories", "exemptions"):
        source = root / "2021" / f"hw_{table}_2021.csv"
        (folder / f"hw_{table}_{edition}.csv").write_bytes(source.read_bytes())
    return folder


def test_a_new_edition_loads_beside_2021(data_root: Path) -> None:
    add_edition(data_root, "2025")
    assert available_editions() == ("2021", "2025")
    newer = load_catalogue("2025")
    assert newer.edition == "2025"
    assert newer.get("900-039-49").edition == "2025"
    assert load_catalogue("2021").get("900-039-49").edition == "2021"


@pytest.mark.parametrize(
    ("table", "old", "new", "reason"),
    [
        ("catalogue", "HW49,非特定行业,900-039-49", "HW48,非特定行业,900-039-49", "has category"),
        ("catalogue", "900-041-49", "900-039-49", "listed twice"),
        ("catalogue", "过滤吸附介质,T/In", "过滤吸附介质,T/X", "unknown hazard"),
        ("catalogue", "category,industry", "cat,industry", "has columns"),
        ("categories", "HW49,其他废物", "HW51,其他废物", "not HW01-HW50"),
        ("exemptions", "900-249-08,", "900-249-18,", "names unknown"),
        ("exemptions", "8,900-249-08", "eight,900-249-08", "exemption seq"),
    ],
)
def test_broken_data_fails_at_load(
    data_root: Path, table: str, old: str, new: str, reason: str
) -> None:
    folder = add_edition(data_root, "2099")
    path = folder / f"hw_{table}_2099.csv"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with raises_code(ConfigurationError, "catalogue_data_invalid", None) as info:
        load_catalogue("2099")
    assert reason in info.value.message
