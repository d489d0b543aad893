"""The gap ``refused_part_unresolved`` (拒收部分逾期未退回或改送预警), on SQLite and PostgreSQL:
found when the refused part of a partial refusal is left (never taken back, or taken back by a
collector and never released on), resolved late when it moved after its due time, silent when
it was returned or re-routed in time, and its threshold set per region."""

from __future__ import annotations

from ledger.audit.gaps import DAY, HOUR, GapQuery, GapSettings, find_gaps, get_gap
from ledger.tlog.entries import prev_field
from tests.ledger.custody_world import (
    CARRIER,
    CARRIER_PLATE,
    COLLECTOR,
    DISPOSER,
    GENERATORS,
    MANIFEST,
    Region,
    add_carrier,
    batch_code,
    carried,
)

GEN = GENERATORS[0]
KIND = "refused_part_unresolved"
DEFAULT = GapSettings()


def found(r: Region, settings: GapSettings = DEFAULT, **kw) -> list:
    r.world.session.rollback()
    q = GapQuery(now_ms=r.world.clock.ms, **kw)
    return [g for g in find_gaps(r.world.session, q, settings) if g.type == KIND]


def later(r: Region, ms: int) -> None:
    r.world.clock.ms += ms


def partly_refused_by_carrier(r: Region) -> tuple[str, bytes]:
    """The enterprise sends straight to the disposer with a carrier; 20 kg are refused."""
    add_carrier(r)
    code = r.declare(GEN)
    r.act(GEN, code, "custody.released", {"to": DISPOSER, "mass_g": 120_000,
                                           "manifest": MANIFEST, "carrier": CARRIER,
                                           "vehicle": CARRIER_PLATE})
    carried(r, code, "departed")
    carried(r, code, "arrived")
    got = r.refuse(code, GEN, DISPOSER, refused_mass_g=20_000, reason="两桶渗漏")
    return code, got.leaf_hash


def take_back(r: Region, parent: str, refusal: bytes, org: str, mass_g: int = 20_000) -> str:
    part = batch_code(org, 9)
    r.act(org, part, "batch.refused_part", {"parent": parent, "refusal": prev_field(refusal),
                                            "mass_g": mass_g})
    return part


def test_a_refused_part_left_is_found_and_silent_before_it_is_due(parties):
    code, _ = partly_refused_by_carrier(parties)
    later(parties, 13 * DAY)
    assert found(parties) == []  # not yet due
    later(parties, 2 * DAY)
    (gap,) = found(parties)
    assert gap.status == "open" and gap.batches == (code,) and gap.severity == "medium"
    assert set(gap.organisations) == {GEN, DISPOSER}
    assert gap.detail["refused_mass_g"] == 20_000 and gap.detail["refused_part"] is None
    assert gap.detail["threshold_days"] == 14
    parties.world.session.rollback()
    again = get_gap(parties.world.session, gap.id, GapQuery(now_ms=parties.world.clock.ms),
                    GapSettings())
    assert again == gap
    # the enterprise's own filter finds it (it is the 移出人 and the generator)
    assert found(parties, organisation=GEN) == [gap]


def test_returned_in_time_is_silent_and_late_is_resolved_by_the_take_back(parties):
    code, refusal = partly_refused_by_carrier(parties)
    later(parties, 3 * HOUR)
    take_back(parties, code, refusal, GEN)  # back with its enterprise: returned
    later(parties, 60 * DAY)
    assert found(parties) == []
    other = parties.declare(GEN, serial=2)
    parties.act(GEN, other, "custody.released", {"to": DISPOSER, "mass_g": 120_000,
                                                  "manifest": "20263310000005",
                                                  "carrier": CARRIER, "vehicle": CARRIER_PLATE})
    r = parties.refuse(other, GEN, DISPOSER, refused_mass_g=10_000,
                       manifest="20263310000005")
    later(parties, 20 * DAY)
    part = batch_code(GEN, 11)
    parties.act(GEN, part, "batch.refused_part", {"parent": other,
                                                  "refusal": prev_field(r.leaf_hash),
                                                  "mass_g": 10_000})
    (gap,) = found(parties)
    assert gap.batches == (other,) and gap.status == "resolved"
    assert gap.resolved_ms == parties.world.clock.ms


def test_a_collectors_part_counts_until_it_is_released_on(parties):
    code = parties.declare(GEN)
    parties.hand_over(code, GEN, COLLECTOR, 120_000)
    m = "20263310000002"
    parties.release(code, COLLECTOR, DISPOSER, 120_000, manifest=m)
    r = parties.refuse(code, COLLECTOR, DISPOSER, refused_mass_g=30_000, manifest=m)
    later(parties, HOUR)
    part = take_back(parties, code, r.leaf_hash, COLLECTOR, mass_g=30_000)
    later(parties, 15 * DAY)
    (gap,) = found(parties)  # taken back by the collector, neither returned nor re-routed
    assert gap.status == "open" and gap.detail["refused_part"] == part
    parties.hand_over(part, COLLECTOR, DISPOSER, 30_000, manifest="20263310000003")  # re-routed
    (gap,) = found(parties)
    assert gap.status == "resolved" and gap.resolved_ms == parties.world.clock.ms


def test_in_time_re_routing_is_silent_and_the_threshold_is_per_region(parties):
    code = parties.declare(GEN)
    parties.hand_over(code, GEN, COLLECTOR, 120_000)
    m = "20263310000002"
    parties.release(code, COLLECTOR, DISPOSER, 120_000, manifest=m)
    r = parties.refuse(code, COLLECTOR, DISPOSER, refused_mass_g=30_000, manifest=m)
    later(parties, 2 * DAY)
    part = take_back(parties, code, r.leaf_hash, COLLECTOR, mass_g=30_000)
    parties.hand_over(part, COLLECTOR, DISPOSER, 30_000, manifest="20263310000003")
    later(parties, 90 * DAY)
    assert found(parties) == []
    strict = GapSettings(regions={"331002": {"refused_part_days": 1}})
    (gap,) = found(parties, strict)
    assert gap.status == "resolved" and gap.detail["threshold_days"] == 1
    assert found(parties, strict, region="330100") == []
