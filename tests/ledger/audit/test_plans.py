"""Plans (管理计划) and declarations (申报登记) on the signed log, on both databases: what each
handler accepts and keeps, every refusal with the log root unchanged, the ledger's figures a
declaration is pre-filled with, the management class, what is owed by a day, rebuild and the
offline verifier."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ledger.audit.models import Declaration, DeclarationLine, Plan, PlanLine
from ledger.audit.plans import (
    PlanSettings,
    differences,
    draft_plan,
    ledger_lines,
    obligations_due,
    parse_period,
    periods_of,
    plan_stream,
    prefill,
    report_stream,
    roster,
)
from ledger.clock import beijing_day_start_ms
from ledger.errors import InvalidInput, LedgerError
from ledger.tlog.log import export_log, log_head
from ledger.tlog.rebuild import rebuild
from ledger.tlog.verify import verify_export
from tests.ledger.custody_world import COLLECTOR, DISPOSER, GENERATORS, STATION, Region

GEN, OTHER = GENERATORS[0], GENERATORS[1]
OCT_8 = beijing_day_start_ms(dt.date(2026, 10, 8)) + 10 * 3600 * 1000
OCT_20 = beijing_day_start_ms(dt.date(2026, 10, 20)) + 10 * 3600 * 1000


def plan(**over: Any) -> dict[str, Any]:
    data = {"year": 2026, "reduction": "改进工艺，活性炭再生利用",
            "wastes": [{"waste_code": "900-039-49", "name": "废活性炭", "generation_g": 2_000_000,
                        "storage_g": 500_000, "own_utilisation_g": 0, "own_disposal_g": 0,
                        "transfers": [{"receiver": COLLECTOR, "mass_g": 2_000_000,
                                       "permit": f"浙危废经第{COLLECTOR[-4:]}号"}]}]}
    return data | over


class Plans:
    def __init__(self, r: Region) -> None:
        self.r = r
        self.w = r.world

    def act(self, org: str, stream: str, kind: str, data: dict[str, Any], signer: str = ""):
        return self.w.act(self.r.keys[signer or org], org, stream, kind, data)

    def root(self) -> bytes:
        self.w.session.rollback()
        return log_head(self.w.session).root

    def refused(self, code: str, org: str, stream: str, kind: str, data: dict[str, Any],
                signer: str = "") -> None:
        before = self.root()
        with pytest.raises(LedgerError) as err:
            self.act(org, stream, kind, data, signer)
        assert err.value.code == code, err.value
        self.w.session.rollback()
        assert self.root() == before

    def at(self, ms: int) -> None:
        self.w.clock.ms = ms


@pytest.fixture
def p(parties) -> Plans:
    return Plans(parties)


def test_periods_and_their_due_days():
    q3 = parse_period("2026-Q3")
    assert (q3.start, q3.end, q3.frequency) == (dt.date(2026, 7, 1), dt.date(2026, 9, 30),
                                                "quarterly")
    assert q3.due(PlanSettings()) == dt.date(2026, 10, 15)
    assert parse_period("2026").due(PlanSettings()) == dt.date(2027, 3, 31)
    assert parse_period("2026-02").end == dt.date(2026, 2, 28)
    assert [x.text for x in periods_of(2026, "quarterly")] == [
        "2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
    assert len(periods_of(2026, "monthly")) == 12
    for bad in ("2026-Q5", "2026-13", "26", "2026-7", "2026Q1", ""):
        with pytest.raises(InvalidInput):
            parse_period(bad)


def test_management_class_thresholds_are_configurable():
    s = PlanSettings()
    assert [s.management_class(g) for g in (100_000_000, 99_999_999, 10_000_000, 9_999_999)] \
        == ["key", "simplified", "simplified", "registered"]
    assert PlanSettings(key_t=50, simplified_t=5).management_class(60_000_000) == "key"


def test_a_plan_is_filed_amended_and_kept(p):
    r = p.act(GEN, plan_stream(GEN, 2026), "plan.filed", plan())
    s = p.w.session
    s.rollback()
    row = s.get(Plan, (GEN, 2026))
    assert (row.management_class, row.frequency, row.generation_g, row.filed_at,
            row.amendments) == ("registered", "yearly", 2_000_000, r.index, 0)
    line = s.get(PlanLine, (GEN, 2026, "900-039-49"))
    assert (line.transfer_g, line.receivers, line.storage_g) == (2_000_000, COLLECTOR, 500_000)
    big = plan(reason="扩产", wastes=[{**plan()["wastes"][0], "generation_g": 150_000_000}])
    a = p.act(GEN, plan_stream(GEN, 2026), "plan.amended", big)
    s.rollback()
    row = s.get(Plan, (GEN, 2026))
    assert (row.management_class, row.frequency, row.amendments, row.updated_at) == (
        "key", "monthly", 1, a.index)


def test_plan_refusals_leave_the_log_as_it_was(p):
    stream = plan_stream(GEN, 2026)
    p.refused("not_own_stream", OTHER, stream, "plan.filed", plan())
    p.refused("key_wrong_org", GEN, stream, "plan.filed", plan(), signer=OTHER)
    p.refused("role_missing", COLLECTOR, plan_stream(COLLECTOR, 2026), "plan.filed", plan())
    p.refused("year_mismatch", GEN, stream, "plan.filed", plan(year=2027))
    p.refused("year_invalid", GEN, plan_stream(GEN, 2030), "plan.filed", plan(year=2030))
    p.refused("plan_stream_invalid", GEN, f"plan:{GEN}", "plan.filed", plan())
    p.refused("plan_unknown", GEN, stream, "plan.amended", plan(reason="改"))
    line = plan()["wastes"][0]
    for code, change in (
            ("waste_code_unknown", {"waste_code": "999-999-99"}),
            ("mass_invalid", {"generation_g": -1}),
            ("mass_invalid", {"storage_g": "5"}),
            ("receiver_invalid", {"transfers": [{"receiver": OTHER, "mass_g": 1}]}),
            ("permit_unknown", {"transfers": [{"receiver": COLLECTOR, "mass_g": 1,
                                               "permit": "无此证"}]})):
        p.refused(code, GEN, stream, "plan.filed", plan(wastes=[line | change]))
    p.refused("uscc_invalid", GEN, stream, "plan.filed",
              plan(wastes=[line | {"transfers": [{"receiver": "nonsense", "mass_g": 1}]}]))
    p.refused("field_invalid", GEN, stream, "plan.filed", plan(wastes=[line, line]))
    p.refused("field_invalid", GEN, stream, "plan.filed", plan(wastes=[]))
    p.refused("field_invalid", GEN, stream, "plan.filed", plan(reduction=""))
    p.act(GEN, stream, "plan.filed", plan())
    p.refused("plan_exists", GEN, stream, "plan.filed", plan())
    p.refused("field_invalid", GEN, stream, "plan.amended", plan())  # no reason


def _ledger_with_transfers(p: Plans) -> list[str]:
    """GEN declares three batches on 2026-09-21; two go to the collector (one weighed less)."""
    a = p.r.declare(GEN, 1, 120_000)
    b = p.r.declare(GEN, 2, 80_000)
    p.r.declare(GEN, 3, 50_000)
    p.r.hand_over(a, GEN, COLLECTOR, 120_000, 118_000)
    p.r.hand_over(b, GEN, COLLECTOR, 80_000)
    return [a, b]


def test_the_ledger_figures_of_a_period(p):
    _ledger_with_transfers(p)
    p.w.session.rollback()
    q3 = ledger_lines(p.w.session, GEN, dt.date(2026, 7, 1), dt.date(2026, 9, 30))
    line = q3["900-039-49"]
    assert (line.generated_g, line.transferred, line.opening_storage_g,
            line.closing_storage_g) == (250_000, {COLLECTOR: 198_000}, 0, 52_000)
    q4 = ledger_lines(p.w.session, GEN, dt.date(2026, 10, 1), dt.date(2026, 12, 31))
    assert q4["900-039-49"].as_json() == {"generated_g": 0, "transferred_g": 0,
                                        "opening_storage_g": 52_000,
                                        "closing_storage_g": 52_000}
    assert ledger_lines(p.w.session, GEN, dt.date(2026, 1, 1), dt.date(2026, 6, 30)) == {}


def test_a_declaration_from_the_prefill_with_own_figures_and_differences(p):
    _ledger_with_transfers(p)
    p.at(OCT_8)
    p.w.session.rollback()
    data = prefill(p.w.session, GEN, parse_period("2026-Q3"))
    item = data["wastes"][0]
    assert (item["generated_g"], item["transferred"], item["differences"]) == (
        250_000, [{"receiver": COLLECTOR, "mass_g": 198_000}],
        {"generated_g": 0, "transferred_g": 0, "closing_storage_g": 0})
    item["closing_storage_g"] = 40_000  # the enterprise used some on site
    item["own_utilisation_g"] = 12_000
    item["explanation"] = "自行利用 12 kg"
    item["differences"] = differences(item)
    r = p.act(GEN, report_stream(GEN, "2026-Q3"), "report.declared", data)
    s = p.w.session
    s.rollback()
    row = s.get(Declaration, (GEN, "2026-Q3"))
    assert (row.late, row.due, row.generated_g, row.transferred_g, row.ledger_generated_g,
            row.filed_at) == (False, "2026-10-15", 250_000, 198_000, 250_000, r.index)
    line = s.get(DeclarationLine, (GEN, "2026-Q3", "900-039-49"))
    assert (line.closing_storage_g, line.ledger_closing_storage_g, line.own_utilisation_g) == (
        40_000, 52_000, 12_000)
    assert item["differences"] == {"generated_g": 0, "transferred_g": 0,
                                   "closing_storage_g": -12_000}


def test_declaration_refusals_leave_the_log_as_it_was(p):
    _ledger_with_transfers(p)
    stream = report_stream(GEN, "2026-Q3")
    p.w.session.rollback()
    good = prefill(p.w.session, GEN, parse_period("2026-Q3"))
    p.refused("period_not_ended", GEN, stream, "report.declared", good)
    p.at(OCT_20)
    p.refused("not_own_stream", OTHER, stream, "report.declared", good)
    p.refused("period_mismatch", GEN, stream, "report.declared", good | {"period": "2026-Q2"})
    p.refused("period_invalid", GEN, report_stream(GEN, "2026-Q9"), "report.declared",
              good | {"period": "2026-Q9"})
    p.refused("ledger_code_missing", GEN, stream, "report.declared", good | {"wastes": []})
    item = good["wastes"][0]
    p.refused("ledger_changed", GEN, stream, "report.declared",
              good | {"wastes": [item | {"ledger": item["ledger"] | {"generated_g": 1}}]})
    p.refused("differences_invalid", GEN, stream, "report.declared",
              good | {"wastes": [item | {"generated_g": 1}]})
    p.refused("mass_invalid", GEN, stream, "report.declared",
              good | {"wastes": [item | {"own_disposal_g": -5}]})
    p.refused("waste_code_unknown", GEN, stream, "report.declared",
              good | {"wastes": [item, item | {"waste_code": "123-456-78"}]})
    p.refused("report_unknown", GEN, stream, "report.amended", good | {"reason": "更正"})
    p.act(GEN, stream, "report.declared", good)
    p.w.session.rollback()
    assert p.w.session.get(Declaration, (GEN, "2026-Q3")).late is True  # due 10-15
    p.refused("report_exists", GEN, stream, "report.declared", good)
    p.refused("period_overlaps", GEN, report_stream(GEN, "2026-09"), "report.declared",
              prefill(p.w.session, GEN, parse_period("2026-09")))
    amended = good | {"reason": "补充说明", "note": "季度申报更正"}
    p.act(GEN, stream, "report.amended", amended)
    p.w.session.rollback()
    assert p.w.session.get(Declaration, (GEN, "2026-Q3")).amendments == 1


def test_an_empty_period_is_declared_with_no_codes(p):
    p.at(OCT_8)
    p.act(GEN, report_stream(GEN, "2026-Q2"), "report.declared",
          {"period": "2026-Q2", "wastes": []})
    p.w.session.rollback()
    assert p.w.session.get(Declaration, (GEN, "2026-Q2")).generated_g == 0


def test_draft_plan_from_last_years_ledger(p):
    _ledger_with_transfers(p)
    p.w.session.rollback()
    draft = draft_plan(p.w.session, GEN, 2027)
    assert draft["year"] == 2027
    (w,) = draft["wastes"]
    assert (w["waste_code"], w["generation_g"], w["storage_g"], w["name"]) == (
        "900-039-49", 250_000, 52_000, "废活性炭")
    assert w["transfers"] == [{"receiver": COLLECTOR, "mass_g": 198_000,
                               "permit": f"浙危废经第{COLLECTOR[-4:]}号"}]
    assert draft_plan(p.w.session, GEN, 2026)["wastes"] == []


def test_obligations_due_and_the_roster(p):
    _ledger_with_transfers(p)
    p.at(OCT_20)
    p.act(GEN, plan_stream(GEN, 2026), "plan.filed", plan())
    s = p.w.session
    s.rollback()
    day = dt.date(2026, 10, 20)
    owed = {(o.organisation, o.kind, o.period): o.due for o in obligations_due(
        s, day, region="331002")}
    # registered on the test day (2026-09-21): Q3 of the year is owed, plans of the others
    assert (GEN, "plan", "2026") not in owed
    assert owed[(OTHER, "plan", "2026")] == dt.date(2026, 3, 31)
    assert ("registered", "yearly") == (s.get(Plan, (GEN, 2026)).management_class, "yearly")
    assert not any(k[0] == GEN and k[1] == "report" for k in owed)  # yearly: 2026 not ended
    assert not any(k[0] in (COLLECTOR, STATION, DISPOSER) for k in owed)
    monthly = PlanSettings(key_t=0, simplified_t=0)  # everyone 重点监管: monthly
    owed = {(o.organisation, o.period) for o in obligations_due(s, day, monthly)}
    assert (OTHER, "2026-09") in owed and (OTHER, "2026-08") not in owed
    rows = {row.org: row for row in roster(s, "331002", day, monthly)}
    assert set(rows) == set(GENERATORS[:3])  # 应纳尽纳: those with no batches too
    assert (rows[GEN].batches, rows[GEN].recorded_g, rows[GEN].plan_filed) == (3, 250_000, True)
    assert (rows[OTHER].batches, rows[OTHER].plan_filed, rows[OTHER].missing) == (
        0, False, ("2026-09",))
    assert rows[GEN].plan_late is True


def test_rebuild_and_the_offline_verifier(p, tmp_path):
    _ledger_with_transfers(p)
    p.at(OCT_8)
    p.act(GEN, plan_stream(GEN, 2026), "plan.filed", plan())
    p.act(GEN, plan_stream(GEN, 2026), "plan.amended", plan(reason="更正"))
    p.w.session.rollback()
    p.act(GEN, report_stream(GEN, "2026-Q3"), "report.declared",
          prefill(p.w.session, GEN, parse_period("2026-Q3")))
    s = p.w.session
    s.rollback()
    assert rebuild(s, p.w.config, commit=False).identical
    s.execute(Plan.__table__.update().values(amendments=7))
    s.commit()
    assert set(rebuild(s, p.w.config, commit=False).differences) == {"plans"}
    rebuild(s, p.w.config, commit=True)
    assert s.get(Plan, (GEN, 2026)).amendments == 1
    export_log(s, p.w.config, str(tmp_path / "export"))
    summary = verify_export(tmp_path / "export")
    assert (summary.entries, summary.root) == (log_head(s).size, log_head(s).root)
