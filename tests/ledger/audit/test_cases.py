"""Cases (问题 → 交办 → 整改 → 销号): every transition and every refusal, on both databases.

A refusal is checked for its error code *and* for its non-effect: the log root and the case's
projection are as they were.
"""

from __future__ import annotations

import pytest

from ledger.audit.cases import CaseSettings
from ledger.audit.models import Case
from ledger.custody.uscc import make_uscc
from ledger.errors import LedgerError
from ledger.tlog.log import export_log, log_head
from ledger.tlog.rebuild import rebuild
from ledger.tlog.verify import verify_export
from tests.ledger.audit.cases_world import (
    BATCH,
    CASE,
    CITY_REG,
    COUNTY_REG,
    GAP,
    GEN,
    OTHER_GEN,
    OTHER_REG,
    Cases,
    assigned,
    opened,
    responded,
)
from tests.ledger.custody_world import batch_code
from tests.ledger.factories import OPERATOR_ORG


@pytest.fixture
def cases(database):
    engine = database.engine()
    c = Cases(engine)
    yield c
    c.world.session.close()
    engine.dispose()


def to_state(c: Cases, state: str) -> None:
    """Walk the case along the main path up to ``state``."""
    steps = [("opened", COUNTY_REG, "case.opened", opened()),
             ("assigned", COUNTY_REG, "case.assigned", assigned()),
             ("responded", GEN, "case.responded", responded()),
             ("accepted", COUNTY_REG, "case.reviewed", {"result": "accepted"}),
             ("closed", COUNTY_REG, "case.closed", {"note": "现场核查属实，予以销号"})]
    for name, org, kind, data in steps:
        c.act(org, kind, data)
        if name == state:
            return


def test_the_whole_loop_open_assign_return_respond_accept_close_reopen(cases):
    c = cases
    c.act(COUNTY_REG, "case.opened", opened())
    row = c.case()
    assert (row.state, row.region, row.gap_id, row.type, row.assignee) == (
        "opened", "331002", GAP, "uncollected_overdue", None)
    assert row.organisations == GEN and row.closed_at is None
    c.act(COUNTY_REG, "case.assigned", assigned())
    row = c.case()
    assert (row.state, row.assignee, row.person, row.deadline) == (
        "assigned", GEN, "张三", "2026-10-31")
    c.act(GEN, "case.responded", responded(report="第一次整改报告"))
    assert (c.case().state, c.case().progress) == ("responded", "第一次整改报告")
    c.act(COUNTY_REG, "case.reviewed", {"result": "returned", "reasons": "照片看不清"})
    assert c.case().state == "returned"
    c.act(GEN, "case.responded", responded(report="补充照片"))
    c.act(CITY_REG, "case.reviewed", {"result": "accepted"})  # the city regulates the county
    assert c.case().state == "accepted"
    r = c.act(COUNTY_REG, "case.closed", {})
    row = c.case()
    assert (row.state, row.closed_at) == ("closed", r.index)
    c.act(COUNTY_REG, "case.reopened", {"reason": "回头看发现反弹"})
    row = c.case()
    assert (row.state, row.reopened, row.closed_at) == ("reopened", 1, None)
    c.act(COUNTY_REG, "case.assigned", assigned(assignee=OTHER_GEN, deadline="2026-12-31"))
    assert (c.case().state, c.case().assignee) == ("assigned", OTHER_GEN)


def test_reassigning_an_assigned_case_and_responding_after_a_return(cases):
    to_state(cases, "assigned")
    cases.act(COUNTY_REG, "case.assigned", assigned(assignee=OTHER_GEN))
    cases.refused("not_assignee", GEN, "case.responded", responded())
    cases.act(OTHER_GEN, "case.responded", responded())
    assert cases.case().state == "responded"


def test_the_operator_may_open_and_a_case_may_come_from_an_inspection(cases):
    cases.act(OPERATOR_ORG, "case.opened", opened(source="inspection", gap=None))
    assert cases.case().source == "inspection"


@pytest.mark.parametrize(("code", "org", "data"), [
    ("case_forbidden", GEN, opened()),  # an enterprise opens no case
    ("case_forbidden", OTHER_REG, opened()),  # another region's regulator neither
    ("field_invalid", COUNTY_REG, opened(gap=None)),  # from a gap, naming none
    ("field_invalid", COUNTY_REG, opened(source="inspection")),  # a gap, but not from a gap
    ("field_invalid", COUNTY_REG, opened(source="rumour")),
    ("field_invalid", COUNTY_REG, opened(severity="urgent")),
    ("field_invalid", COUNTY_REG, opened(organisations=[])),
    ("field_invalid", COUNTY_REG, opened(organisations=[GEN, GEN])),
    ("org_unknown", COUNTY_REG, opened(organisations=[make_uscc("331002", 77)])),
    ("uscc_invalid", COUNTY_REG, opened(organisations=["91330000000000000X"])),
    ("field_invalid", COUNTY_REG, opened(facts="")),
    ("region_malformed", COUNTY_REG, opened(region="3310")),
    ("batch_unknown", COUNTY_REG, opened(batches=[batch_code(OTHER_GEN)])),  # never declared
    ("field_invalid", COUNTY_REG, opened(batches=[BATCH, BATCH])),
])
def test_opening_refusals(cases, code, org, data):
    cases.refused(code, org, "case.opened", data)
    assert cases.case() is None


def test_a_case_is_opened_once_and_a_gap_has_one_open_case(cases):
    cases.act(COUNTY_REG, "case.opened", opened())
    cases.refused("case_exists", COUNTY_REG, "case.opened", opened())  # seq 1 of the stream
    cases.refused("case_exists_for_gap", COUNTY_REG, "case.opened", opened(), "331002-2026-0002")
    assert cases.case("331002-2026-0002") is None


def test_case_kinds_belong_in_a_case_stream(cases):
    cases.refused("case_stream_invalid", COUNTY_REG, "case.opened", opened(), "x" * 65)
    w = cases.world
    before = cases.root()
    payload = w.draft(cases.keys[COUNTY_REG], COUNTY_REG, "inspection-1", "case.opened",
                      opened())
    with pytest.raises(LedgerError) as err:
        w.append(w.sign(payload, cases.keys[COUNTY_REG]))
    assert err.value.code == "case_stream_invalid" and cases.root() == before


def test_steps_on_a_case_never_opened_are_refused(cases):
    cases.refused("case_unknown", COUNTY_REG, "case.assigned", assigned())


@pytest.mark.parametrize(("state", "code", "org", "kind", "data"), [
    # order of states
    ("opened", "case_state_invalid", GEN, "case.responded", responded()),
    ("opened", "case_state_invalid", COUNTY_REG, "case.reviewed", {"result": "accepted"}),
    ("opened", "case_state_invalid", COUNTY_REG, "case.closed", {}),
    ("assigned", "case_state_invalid", COUNTY_REG, "case.closed", {}),
    ("responded", "case_state_invalid", COUNTY_REG, "case.closed", {}),  # not yet accepted
    ("accepted", "case_state_invalid", GEN, "case.responded", responded()),
    ("accepted", "case_state_invalid", COUNTY_REG, "case.assigned", assigned()),
    ("assigned", "case_state_invalid", COUNTY_REG, "case.reopened", {"reason": "x"}),
    ("closed", "case_state_invalid", COUNTY_REG, "case.closed", {}),
    ("closed", "case_state_invalid", GEN, "case.responded", responded()),
    # who
    ("opened", "case_forbidden", GEN, "case.assigned", assigned()),
    ("opened", "case_forbidden", OTHER_REG, "case.assigned", assigned()),
    ("assigned", "not_assignee", OTHER_GEN, "case.responded", responded()),
    ("assigned", "not_assignee", COUNTY_REG, "case.responded", responded()),
    ("responded", "case_forbidden", GEN, "case.reviewed", {"result": "accepted"}),
    ("accepted", "case_forbidden", GEN, "case.closed", {}),
    ("accepted", "case_forbidden", OTHER_REG, "case.closed", {}),
    ("closed", "case_forbidden", GEN, "case.reopened", {"reason": "x"}),
    # data
    ("opened", "org_unknown", COUNTY_REG, "case.assigned",
     assigned(assignee=make_uscc("331002", 77))),
    ("opened", "date_invalid", COUNTY_REG, "case.assigned", assigned(deadline="2026-13-01")),
    ("opened", "field_invalid", COUNTY_REG, "case.assigned", assigned(measures="")),
    ("assigned", "field_invalid", GEN, "case.responded",
     responded(evidence=[{"sha256": "ABC"}])),
    ("assigned", "entry_unknown", GEN, "case.responded", responded(entries=[10**6])),
    ("assigned", "entry_unknown", GEN, "case.responded", responded(entries=[True])),
    ("assigned", "field_invalid", GEN, "case.responded", responded(report="")),
    ("responded", "field_invalid", COUNTY_REG, "case.reviewed", {"result": "returned"}),
    ("responded", "field_invalid", COUNTY_REG, "case.reviewed", {"result": "maybe"}),
    ("closed", "field_invalid", COUNTY_REG, "case.reopened", {}),
])
def test_refusals_along_the_way(cases, state, code, org, kind, data):
    to_state(cases, state)
    cases.refused(code, org, kind, data)


def test_two_level_close_out_needs_a_second_regulator_on_the_same_note(database):
    engine = database.engine()
    c = Cases(engine, CaseSettings(two_level_regions=frozenset({"331000"})))
    try:
        to_state(c, "accepted")
        c.refused("cosignature_missing", COUNTY_REG, "case.closed", {})
        # a second signature by an enterprise is no regulator's sign-off
        c.refused("cosignature_missing", COUNTY_REG, "case.closed", {}, CASE, GEN)
        c.refused("cosignature_missing", COUNTY_REG, "case.closed", {}, CASE, OTHER_REG)
        c.act(COUNTY_REG, "case.closed", {}, CASE, CITY_REG)
        assert c.case().state == "closed"
    finally:
        c.world.session.close()
        engine.dispose()


def test_rebuild_recomputes_the_cases_table(cases):
    to_state(cases, "closed")
    cases.act(COUNTY_REG, "case.opened", opened(source="public_report", gap=None),
              "331002-2026-0002")
    s = cases.world.session
    s.rollback()
    assert rebuild(s, cases.world.config, commit=False).identical
    s.execute(Case.__table__.update().values(state="opened"))
    s.commit()
    report = rebuild(s, cases.world.config, commit=False)
    assert set(report.differences) == {"cases"}
    rebuild(s, cases.world.config, commit=True)
    assert cases.case().state == "closed"


def test_the_offline_verifier_accepts_a_log_with_cases(cases, tmp_path):
    to_state(cases, "closed")
    cases.act(COUNTY_REG, "case.reopened", {"reason": "反弹"})
    w = cases.world
    w.session.rollback()
    export_log(w.session, w.config, str(tmp_path / "export"))
    summary = verify_export(tmp_path / "export")
    head = log_head(w.session)
    assert (summary.entries, summary.root) == (head.size, head.root)
