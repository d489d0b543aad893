"""The transfer manifest as the 2021 办法 writes it, on SQLite and PostgreSQL: one manifest per
trip naming 移出人, 承运人 and 接收人, each signing its part (the carrier's leg:
custody.carried), and the refused part of a partial refusal taken back as a batch of its own
(batch.refused_part), returned to its enterprise or re-routed, with the balance still closing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ledger.audit.reconcile import reconcile
from ledger.custody.projections import Batch, CarrierLeg, Handover, Lineage, Manifest
from ledger.errors import (
    Conflict,
    LedgerError,
    PayloadInvalid,
    PermissionDenied,
    RuleViolation,
)
from ledger.tlog.entries import prev_field
from ledger.tlog.models import LogEntry
from ledger.tlog.rules import org_stream
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
from tests.ledger.factories import OPERATOR_ORG
from tests.ledger.reference import as_figures, reference

GEN = GENERATORS[0]


def batch(parties: Region, code: str) -> Batch:
    parties.world.session.rollback()
    return parties.world.session.get(Batch, code)


def refused(parties: Region, call, exc_type=LedgerError, code: str | None = None):
    """``call`` is refused with ``code`` and the log does not grow."""
    s = parties.world.session
    s.rollback()
    before = s.scalar(select(func.count()).select_from(LogEntry))
    with pytest.raises(exc_type) as err:
        call()
    if code:
        assert err.value.code == code, err.value
    s.rollback()
    assert s.scalar(select(func.count()).select_from(LogEntry)) == before


def release_via_carrier(parties: Region, code: str, mass_g: int = 120_000,
                        manifest: str = MANIFEST, to: str = DISPOSER) -> None:
    parties.act(GEN, code, "custody.released", {
        "to": to, "mass_g": mass_g, "manifest": manifest, "carrier": CARRIER,
        "vehicle": CARRIER_PLATE})


def test_a_carrier_signs_its_leg_without_becoming_a_holder(parties):
    add_carrier(parties)
    first, second = parties.declare(GEN, serial=1), parties.declare(GEN, serial=2,
                                                                     waste="900-041-49")
    for code in (first, second):  # one trip, one manifest, two codes
        release_via_carrier(parties, code)
        carried(parties, code, "departed")
    for code in (first, second):
        carried(parties, code, "arrived")
        parties.accept(code, GEN, DISPOSER, 120_000)
    s = parties.world.session
    s.rollback()
    for code in (first, second):
        b = s.get(Batch, code)
        assert (b.holder, b.state) == (DISPOSER, "received")
    # custody went straight from the 移出人 to the 接收人: the carrier never held anything
    assert {(h.from_org, h.to_org) for h in s.scalars(select(Handover))} == {(GEN, DISPOSER)}
    m = s.get(Manifest, MANIFEST)
    assert (m.origin, m.carrier, m.destination, m.vehicle, m.driver) == (
        GEN, CARRIER, DISPOSER, CARRIER_PLATE, "王师傅")
    assert m.closed_at is not None and m.arrived_t_ms is not None
    legs = s.scalars(select(CarrierLeg).order_by(CarrierLeg.id)).all()
    assert [(leg.batch, leg.carrier) for leg in legs] == [(first, CARRIER), (second, CARRIER)]
    assert all(leg.departed_at < leg.arrived_at for leg in legs)


def test_the_carriers_part_is_checked_on_append(parties):
    add_carrier(parties)
    code = parties.declare(GEN)
    # before the release there is nothing to carry
    refused(parties, lambda: carried(parties, code, "departed"), RuleViolation,
            "handover_not_open")
    release_via_carrier(parties, code)
    # only the carrier named on the manifest signs the transport leg
    refused(parties, lambda: carried(parties, code, "departed", carrier=COLLECTOR,
                                     vehicle="浙J·D1234"), PermissionDenied, "not_carrier")
    # a generator has no transport role
    refused(parties, lambda: carried(parties, code, "departed", carrier=GEN),
            PermissionDenied, "role_missing")
    # the vehicle must be registered to the carrier (this one is the collector's)
    refused(parties, lambda: carried(parties, code, "departed", vehicle="浙J·D1234"),
            RuleViolation, "vehicle_unknown")
    refused(parties, lambda: carried(parties, code, "departed", driver=""), PayloadInvalid,
            "field_invalid")
    refused(parties, lambda: carried(parties, code, "arrived"), RuleViolation,
            "carrier_not_departed")
    refused(parties, lambda: carried(parties, code, "departed", manifest="20263310000002"),
            RuleViolation, "handover_mismatch")
    carried(parties, code, "departed")
    refused(parties, lambda: carried(parties, code, "departed"), Conflict, "carrier_signed")
    carried(parties, code, "arrived")
    refused(parties, lambda: carried(parties, code, "arrived"), Conflict, "carrier_signed")
    parties.accept(code, GEN, DISPOSER, 120_000)
    # after the receiver's answer the leg is closed
    refused(parties, lambda: carried(parties, code, "arrived"), RuleViolation,
            "handover_not_open")


def test_the_release_names_a_carrier_with_a_transport_role_and_its_vehicle(parties):
    add_carrier(parties)
    code = parties.declare(GEN)

    def release(**data):
        return parties.act(GEN, code, "custody.released", {
            "to": DISPOSER, "mass_g": 120_000, "manifest": MANIFEST, **data})

    refused(parties, lambda: release(carrier=GENERATORS[1]), PermissionDenied, "role_missing")
    refused(parties, lambda: release(carrier=CARRIER, vehicle="浙J·D1234"), RuleViolation,
            "vehicle_unknown")
    release(carrier=CARRIER, vehicle=CARRIER_PLATE)
    other = parties.declare(GEN, serial=2)
    # the same trip cannot name another carrier
    parties.world.register_org(GENERATORS[5], "另一家运输公司", "331002", ("transporter",))
    refused(parties, lambda: parties.act(GEN, other, "custody.released", {
        "to": DISPOSER, "mass_g": 120_000, "manifest": MANIFEST, "carrier": GENERATORS[5]}),
        RuleViolation, "manifest_mismatch")


def test_a_transporter_only_vehicle_registration_is_needed(parties):
    add_carrier(parties)
    w = parties.world
    w.register_org(GENERATORS[6], "无车运输公司", "331002", ("transporter",))
    parties.keys[GENERATORS[6]] = w.register_key(GENERATORS[6], "key-novehicle")
    code = parties.declare(GEN)
    parties.act(GEN, code, "custody.released", {
        "to": DISPOSER, "mass_g": 120_000, "manifest": MANIFEST, "carrier": GENERATORS[6]})
    # no vehicle registered to it: it cannot sign a departure (道路运输 registration)
    refused(parties, lambda: carried(parties, code, "departed", carrier=GENERATORS[6]),
            RuleViolation, "vehicle_unknown")
    w.act(w.operator, OPERATOR_ORG, org_stream(GENERATORS[6]), "vehicle.registered",
          {"plate": "浙J·Z0001", "transport_permit": "浙交运管许可台字331002999号"})
    carried(parties, code, "departed", carrier=GENERATORS[6], vehicle="浙J·Z0001")


# --- the refused part of a partial refusal ----------------------------------------------------


def partly_refused(parties: Region, refused_g: int = 20_000) -> tuple[str, bytes]:
    add_carrier(parties)
    code = parties.declare(GEN)
    release_via_carrier(parties, code)
    carried(parties, code, "departed")
    carried(parties, code, "arrived")
    r = parties.refuse(code, GEN, DISPOSER, refused_mass_g=refused_g, reason="两桶渗漏")
    return code, r.leaf_hash


def take_back(parties: Region, parent: str, refusal: bytes, mass_g: int = 20_000,
              org: str = GEN, serial: int = 9) -> str:
    part = batch_code(org, serial)
    parties.act(org, part, "batch.refused_part", {
        "parent": parent, "refusal": prev_field(refusal), "mass_g": mass_g})
    return part


def balance(parties: Region, code: str):
    s = parties.world.session
    s.rollback()
    return as_figures(reference(s, [code])[code])


def test_the_refused_part_returns_to_its_enterprise_as_a_batch(parties):
    code, refusal = partly_refused(parties)
    before = balance(parties, code)
    assert (before.refused, before.received_at_disposers) == (20_000, 100_000)
    part = take_back(parties, code, refusal)
    p = batch(parties, part)
    assert (p.holder, p.generator, p.state, p.mass_g) == (GEN, GEN, "declared", 20_000)
    s = parties.world.session
    assert s.get(Lineage, (code, part)).mass_g == 20_000
    ho = s.scalars(select(Handover).where(Handover.batch == code)).one()
    assert ho.refused_part == part
    after = balance(parties, code)
    assert (after.refused, after.returned, after.received_at_disposers) == (0, 20_000, 100_000)
    rep = reconcile(s)
    assert (rep.totals.refused, rep.totals.returned, rep.totals.declared) == (0, 20_000, 120_000)
    assert rep.totals.unaccounted == 0
    # it can be collected again like any batch at its generator
    parties.hand_over(part, GEN, COLLECTOR, 20_000, manifest="20263310000002")
    assert batch(parties, part).holder == COLLECTOR
    assert balance(parties, code).in_storage == 20_000


def test_the_refused_part_is_taken_back_once_by_the_releaser_with_its_mass(parties):
    code, refusal = partly_refused(parties)
    refused(parties, lambda: take_back(parties, code, refusal, org=COLLECTOR),
            PermissionDenied, "not_holder")
    refused(parties, lambda: take_back(parties, code, refusal, mass_g=19_000), RuleViolation,
            "mass_mismatch")
    other = parties.declare(GEN, serial=3)
    refused(parties, lambda: take_back(parties, other, refusal), RuleViolation,
            "refusal_unknown")
    take_back(parties, code, refusal)
    refused(parties, lambda: take_back(parties, code, refusal, serial=10), Conflict,
            "refused_part_taken")


def test_a_collectors_refused_part_is_rerouted_with_a_signed_release(parties):
    code = parties.declare(GEN)
    parties.hand_over(code, GEN, COLLECTOR, 120_000)
    m = "20263310000002"
    parties.release(code, COLLECTOR, DISPOSER, 120_000, manifest=m)
    r = parties.refuse(code, COLLECTOR, DISPOSER, refused_mass_g=30_000, manifest=m)
    part = take_back(parties, code, r.leaf_hash, mass_g=30_000, org=COLLECTOR)
    p = batch(parties, part)
    assert (p.holder, p.generator, p.state) == (COLLECTOR, GEN, "refused")
    assert balance(parties, code).refused == 30_000
    parties.hand_over(part, COLLECTOR, DISPOSER, 30_000, manifest="20263310000003")
    after = balance(parties, code)
    assert (after.refused, after.received_at_disposers) == (0, 120_000)


@pytest.mark.parametrize("back_to_generator", [True, False])
def test_the_balance_closes_after_a_refused_part(parties, back_to_generator):
    code = parties.declare(GEN)
    parties.hand_over(code, GEN, COLLECTOR, 120_000)
    parties.release(code, COLLECTOR, DISPOSER, 120_000, manifest="20263310000002")
    r = parties.refuse(code, COLLECTOR, DISPOSER, refused_mass_g=30_000,
                       manifest="20263310000002")
    part = take_back(parties, code, r.leaf_hash, mass_g=30_000, org=COLLECTOR)
    if back_to_generator:  # 退回 to the enterprise, which accepts without a receiving role
        parties.hand_over(part, COLLECTOR, GEN, 30_000, manifest="20263310000003")
        assert batch(parties, part).state == "declared"
    s = parties.world.session
    s.rollback()
    rep = reconcile(s)
    want = as_figures(reference(s, [code])[code])
    assert rep.totals == want
    assert rep.totals.unaccounted == 0
    assert (want.returned if back_to_generator else want.refused) == 30_000
