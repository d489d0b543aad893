"""Gap findings, each provoked on purpose, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ledger.audit.gaps import (
    DAY,
    HOUR,
    GapQuery,
    GapSettings,
    advance_integrity,
    find_gaps,
    get_gap,
)
from ledger.custody.kinds import CustodySettings
from ledger.tlog.log import issue_checkpoint, log_head
from ledger.tlog.models import IntegrityWatermark
from ledger.tlog.rebuild import rebuild
from tests.ledger.custody_world import (
    COLLECTOR,
    DISPOSER,
    GENERATORS,
    UNLICENSED,
    Region,
    batch_code,
    make_region,
)

GEN = GENERATORS[0]
SETTINGS = GapSettings()


@pytest.fixture
def flagged(database):
    engine = database.engine()
    r = make_region(engine, CustodySettings(permit_policy={"331003": "flag"}))
    yield r
    r.world.session.close()
    engine.dispose()


def later(flagged: Region, ms: int) -> int:
    flagged.world.clock.ms += ms
    return flagged.world.clock.ms


def gaps(r: Region, kind: str | None = None, **kw) -> list:
    r.world.session.rollback()
    q = GapQuery(now_ms=r.world.clock.ms, **kw)
    found = find_gaps(r.world.session, q, SETTINGS)
    return [g for g in found if kind is None or g.type == kind]


def test_a_clean_lifecycle_has_no_gaps(flagged):
    code = flagged.declare(GEN)
    later(flagged, HOUR)
    flagged.hand_over(code, GEN, COLLECTOR, 120_000)
    later(flagged, 10 * DAY)
    flagged.hand_over(code, COLLECTOR, DISPOSER, 120_000, manifest="20263310000002")
    later(flagged, 5 * DAY)
    flagged.act(DISPOSER, code, "custody.disposed", {
        "method": "disposal", "method_code": "D10",
        "permit": "浙危废经第" + DISPOSER[-4:] + "号", "mass_g": 120_000})
    later(flagged, 10 * DAY)
    assert gaps(flagged) == []


def test_uncollected_overdue_opens_then_resolves_with_the_collection(flagged):
    code = flagged.declare(GEN)
    later(flagged, 91 * DAY)
    (gap,) = gaps(flagged, "uncollected_overdue")
    assert (gap.status, gap.batches, gap.organisations) == ("open", (code,), (GEN,))
    flagged.hand_over(code, GEN, COLLECTOR, 120_000)
    (gap,) = gaps(flagged, "uncollected_overdue")
    assert gap.status == "resolved" and gap.resolved_by is not None
    assert gaps(flagged, "uncollected_overdue", status="open") == []


def test_unanswered_release_and_open_manifest(flagged):
    code = flagged.declare(GEN)
    flagged.release(code, GEN, COLLECTOR, 120_000)
    later(flagged, 49 * HOUR)
    (gap,) = gaps(flagged, "handover_unconfirmed")
    assert gap.detail["missing"] == "answer" and gap.severity == "high"
    later(flagged, 8 * DAY)
    (m,) = gaps(flagged, "manifest_open")
    assert m.batches == (code,)


def test_mass_discrepancy_and_flagged_permit(flagged):
    code = flagged.declare(GEN)
    flagged.hand_over(code, GEN, COLLECTOR, 120_000, accepted=100_000)
    other = flagged.declare(GEN, serial=2)
    flagged.hand_over(other, GEN, UNLICENSED, 120_000, manifest="20263310000002")
    assert [g.batches for g in gaps(flagged, "mass_discrepancy")] == [(code,)]
    (p,) = gaps(flagged, "permit_violation")
    assert p.batches == (other,) and p.organisations == (UNLICENSED,)


def test_refusal_unresolved_and_undisposed(flagged):
    code = flagged.declare(GEN)
    flagged.hand_over(code, GEN, COLLECTOR, 120_000)
    flagged.release(code, COLLECTOR, DISPOSER, 120_000, manifest="20263310000002")
    flagged.refuse(code, COLLECTOR, DISPOSER, manifest="20263310000002")
    other = flagged.declare(GEN, serial=2)
    flagged.hand_over(other, GEN, DISPOSER, 120_000, manifest="20263310000003")
    later(flagged, 31 * DAY)
    assert [g.batches for g in gaps(flagged, "refusal_unresolved")] == [(code,)]
    assert [g.batches for g in gaps(flagged, "undisposed_overdue")] == [(other,)]


def test_stored_beyond_the_permitted_period(flagged):
    code = flagged.declare(GEN)
    flagged.hand_over(code, GEN, COLLECTOR, 120_000)
    later(flagged, 366 * DAY)
    (gap,) = gaps(flagged, "stored_overdue")
    assert gap.organisations == (COLLECTOR,) and gap.status == "open"


def test_a_stay_that_ended_late_is_resolved_by_the_next_release(flagged):
    code = flagged.declare(GEN)
    flagged.hand_over(code, GEN, COLLECTOR, 120_000)
    later(flagged, 400 * DAY)  # into 2027: a manifest number of that year
    receipt = flagged.release(code, COLLECTOR, DISPOSER, 120_000, manifest="20273310000002")
    flagged.accept(code, COLLECTOR, DISPOSER, 120_000, manifest="20273310000002")
    (gap,) = gaps(flagged, "stored_overdue")
    assert (gap.status, gap.severity, gap.resolved_by) == ("resolved", "low", receipt.index)
    assert gaps(flagged, "stored_overdue", status="open") == []
    assert gaps(flagged, "undisposed_overdue") == []  # the disposer has had it for no time


def test_a_stay_ended_late_by_pouring_the_batch_into_a_drum(flagged):
    code = flagged.declare(GEN)
    flagged.hand_over(code, GEN, COLLECTOR, 120_000)
    later(flagged, 400 * DAY)
    poured_at = later(flagged, HOUR)
    drum = flagged.consolidate(COLLECTOR, [(code, 120_000)], serial=5)
    (gap,) = gaps(flagged, "stored_overdue")
    assert gap.batches == (code,) and gap.status == "resolved"
    assert gap.resolved_ms == poured_at  # the hand-off's time, looked up by updated_at
    s = flagged.world.session
    s.rollback()
    from ledger.custody.projections import Batch

    assert gap.resolved_by == s.get(Batch, code).updated_at
    assert all(drum not in g.batches for g in gaps(flagged))  # the drum is new at the collector


def test_a_receiver_over_its_annual_capacity(flagged):
    code = flagged.declare(GEN, mass_g=6_000_000_000)  # 6 000 t against a 5 000 t permit
    flagged.hand_over(code, GEN, COLLECTOR, 6_000_000_000)
    (gap,) = gaps(flagged, "permit_violation")
    assert gap.id == f"permit_violation:capacity:{COLLECTOR}:2026"
    assert gap.batches == (code,) and gap.detail["accepted_g"] == 6_000_000_000


def test_hand_off_into_a_batch_never_declared(flagged):
    code = flagged.declare(GEN)
    flagged.hand_over(code, GEN, COLLECTOR, 120_000)
    flagged.act(COLLECTOR, code, "custody.consolidated_out",
               {"into": batch_code(COLLECTOR, 9), "mass_g": 120_000})
    (gap,) = gaps(flagged, "lineage_imbalance")
    assert gap.batches == (code, batch_code(COLLECTOR, 9))


def test_an_enterprise_that_stops_declaring(flagged):
    for month in range(6):
        flagged.declare(GEN, serial=month + 1, mass_g=100_000 + 1_000 * month)
        later(flagged, 31 * DAY)
    later(flagged, 40 * DAY)  # a whole month with nothing declared
    anomalies = gaps(flagged, "generation_anomaly")
    assert len(anomalies) == 1 and anomalies[0].organisations == (GEN,)
    assert anomalies[0].detail["declared_g"] == 0


def test_tampered_tree_is_an_integrity_gap(flagged):
    flagged.declare(GEN)
    s = flagged.world.session
    issue_checkpoint(s, flagged.world.config)  # published: the tree must keep giving its root
    assert gaps(flagged, "integrity") == []
    s.execute(text("UPDATE merkle_nodes SET hash = :h"), {"h": b"\x00" * 32})
    s.commit()
    found = gaps(flagged, "integrity")
    assert found and all(g.severity == "high" for g in found)


def watermark(r: Region) -> int:
    r.world.session.rollback()
    state = r.world.session.get(IntegrityWatermark, 1)
    return 0 if state is None else state.verified_size


def test_integrity_verifies_only_the_entries_appended_since_the_last_scan(flagged):
    s = flagged.world.session
    assert gaps(flagged, "integrity") == []
    size = log_head(s).size
    assert watermark(flagged) == size
    s.rollback()
    assert advance_integrity(s) == 0  # nothing new
    flagged.declare(GEN, serial=2)
    flagged.declare(GEN, serial=3)
    s.rollback()
    assert advance_integrity(s, chunk=1) == 2  # only the two new entries, one per transaction
    assert watermark(flagged) == size + 2
    issue_checkpoint(s, flagged.world.config)  # a checkpoint at exactly the watermark
    assert gaps(flagged, "integrity") == []


def test_a_watermark_sent_back_to_zero_verifies_from_scratch(flagged):
    flagged.declare(GEN)
    s = flagged.world.session
    issue_checkpoint(s, flagged.world.config)
    assert gaps(flagged, "integrity") == []
    s.execute(text("UPDATE integrity_watermark SET verified_size = 0"))  # frontier left as is
    s.commit()
    assert gaps(flagged, "integrity") == []  # not the kept frontier: it starts from nothing
    assert watermark(flagged) == log_head(s).size


def test_a_checkpoint_changed_after_verification_is_found(flagged):
    flagged.declare(GEN)
    s = flagged.world.session
    issue_checkpoint(s, flagged.world.config)
    flagged.declare(GEN, serial=2)
    assert gaps(flagged, "integrity") == [] and watermark(flagged) > 0
    s.execute(text("UPDATE checkpoints SET root = :r"), {"r": b"\x01" * 32})
    s.commit()
    assert watermark(flagged) == 0  # the trigger sent the watermark back
    found = gaps(flagged, "integrity")
    assert found and {g.id.split(":")[1] for g in found} == {"checkpoint"}


def test_a_tampered_node_is_found_and_a_rebuild_clears_it(flagged):
    for serial in range(1, 6):
        flagged.declare(GEN, serial=serial)
    s = flagged.world.session
    assert gaps(flagged, "integrity") == []
    s.execute(text("UPDATE merkle_nodes SET hash = :h WHERE level = 2 AND idx = 0"),
              {"h": b"\x00" * 32})
    s.commit()
    assert [g.id for g in gaps(flagged, "integrity")] == ["integrity:node:2:0"]
    assert gaps(flagged, "integrity") != []  # kept, not lost once the watermark moved on
    s.rollback()
    rebuild(s, flagged.world.config, commit=True)
    assert watermark(flagged) == 0
    assert gaps(flagged, "integrity") == []


def test_thresholds_per_region_are_applied_in_the_database(flagged):
    code = flagged.declare(GEN)  # GEN is in 331002
    later(flagged, 31 * DAY)
    assert gaps(flagged, "uncollected_overdue") == []
    city = GapSettings(regions={"331000": {"uncollected_days": 30}})
    county = GapSettings(regions={"331000": {"uncollected_days": 30},
                                  "331002": {"stored_days": 90}})
    other = GapSettings(regions={"331003": {"uncollected_days": 30}})
    q = GapQuery(now_ms=flagged.world.clock.ms, types=frozenset({"uncollected_overdue"}))
    flagged.world.session.rollback()
    (gap,) = find_gaps(flagged.world.session, q, city)
    assert gap.batches == (code,) and gap.detail["threshold_days"] == 30
    assert find_gaps(flagged.world.session, q, county) == []  # the county's own entry wins
    assert find_gaps(flagged.world.session, q, other) == []


def test_gaps_are_found_again_by_id_and_filtered(flagged):
    code = flagged.declare(GEN)
    later(flagged, 91 * DAY)
    (gap,) = gaps(flagged, "uncollected_overdue")
    q = GapQuery(now_ms=flagged.world.clock.ms)
    assert get_gap(flagged.world.session, gap.id, q, SETTINGS) == gap
    assert get_gap(flagged.world.session, "nonsense:x", q, SETTINGS) is None
    assert gaps(flagged, "uncollected_overdue", region="330100") == []
    assert gaps(flagged, "uncollected_overdue", organisation=COLLECTOR) == []
    assert code in gaps(flagged, "uncollected_overdue", region="331000")[0].batches


def test_thresholds_per_region():
    s = GapSettings(regions={"331000": {"uncollected_days": 30}, "331002": {"stored_days": 90}})
    assert s.for_region("331002").stored_days == 90
    assert s.for_region("331002").uncollected_days == 90  # county override only sets storage
    assert s.for_region("331003").uncollected_days == 30  # the city's
    assert s.for_region("330100").uncollected_days == 90

