"""The receiver confirms a manifest within 5 statutory working days of the waste's arrival
(the gap manifest_open), on SQLite and PostgreSQL: counted from the carrier's signed arrival,
not the release, across 国庆 2026 with its 调休 Saturday; in a year the calendar does not know
Monday-Friday are counted and the finding is marked as an estimate."""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import pytest

from api.exports import detail_text
from ledger.audit.gaps import HOUR, GapQuery, GapSettings, find_gaps
from ledger.clock import beijing_day_start_ms
from ledger.custody.workdays import working_days_due
from tests.ledger.custody_world import (
    CARRIER,
    CARRIER_PLATE,
    DISPOSER,
    GENERATORS,
    Region,
    add_carrier,
    carried,
    make_region,
)

GEN = GENERATORS[0]


@pytest.fixture
def trip(database):
    engine = database.engine()
    r = make_region(engine)
    add_carrier(r)
    yield r
    r.world.session.close()
    engine.dispose()


def at(r: Region, day: dt.date, hour: int) -> None:
    r.world.clock.ms = beijing_day_start_ms(day) + hour * HOUR


def open_manifests(r: Region) -> list:
    r.world.session.rollback()
    return find_gaps(r.world.session, GapQuery(now_ms=r.world.clock.ms,
                                               types=frozenset({"manifest_open"})), GapSettings())


def ship(r: Region, manifest: str, released: dt.date, arrived: dt.date | None) -> str:
    at(r, released, 9)
    code = r.declare(GEN, serial=int(manifest[-2:]))
    r.act(GEN, code, "custody.released", {"to": DISPOSER, "mass_g": 120_000,
                                          "manifest": manifest, "carrier": CARRIER,
                                          "vehicle": CARRIER_PLATE})
    carried(r, code, "departed", manifest=manifest)
    if arrived is not None:
        at(r, arrived, 10)
        carried(r, code, "arrived", manifest=manifest)
    return code


def test_confirmation_counts_statutory_working_days_from_arrival(trip):
    # released 2026-09-22, arrived 2026-09-30: Oct 1-7 are off, Oct 10 (Saturday) is worked,
    # so the 5th working day after the arrival is 2026-10-13
    code = ship(trip, "20263310000011", dt.date(2026, 9, 22), dt.date(2026, 9, 30))
    at(trip, dt.date(2026, 10, 13), 23)
    assert open_manifests(trip) == []  # Monday-Friday from the release would be overdue
    trip.accept(code, GEN, DISPOSER, 120_000, manifest="20263310000011")
    at(trip, dt.date(2026, 10, 20), 9)
    assert open_manifests(trip) == []


def test_a_late_confirmation_is_found_and_resolved_by_the_answer(trip):
    code = ship(trip, "20263310000012", dt.date(2026, 9, 22), dt.date(2026, 9, 30))
    at(trip, dt.date(2026, 10, 14), 1)  # 01:00 on the 14th: past the 13th's 24:00
    (gap,) = open_manifests(trip)
    assert gap.status == "open" and gap.batches == (code,)
    assert gap.opened_ms == beijing_day_start_ms(dt.date(2026, 10, 14))
    assert gap.detail["working_days"] == 5
    trip.accept(code, GEN, DISPOSER, 120_000, manifest="20263310000012")
    (gap,) = open_manifests(trip)
    assert gap.status == "resolved" and gap.resolved_by is not None


def test_without_a_carriers_arrival_the_manifest_counts_from_its_opening(trip):
    code = ship(trip, "20263310000013", dt.date(2026, 2, 12), None)
    # 春节 2026: Feb 13, the 调休 Saturday Feb 14, Feb 24, 25, 26
    at(trip, dt.date(2026, 2, 26), 23)
    assert open_manifests(trip) == []
    at(trip, dt.date(2026, 2, 27), 8)
    (gap,) = open_manifests(trip)
    assert gap.batches == (code,) and gap.status == "open"


def test_a_year_the_calendar_does_not_know_is_flagged_not_guessed(trip):
    last = max(chinese_calendar.holidays).year  # 2026 for chinese-calendar 1.11
    ship(trip, f"{last}3310000014", dt.date(last, 12, 28), dt.date(last, 12, 28))
    at(trip, dt.date(last + 1, 1, 6), 9)
    (gap,) = open_manifests(trip)
    assert gap.detail["calendar_unknown"] == last + 1 and gap.severity == "low"
    # counted on weekdays in the unknown year, and said to be an estimate
    assert gap.detail["deadline_estimated"] == (
        f"holiday calendar not known for year {last + 1}: deadline estimated on weekdays only")
    assert "节假日安排未知的年份：" + str(last + 1) in detail_text(gap.detail)  # the export's 说明
    assert gap.opened_ms == working_days_due(beijing_day_start_ms(dt.date(last, 12, 28)),
                                          5).due_ms


def test_an_estimated_deadline_not_yet_past_is_not_a_finding(trip):
    last = max(chinese_calendar.holidays).year
    ship(trip, f"{last}3310000015", dt.date(last, 12, 30), dt.date(last, 12, 30))
    due = working_days_due(beijing_day_start_ms(dt.date(last, 12, 30)) + 9 * HOUR, 5)
    assert due.estimated
    at(trip, due.day, 23)  # the last (estimated) day: still in time
    assert open_manifests(trip) == []
    at(trip, due.day + dt.timedelta(days=1), 9)
    (gap,) = open_manifests(trip)
    assert gap.detail["calendar_unknown"] == last + 1
