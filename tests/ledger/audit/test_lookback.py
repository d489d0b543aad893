"""回头看: a closed case is looked at again; a recurrence reopens it with an entry the operator
key signs, marked 反弹; running again does nothing more. On both databases."""

from __future__ import annotations

import pytest

from ledger.audit.cases import (
    DAY_MS,
    LookbackSettings,
    case_entries,
    case_stream,
    run_lookbacks,
)
from ledger.audit.gaps import GapSettings, Thresholds
from ledger.tlog.entries import parse_entry
from ledger.tlog.log import export_log, log_head
from ledger.tlog.rebuild import rebuild
from ledger.tlog.verify import verify_export
from tests.ledger.audit.cases_world import (
    CASE,
    COUNTY_REG,
    GAP,
    GEN,
    Cases,
    assigned,
    opened,
    responded,
)
from tests.ledger.custody_world import batch_code, description
from tests.ledger.factories import OPERATOR_ORG, _head_of

# A batch not collected within 10 days is a gap (uncollected_overdue). The fixture's batch of
# GEN was declared at the start: its gap opens on day 10 and is never resolved.
GAPS = GapSettings(default=Thresholds(uncollected_days=10))
LOOK = LookbackSettings(after_days=30, within_days=90)
GONE = "uncollected_overdue:" + batch_code(GEN, 9)  # a gap since resolved (no such batch now)


@pytest.fixture
def cases(database):
    engine = database.engine()
    c = Cases(engine)
    yield c
    c.world.session.close()
    engine.dispose()


def days(c: Cases, n: int) -> None:
    c.world.clock.ms += n * DAY_MS


def close_case(c: Cases, **over) -> None:
    """Open (on day 11 by default), assign, answer, accept and close the case."""
    for org, kind, data in (
            (COUNTY_REG, "case.opened", opened(batches=None, **over)),
            (COUNTY_REG, "case.assigned", assigned()),
            (GEN, "case.responded", responded(entries=None)),
            (COUNTY_REG, "case.reviewed", {"result": "accepted"}),
            (COUNTY_REG, "case.closed", {})):
        c.act(org, kind, data)


def run(c: Cases):
    c.world.session.rollback()
    found = run_lookbacks(c.world.session, c.world.config, GAPS, LOOK)
    c.world.heads[case_stream(CASE)] = _head_of(c.world.session, case_stream(CASE))
    return found


def declare(c: Cases, serial: int) -> None:
    c.world.act(c.keys[GEN], GEN, batch_code(GEN, serial), "batch.declared",
                description("900-039-49", 50_000))


def last_entry(c: Cases):
    c.world.session.rollback()
    return case_entries(c.world.session, CASE)[-1]


def test_a_gap_still_open_after_the_close_out_reopens_the_case_once(cases):
    c = cases
    days(c, 11)
    close_case(c)  # from GAP, whose batch was never collected
    days(c, 29)
    before = c.root()
    assert run(c) == []  # day 29 after the close-out: not yet
    assert c.root() == before
    days(c, 1)
    (found,) = run(c)
    assert (found.case_id, found.gap_id, found.days) == (CASE, GAP, 30)
    row = c.case()
    assert (row.state, row.reopened, row.closed_at) == ("reopened", 1, None)
    entry = last_entry(c)
    assert (entry.idx, entry.kind, entry.org) == (found.index, "case.reopened", OPERATOR_ORG)
    data = parse_entry(entry.note).data
    assert data["lookback"] == {"gap": GAP, "days": 30} and "反弹" in data["reason"]
    # idempotent: a second run, and a third later on, add nothing
    after = c.root()
    assert run(c) == []
    days(c, 5)
    assert run(c) == [] and c.root() == after


def test_a_new_gap_after_the_close_out_is_a_recurrence_an_older_one_is_not(cases):
    c = cases
    days(c, 11)
    close_case(c, gap=GONE)  # the fixture's batch went overdue on day 10: before the close
    days(c, 1)
    declare(c, 2)  # overdue on day 22 of the close-out's day 11
    days(c, 30)
    (found,) = run(c)
    assert (found.gap_id, found.days) == ("uncollected_overdue:" + batch_code(GEN, 2), 31)
    assert run(c) == []


def test_nothing_comes_back_nothing_is_signed(cases):
    c = cases
    days(c, 11)
    close_case(c, gap="mass_discrepancy:" + batch_code(GEN), type="mass_discrepancy")
    days(c, 200)
    before = c.root()
    assert run(c) == []
    assert c.root() == before and c.case().state == "closed"


def test_a_gap_beyond_the_window_is_a_new_problem_not_a_recurrence(cases):
    c = cases
    days(c, 11)
    close_case(c, gap=GONE)
    days(c, 85)
    declare(c, 2)  # overdue 95 days after the close-out: past within_days
    days(c, 20)
    assert run(c) == []
    assert c.case().state == "closed"


def test_reopened_again_after_a_second_close_out_only_for_what_came_after_it(cases):
    c = cases
    days(c, 11)
    close_case(c, gap=GONE)
    days(c, 1)
    declare(c, 2)
    days(c, 30)
    assert len(run(c)) == 1
    c.act(COUNTY_REG, "case.assigned", assigned())
    c.act(GEN, "case.responded", responded(entries=None))
    c.act(COUNTY_REG, "case.reviewed", {"result": "accepted"})
    c.act(COUNTY_REG, "case.closed", {})
    days(c, 31)
    assert run(c) == []  # batch 2's gap began before this close-out
    assert c.case().state == "closed" and c.case().reopened == 1


@pytest.mark.parametrize(("org", "lookback", "code"), [
    (COUNTY_REG, {"gap": GAP, "days": 30}, "case_forbidden"),  # the operator's finding only
    (OPERATOR_ORG, {"gap": GAP}, "field_invalid"),
    (OPERATOR_ORG, {"gap": "nothing", "days": 30}, "field_invalid"),
    (OPERATOR_ORG, {"gap": GAP, "days": -1}, "field_invalid"),
    (OPERATOR_ORG, {"gap": GAP, "days": True}, "field_invalid"),
    (OPERATOR_ORG, {"gap": GAP, "days": 30, "x": 1}, "field_invalid"),
])
def test_who_may_sign_a_look_back_reopening(cases, org, lookback, code):
    close_case(cases)
    cases.refused(code, org, "case.reopened", {"reason": "反弹", "lookback": lookback})


def test_a_regulator_still_reopens_by_hand_and_the_log_verifies(cases, tmp_path):
    c = cases
    days(c, 11)
    close_case(c)
    days(c, 30)
    assert len(run(c)) == 1
    w = c.world
    w.session.rollback()
    assert rebuild(w.session, w.config, commit=False).identical
    export_log(w.session, w.config, str(tmp_path / "export"))
    head = log_head(w.session)
    summary = verify_export(tmp_path / "export")
    assert (summary.entries, summary.root) == (head.size, head.root)


def test_settings_are_checked():
    with pytest.raises(ValueError):
        LookbackSettings(after_days=100, within_days=90)
