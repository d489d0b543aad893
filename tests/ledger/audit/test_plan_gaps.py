"""The plan and declaration alerts (docs/gaps.md): each found when injected, resolved or gone
when the situation is put right, and silent on clean data; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ledger.audit.gaps import GAP_TYPES, GapQuery, GapSettings, find_gaps, get_gap
from ledger.audit.plans import (
    PlanSettings,
    differences,
    parse_period,
    plan_stream,
    prefill,
    report_stream,
)
from ledger.clock import beijing_day_start_ms
from tests.ledger.custody_world import COLLECTOR, GENERATORS, STATION, Region

GEN, OTHER = GENERATORS[0], GENERATORS[1]
PLAN_TYPES = frozenset({"plan_missing", "plan_exceeded", "code_not_in_plan",
                        "receiver_not_in_plan", "report_missing", "report_mismatch"})


def day_ms(month: int, day: int) -> int:
    return beijing_day_start_ms(dt.date(2026, month, day)) + 10 * 3600 * 1000


def plan(generation_g: int = 2_000_000, receivers: tuple[str, ...] = (COLLECTOR,),
         **over: Any) -> dict[str, Any]:
    return {"year": 2026, "reduction": "源头减量", "wastes": [
        {"waste_code": "900-039-49", "generation_g": generation_g,
         "transfers": [{"receiver": r, "mass_g": generation_g} for r in receivers]}], **over}


def scan(r: Region, at_ms: int, settings: GapSettings | None = None) -> list:
    r.world.session.rollback()
    return [g for g in find_gaps(r.world.session, GapQuery(now_ms=at_ms, types=PLAN_TYPES),
                                 settings or GapSettings())]


def at(r: Region, ms: int) -> None:
    r.world.clock.ms = ms


def declare_q3(r: Region, org: str = GEN, change: dict[str, Any] | None = None) -> None:
    r.world.session.rollback()
    data = prefill(r.world.session, org, parse_period("2026-Q3"))
    for item in data["wastes"]:
        item.update(change or {})
        item["differences"] = differences(item)
    r.act(org, report_stream(org, "2026-Q3"), "report.declared", data)


def clean(r: Region, the_plan: dict[str, Any] | None = None) -> None:
    """GEN files a plan, declares two batches on 2026-09-21 and hands them to the collector,
    and declares the third quarter from the prefill on 8 October."""
    r.act(GEN, plan_stream(GEN, 2026), "plan.filed", the_plan or plan())
    for serial, mass in ((1, 120_000), (2, 80_000)):
        code = r.declare(GEN, serial, mass)
        r.hand_over(code, GEN, COLLECTOR, mass)
    at(r, day_ms(10, 8))
    declare_q3(r)


def test_clean_data_has_no_plan_or_declaration_alerts(parties):
    assert PLAN_TYPES <= set(GAP_TYPES)
    clean(parties)
    assert scan(parties, day_ms(10, 12)) == []
    quarterly = GapSettings(plans=PlanSettings(simplified_t=0))  # others declare quarterly
    assert [g.id for g in scan(parties, day_ms(10, 12), quarterly)] == []  # Q3 due 10-15


def test_plan_missing_opens_after_its_due_day_and_resolves_with_a_late_plan(parties):
    clean(parties)
    # registered on 2026-09-21: due 30 days later (after 31 March)
    assert scan(parties, day_ms(10, 21)) == []
    found = {g.id: g for g in scan(parties, day_ms(10, 25))}
    assert set(found) == {f"plan_missing:{o}:2026" for o in GENERATORS[1:3]}
    g = found[f"plan_missing:{OTHER}:2026"]
    assert (g.status, g.organisations, g.detail["due"]) == ("open", (OTHER,), "2026-10-21")
    at(parties, day_ms(10, 26))
    r = parties.act(OTHER, plan_stream(OTHER, 2026), "plan.filed", plan())
    parties.world.session.rollback()
    late = get_gap(parties.world.session, f"plan_missing:{OTHER}:2026",
                   GapQuery(now_ms=day_ms(10, 27)), GapSettings())
    assert (late.status, late.resolved_by) == ("resolved", r.index)


def test_report_missing_per_period_and_resolved_by_a_late_declaration(parties):
    clean(parties)
    quarterly = GapSettings(plans=PlanSettings(simplified_t=0))
    found = {g.id: g for g in scan(parties, day_ms(10, 17), quarterly) if
             g.type == "report_missing"}
    assert set(found) == {f"report_missing:{o}:2026-Q3" for o in GENERATORS[1:3]}
    assert found[f"report_missing:{OTHER}:2026-Q3"].detail == {"period": "2026-Q3",
                                                               "due": "2026-10-15"}
    at(parties, day_ms(10, 18))
    declare_q3(parties, OTHER)
    g = next(g for g in scan(parties, day_ms(10, 19), quarterly)
             if g.id == f"report_missing:{OTHER}:2026-Q3")
    assert g.status == "resolved"
    grace = GapSettings(plans=PlanSettings(simplified_t=0),
                        regions={"331002": {"report_grace_days": 5}})
    assert not [g for g in scan(parties, day_ms(10, 17), grace) if g.type == "report_missing"]


def test_plan_exceeded_when_recorded_generation_passes_the_plan(parties):
    clean(parties, plan(generation_g=150_000))  # 120 kg fits; +80 kg is 200 kg > 165 kg
    (g,) = [g for g in scan(parties, day_ms(10, 12)) if g.type == "plan_exceeded"]
    assert g.id == f"plan_exceeded:{GEN}:2026:900-039-49"
    assert (g.detail["planned_g"], g.detail["recorded_g"], len(g.batches)) == (150_000,
                                                                               200_000, 1)
    loose = GapSettings(regions={"331002": {"plan_exceeded_permille": 400}})
    assert not [g for g in scan(parties, day_ms(10, 12), loose) if g.type == "plan_exceeded"]
    parties.act(GEN, plan_stream(GEN, 2026), "plan.amended", plan(reason="扩产"))
    assert not [g for g in scan(parties, day_ms(10, 12)) if g.type == "plan_exceeded"]


def test_code_and_receiver_not_in_plan(parties):
    clean(parties, plan(receivers=(STATION,)))
    at(parties, day_ms(10, 9))
    other = parties.declare(GEN, 3, 30_000, waste="900-041-49")
    found = {g.type: g for g in scan(parties, day_ms(10, 12))}
    assert found["code_not_in_plan"].id == f"code_not_in_plan:{GEN}:2026:900-041-49"
    assert found["code_not_in_plan"].batches == (other,)
    r = found["receiver_not_in_plan"]
    assert r.id == f"receiver_not_in_plan:{GEN}:2026:900-039-49:{COLLECTOR}"
    assert (len(r.batches), r.organisations, r.detail["mass_g"]) == (2, (GEN, COLLECTOR),
                                                                     200_000)


def test_report_mismatch_beyond_the_threshold_and_not_for_own_utilisation(parties):
    parties.act(GEN, plan_stream(GEN, 2026), "plan.filed", plan())
    for serial, mass in ((1, 120_000), (2, 80_000)):
        parties.hand_over(parties.declare(GEN, serial, mass), GEN, COLLECTOR, mass)
    at(parties, day_ms(10, 8))
    declare_q3(parties, change={"generated_g": 260_000})  # the ledger has 200 kg
    declare_q3(parties, OTHER)
    (g,) = [g for g in scan(parties, day_ms(10, 12)) if g.type == "report_mismatch"]
    assert g.id == f"report_mismatch:{GEN}:2026-Q3:900-039-49"
    assert g.detail["generated"] == {"declared_g": 260_000, "ledger_g": 200_000}
    parties.world.session.rollback()
    fixed = prefill(parties.world.session, GEN, parse_period("2026-Q3"))
    item = fixed["wastes"][0]
    item.update(own_utilisation_g=20_000, closing_storage_g=0, generated_g=205_000)
    item["differences"] = differences(item)  # within 5 %; own utilisation is not compared
    parties.act(GEN, report_stream(GEN, "2026-Q3"), "report.amended", fixed | {"reason": "更正"})
    assert not [g for g in scan(parties, day_ms(10, 12)) if g.type == "report_mismatch"]



def bj_ms(year: int, month: int, day: int) -> int:
    return beijing_day_start_ms(dt.date(year, month, day)) + 10 * 3600 * 1000


def declare(r: Region, org: str, period: str) -> None:
    r.world.session.rollback()
    data = prefill(r.world.session, org, parse_period(period))
    for item in data["wastes"]:
        item["differences"] = differences(item)
    r.act(org, report_stream(org, period), "report.declared", data)


def test_the_set_based_scan_finds_what_the_per_generator_scan_found(parties):
    """Generators of three classes (from a plan, and from last year's recorded generation),
    in two counties, one registered in the scan's year, with declarations on time, late, of
    a covering quarter and of a period not owed: ``plan_missing`` and ``report_missing``
    computed for every generator at once equal the previous computation, one generator at a
    time (tests/ledger/gap_reference.py), at several clocks, regions and settings."""
    from ledger.custody.uscc import make_uscc
    from tests.ledger.gap_reference import reference_gaps

    r, (g0, g1, g2) = parties, GENERATORS[:3]
    g3, g4 = make_uscc("331003", 7), make_uscc("331002", 8)
    r.world.register_org(g3, "单位0007", "331003", ("generator",))
    r.keys[g3] = r.world.register_key(g3, "key-g3")
    for n, (org, batches) in enumerate(((g0, 3), (g1, 2), (g2, 1))):  # 2.7, 1.8, 0.9 t
        for serial in range(1, batches + 1):
            r.hand_over(r.declare(org, serial, 900_000), org, COLLECTOR, 900_000,
                        manifest=f"20263310{n + 1:06d}")
    r.act(g1, plan_stream(g1, 2026), "plan.filed", plan())  # its 2026 class: the plan's
    r.act(g0, plan_stream(g0, 2027), "plan.filed", plan(year=2027, generation_g=150_000_000))
    at(r, bj_ms(2027, 1, 5))
    declare(r, g2, "2026")  # on time (yearly)
    declare(r, g1, "2026-Q4")  # not what it owes for 2026 (yearly, from its plan)
    at(r, bj_ms(2027, 2, 10))
    r.world.register_org(g4, "单位0008", "331002", ("generator",))
    r.keys[g4] = r.world.register_key(g4, "key-g4")
    at(r, bj_ms(2027, 4, 20))
    declare(r, g0, "2027-Q1")  # covers its monthly periods, the first two late
    declare(r, g3, "2027-01")
    r.world.session.commit()
    classes = PlanSettings(key_t=2, simplified_t=1)  # 2.7 t key, 1.8 t simplified, else yearly
    settings = (GapSettings(plans=classes), GapSettings(),
                GapSettings(plans=classes, regions={"331003": {"report_grace_days": 40},
                                                    "331000": {"report_grace_days": 3}}))
    types = frozenset({"plan_missing", "report_missing"})
    found: set[str] = set()
    for now in (bj_ms(2026, 12, 1), bj_ms(2027, 1, 20), bj_ms(2027, 4, 16),
                bj_ms(2027, 5, 10), bj_ms(2028, 4, 5)):
        for region in (None, "330000", "331000", "331002", "331003", "110000"):
            for s in settings:
                q = GapQuery(now_ms=now, region=region, types=types)
                r.world.session.rollback()
                new = find_gaps(r.world.session, q, s)
                r.world.session.rollback()
                assert new == reference_gaps(r.world.session, q, s), (now, region, s)
                found |= {f"{g.id}:{g.status}" for g in new}
    # the region exercises what the comparison is about: every frequency, resolved by a late
    # or a covering declaration, a generator registered in the scan's year
    assert {f"report_missing:{g0}:2027-01:resolved", f"report_missing:{g0}:2027-02:resolved",
            f"report_missing:{g1}:2026:open", f"report_missing:{g1}:2027-Q1:open",
            f"report_missing:{g3}:2026:open", f"report_missing:{g2}:2027:open",
            f"report_missing:{g4}:2027:open", f"plan_missing:{g1}:2027:open",
            f"plan_missing:{g4}:2027:open", f"plan_missing:{g2}:2026:open"} <= found
    assert f"report_missing:{g0}:2027-03:open" not in found  # the quarter was on time for it
    assert f"report_missing:{g2}:2026:open" not in found
