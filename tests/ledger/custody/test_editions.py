"""Catalogue editions side by side: importing one, choosing it by the generation day, codes
superseded in a newer edition, and 900-000-×× wastes found hazardous by identification.

The imported edition is the synthetic fixture in tests/data/catalogue (not the 2025 table)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from ledger.custody.catalogue import TableError, parse_edition
from ledger.custody.editions import (
    CatalogueEdition,
    edition_for,
    import_edition,
    in_force,
)
from ledger.custody.projections import Batch
from ledger.errors import Conflict, InvalidInput, NotFound, PayloadInvalid, RuleViolation
from ledger.tlog.models import LogEntry
from ledger.tlog.rebuild import rebuild
from tests.ledger.custody_world import GENERATORS, Region, description

FIXTURE = Path(__file__).parents[2] / "data" / "catalogue"
GEN = GENERATORS[0]


def fixture_text(table: str) -> str:
    return (FIXTURE / f"hw_{table}_fixture.csv").read_text(encoding="utf-8")


def import_fixture(session, **overrides):
    args = {"catalogue_csv": fixture_text("catalogue"),
            "exemptions_csv": fixture_text("exemptions"),
            "successors_csv": fixture_text("successors"), "source": "fixture"}
    args.update(overrides)
    return import_edition(session, "2025", "2025-01-01", **args)


def declare(parties: Region, day: str, waste: str = "900-039-49", serial: int = 1,
            **extra) -> str:
    code = f"{GEN}{waste.replace('-', '')}{day.replace('-', '')}{serial:03d}"
    data = {**description(waste, 10_000), "generated_on": day, **extra}
    parties.act(GEN, code, "batch.declared", data)
    return code


def log_size(parties: Region) -> int:
    parties.world.session.rollback()
    return parties.world.session.scalar(select(func.count()).select_from(LogEntry))


def refused(parties: Region, call, exc_type, code: str):
    """The append fails with ``code`` and the log does not grow."""
    before = log_size(parties)
    with pytest.raises(exc_type) as err:
        call()
    assert err.value.code == code, err.value
    assert log_size(parties) == before
    return err.value


# --- parsing and validation: every defect names its table and line ---------------------------


def parse(catalogue: str, exemptions: str | None = None, successors: str | None = None):
    categories = ("category,name\r\nHW08,废矿物油与含矿物油废物\r\n"
                  "HW09,油/水、烃/水混合物或乳化液\r\n"
                  "HW48,有色金属采选和冶炼废物\r\nHW49,其他废物\r\n")
    return parse_edition("2025", catalogue=catalogue, categories=categories,
                         exemptions=exemptions if exemptions is not None
                         else fixture_text("exemptions"),
                         successors=successors, effective_from="2025-01-01")


def test_the_fixture_parses() -> None:
    cat = parse(fixture_text("catalogue"), successors=fixture_text("successors"))
    assert len(cat) == 8 and cat.get("321-901-48").hazards == ("T",)
    assert cat.successor("900-252-12").successors == ("900-039-49",)
    assert [(e.seq, e.row, sorted(e.stages)) for e in cat.exemptions()] == [
        (1, 1, ["利用"]), (2, 1, ["利用"])]


HEADER = "category,industry,code,description,hazard\r\n"


@pytest.mark.parametrize(("rows", "message"), [
    ("HW49,非特定行业,900-039-49,a,T\r\nHW49,非特定行业,900-039-49,b,T\r\n",
     "code 900-039-49 is listed twice"),
    ("HW49,非特定行业,900-039-49,a,T\r\nHW48,非特定行业,900-041-49,b,T\r\n",
     "catalogue line 3: code 900-041-49 has category HW48, expected HW49"),
    ("HW49,非特定行业,900-039-49,a,T/X\r\n",
     "catalogue line 2 (code 900-039-49): unknown hazard characteristics 'T/X'"),
    ("HW49,非特定行业,900-039-49,a,\r\n", "unknown hazard characteristics ''"),
    ("HW49,非特定行业,90003949,a,T\r\n", "catalogue line 2: malformed code '90003949'"),
    ("HW49,非特定行业,900-039-49,a,T,extra\r\n", "catalogue line 2: wrong number of cells"),
    ("HW50,非特定行业,900-039-50,a,T\r\n", "has category HW50, which the categories table"),
])
def test_a_bad_table_is_refused_naming_the_row(rows: str, message: str) -> None:
    with pytest.raises(TableError) as err:
        parse(HEADER + rows, exemptions="seq,category_or_code,waste,exempt_stage,"
                                        "exempt_condition,exempt_content\r\n")
    assert message in err.value.detail


def test_bad_exemption_and_successor_rows_name_their_line() -> None:
    good = HEADER + "HW49,非特定行业,900-039-49,a,T\r\n"
    with pytest.raises(TableError, match="exemptions line 2: exemption 1 names unknown"):
        parse(good)  # the fixture's exemptions name 321-024-48, not in this one-row table
    ex = ("seq,category_or_code,waste,exempt_stage,exempt_condition,exempt_content\r\n"
          "1,900-039-49,a,贮存,b,c\r\n")
    with pytest.raises(TableError, match="exemptions line 2: unknown stage '贮存'"):
        parse(good, exemptions=ex)
    empty = ex.splitlines()[0] + "\r\n"
    with pytest.raises(TableError, match="successors line 2: successor 900-041-49 is not"):
        parse(good, empty, "code,change,successors\r\n900-252-12,merged,900-041-49\r\n")
    with pytest.raises(TableError, match="successors line 2: '900-039-49' must be a code"):
        parse(good, empty, "code,change,successors\r\n900-039-49,merged,900-039-49\r\n")
    with pytest.raises(TableError, match="change 'gone' is not one of"):
        parse(good, empty, "code,change,successors\r\n900-252-12,gone,\r\n")


# --- import into the database -----------------------------------------------------------------


def test_import_stores_the_edition_and_is_idempotent(parties) -> None:
    s = parties.world.session
    first = import_fixture(s)
    assert (first.created, first.codes, first.exemptions, first.successors) == (True, 8, 2, 3)
    assert first.categories_from == "2021"  # names reused from the newest loaded edition
    assert first.info.from_index > 0
    again = import_fixture(s)
    assert not again.created and again.info.from_index == first.info.from_index
    with pytest.raises(Conflict) as err:
        import_fixture(s, successors_csv=None)
    assert err.value.code == "catalogue_edition_exists"
    assert s.scalar(select(CatalogueEdition.successors_csv)) == fixture_text("successors")


@pytest.mark.parametrize(("edition", "effective", "code"), [
    ("2021", "2021-01-01", "catalogue_edition_exists"),
    ("25", "2025-01-01", "catalogue_edition_invalid"),
    ("2025", "2025-1-1", "date_invalid"),
    ("2025", "2024-12-31", "catalogue_effective_mismatch"),
])
def test_import_refuses_a_wrong_edition_or_date(parties, edition, effective, code) -> None:
    s = parties.world.session
    with pytest.raises((InvalidInput, Conflict)) as err:
        import_edition(s, edition, effective, catalogue_csv=fixture_text("catalogue"),
                       exemptions_csv=fixture_text("exemptions"))
    assert err.value.code == code
    s.rollback()
    assert s.scalar(select(CatalogueEdition.edition)) is None


def test_import_of_a_bad_table_names_the_row_and_stores_nothing(parties) -> None:
    s = parties.world.session
    bad = fixture_text("catalogue").replace("HW48,常用有色金属冶炼,321-901-48",
                                            "HW49,常用有色金属冶炼,321-901-48")
    with pytest.raises(InvalidInput) as err:
        import_fixture(s, catalogue_csv=bad)
    assert err.value.code == "catalogue_import_invalid"
    assert "catalogue line 9: code 321-901-48 has category HW49, expected HW48" in str(err.value)
    s.rollback()
    assert s.scalar(select(CatalogueEdition.edition)) is None


# --- the edition is chosen by the generation day ----------------------------------------------


def test_until_2025_is_loaded_the_edition_in_force_is_reported_missing(parties) -> None:
    s = parties.world.session
    now = in_force(s, "2026-09-21")
    assert (now.edition, now.loaded, now.used) == ("2025", False, "2021")
    assert "--edition 2025 --effective 2025-01-01" in now.import_command
    assert in_force(s, "2024-06-30").loaded
    import_fixture(s)
    now = in_force(s, "2026-09-21")
    assert (now.loaded, now.used) == (True, "2025")
    assert edition_for(s, "2024-12-31").edition == "2021"
    assert edition_for(s, "2025-01-01").edition == "2025"
    with pytest.raises(RuleViolation) as err:
        edition_for(s, "2020-12-31")
    assert err.value.code == "catalogue_edition_not_loaded"


def test_a_batch_generated_in_2024_keeps_2021_and_a_2026_one_gets_2025(parties) -> None:
    s = parties.world.session
    before = declare(parties, "2026-09-20", "900-252-12", catalogue_edition="2021")
    import_fixture(s)
    old = declare(parties, "2024-05-01", "900-252-12", catalogue_edition="2021")
    assert s.get(Batch, old).waste_code == "900-252-12"
    err = refused(parties, lambda: declare(parties, "2026-09-21", "900-252-12"), NotFound,
                  "waste_code_superseded")
    assert "merged into 900-039-49" in err.message and err.params["successors"] == [
        "900-039-49"]
    err = refused(parties, lambda: declare(parties, "2026-09-21", "900-253-12"), NotFound,
                  "waste_code_superseded")
    assert "split into 900-249-08, 900-041-49" in err.message
    err = refused(parties, lambda: declare(parties, "2026-09-21", "336-064-17"), NotFound,
                  "waste_code_superseded")
    assert "removed" in err.message
    refused(parties, lambda: declare(parties, "2026-09-21", "900-039-49",
                                    catalogue_edition="2021"),
            RuleViolation, "catalogue_edition_mismatch")
    new = declare(parties, "2026-09-21", "321-901-48", catalogue_edition="2025")
    assert s.get(Batch, new).category == "HW48"
    # the batch declared before the import keeps the edition it was checked against, and a
    # replay of the log chooses exactly as the appends did
    assert s.get(Batch, before) is not None
    report = rebuild(s, parties.world.config, commit=False)
    assert report.identical, report.differences


def test_a_code_added_by_an_edition_is_unknown_before_it_is_loaded(parties) -> None:
    refused(parties, lambda: declare(parties, "2026-09-21", "321-901-48"), NotFound,
            "waste_code_unknown")


# --- 900-000-××: found hazardous by identification (鉴别) ---------------------------------------


IDENTIFIED = {"identification": {"report": "台环鉴字〔2026〕第 12 号", "no_listed_code": True},
              "hazards": ["T", "C"]}


def test_an_identified_waste_is_declared_with_its_report_and_hazards(parties) -> None:
    code = declare(parties, "2026-09-21", "900-000-49", **IDENTIFIED)
    b = parties.world.session.get(Batch, code)
    assert (b.waste_code, b.category, b.hazardous) == ("900-000-49", "HW49", True)


@pytest.mark.parametrize(("extra", "code"), [
    ({}, "identification_missing"),
    ({"identification": {"report": "", "no_listed_code": True}}, "identification_missing"),
    ({"identification": {"report": "x" * 201, "no_listed_code": True}},
     "identification_missing"),
    ({"identification": {"report": "台环鉴字〔2026〕第 12 号"}}, "identification_missing"),
    ({"identification": IDENTIFIED["identification"], "hazards": []},
     "identification_hazards_missing"),
])
def test_an_identified_waste_without_report_statement_or_hazards_is_refused(
        parties, extra, code) -> None:
    data = {"hazards": ["T"], **extra}
    refused(parties, lambda: declare(parties, "2026-09-21", "900-000-49", **data),
            PayloadInvalid, code)


def test_900_000_needs_a_hazardous_category(parties) -> None:
    refused(parties, lambda: declare(parties, "2026-09-21", "900-000-41", **IDENTIFIED),
            InvalidInput, "batch_waste_category_invalid")
