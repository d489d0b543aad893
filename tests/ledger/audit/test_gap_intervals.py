"""The gap scan over the custody-interval summary and the manifests' kept times finds exactly
what the scan over the projections found before them (tests/ledger/gap_reference.py), on SQLite
and PostgreSQL: a varied region with the cases each gap type is tested with, scanned at several
clocks (one of them before many of the entries), for several regions and threshold sets. The
summary and the manifests' times kept entry by entry equal a fresh computation, a replay
rebuilds them identically, and the schema upgrade that added the manifests' times fills them
for manifests made before it."""

from __future__ import annotations

import itertools

import chinese_calendar
import pytest
from alembic import command
from sqlalchemy import func, inspect, select, text

from ledger import migrations
from ledger.audit.gaps import (
    DAY,
    HOUR,
    GapQuery,
    GapSettings,
    StorageLimit,
    Thresholds,
    find_gaps,
)
from ledger.audit.intervals import (
    interval_differences,
    manifest_time_differences,
    rebuild_intervals,
    rebuild_manifest_times,
)
from ledger.audit.models import CustodyInterval
from ledger.custody.kinds import CustodySettings
from ledger.custody.projections import Manifest
from ledger.custody.uscc import make_uscc
from ledger.tlog.rebuild import rebuild
from tests.ledger.custody_world import (
    CARRIER,
    CARRIER_PLATE,
    COLLECTOR,
    DISPOSER,
    GENERATORS,
    STATION,
    UNLICENSED,
    Region,
    add_carrier,
    batch_code,
    carried,
    make_region,
)
from tests.ledger.gap_reference import MANIFESTS, SUMMARISED, reference_gaps

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
        ("three", G2, 6), ("carried", G1, 6), ("stuck", G1, 7),
        # manifests: answered late, carried with a signed arrival (answered; never answered),
        # released in the last days of the calendar's last year (open; answered in the next)
        ("tardy", G0, 7), ("by_carrier", G1, 8), ("carrier_open", G2, 7),
        ("year_end", G0, 8), ("year_end_late", G1, 9))}
    c = codes
    add_carrier(r)
    later(r, HOUR)
    tardy, by_carrier, carrier_open = next(numbers), next(numbers), next(numbers)
    r.release(c["tardy"], G0, COLLECTOR, MASS, manifest=tardy)
    for code, org, number in ((c["by_carrier"], G1, by_carrier),
                              (c["carrier_open"], G2, carrier_open)):
        r.act(org, code, "custody.released", {"to": DISPOSER, "mass_g": MASS,
                                              "manifest": number, "carrier": CARRIER,
                                              "vehicle": CARRIER_PLATE})
        carried(r, code, "departed", manifest=number)
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
    carried(r, c["by_carrier"], "arrived", manifest=by_carrier)  # arrived three days on
    carried(r, c["carrier_open"], "arrived", manifest=carrier_open)
    r.hand_over(c["clean"], COLLECTOR, DISPOSER, MASS, manifest=next(numbers))
    r.accept(c["three"], G2, COLLECTOR, MASS, manifest=shared)
    r.hand_over(c["carried"], TRANSPORTER, COLLECTOR, MASS, manifest=next(numbers))
    middle = later(r, 5 * DAY)
    r.act(DISPOSER, c["clean"], "custody.disposed", {
        "method": "disposal", "method_code": "D10",
        "permit": "浙危废经第" + DISPOSER[-4:] + "号", "mass_g": MASS})
    drum = r.consolidate(STATION, [(c["pour1"], MASS), (c["pour2"], MASS)], serial=7)
    r.accept(c["by_carrier"], G1, DISPOSER, MASS, manifest=by_carrier)  # 5 days after arrival
    from_county = next(numbers)  # a manifest of the county 331003 (its own thresholds)
    r.release(c["unlicensed"], UNLICENSED, DISPOSER, MASS, manifest=from_county)
    later(r, 20 * DAY)
    r.accept(c["tardy"], G0, COLLECTOR, MASS, manifest=tardy)  # 28 days after its opening
    r.hand_over(c["late"], G1, COLLECTOR, MASS, manifest=next(numbers))  # collected late
    r.hand_over(c["refused"], G0, COLLECTOR, MASS, manifest=next(numbers))  # after refusal
    later(r, 40 * DAY)
    r.hand_over(c["stored"], COLLECTOR, DISPOSER, MASS, manifest=next(numbers))
    r.hand_over(drum, STATION, DISPOSER, 2 * MASS, manifest=next(numbers))
    r.accept(c["unlicensed"], UNLICENSED, DISPOSER, MASS, manifest=from_county)  # 40 days on
    end = later(r, 10 * DAY)
    later(r, 18 * DAY)  # 2026-12-26: the 5th working day falls in 2027
    year_end_late = next(numbers)
    r.release(c["year_end"], G0, COLLECTOR, MASS, manifest=next(numbers))
    r.release(c["year_end_late"], G1, COLLECTOR, MASS, manifest=year_end_late)
    last = later(r, 15 * DAY)
    r.accept(c["year_end_late"], G1, COLLECTOR, MASS, manifest=year_end_late)
    return [start + HOUR // 2, early, middle, end, last + 400 * DAY]


def test_the_summary_scan_finds_what_the_projection_scan_found(varied):
    clocks = build(varied)
    s = varied.world.session
    s.rollback()
    assert interval_differences(s) == []  # kept entry by entry = computed afresh
    assert manifest_time_differences(s) == []
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
        for gap_type in SUMMARISED | MANIFESTS if region is None else ():  # alone, open only
            one = GapQuery(now_ms=now, region=region, types=frozenset({gap_type}),
                           status="open")
            assert find_gaps(s, one, settings) == reference_gaps(s, one, settings)
            s.rollback()
    assert seen >= SUMMARISED | {"mass_discrepancy", "permit_violation", "lineage_imbalance",
                                 "refusal_unresolved", "manifest_open"}
    late = [g for g in find_gaps(s, GapQuery(now_ms=clocks[3]), SETTINGS[2])
            if g.status == "resolved"]
    assert SUMMARISED | MANIFESTS <= {g.type for g in late}  # each also ended late once
    s.rollback()


def _manifest_gaps(s, now: int, settings: GapSettings, region: str | None = None) -> dict:
    found = find_gaps(s, GapQuery(now_ms=now, region=region,
                                  types=frozenset({"manifest_open"})), settings)
    s.rollback()
    return {g.id.split(":", 1)[1]: g for g in found}


def test_the_manifests_cases_the_scan_is_compared_on(varied):
    """What the comparison above covers for manifest_open, asserted: closed late, closed in
    time, open past due, the carrier's arrival against the opening, a due time in a year the
    calendar does not know, a region's own period, the region filter."""
    clocks = build(varied)
    s = varied.world.session
    s.rollback()
    trips = {m.number: m for m in s.scalars(select(Manifest))}
    gaps = _manifest_gaps(s, clocks[-1], SETTINGS[0])
    by_batch = {code: number for number, g in gaps.items() for code in g.batches}
    tardy = gaps[by_batch[batch_code(G0, 7)]]
    assert tardy.status == "resolved" and tardy.resolved_ms > tardy.opened_ms
    unanswered = gaps[by_batch[batch_code(G1, 2)]]
    assert unanswered.status == "open" and unanswered.resolved_by is None
    # answered in time (the default 5 working days): no finding
    assert batch_code(G0, 1) not in by_batch and batch_code(G1, 8) not in by_batch
    # the carrier's arrival starts the period: still open, due from the arrival
    carried_open = gaps[by_batch[batch_code(G2, 7)]]
    trip = trips[carried_open.detail["manifest"]]
    assert trip.arrived_t_ms is not None and trip.arrived_t_ms > trip.opened_t_ms
    assert carried_open.detail["arrived_ms"] == trip.arrived_t_ms
    assert carried_open.entries == (trip.opened_at, trip.arrived_at)
    # without a carrier leg the opening is the arrival
    assert unanswered.detail["arrived_ms"] == trips[unanswered.detail["manifest"]].opened_t_ms
    if max(chinese_calendar.holidays).year == 2026:  # the calendar does not know 2027
        unknown = [g for g in gaps.values() if "calendar_unknown" in g.detail]
        assert {(g.batches, g.status) for g in unknown} == {
            ((batch_code(G0, 8),), "open"), ((batch_code(G1, 9),), "resolved")}
        assert {g.detail["calendar_unknown"] for g in unknown} == {2027}
        assert {g.severity for g in unknown} == {"low"}
    # the region filter, and 331003's own period of 0 working days (its manifest is late)
    county = _manifest_gaps(s, clocks[-1], SETTINGS[1], "331003")
    assert {g.batches for g in county.values()} == {(batch_code(G0, 6),)}
    assert county[next(iter(county))].detail["working_days"] == 0
    assert {g.region for g in _manifest_gaps(s, clocks[-1], SETTINGS[1], "331000").values()
            } == {"331002", "331003"}
    assert {g.region for g in _manifest_gaps(s, clocks[-1], SETTINGS[1], "331002").values()
            } == {"331002"}
    assert not _manifest_gaps(s, clocks[-1], SETTINGS[0], "110000")
    # with 1 working day everywhere the carried manifest answered in time becomes late, and it
    # counts from the arrival: the same finding due later than from the opening
    short = _manifest_gaps(s, clocks[-1], SETTINGS[2])
    carried_late = next(g for g in short.values() if g.batches == (batch_code(G1, 8),))
    assert carried_late.status == "resolved"
    assert carried_late.opened_ms > trips[carried_late.detail["manifest"]].opened_t_ms + DAY


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
    # and a manifest's kept times: one closed late made to look closed in time, one open
    # made to look closed
    closed = s.scalars(select(Manifest).where(Manifest.span_ms > 20 * DAY)).first()
    still_open = s.scalars(select(Manifest).where(Manifest.closed_at.is_(None))).first()
    assert closed is not None and still_open is not None
    closed.span_ms = HOUR
    still_open.closed_t_ms, still_open.span_ms = still_open.opened_t_ms + HOUR, HOUR
    s.commit()
    assert len(interval_differences(s)) == 3
    assert {d[0] for d in manifest_time_differences(s)} == {closed.number, still_open.number}
    s.rollback()
    report = rebuild(s, varied.world.config, commit=False)
    assert set(report.differences) == {"custody_intervals", "manifests"}
    s.rollback()
    rebuild(s, varied.world.config, commit=True)
    assert interval_differences(s) == [] and manifest_time_differences(s) == []
    s.rollback()
    # and the set-based computation (bulk loads, upgrades) gives the same rows
    before = sorted(map(repr, s.query(CustodyInterval.kind, CustodyInterval.ref,
                                      CustodyInterval.end_t, CustodyInterval.span)))
    rebuild_intervals(s)
    s.commit()
    assert sorted(map(repr, s.query(CustodyInterval.kind, CustodyInterval.ref,
                                    CustodyInterval.end_t, CustodyInterval.span))) == before
    assert rebuild_manifest_times(s) == 0  # right already: nothing written
    s.execute(text("UPDATE manifests SET closed_t_ms = NULL, span_ms = 7"))
    assert rebuild_manifest_times(s) == s.scalar(select(func.count()).select_from(Manifest))
    s.commit()
    assert manifest_time_differences(s) == []


def _kept_times(s) -> list[tuple]:
    rows = s.execute(select(Manifest.number, Manifest.closed_at, Manifest.closed_t_ms,
                            Manifest.span_ms).order_by(Manifest.number)).all()
    s.rollback()
    return [tuple(r) for r in rows]


def test_the_upgrade_fills_the_times_of_manifests_made_before_it(varied):
    """A database at revision 0016 (no closing times or spans) with open, closed, carried and
    shared manifests: revision 0017 fills them set-based as the handlers keep them, the scan
    finds what the reference finds, and rebuild --check finds no difference."""
    clocks = build(varied)
    s = varied.world.session
    s.rollback()
    kept = _kept_times(s)
    assert any(t is None for _, _, t, _ in kept) and any(t is not None for _, _, t, _ in kept)
    assert s.scalar(select(func.count()).select_from(Manifest).where(
        Manifest.arrived_at.is_not(None), Manifest.closed_at.is_not(None))) >= 1
    engine = s.get_bind()
    s.close()
    with engine.begin() as conn:
        command.downgrade(migrations.config(conn), "0016")
    with engine.connect() as conn:
        assert "span_ms" not in {c["name"] for c in inspect(conn).get_columns("manifests")}
    done = migrations.upgrade(engine)
    assert (done.before, done.after) == ("0016", migrations.heads()[0])
    assert _kept_times(s) == kept
    assert manifest_time_differences(s) == []
    s.rollback()
    for now, settings in itertools.product(clocks[-2:], SETTINGS[:3]):
        query = GapQuery(now_ms=now, types=frozenset({"manifest_open"}))
        assert find_gaps(s, query, settings) == reference_gaps(s, query, settings)
        s.rollback()
    report = rebuild(s, varied.world.config, commit=False)
    assert report.identical, report.differences
