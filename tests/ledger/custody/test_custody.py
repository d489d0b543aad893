"""Custody rules on append, on SQLite and PostgreSQL: handovers, refusals, consolidation,
disposal, permits, and the projections they keep."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ledger.custody.kinds import CustodySettings
from ledger.custody.projections import Batch, Disposal, Handover, Lineage, Manifest
from ledger.errors import Conflict, LedgerError, NotFound, PermissionDenied, RuleViolation
from ledger.tlog.models import LogEntry
from tests.ledger.custody_world import (
    COLLECTOR,
    DISPOSER,
    GENERATORS,
    MANIFEST,
    STATION,
    UNLICENSED,
    Region,
    add_generators,
    batch_code,
    description,
    make_region,
)

GEN = GENERATORS[0]


@pytest.fixture
def region(database):
    engine = database.engine()
    r = make_region(engine)
    yield r
    r.world.session.close()
    engine.dispose()


def batch(region: Region, code: str) -> Batch:
    region.world.session.rollback()
    return region.world.session.get(Batch, code)


def log_size(region: Region) -> int:
    region.world.session.rollback()
    return region.world.session.scalar(select(func.count()).select_from(LogEntry))


def refused(region: Region, call, exc_type=LedgerError, code: str | None = None):
    before = log_size(region)
    with pytest.raises(exc_type) as err:
        call()
    if code:
        assert err.value.code == code, err.value
    assert log_size(region) == before
    return err.value


def test_declare_release_accept_moves_custody_and_closes_the_manifest(region):
    code = region.declare(GEN, mass_g=120_000)
    b = batch(region, code)
    assert (b.state, b.holder, b.mass_g, b.waste_code) == ("declared", GEN, 120_000, "900-039-49")
    region.release(code, GEN, COLLECTOR, 120_000)
    assert batch(region, code).state == "pending"
    region.accept(code, GEN, COLLECTOR, 119_000)
    b = batch(region, code)
    assert (b.state, b.holder, b.mass_g) == ("stored", COLLECTOR, 119_000)
    ho = region.world.session.scalars(select(Handover)).one()
    assert (ho.status, ho.discrepancy) == ("confirmed", False)
    assert region.world.session.get(Manifest, MANIFEST).closed_at is not None


def test_receiver_may_sign_before_the_holder(region):
    code = region.declare(GEN)
    region.offer(code, GEN, COLLECTOR)  # the generator asked the collector to fetch it
    region.accept(code, GEN, COLLECTOR, 120_000)
    assert batch(region, code).holder == GEN  # not yet: one side only
    region.release(code, GEN, COLLECTOR, 120_000)
    assert (batch(region, code).holder, batch(region, code).state) == (COLLECTOR, "stored")


def test_mass_difference_beyond_tolerance_is_recorded_as_a_discrepancy(region):
    code = region.declare(GEN)
    region.hand_over(code, GEN, COLLECTOR, 120_000, accepted=100_000)
    ho = region.world.session.scalars(select(Handover)).one()
    assert ho.discrepancy and ho.status == "confirmed"
    assert batch(region, code).mass_g == 100_000  # what the receiver weighed, not absorbed


def test_only_the_holder_may_release(region):
    code = region.declare(GEN)
    refused(region, lambda: region.release(code, COLLECTOR, STATION, 1000), PermissionDenied,
            "not_holder")


def test_release_to_an_unregistered_organisation_is_refused(region):
    code = region.declare(GEN)
    refused(region, lambda: region.release(code, GEN, GENERATORS[5], 1000), NotFound,
            "org_unknown")


def test_receiver_without_a_covering_permit_is_refused(region):
    code = region.declare(GEN)
    err = refused(region, lambda: region.release(code, GEN, UNLICENSED, 120_000),
                  RuleViolation, "permit_not_covering")
    assert err.field == "data.to"


def test_permit_policy_can_flag_instead_of_refuse(database):
    engine = database.engine()
    r = make_region(engine, CustodySettings(permit_policy={"331003": "flag"}))
    code = r.declare(GEN)
    r.hand_over(code, GEN, UNLICENSED, 120_000)
    assert batch(r, code).holder == UNLICENSED
    r.world.session.close()
    engine.dispose()


def test_only_the_named_receiver_may_accept(region):
    code = region.declare(GEN)
    region.release(code, GEN, COLLECTOR, 120_000)
    refused(region, lambda: region.accept(code, GEN, STATION, 120_000), PermissionDenied,
            "not_receiver")


def test_second_release_while_one_is_open_is_a_conflict(region):
    code = region.declare(GEN)
    region.release(code, GEN, COLLECTOR, 120_000)
    refused(region, lambda: region.release(code, GEN, STATION, 120_000,
                                           manifest="20263310000002"), Conflict,
            "handover_open")


def test_refused_batch_stays_with_the_carrier_and_can_go_elsewhere(region):
    code = region.declare(GEN)
    region.hand_over(code, GEN, COLLECTOR, 120_000)
    region.release(code, COLLECTOR, DISPOSER, 120_000, manifest="20263310000002")
    region.refuse(code, COLLECTOR, DISPOSER, manifest="20263310000002")
    b = batch(region, code)
    assert (b.state, b.holder) == ("refused", COLLECTOR)
    region.hand_over(code, COLLECTOR, STATION, 120_000, manifest="20263310000003")
    assert batch(region, code).holder == STATION


def test_partial_refusal_moves_the_rest_and_records_the_refused_mass(region):
    code = region.declare(GEN)
    region.hand_over(code, GEN, COLLECTOR, 120_000)
    region.release(code, COLLECTOR, DISPOSER, 120_000, manifest="20263310000002")
    region.refuse(code, COLLECTOR, DISPOSER, refused_mass_g=20_000,
                  manifest="20263310000002")
    b = batch(region, code)
    assert (b.holder, b.mass_g, b.state) == (DISPOSER, 100_000, "received")
    ho = region.world.session.scalars(
        select(Handover).where(Handover.manifest == "20263310000002")).one()
    assert (ho.refused_mass_g, ho.accepted_mass_g, ho.refusal_reason) == (
        20_000, 100_000, "标签与实物不符")


def test_twenty_small_batches_consolidated_and_disposed(region):
    gens = GENERATORS[:20]
    add_generators(region, gens)
    codes = []
    for i, g in enumerate(gens):
        code = region.declare(g, mass_g=5_000 + 100 * i)
        region.hand_over(code, g, COLLECTOR, 5_000 + 100 * i, manifest=f"2026331000{i + 10:04d}")
        codes.append(code)
    drum = region.consolidate(COLLECTOR, [(c, 5_000 + 100 * i) for i, c in enumerate(codes)],
                              serial=1)
    s = region.world.session
    assert all(batch(region, c).state == "consolidated" for c in codes)
    links = s.scalars(select(Lineage).where(Lineage.child == drum)).all()
    assert len(links) == 20 and all(link.child_entry is not None for link in links)
    total = sum(5_000 + 100 * i for i in range(20))
    assert (batch(region, drum).mass_g, batch(region, drum).state) == (total, "stored")
    region.hand_over(drum, COLLECTOR, DISPOSER, total, manifest="20263310009999")
    region.act(DISPOSER, drum, "custody.disposed", {
        "method": "disposal", "method_code": "D10", "permit": "浙危废经第" + DISPOSER[-4:] + "号",
        "mass_g": total})
    assert batch(region, drum).state == "disposed"
    assert s.get(Disposal, drum).mass_g == total


def test_consolidation_must_balance_and_link_real_hand_offs(region):
    from ledger.custody.kinds import parent_link

    code = region.declare(GEN)
    region.hand_over(code, GEN, COLLECTOR, 120_000)
    drum = batch_code(COLLECTOR, 2)
    out = region.act(COLLECTOR, code, "custody.consolidated_out", {"into": drum,
                                                                  "mass_g": 120_000})
    heavier = {**description("900-039-49", 200_000),
               "parents": [parent_link(code, 120_000, out.leaf_hash)]}
    refused(region, lambda: region.act(COLLECTOR, drum, "batch.consolidated", heavier),
            RuleViolation, "lineage_imbalance")
    other = region.declare(GENERATORS[1])
    region.hand_over(other, GENERATORS[1], COLLECTOR, 120_000, manifest="20263310000005")
    child = batch_code(COLLECTOR, 3)
    r = region.act(COLLECTOR, other, "custody.consolidated_out", {"into": batch_code(
        COLLECTOR, 4), "mass_g": 1000})
    forged = {**description("900-039-49", 1000),
              "parents": [parent_link(other, 1000, r.leaf_hash)]}  # hand-off went elsewhere
    refused(region, lambda: region.act(COLLECTOR, child, "batch.consolidated", forged),
            RuleViolation, "lineage_broken")


def test_disposal_needs_a_covering_permit_and_the_batch_in_hand(region):
    code = region.declare(GEN)
    region.hand_over(code, GEN, DISPOSER, 120_000)
    refused(region, lambda: region.act(DISPOSER, code, "custody.disposed", {
        "method": "disposal", "method_code": "D10", "permit": "假许可证", "mass_g": 1}),
        RuleViolation, "permit_not_covering")
    refused(region, lambda: region.act(COLLECTOR, code, "custody.disposed", {
        "method": "disposal", "method_code": "D10", "permit": "x", "mass_g": 1}),
        PermissionDenied, "not_holder")


def test_declaration_rules(region):
    refused(region, lambda: region.act(GEN, batch_code(GENERATORS[1]), "batch.declared",
                                       description("900-039-49", 1000)),
            PermissionDenied, "batch_code_not_yours")
    refused(region, lambda: region.declare(GEN, waste="900-123-49"), NotFound,
            "waste_code_unknown")
    bad = {**description("900-039-49", 1000), "generated_on": "2026-09-20"}
    refused(region, lambda: region.act(GEN, batch_code(GEN), "batch.declared", bad),
            LedgerError, "date_mismatch")
    refused(region, lambda: region.act(GEN, batch_code(GEN), "batch.declared",
                                       {**description("900-039-49", 1000), "mass_g": 1.5}),
            LedgerError, "json_float")
    refused(region, lambda: region.act(COLLECTOR, batch_code(COLLECTOR), "batch.declared",
                                       description("900-039-49", 1000)),
            PermissionDenied, "role_missing")


def test_disposed_batch_is_closed(region):
    code = region.declare(GEN)
    region.hand_over(code, GEN, DISPOSER, 120_000)
    region.act(DISPOSER, code, "custody.disposed", {
        "method": "utilisation", "method_code": "R4",
        "permit": "浙危废经第" + DISPOSER[-4:] + "号", "mass_g": 120_000})
    refused(region, lambda: region.release(code, DISPOSER, COLLECTOR, 1,
                                           manifest="20263310000007"), RuleViolation,
            "batch_closed")


def test_a_trip_stays_open_while_batches_join_it(region):
    a, b = region.declare(GEN, serial=1), region.declare(GEN, serial=2)
    region.hand_over(a, GEN, COLLECTOR, 120_000)  # answered: the manifest is settled...
    region.hand_over(b, GEN, COLLECTOR, 120_000)  # ...and a second batch may still join it
    s = region.world.session
    s.rollback()
    assert s.get(Manifest, MANIFEST).closed_at is not None
    assert batch(region, b).holder == COLLECTOR


def test_an_early_answer_by_someone_else_does_not_lock_the_holder(region):
    code = region.declare(GEN)
    region.offer(code, GEN, STATION)
    region.accept(code, GEN, STATION, 120_000)  # the station answers first
    region.hand_over(code, GEN, COLLECTOR, 120_000, manifest="20263310000008")
    assert batch(region, code).holder == COLLECTOR


def test_an_unasked_answer_is_refused_and_changes_nothing(region):
    code = region.declare(GEN)
    refused(region, lambda: region.accept(code, GEN, STATION, 120_000), PermissionDenied,
            "answer_unsolicited")
    assert batch(region, code).state == "declared"
    region.offer(code, GEN, COLLECTOR)  # asked of the collector, not of the station
    refused(region, lambda: region.accept(code, GEN, STATION, 120_000), PermissionDenied,
            "answer_unsolicited")
    region.hand_over(code, GEN, COLLECTOR, 120_000)
    assert batch(region, code).holder == COLLECTOR


def test_a_trip_already_open_between_the_two_lets_the_receiver_sign_first(region):
    first, second = region.declare(GEN, serial=1), region.declare(GEN, serial=2)
    region.release(first, GEN, COLLECTOR, 120_000)  # opens manifest MANIFEST to COLLECTOR
    region.accept(second, GEN, COLLECTOR, 120_000)  # the same trip names the collector
    assert batch(region, second).state == "pending"
    refused(region, lambda: region.accept(second, GEN, STATION, 120_000), LedgerError)


def test_an_early_answer_never_blocks_the_holders_own_work(region):
    code = region.declare(GEN)
    region.hand_over(code, GEN, COLLECTOR, 120_000)
    region.offer(code, COLLECTOR, DISPOSER, manifest="20263310000002")
    region.accept(code, COLLECTOR, DISPOSER, 120_000, manifest="20263310000002")
    assert batch(region, code).state == "pending"
    # The collector pours the batch into a drum all the same: the early answer is superseded.
    drum = region.consolidate(COLLECTOR, [(code, 120_000)], serial=5)
    assert batch(region, code).state == "consolidated"
    assert batch(region, drum).holder == COLLECTOR
    statuses = region.world.session.scalars(select(Handover.status).where(
        Handover.batch == code).order_by(Handover.id)).all()
    assert statuses == ["confirmed", "superseded"]


def test_a_batch_moves_whole(region):
    code = region.declare(GEN, mass_g=120_000)
    refused(region, lambda: region.release(code, GEN, COLLECTOR, 60_000), RuleViolation,
            "mass_mismatch")


def test_catalogue_waste_cannot_be_declared_as_general(region):
    data = {**description("900-039-49", 1000), "hazardous": False}
    refused(region, lambda: region.act(GEN, batch_code(GEN), "batch.declared", data),
            RuleViolation, "hazardous_code_as_general")


def test_refused_batch_goes_back_to_its_generator(region):
    code = region.declare(GEN)
    region.hand_over(code, GEN, COLLECTOR, 120_000)
    region.release(code, COLLECTOR, DISPOSER, 120_000, manifest="20263310000002")
    region.refuse(code, COLLECTOR, DISPOSER, manifest="20263310000002")
    region.hand_over(code, COLLECTOR, GEN, 120_000, manifest="20263310000003")  # 退回
    b = batch(region, code)
    assert (b.holder, b.state) == (GEN, "declared")
    other = region.declare(GENERATORS[1])  # but a generator receives nothing else
    refused(region, lambda: region.release(other, GENERATORS[1], GEN, 120_000,
                                           manifest="20263310000004"), PermissionDenied,
            "role_missing")


def test_flag_policy_records_the_uncovered_handover(database):
    engine = database.engine()
    r = make_region(engine, CustodySettings(permit_policy={"331003": "flag"}))
    code = r.declare(GEN)
    r.hand_over(code, GEN, UNLICENSED, 120_000)
    r.world.session.rollback()
    ho = r.world.session.scalars(select(Handover)).one()
    assert ho.permit_flagged and ho.status == "confirmed"
    r.world.session.close()
    engine.dispose()


def test_a_handover_correction_needs_both_signatures(region):
    from ledger.tlog.notes import add_signature

    code = region.declare(GEN)
    region.release(code, GEN, COLLECTOR, 120_000)
    accepted = region.accept(code, GEN, COLLECTOR, 100_000)  # mis-keyed: 100 kg, not 119.5
    w = region.world
    fix = w.draft(region.keys[COLLECTOR], COLLECTOR, code, "custody.corrected", {
        "corrects": __import__("base64").b64encode(accepted.leaf_hash).decode(),
        "mass_g": 119_500, "reason": "磅单录入错误"})
    alone = w.sign(fix, region.keys[COLLECTOR])
    refused(region, lambda: w.append(alone), PermissionDenied, "cosignature_missing")
    w.append(add_signature(alone, region.keys[GEN]))  # the generator co-signs
    ho = w.session.scalars(select(Handover)).one()
    assert (ho.accepted_mass_g, ho.discrepancy) == (119_500, False)
    assert batch(region, code).mass_g == 119_500
    w.session.rollback()
    kinds = w.session.scalars(select(LogEntry.kind).where(LogEntry.stream == code)
                              .order_by(LogEntry.seq)).all()
    assert kinds[-1] == "custody.corrected" and "custody.accepted" in kinds  # nothing edited


def test_a_declaration_is_corrected_by_its_generator_alone(region):
    code = region.declare(GEN, mass_g=120_000)
    w = region.world
    first = w.session.scalars(select(LogEntry).where(LogEntry.stream == code)).one()
    region.act(GEN, code, "custody.corrected", {
        "corrects": __import__("base64").b64encode(first.leaf_hash).decode(),
        "mass_g": 125_000, "reason": "复磅"})
    b = batch(region, code)
    assert (b.declared_mass_g, b.mass_g) == (125_000, 125_000)
    refused(region, lambda: region.act(GEN, code, "custody.corrected", {
        "corrects": "A" * 43 + "=", "mass_g": 1, "reason": "x"}), RuleViolation,
        "correction_target_unknown")


def test_a_named_vehicle_must_be_registered_to_the_carrier(region):
    code = region.declare(GEN)
    refused(region, lambda: region.act(GEN, code, "custody.released", {
        "to": COLLECTOR, "mass_g": 120_000, "manifest": MANIFEST, "vehicle": "浙J·X9999"}),
        RuleViolation, "vehicle_unknown")
    refused(region, lambda: region.act(GEN, code, "custody.released", {
        "to": STATION, "mass_g": 120_000, "manifest": MANIFEST, "vehicle": "浙J·D1234"}),
        RuleViolation, "vehicle_unknown")  # the collector's truck, not the station's
    region.release(code, GEN, COLLECTOR, 120_000)  # with the collector's own truck
    s = region.world.session
    s.rollback()
    assert s.get(Manifest, MANIFEST).vehicle == "浙J·D1234"


def _withdraw(region: Region, code: str, org: str, manifest: str = MANIFEST):
    return region.act(org, code, "custody.withdrawn",
                      {"manifest": manifest, "reason": "车辆未到，改日再交"})


def test_the_holder_withdraws_its_release_before_the_answer(region):
    code = region.declare(GEN)
    region.release(code, GEN, COLLECTOR, 120_000)
    refused(region, lambda: _withdraw(region, code, STATION), PermissionDenied, "not_party")
    refused(region, lambda: _withdraw(region, code, GEN, "20263310000009"), RuleViolation,
            "handover_mismatch")
    _withdraw(region, code, GEN)
    b = batch(region, code)
    assert (b.state, b.holder, b.mass_g) == ("declared", GEN, 120_000)
    ho = region.world.session.scalars(select(Handover)).one()
    assert ho.status == "withdrawn"
    assert region.world.session.get(Manifest, MANIFEST).closed_at is not None
    # Nothing is left to withdraw, and the batch can be handed over anew.
    refused(region, lambda: _withdraw(region, code, GEN), RuleViolation, "handover_not_open")
    region.hand_over(code, GEN, COLLECTOR, 120_000, manifest="20263310000008")
    assert batch(region, code).holder == COLLECTOR
    kinds = list(region.world.session.scalars(
        select(LogEntry.kind).where(LogEntry.stream == code).order_by(LogEntry.seq)))
    assert kinds == ["batch.declared", "custody.released", "custody.withdrawn",
                     "custody.released", "custody.accepted"]


def test_a_receipt_signed_first_is_completed_or_withdrawn_by_either_side(region):
    a, b = region.declare(GEN, serial=1), region.declare(GEN, serial=2)
    region.offer(a, GEN, STATION)
    region.offer(b, GEN, STATION)
    region.accept(a, GEN, STATION, 120_000)
    region.accept(b, GEN, STATION, 120_000)
    assert batch(region, a).state == "pending"
    _withdraw(region, a, GEN)  # the holder declines to hand it over
    assert (batch(region, a).state, batch(region, a).holder) == ("declared", GEN)
    _withdraw(region, b, STATION)  # the station takes its own signature back
    assert batch(region, b).state == "declared"
    assert region.world.session.get(Manifest, MANIFEST) is None  # an answer opens none
    # A late release on the withdrawn trip starts a new handover, awaiting the station.
    region.release(a, GEN, STATION, 120_000)
    assert batch(region, a).state == "pending"
    ho = region.world.session.scalars(select(Handover).where(
        Handover.batch == a).order_by(Handover.id.desc())).first()
    assert ho.status == "awaiting_answer"


def test_a_settled_handover_cannot_be_withdrawn(region):
    code = region.declare(GEN)
    region.hand_over(code, GEN, COLLECTOR, 120_000)
    refused(region, lambda: _withdraw(region, code, COLLECTOR), RuleViolation,
            "handover_not_open")
    assert batch(region, code).holder == COLLECTOR
