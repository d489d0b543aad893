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


def batch(parties: Region, code: str) -> Batch:
    parties.world.session.rollback()
    return parties.world.session.get(Batch, code)


def log_size(parties: Region) -> int:
    parties.world.session.rollback()
    return parties.world.session.scalar(select(func.count()).select_from(LogEntry))


def refused(parties: Region, call, exc_type=LedgerError, code: str | None = None):
    before = log_size(parties)
    with pytest.raises(exc_type) as err:
        call()
    if code:
        assert err.value.code == code, err.value
    assert log_size(parties) == before
    return err.value


def test_declare_release_accept_moves_custody_and_closes_the_manifest(parties):
    code = parties.declare(GEN, mass_g=120_000)
    b = batch(parties, code)
    assert (b.state, b.holder, b.mass_g, b.waste_code) == ("declared", GEN, 120_000, "900-039-49")
    parties.release(code, GEN, COLLECTOR, 120_000)
    assert batch(parties, code).state == "pending"
    parties.accept(code, GEN, COLLECTOR, 119_000)
    b = batch(parties, code)
    assert (b.state, b.holder, b.mass_g) == ("stored", COLLECTOR, 119_000)
    ho = parties.world.session.scalars(select(Handover)).one()
    assert (ho.status, ho.discrepancy) == ("confirmed", False)
    assert parties.world.session.get(Manifest, MANIFEST).closed_at is not None


def test_receiver_may_sign_before_the_holder(parties):
    code = parties.declare(GEN)
    parties.offer(code, GEN, COLLECTOR)  # the generator asked the collector to fetch it
    parties.accept(code, GEN, COLLECTOR, 120_000)
    assert batch(parties, code).holder == GEN  # not yet: one side only
    parties.release(code, GEN, COLLECTOR, 120_000)
    assert (batch(parties, code).holder, batch(parties, code).state) == (COLLECTOR, "stored")


def test_mass_difference_beyond_tolerance_is_recorded_as_a_discrepancy(parties):
    code = parties.declare(GEN)
    parties.hand_over(code, GEN, COLLECTOR, 120_000, accepted=100_000)
    ho = parties.world.session.scalars(select(Handover)).one()
    assert ho.discrepancy and ho.status == "confirmed"
    assert batch(parties, code).mass_g == 100_000  # what the receiver weighed, not absorbed


def test_only_the_holder_may_release(parties):
    code = parties.declare(GEN)
    refused(parties, lambda: parties.release(code, COLLECTOR, STATION, 1000), PermissionDenied,
            "not_holder")


def test_release_to_an_unregistered_organisation_is_refused(parties):
    code = parties.declare(GEN)
    refused(parties, lambda: parties.release(code, GEN, GENERATORS[5], 1000), NotFound,
            "org_unknown")


def test_receiver_without_a_covering_permit_is_refused(parties):
    code = parties.declare(GEN)
    err = refused(parties, lambda: parties.release(code, GEN, UNLICENSED, 120_000),
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


def test_only_the_named_receiver_may_accept(parties):
    code = parties.declare(GEN)
    parties.release(code, GEN, COLLECTOR, 120_000)
    refused(parties, lambda: parties.accept(code, GEN, STATION, 120_000), PermissionDenied,
            "not_receiver")


def test_second_release_while_one_is_open_is_a_conflict(parties):
    code = parties.declare(GEN)
    parties.release(code, GEN, COLLECTOR, 120_000)
    refused(parties, lambda: parties.release(code, GEN, STATION, 120_000,
                                           manifest="20263310000002"), Conflict,
            "handover_open")


def test_refused_batch_stays_with_the_carrier_and_can_go_elsewhere(parties):
    code = parties.declare(GEN)
    parties.hand_over(code, GEN, COLLECTOR, 120_000)
    parties.release(code, COLLECTOR, DISPOSER, 120_000, manifest="20263310000002")
    parties.refuse(code, COLLECTOR, DISPOSER, manifest="20263310000002")
    b = batch(parties, code)
    assert (b.state, b.holder) == ("refused", COLLECTOR)
    parties.hand_over(code, COLLECTOR, STATION, 120_000, manifest="20263310000003")
    assert batch(parties, code).holder == STATION


def test_partial_refusal_moves_the_rest_and_records_the_refused_mass(parties):
    code = parties.declare(GEN)
    parties.hand_over(code, GEN, COLLECTOR, 120_000)
    parties.release(code, COLLECTOR, DISPOSER, 120_000, manifest="20263310000002")
    parties.refuse(code, COLLECTOR, DISPOSER, refused_mass_g=20_000,
                  manifest="20263310000002")
    b = batch(parties, code)
    assert (b.holder, b.mass_g, b.state) == (DISPOSER, 100_000, "received")
    ho = parties.world.session.scalars(
        select(Handover).where(Handover.manifest == "20263310000002")).one()
    assert (ho.refused_mass_g, ho.accepted_mass_g, ho.refusal_reason) == (
        20_000, 100_000, "标签与实物不符")


def test_twenty_small_batches_consolidated_and_disposed(parties):
    gens = GENERATORS[:20]
    add_generators(parties, gens)
    codes = []
    for i, g in enumerate(gens):
        code = parties.declare(g, mass_g=5_000 + 100 * i)
        parties.hand_over(code, g, COLLECTOR, 5_000 + 100 * i, manifest=f"2026331000{i + 10:04d}")
        codes.append(code)
    drum = parties.consolidate(COLLECTOR, [(c, 5_000 + 100 * i) for i, c in enumerate(codes)],
                              serial=1)
    s = parties.world.session
    assert all(batch(parties, c).state == "consolidated" for c in codes)
    links = s.scalars(select(Lineage).where(Lineage.child == drum)).all()
    assert len(links) == 20 and all(link.child_entry is not None for link in links)
    total = sum(5_000 + 100 * i for i in range(20))
    assert (batch(parties, drum).mass_g, batch(parties, drum).state) == (total, "stored")
    parties.hand_over(drum, COLLECTOR, DISPOSER, total, manifest="20263310009999")
    parties.act(DISPOSER, drum, "custody.disposed", {
        "method": "disposal", "method_code": "D10", "permit": "浙危废经第" + DISPOSER[-4:] + "号",
        "mass_g": total})
    assert batch(parties, drum).state == "disposed"
    assert s.get(Disposal, drum).mass_g == total


def test_consolidation_must_balance_and_link_real_hand_offs(parties):
    from ledger.custody.kinds import parent_link

    code = parties.declare(GEN)
    parties.hand_over(code, GEN, COLLECTOR, 120_000)
    drum = batch_code(COLLECTOR, 2)
    out = parties.act(COLLECTOR, code, "custody.consolidated_out", {"into": drum,
                                                                  "mass_g": 120_000})
    heavier = {**description("900-039-49", 200_000),
               "parents": [parent_link(code, 120_000, out.leaf_hash)]}
    refused(parties, lambda: parties.act(COLLECTOR, drum, "batch.consolidated", heavier),
            RuleViolation, "lineage_imbalance")
    other = parties.declare(GENERATORS[1])
    parties.hand_over(other, GENERATORS[1], COLLECTOR, 120_000, manifest="20263310000005")
    child = batch_code(COLLECTOR, 3)
    r = parties.act(COLLECTOR, other, "custody.consolidated_out", {"into": batch_code(
        COLLECTOR, 4), "mass_g": 1000})
    forged = {**description("900-039-49", 1000),
              "parents": [parent_link(other, 1000, r.leaf_hash)]}  # hand-off went elsewhere
    refused(parties, lambda: parties.act(COLLECTOR, child, "batch.consolidated", forged),
            RuleViolation, "lineage_broken")


def test_disposal_needs_a_covering_permit_and_the_batch_in_hand(parties):
    code = parties.declare(GEN)
    parties.hand_over(code, GEN, DISPOSER, 120_000)
    refused(parties, lambda: parties.act(DISPOSER, code, "custody.disposed", {
        "method": "disposal", "method_code": "D10", "permit": "假许可证", "mass_g": 1}),
        RuleViolation, "permit_not_covering")
    refused(parties, lambda: parties.act(COLLECTOR, code, "custody.disposed", {
        "method": "disposal", "method_code": "D10", "permit": "x", "mass_g": 1}),
        PermissionDenied, "not_holder")


def test_declaration_rules(parties):
    refused(parties, lambda: parties.act(GEN, batch_code(GENERATORS[1]), "batch.declared",
                                       description("900-039-49", 1000)),
            PermissionDenied, "batch_code_not_yours")
    refused(parties, lambda: parties.declare(GEN, waste="900-123-49"), NotFound,
            "waste_code_unknown")
    bad = {**description("900-039-49", 1000), "generated_on": "2026-09-20"}
    refused(parties, lambda: parties.act(GEN, batch_code(GEN), "batch.declared", bad),
            LedgerError, "date_mismatch")
    refused(parties, lambda: parties.act(GEN, batch_code(GEN), "batch.declared",
                                       {**description("900-039-49", 1000), "mass_g": 1.5}),
            LedgerError, "json_float")
    refused(parties, lambda: parties.act(COLLECTOR, batch_code(COLLECTOR), "batch.declared",
                                       description("900-039-49", 1000)),
            PermissionDenied, "role_missing")


def test_disposed_batch_is_closed(parties):
    code = parties.declare(GEN)
    parties.hand_over(code, GEN, DISPOSER, 120_000)
    parties.act(DISPOSER, code, "custody.disposed", {
        "method": "utilisation", "method_code": "R4",
        "permit": "浙危废经第" + DISPOSER[-4:] + "号", "mass_g": 120_000})
    refused(parties, lambda: parties.release(code, DISPOSER, COLLECTOR, 1,
                                           manifest="20263310000007"), RuleViolation,
            "batch_closed")


def test_a_trip_stays_open_while_batches_join_it(parties):
    a, b = parties.declare(GEN, serial=1), parties.declare(GEN, serial=2)
    parties.hand_over(a, GEN, COLLECTOR, 120_000)  # answered: the manifest is settled...
    parties.hand_over(b, GEN, COLLECTOR, 120_000)  # ...and a second batch may still join it
    s = parties.world.session
    s.rollback()
    assert s.get(Manifest, MANIFEST).closed_at is not None
    assert batch(parties, b).holder == COLLECTOR


def test_an_early_answer_by_someone_else_does_not_lock_the_holder(parties):
    code = parties.declare(GEN)
    parties.offer(code, GEN, STATION)
    parties.accept(code, GEN, STATION, 120_000)  # the station answers first
    parties.hand_over(code, GEN, COLLECTOR, 120_000, manifest="20263310000008")
    assert batch(parties, code).holder == COLLECTOR


def test_an_unasked_answer_is_refused_and_changes_nothing(parties):
    code = parties.declare(GEN)
    refused(parties, lambda: parties.accept(code, GEN, STATION, 120_000), PermissionDenied,
            "answer_unsolicited")
    assert batch(parties, code).state == "declared"
    parties.offer(code, GEN, COLLECTOR)  # asked of the collector, not of the station
    refused(parties, lambda: parties.accept(code, GEN, STATION, 120_000), PermissionDenied,
            "answer_unsolicited")
    parties.hand_over(code, GEN, COLLECTOR, 120_000)
    assert batch(parties, code).holder == COLLECTOR


def test_a_trip_already_open_between_the_two_lets_the_receiver_sign_first(parties):
    first, second = parties.declare(GEN, serial=1), parties.declare(GEN, serial=2)
    parties.release(first, GEN, COLLECTOR, 120_000)  # opens manifest MANIFEST to COLLECTOR
    parties.accept(second, GEN, COLLECTOR, 120_000)  # the same trip names the collector
    assert batch(parties, second).state == "pending"
    refused(parties, lambda: parties.accept(second, GEN, STATION, 120_000), LedgerError)


def test_an_early_answer_never_blocks_the_holders_own_work(parties):
    code = parties.declare(GEN)
    parties.hand_over(code, GEN, COLLECTOR, 120_000)
    parties.offer(code, COLLECTOR, DISPOSER, manifest="20263310000002")
    parties.accept(code, COLLECTOR, DISPOSER, 120_000, manifest="20263310000002")
    assert batch(parties, code).state == "pending"
    # The collector pours the batch into a drum all the same: the early answer is superseded.
    drum = parties.consolidate(COLLECTOR, [(code, 120_000)], serial=5)
    assert batch(parties, code).state == "consolidated"
    assert batch(parties, drum).holder == COLLECTOR
    statuses = parties.world.session.scalars(select(Handover.status).where(
        Handover.batch == code).order_by(Handover.id)).all()
    assert statuses == ["confirmed", "superseded"]


def test_a_batch_moves_whole(parties):
    code = parties.declare(GEN, mass_g=120_000)
    refused(parties, lambda: parties.release(code, GEN, COLLECTOR, 60_000), RuleViolation,
            "mass_mismatch")


def test_catalogue_waste_cannot_be_declared_as_general(parties):
    data = {**description("900-039-49", 1000), "hazardous": False}
    refused(parties, lambda: parties.act(GEN, batch_code(GEN), "batch.declared", data),
            RuleViolation, "hazardous_code_as_general")


def test_refused_batch_goes_back_to_its_generator(parties):
    code = parties.declare(GEN)
    parties.hand_over(code, GEN, COLLECTOR, 120_000)
    parties.release(code, COLLECTOR, DISPOSER, 120_000, manifest="20263310000002")
    parties.refuse(code, COLLECTOR, DISPOSER, manifest="20263310000002")
    parties.hand_over(code, COLLECTOR, GEN, 120_000, manifest="20263310000003")  # 退回
    b = batch(parties, code)
    assert (b.holder, b.state) == (GEN, "declared")
    other = parties.declare(GENERATORS[1])  # but a generator receives nothing else
    refused(parties, lambda: parties.release(other, GENERATORS[1], GEN, 120_000,
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


def test_a_handover_correction_needs_both_signatures(parties):
    from ledger.tlog.notes import add_signature

    code = parties.declare(GEN)
    parties.release(code, GEN, COLLECTOR, 120_000)
    accepted = parties.accept(code, GEN, COLLECTOR, 100_000)  # mis-keyed: 100 kg, not 119.5
    w = parties.world
    fix = w.draft(parties.keys[COLLECTOR], COLLECTOR, code, "custody.corrected", {
        "corrects": __import__("base64").b64encode(accepted.leaf_hash).decode(),
        "mass_g": 119_500, "reason": "磅单录入错误"})
    alone = w.sign(fix, parties.keys[COLLECTOR])
    refused(parties, lambda: w.append(alone), PermissionDenied, "cosignature_missing")
    w.append(add_signature(alone, parties.keys[GEN]))  # the generator co-signs
    ho = w.session.scalars(select(Handover)).one()
    assert (ho.accepted_mass_g, ho.discrepancy) == (119_500, False)
    assert batch(parties, code).mass_g == 119_500
    w.session.rollback()
    kinds = w.session.scalars(select(LogEntry.kind).where(LogEntry.stream == code)
                              .order_by(LogEntry.seq)).all()
    assert kinds[-1] == "custody.corrected" and "custody.accepted" in kinds  # nothing edited


def test_a_declaration_is_corrected_by_its_generator_alone(parties):
    code = parties.declare(GEN, mass_g=120_000)
    w = parties.world
    first = w.session.scalars(select(LogEntry).where(LogEntry.stream == code)).one()
    parties.act(GEN, code, "custody.corrected", {
        "corrects": __import__("base64").b64encode(first.leaf_hash).decode(),
        "mass_g": 125_000, "reason": "复磅"})
    b = batch(parties, code)
    assert (b.declared_mass_g, b.mass_g) == (125_000, 125_000)
    refused(parties, lambda: parties.act(GEN, code, "custody.corrected", {
        "corrects": "A" * 43 + "=", "mass_g": 1, "reason": "x"}), RuleViolation,
        "correction_target_unknown")


def test_a_named_vehicle_must_be_registered_to_the_carrier(parties):
    code = parties.declare(GEN)
    refused(parties, lambda: parties.act(GEN, code, "custody.released", {
        "to": COLLECTOR, "mass_g": 120_000, "manifest": MANIFEST, "vehicle": "浙J·X9999"}),
        RuleViolation, "vehicle_unknown")
    refused(parties, lambda: parties.act(GEN, code, "custody.released", {
        "to": STATION, "mass_g": 120_000, "manifest": MANIFEST, "vehicle": "浙J·D1234"}),
        RuleViolation, "vehicle_unknown")  # the collector's truck, not the station's
    parties.release(code, GEN, COLLECTOR, 120_000)  # with the collector's own truck
    s = parties.world.session
    s.rollback()
    assert s.get(Manifest, MANIFEST).vehicle == "浙J·D1234"


def _withdraw(parties: Region, code: str, org: str, manifest: str = MANIFEST):
    return parties.act(org, code, "custody.withdrawn",
                      {"manifest": manifest, "reason": "车辆未到，改日再交"})


def test_the_holder_withdraws_its_release_before_the_answer(parties):
    code = parties.declare(GEN)
    parties.release(code, GEN, COLLECTOR, 120_000)
    refused(parties, lambda: _withdraw(parties, code, STATION), PermissionDenied, "not_party")
    refused(parties, lambda: _withdraw(parties, code, GEN, "20263310000009"), RuleViolation,
            "handover_mismatch")
    _withdraw(parties, code, GEN)
    b = batch(parties, code)
    assert (b.state, b.holder, b.mass_g) == ("declared", GEN, 120_000)
    ho = parties.world.session.scalars(select(Handover)).one()
    assert ho.status == "withdrawn"
    assert parties.world.session.get(Manifest, MANIFEST).closed_at is not None
    # Nothing is left to withdraw, and the batch can be handed over anew.
    refused(parties, lambda: _withdraw(parties, code, GEN), RuleViolation, "handover_not_open")
    parties.hand_over(code, GEN, COLLECTOR, 120_000, manifest="20263310000008")
    assert batch(parties, code).holder == COLLECTOR
    kinds = list(parties.world.session.scalars(
        select(LogEntry.kind).where(LogEntry.stream == code).order_by(LogEntry.seq)))
    assert kinds == ["batch.declared", "custody.released", "custody.withdrawn",
                     "custody.released", "custody.accepted"]


def test_a_receipt_signed_first_is_completed_or_withdrawn_by_either_side(parties):
    a, b = parties.declare(GEN, serial=1), parties.declare(GEN, serial=2)
    parties.offer(a, GEN, STATION)
    parties.offer(b, GEN, STATION)
    parties.accept(a, GEN, STATION, 120_000)
    parties.accept(b, GEN, STATION, 120_000)
    assert batch(parties, a).state == "pending"
    _withdraw(parties, a, GEN)  # the holder declines to hand it over
    assert (batch(parties, a).state, batch(parties, a).holder) == ("declared", GEN)
    _withdraw(parties, b, STATION)  # the station takes its own signature back
    assert batch(parties, b).state == "declared"
    assert parties.world.session.get(Manifest, MANIFEST) is None  # an answer opens none
    # A late release on the withdrawn trip starts a new handover, awaiting the station.
    parties.release(a, GEN, STATION, 120_000)
    assert batch(parties, a).state == "pending"
    ho = parties.world.session.scalars(select(Handover).where(
        Handover.batch == a).order_by(Handover.id.desc())).first()
    assert ho.status == "awaiting_answer"


def test_a_settled_handover_cannot_be_withdrawn(parties):
    code = parties.declare(GEN)
    parties.hand_over(code, GEN, COLLECTOR, 120_000)
    refused(parties, lambda: _withdraw(parties, code, COLLECTOR), RuleViolation,
            "handover_not_open")
    assert batch(parties, code).holder == COLLECTOR
