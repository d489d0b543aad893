"""Withdrawing a wrong batch (batch.withdrawn, 撤回批次) on SQLite and PostgreSQL: only its
generator, only while nobody else has signed on it, with a reason; final; the code is never
reused; reconciliation, the gap scan and the plans treat it as never generated; a replay
rebuilds it identically. Every refusal names its code and leaves the log's root unchanged."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ledger.audit.gaps import GapQuery, GapSettings, Thresholds, find_gaps
from ledger.audit.intervals import interval_differences
from ledger.audit.models import CustodyInterval
from ledger.audit.plans import recorded_generation
from ledger.audit.reconcile import balance_differences, month_differences, reconcile
from ledger.custody.kinds import withdrawal_blocker
from ledger.custody.pickups import PickupRequest, pickups_for
from ledger.custody.principals import Principal
from ledger.custody.projections import Batch, BatchBalance
from ledger.custody.serials import reserve_code
from ledger.custody.uscc import make_uscc
from ledger.errors import Conflict, LedgerError, PermissionDenied, RuleViolation
from ledger.tlog.models import LogEntry, LogHead
from ledger.tlog.rebuild import rebuild
from ledger.tlog.rules import org_stream
from tests.ledger.custody_world import (
    COLLECTOR,
    DAY,
    GENERATORS,
    MANIFEST,
    Region,
    batch_code,
    description,
)

GEN = GENERATORS[0]
REASON = "废物代码选错，应为 900-041-49"


def withdraw(parties: Region, code: str, org: str = GEN, reason: object = REASON):
    return parties.act(org, code, "batch.withdrawn", {"reason": reason})


def head(parties: Region) -> tuple[int, bytes]:
    s = parties.world.session
    s.rollback()
    row = s.execute(select(LogHead.size, LogHead.root)).one()
    return int(row.size), bytes(row.root)


def refused(parties: Region, call, exc_type=LedgerError, code: str | None = None):
    """The call fails with that error code; the log's size and root do not change."""
    before = head(parties)
    with pytest.raises(exc_type) as err:
        call()
    if code:
        assert err.value.code == code, err.value
    assert head(parties) == before
    return err.value


def state(parties: Region, code: str) -> str:
    parties.world.session.rollback()
    return parties.world.session.get(Batch, code).state


def test_the_generator_withdraws_a_batch_nobody_else_signed(parties):
    code = parties.declare(GEN)
    other = parties.declare(GEN, serial=2)
    receipt = withdraw(parties, code)
    s = parties.world.session
    s.rollback()
    b = s.get(Batch, code)
    assert (b.state, b.holder, b.updated_at) == ("withdrawn", GEN, receipt.index)
    kinds = list(s.scalars(select(LogEntry.kind).where(LogEntry.stream == code)
                           .order_by(LogEntry.seq)))
    assert kinds == ["batch.declared", "batch.withdrawn"]
    assert state(parties, other) == "declared"  # only that batch


def test_only_the_declaring_enterprise_may_withdraw(parties):
    code = parties.declare(GEN)
    refused(parties, lambda: withdraw(parties, code, COLLECTOR), PermissionDenied,
            "withdraw_not_generator")
    refused(parties, lambda: withdraw(parties, code, GENERATORS[1]), PermissionDenied,
            "withdraw_not_generator")
    refused(parties, lambda: withdraw(parties, batch_code(GEN, 9)), RuleViolation,
            "batch_unknown")


@pytest.mark.parametrize("reason,error", [
    (None, "withdraw_reason_invalid"), ("", "withdraw_reason_invalid"),
    ("   ", "withdraw_reason_invalid"), ("x" * 201, "withdraw_reason_invalid"),
    ("a\nb", "withdraw_reason_invalid"), ("a\u0085b", "withdraw_reason_invalid"),
    (5, "withdraw_reason_invalid"),
    ("错\u0000误", "json_control_char"),  # the entry's JSON profile refuses U+0000 anywhere
])
def test_a_reason_is_required(parties, reason, error):
    code = parties.declare(GEN)
    refused(parties, lambda: withdraw(parties, code, reason=reason), LedgerError, error)
    assert state(parties, code) == "declared"


def test_not_once_another_party_signed(parties):
    # the collector answered first (the generator had asked it to fetch the batch)
    code = parties.declare(GEN)
    parties.offer(code, GEN, COLLECTOR)
    parties.accept(code, GEN, COLLECTOR, 120_000)
    refused(parties, lambda: withdraw(parties, code), RuleViolation, "withdraw_others_signed")
    # the generator declines that answer: the collector's signature stays in the stream
    parties.act(GEN, code, "custody.withdrawn", {"manifest": MANIFEST, "reason": "不交了"})
    assert state(parties, code) == "declared"
    refused(parties, lambda: withdraw(parties, code), RuleViolation, "withdraw_others_signed")
    # handed over and back: others signed too
    done = parties.declare(GEN, serial=2)
    parties.hand_over(done, GEN, COLLECTOR, 120_000, manifest="20263310000002")
    refused(parties, lambda: withdraw(parties, done), RuleViolation, "withdraw_others_signed")


def test_not_while_its_own_release_awaits_the_answer(parties):
    code = parties.declare(GEN)
    parties.release(code, GEN, COLLECTOR, 120_000)
    refused(parties, lambda: withdraw(parties, code), RuleViolation, "withdraw_handover_open")
    # the generator takes its release back (custody.withdrawn): then the batch may go
    parties.act(GEN, code, "custody.withdrawn", {"manifest": MANIFEST, "reason": "申报有误"})
    withdraw(parties, code)
    assert state(parties, code) == "withdrawn"


def test_not_while_in_storage(parties):
    parties.act(GEN, org_stream(GEN), "facility.registered", {
        "code": "TS001", "name": "危废仓库", "type": "贮存库", "capacity_kg": 20_000})
    code = parties.declare(GEN)
    parties.act(GEN, code, "storage.in", {"facility": "TS001", "mass_g": 120_000})
    refused(parties, lambda: withdraw(parties, code), RuleViolation, "withdraw_in_storage")
    parties.act(GEN, code, "storage.out", {"facility": "TS001", "mass_g": 120_000})
    withdraw(parties, code)


def test_not_once_mass_left_the_batch_or_for_a_batch_made_of_others(parties):
    both = make_uscc("331002", 55)  # an enterprise that also collects (its own waste too)
    parties.world.register_org(both, "自收集企业", "331002", ("generator", "collector"))
    parties.keys[both] = parties.world.register_key(both, "key-both")
    code = parties.declare(both)
    child = batch_code(both, 7)
    parties.act(both, code, "custody.consolidated_out", {"into": child, "mass_g": 20_000})
    refused(parties, lambda: withdraw(parties, code, both), RuleViolation,
            "withdraw_mass_moved")
    # a batch made by consolidation is not a declaration
    parent = parties.declare(GEN, serial=4)
    parties.hand_over(parent, GEN, COLLECTOR, 120_000)
    merged = parties.consolidate(COLLECTOR, [(parent, 120_000)], 8)
    refused(parties, lambda: withdraw(parties, merged, COLLECTOR), RuleViolation,
            "withdraw_not_declared")


def test_withdrawn_is_final_and_the_code_is_never_reused(parties):
    code = parties.declare(GEN)
    withdraw(parties, code)
    refused(parties, lambda: withdraw(parties, code), Conflict, "batch_withdrawn")
    refused(parties, lambda: parties.release(code, GEN, COLLECTOR, 120_000), RuleViolation,
            "batch_withdrawn")
    refused(parties, lambda: parties.act(GEN, code, "storage.in",
                                         {"facility": "TS001", "mass_g": 1}),
            RuleViolation, "batch_withdrawn")
    declared = parties.world.session.scalars(select(LogEntry.leaf_hash).where(
        LogEntry.stream == code, LogEntry.seq == 0)).one()
    from ledger.tlog.entries import prev_field
    refused(parties, lambda: parties.act(GEN, code, "custody.corrected", {
        "corrects": prev_field(declared), "mass_g": 100_000, "reason": "称重有误"}),
        RuleViolation, "batch_withdrawn")
    # declaring the code again: at the next seq it is not a creation, at seq 0 not the head
    refused(parties, lambda: parties.act(GEN, code, "batch.declared",
                                         description("900-039-49", 1000)),
            RuleViolation, "batch_exists")
    w = parties.world
    raw = w.sign(w.draft(parties.keys[GEN], GEN, code, "batch.declared",
                         description("900-039-49", 1000), seq=0), parties.keys[GEN])
    refused(parties, lambda: w.append(raw), Conflict, "seq_mismatch")
    # the next code handed out skips it
    s = w.session
    s.rollback()
    assert reserve_code(s, code[:-3], GEN) == batch_code(GEN, 2)


def test_an_open_pickup_request_no_longer_lists_it(parties):
    code, kept = parties.declare(GEN), parties.declare(GEN, serial=2)
    parties.offer(code, GEN, COLLECTOR)
    withdraw(parties, code)
    s = parties.world.session
    s.rollback()
    gen = Principal(org=GEN, name="g", roles=frozenset({"generator"}), region="331002")
    assert [p.status for p in pickups_for(s, gen, status=None)] == ["cancelled"]
    assert s.scalars(select(PickupRequest.status)).one() == "open"  # nothing was edited
    parties.offer(kept, GEN, COLLECTOR, manifest="20263310000003")
    s.rollback()
    statuses = sorted(p.status for p in pickups_for(s, gen, status=None))
    assert statuses == ["cancelled", "open"]


def test_reconciliation_gaps_and_plans_count_it_as_never_generated(parties):
    s = parties.world.session
    kept = parties.declare(GEN, serial=1, mass_g=50_000)
    gone = parties.declare(GEN, serial=2, mass_g=70_000)
    s.rollback()
    before = reconcile(s, generator=GEN).totals
    assert (before.batches, before.declared, before.at_generator) == (2, 120_000, 120_000)
    withdraw(parties, gone)
    s.rollback()
    after = reconcile(s, generator=GEN).totals
    assert (after.batches, after.declared, after.at_generator) == (1, 50_000, 50_000)
    assert s.get(BatchBalance, gone) is None and s.get(BatchBalance, kept) is not None
    assert balance_differences(s) == [] and month_differences(s) == []
    assert interval_differences(s) == []
    assert s.scalar(select(func.count()).select_from(CustodyInterval).where(
        CustodyInterval.batch == gone)) == 0
    # a year later, with one-day thresholds: only the kept batch is overdue
    settings = GapSettings(default=Thresholds(uncollected_days=1))
    now = parties.world.config.clock.ms + 365 * 86_400_000
    found = [g for g in find_gaps(s, GapQuery(now_ms=now, types=frozenset(
        {"uncollected_overdue"})), settings)]
    assert [g.batches for g in found] == [(kept,)]
    import datetime as dt
    day = dt.date(int(DAY[:4]), int(DAY[4:6]), int(DAY[6:]))
    assert recorded_generation(s, GEN, day, day) == 50_000
    # the 台账 (HJ 1259): only the kept batch in 产生
    from ledger.audit.ledger_book import build_ledger_book
    book = build_ledger_book(s, GEN, 0, now)
    made = next(t for t in book.tables if t.name == "产生")
    assert [row[0] for row in made.rows] == [kept]
    s.rollback()
    report = rebuild(s, parties.world.config, commit=False)
    assert report.identical, report.differences


def test_the_blocker_the_page_asks_agrees_with_the_rule(parties):
    code = parties.declare(GEN)
    s = parties.world.session
    s.rollback()
    assert withdrawal_blocker(s, s.get(Batch, code)) is None
    parties.release(code, GEN, COLLECTOR, 120_000)
    s.rollback()
    blocker = withdrawal_blocker(s, s.get(Batch, code))
    assert blocker is not None and blocker[0] == "withdraw_handover_open"
