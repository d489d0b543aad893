"""The gap scan over the custody-interval summary finds exactly what the scan over the
projections found before it (tests/ledger/gap_reference.py), on SQLite and PostgreSQL: a
varied region with the cases each gap type is tested with, scanned at several clocks (one of
them before many of the entries), for several regions and threshold sets. The summary kept
entry by entry equals a fresh computation, and a replay rebuilds it identically."""

from __future__ import annotations

import itertools

import pytest

from ledger.audit.gaps import (
    DAY,
    HOUR,
    GapQuery,
    GapSettings,
    StorageLimit,
    Thresholds,
    find_gaps,
)
from ledger.audit.intervals import interval_differences, rebuild_intervals
from ledger.audit.models import CustodyInterval
from ledger.custody.kinds import CustodySettings
from ledger.custody.uscc import make_uscc
from ledger.tlog.rebuild import rebuild
from tests.ledger.custody_world import (
    COLLECTOR,
    DISPOSER,
    GENERATORS,
    STATION,
    UNLICENSED,
    Region,
    batch_code,
    make_region,
)
from tests.ledger.gap_reference import SUMMARISED, reference_gaps

G0, G1, G2 = GENERATORS[:3]
TRANSPORTER = make_uscc("331002", 103)
MASS = 120_000
SETTINGS = (
    GapSettings(),
    # short thresholds, so that stays, slow collections and late answers become findings;
    # a county override inside a city override
    GapSettings(regions={
        "331000": {"uncollected_days": 10, "stored_days": 20, "undisposed_days": 4},
        "331002": {"in_transit_hours": 5, "handover_hours": 24, "manifest_working_days": 1},
        "331003": {"undisposed_days": 2, "manifest_working_days": 0}}),
    GapSettings(default=Thresholds(
        uncollected_days=1, handover_hours=1, in_transit_hours=1, undisposed_days=1,
        stored_days=1, manifest_working_days=1)),
    # storage periods per holder and code or category (the batch joined for candidates only)
    GapSettings(storage_limits=(StorageLimit(days=30), StorageLimit(days=2, org=STATION),
                                StorageLimit(days=5, org=COLLECTOR, code="HW49"))),
)
REGIONS = (None, "331000", "331002", "331003", "110000")


@pytest.fixture
def varied(database):
    engine = database.engine()
    r = make_region(engine, CustodySettings(permit_policy={"331003": "flag"}))
    yield r
    r.world.session.close()
    engine.dispose()


def later(r: Region, ms: int) -> int:
    r.world.clock.ms += ms
    return r.world.clock.ms


def build(r: Region) -> list[int]:
    """The cases of tests/ledger/audit/test_gaps.py side by side, and some that end late;
    returns the clocks to scan at."""
    numbers = (f"2026331{n:07d}" for n in itertools.count(100))
    r.world.register_org(TRANSPORTER, "危货运输", "331002", ("transporter",))
    r.keys[TRANSPORTER] = r.world.register_key(TRANSPORTER, "key-transporter")
    start = r.world.clock.ms
    codes = {name: r.declare(gen, serial) for name, gen, serial in (
        ("clean", G0, 1), ("never", G0, 2), ("late", G1, 1), ("unanswered", G1, 2),
        ("slow", G2, 1), ("discrepancy", G2, 2), ("refused", G0, 3), ("undisposed", G0, 4),
        ("stored", G1, 3), ("pour1", G1, 4), ("pour2", G2, 3), ("answer_first", G2, 4),
        ("withdrawn", G0, 5), ("unlicensed", G0, 6), ("orphan", G1, 5), ("two", G2, 5),
        ("three", G2, 6), ("carried", G1, 6), ("stuck", G1, 7))}
    c = codes
    later(r, HOUR)
    r.hand_over(c["clean"], G0, COLLECTOR, MASS, manifest=next(numbers))
    r.release(c["unanswered"], G1, COLLECTOR, MASS, manifest=next(numbers))
    slow = next(numbers)
    r.release(c["slow"], G2, COLLECTOR, MASS, manifest=slow)
    r.hand_over(c["discrepancy"], G2, COLLECTOR, MASS, accepted=100_000,
                manifest=next(numbers))
    refused = next(numbers)
    r.release(c["refused"], G0, DISPOSER, MASS, manifest=refused)
    r.refuse(c["refused"], G0, DISPOSER, manifest=refused)
    r.hand_over(c["undisposed"], G0, DISPOSER, MASS, manifest=next(numbers))
    r.hand_over(c["stored"], G1, COLLECTOR, MASS, manifest=next(numbers))
    r.hand_over(c["pour1"], G1, STATION, MASS, manifest=next(numbers))
    r.hand_over(c["pour2"], G2, STATION, MASS, manifest=next(numbers))
    first = next(numbers)
    r.offer(c["answer_first"], G2, COLLECTOR, manifest=first)
    r.accept(c["answer_first"], G2, COLLECTOR, MASS, manifest=first)
    withdrawn = next(numbers)
    r.release(c["withdrawn"], G0, COLLECTOR, MASS, manifest=withdrawn)
    r.hand_over(c["unlicensed"], G0, UNLICENSED, MASS, manifest=next(numbers))
    r.hand_over(c["orphan"], G1, COLLECTOR, MASS, manifest=next(numbers))
    r.act(COLLECTOR, c["orphan"], "custody.consolidated_out",
          {"into": batch_code(COLLECTOR, 9), "mass_g": MASS})
    shared = next(numbers)  # one trip, two batches: open until both are answered
    r.release(c["two"], G2, COLLECTOR, MASS, manifest=shared)
    r.release(c["three"], G2, COLLECTOR, MASS, manifest=shared)
    r.accept(c["two"], G2, COLLECTOR, MASS, manifest=shared)
    r.hand_over(c["carried"], G1, TRANSPORTER, MASS, manifest=next(numbers))
    r.hand_over(c["stuck"], G1, TRANSPORTER, MASS, manifest=next(numbers))
    early = later(r, 2 * HOUR)
    r.release(c["answer_first"], G2, COLLECTOR, MASS, manifest=first)
    r.act(G0, c["withdrawn"], "custody.withdrawn", {"manifest": withdrawn, "reason": "改期"})
    later(r, 3 * DAY)
    r.accept(c["slow"], G2, COLLECTOR, MASS, manifest=slow)  # answered after three days
    r.hand_over(c["clean"], COLLECTOR, DISPOSER, MASS, manifest=next(numbers))
    r.accept(c["three"], G2, COLLECTOR, MASS, manifest=shared)
    r.hand_over(c["carried"], TRANSPORTER, COLLECTOR, MASS, manifest=next(numbers))
    middle = later(r, 5 * DAY)
    r.act(DISPOSER, c["clean"], "custody.disposed", {
        "method": "disposal", "method_code": "D10",
        "permit": "浙危废经第" + DISPOSER[-4:] + "号", "mass_g": MASS})
    drum = r.consolidate(STATION, [(c["pour1"], MASS), (c["pour2"], MASS)], serial=7)
    later(r, 20 * DAY)
    r.hand_over(c["late"], G1, COLLECTOR, MASS, manifest=next(numbers))  # collected late
    r.hand_over(c["refused"], G0, COLLECTOR, MASS, manifest=next(numbers))  # after refusal
    later(r, 40 * DAY)
    r.hand_over(c["stored"], COLLECTOR, DISPOSER, MASS, manifest=next(numbers))
    r.hand_over(drum, STATION, DISPOSER, 2 * MASS, manifest=next(numbers))
    end = later(r, 10 * DAY)
    return [start + HOUR // 2, early, middle, end, end + 400 * DAY]


def test_the_summary_scan_finds_what_the_projection_scan_found(varied):
    clocks = build(varied)
    s = varied.world.session
    s.rollback()
    assert interval_differences(s) == []  # kept entry by entry = computed afresh
    kinds = {k for (k,) in s.query(CustodyInterval.kind).distinct()}
    assert kinds == SUMMARISED
    seen: set[str] = set()
    for now, settings, region in itertools.product(clocks, SETTINGS, REGIONS):
        query = GapQuery(now_ms=now, region=region)
        new = find_gaps(s, query, settings)
        s.rollback()
        old = reference_gaps(s, query, settings)
        s.rollback()
        assert new == old, (now, settings, region)
        seen |= {g.type for g in new}
        for gap_type in SUMMARISED if region is None else ():  # each alone, open ones only
            one = GapQuery(now_ms=now, region=region, types=frozenset({gap_type}),
                           status="open")
            assert find_gaps(s, one, settings) == reference_gaps(s, one, settings)
            s.rollback()
    assert seen >= SUMMARISED | {"mass_discrepancy", "permit_violation", "lineage_imbalance",
                                 "refusal_unresolved", "manifest_open"}
    late = [g for g in find_gaps(s, GapQuery(now_ms=clocks[3]), SETTINGS[2])
            if g.status == "resolved"]
    assert SUMMARISED <= {g.type for g in late}  # each type also ended late at least once


def test_rebuild_compares_and_remakes_the_summary(varied):
    build(varied)
    s = varied.world.session
    s.rollback()
    report = rebuild(s, varied.world.config, commit=False)
    assert report.identical, report.differences
    s.rollback()
    # a row lost or changed is a difference rebuild --check reports, and rebuild repairs
    victim = s.query(CustodyInterval).filter(CustodyInterval.kind == "stored_overdue",
                                             CustodyInterval.end_t.is_not(None)).first()
    assert victim is not None
    victim.end_t = None
    s.delete(s.query(CustodyInterval).filter_by(kind="handover_unconfirmed").first())
    s.commit()
    assert len(interval_differences(s)) == 3
    s.rollback()
    report = rebuild(s, varied.world.config, commit=False)
    assert set(report.differences) == {"custody_intervals"}
    s.rollback()
    rebuild(s, varied.world.config, commit=True)
    assert interval_differences(s) == []
    s.rollback()
    # and the set-based computation (bulk loads, upgrades) gives the same rows
    before = sorted(map(repr, s.query(CustodyInterval.kind, CustodyInterval.ref,
                                      CustodyInterval.end_t, CustodyInterval.span)))
    rebuild_intervals(s)
    s.commit()
    assert sorted(map(repr, s.query(CustodyInterval.kind, CustodyInterval.ref,
                                    CustodyInterval.end_t, CustodyInterval.span))) == before
