"""Reconciliation's three columns — planned (管理计划), declared (申报登记), recorded (the
ledger) — at every level and in the drill-down, checked against the reference computation
(tests/ledger/reference.py) for several filters, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ledger.audit.plans import (
    differences,
    parse_period,
    plan_stream,
    prefill,
    report_stream,
)
from ledger.audit.reconcile import (
    BREAKDOWNS,
    ReportFilters,
    batches_behind_filters,
    plans_behind_filters,
    reconcile,
)
from ledger.clock import beijing_day_start_ms
from ledger.errors import InvalidInput
from tests.ledger.custody_world import COLLECTOR, GENERATORS, Region
from tests.ledger.reference import reference_plan_columns

GEN, OTHER, THIRD = GENERATORS[:3]
D = dt.date


def plan(year: int, lines: dict[str, int]) -> dict[str, Any]:
    return {"year": year, "reduction": "减量", "wastes": [
        {"waste_code": code, "generation_g": g, "transfers": [
            {"receiver": COLLECTOR, "mass_g": g}]} for code, g in lines.items()]}


def declare(r: Region, org: str, period: str, change: dict[str, Any] | None = None,
            extra: list[dict[str, Any]] | None = None) -> None:
    r.world.session.rollback()
    data = prefill(r.world.session, org, parse_period(period))
    for item in data["wastes"]:
        item.update(change or {})
        item["differences"] = differences(item)
    for item in extra or []:
        item["differences"] = differences(item)
        data["wastes"].append(item)
    r.act(org, report_stream(org, period), "report.declared", data)


@pytest.fixture
def planned(parties: Region) -> Region:
    r = parties
    r.act(GEN, plan_stream(GEN, 2026), "plan.filed",
          plan(2026, {"900-039-49": 1_000_000, "900-249-08": 365_000}))
    r.act(OTHER, plan_stream(OTHER, 2026), "plan.filed", plan(2026, {"900-039-49": 730_001}))
    r.act(GEN, plan_stream(GEN, 2027), "plan.filed", plan(2027, {"900-039-49": 500_000}))
    for org, serial, mass, trip in ((GEN, 1, 120_000, 1), (GEN, 2, 80_000, 1),
                                    (OTHER, 1, 50_000, 2)):
        r.hand_over(r.declare(org, serial, mass), org, COLLECTOR, mass,
                    manifest=f"202633100000{trip:02d}")
    r.world.clock.ms = beijing_day_start_ms(D(2026, 10, 8)) + 36_000_000
    declare(r, GEN, "2026-Q3")
    declare(r, OTHER, "2026-Q3", {"generated_g": 61_111})
    declare(r, THIRD, "2026-08", extra=[{
        "waste_code": "900-039-49", "generated_g": 31_000, "opening_storage_g": 0,
        "closing_storage_g": 31_000, "transferred": [],
        "ledger": {"generated_g": 0, "transferred_g": 0, "opening_storage_g": 0,
                   "closing_storage_g": 0}}])
    r.world.session.rollback()
    return r


FILTERS = [
    {},
    {"region": "331002"},
    {"period_from": D(2026, 7, 1), "period_to": D(2026, 9, 30)},
    {"period_from": D(2026, 8, 15), "period_to": D(2026, 10, 20)},
    {"period_from": D(2027, 1, 1), "period_to": D(2027, 12, 31)},
    {"generator": GEN},
    {"waste_code": "900-039-49", "period_from": D(2026, 9, 1)},
]


def nonzero(pairs: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    return {k: v for k, v in pairs.items() if v != (0, 0)}


@pytest.mark.parametrize("filters", FILTERS, ids=[str(i) for i in range(len(FILTERS))])
def test_planned_declared_recorded_at_every_level_match_the_reference(planned, filters):
    s = planned.world.session
    report = reconcile(s, **filters)
    ref = reference_plan_columns(s, filters.get("period_from"), filters.get("period_to"),
                                 filters.get("generator"), filters.get("waste_code"))
    for name in BREAKDOWNS:
        got = nonzero({r.key: (r.figures.planned, r.figures.reported)
                       for r in report.breakdown(name)})
        want = nonzero({key: (ref["planned"][(name, key)], ref["reported"][(name, key)])
                        for (level, key) in set(ref["planned"]) | set(ref["reported"])
                        if level == name})
        assert got == want, name
    assert (report.totals.planned, report.totals.reported) == (
        ref["planned"][("totals", "")], ref["reported"][("totals", "")])
    # recorded: the ledger's own figure, summed from the same rows
    assert report.totals.declared == sum(r.figures.declared for r in report.by_generator)
    body = report.to_json()
    assert body["totals"]["planned"] == report.totals.planned
    assert all("reported" in row for row in body["by_month"])


def test_the_numbers_of_one_quarter(planned):
    report = reconcile(planned.world.session, period_from=D(2026, 7, 1),
                       period_to=D(2026, 9, 30))
    rows = {r.key: r.figures for r in report.by_generator}
    # GEN planned 1,000 kg + 365 kg for 2026: 92 days of 365 are in the quarter
    assert rows[GEN].planned == 1_000_000 * 31 // 365 * 2 + 1_000_000 * 30 // 365 + (
        365_000 * 31 // 365 * 2 + 365_000 * 30 // 365)
    assert (rows[GEN].reported, rows[GEN].declared) == (200_000 * 31 // 92 * 2
                                                        + 200_000 * 30 // 92, 200_000)
    assert (rows[THIRD].reported, rows[THIRD].declared, rows[THIRD].batches) == (31_000, 0, 0)


def test_the_drill_down_names_the_plans_and_declarations(planned):
    s = planned.world.session
    f = ReportFilters.checked(period_from=D(2026, 8, 1), period_to=D(2026, 8, 31))
    assert plans_behind_filters(s, "planned", f) == [plan_stream(GEN, 2026),
                                                     plan_stream(OTHER, 2026)]
    assert plans_behind_filters(s, "reported", f) == [
        report_stream(GEN, "2026-Q3"), report_stream(OTHER, "2026-Q3"),
        report_stream(THIRD, "2026-08")]
    only = ReportFilters.checked(generator=THIRD)
    assert plans_behind_filters(s, "reported", only) == [report_stream(THIRD, "2026-08")]
    with pytest.raises(InvalidInput) as err:
        batches_behind_filters(s, "planned", f)
    assert err.value.code == "figure_not_batches"
