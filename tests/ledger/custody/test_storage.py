"""HJ 1259 on append, on SQLite and PostgreSQL: storage facilities as registry data, 入库/出库
entries, the person who acted (经办人), the 利用/处置方式 list once loaded, residues of disposal
as new linked batches, and general industrial solid waste codes once a list is loaded."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ledger.custody.kinds import residue_source
from ledger.custody.projections import Batch, Residue, StorageFacility, StorageStay
from ledger.custody.reference import (
    GENERAL,
    METHODS,
    ListError,
    general_codes,
    import_list,
    method_codes,
)
from ledger.errors import Conflict, LedgerError, PermissionDenied, RuleViolation
from ledger.tlog.models import LogEntry
from ledger.tlog.rules import org_stream
from tests.ledger.custody_world import (
    COLLECTOR,
    DISPOSER,
    GENERATORS,
    STATION,
    batch_code,
    description,
)
from tests.ledger.factories import OPERATOR_ORG

GEN = GENERATORS[0]
PERMIT = "浙危废经第" + DISPOSER[-4:] + "号"

# Synthetic lists for the tests: the shape of the official tables, not their content (the
# official lists are not available to this project as data; see ledger/custody/reference.py).
METHODS_CSV = "code,name,method\nX1,测试利用方式,利用\nX2,测试处置方式,处置\n"
GENERAL_CSV = "category,code,name\nSW99,900-001-S99,测试一般固体废物\n"


def batch(parties, code: str) -> Batch:
    parties.world.session.rollback()
    return parties.world.session.get(Batch, code)


def refused(parties, call, exc_type=LedgerError, code: str | None = None):
    """The call fails with that error code and the log does not grow."""
    s = parties.world.session
    s.rollback()
    before = s.scalar(select(func.count()).select_from(LogEntry))
    with pytest.raises(exc_type) as err:
        call()
    if code:
        assert err.value.code == code, err.value
    s.rollback()
    assert s.scalar(select(func.count()).select_from(LogEntry)) == before


def facility(parties, org: str, code: str = "TS001", **extra) -> None:
    parties.act(org, org_stream(org), "facility.registered", {
        "code": code, "name": "危废仓库", "type": "贮存库", "capacity_kg": 20_000,
        **extra})


def test_a_facility_is_registered_by_its_organisation_or_the_operator(parties):
    facility(parties, GEN, handled_by="王小明")
    parties.world.act(parties.world.operator, OPERATOR_ORG, org_stream(STATION),
                      "facility.registered", {"code": "ZZ-1", "name": "中转仓库",
                                              "type": "贮存库", "capacity_kg": 500_000})
    s = parties.world.session
    rows = {(f.org, f.code): f for f in s.scalars(select(StorageFacility))}
    assert rows[(GEN, "TS001")].capacity_kg == 20_000
    assert rows[(STATION, "ZZ-1")].type == "贮存库"
    refused(parties, lambda: facility(parties, GEN), Conflict, "facility_exists")
    refused(parties, lambda: parties.act(COLLECTOR, org_stream(GEN), "facility.registered", {
        "code": "X", "name": "x", "type": "贮存库", "capacity_kg": 1}),
        PermissionDenied, "registry_forbidden")
    refused(parties, lambda: facility(parties, GEN, code="T2", type="仓库"), LedgerError,
            "field_invalid")
    refused(parties, lambda: facility(parties, GEN, code="T 2"), LedgerError, "field_invalid")
    refused(parties, lambda: facility(parties, GEN, code="T3", capacity_kg=0), LedgerError,
            "field_invalid")


def test_storage_in_and_out_are_recorded_and_release_waits_for_the_out(parties):
    facility(parties, GEN)
    code = parties.declare(GEN, mass_g=120_000)
    refused(parties, lambda: parties.act(GEN, code, "storage.in", {
        "facility": "NOPE", "mass_g": 120_000}), RuleViolation, "facility_unknown")
    parties.act(GEN, code, "storage.in", {"facility": "TS001", "mass_g": 120_000,
                                          "handled_by": "王小明"})
    refused(parties, lambda: parties.act(GEN, code, "storage.in", {
        "facility": "TS001", "mass_g": 120_000}), Conflict, "already_stored")
    refused(parties, lambda: parties.release(code, GEN, COLLECTOR, 120_000), RuleViolation,
            "in_storage")
    refused(parties, lambda: parties.act(COLLECTOR, code, "storage.out", {
        "facility": "TS001", "mass_g": 120_000}), RuleViolation, "not_stored")
    refused(parties, lambda: parties.act(GEN, code, "storage.out", {
        "facility": "TS002", "mass_g": 120_000}), RuleViolation, "facility_mismatch")
    parties.act(GEN, code, "storage.out", {"facility": "TS001", "mass_g": 119_500,
                                           "handled_by": "王小明"})
    stay = parties.world.session.scalars(select(StorageStay)).one()
    assert (stay.org, stay.facility, stay.in_mass_g, stay.out_mass_g) == (
        GEN, "TS001", 120_000, 119_500)
    parties.release(code, GEN, COLLECTOR, 120_000)  # out of storage: it may leave
    assert batch(parties, code).state == "pending"


def test_a_station_stores_what_it_received_and_consolidates_after_the_out(parties):
    facility(parties, STATION, code="ZZ-1")
    code = parties.declare(GEN)
    parties.hand_over(code, GEN, STATION, 120_000)
    parties.act(STATION, code, "storage.in", {"facility": "ZZ-1", "mass_g": 120_000})
    refused(parties, lambda: parties.act(STATION, code, "custody.consolidated_out", {
        "into": batch_code(STATION, 9), "mass_g": 120_000}), RuleViolation, "in_storage")
    # a transporter-like party that does not hold the batch cannot store it
    refused(parties, lambda: parties.act(COLLECTOR, code, "storage.in", {
        "facility": "ZZ-1", "mass_g": 1}), PermissionDenied, "not_holder")
    parties.act(STATION, code, "storage.out", {"facility": "ZZ-1", "mass_g": 120_000})
    drum = parties.consolidate(STATION, [(code, 120_000)], serial=9)
    assert batch(parties, drum).state == "stored"


def test_handled_by_must_be_a_name_when_given(parties):
    code = batch_code(GEN)
    refused(parties, lambda: parties.act(GEN, code, "batch.declared", {
        **description("900-039-49", 1000), "handled_by": ""}), LedgerError, "field_invalid")
    refused(parties, lambda: parties.act(GEN, code, "batch.declared", {
        **description("900-039-49", 1000), "handled_by": "x" * 51}), LedgerError,
        "field_invalid")
    parties.act(GEN, code, "batch.declared", {**description("900-039-49", 1000),
                                              "handled_by": "王小明"})
    parties.declare(GEN, serial=2)  # entries without it stay valid


def test_method_codes_are_checked_once_the_official_list_is_loaded(parties):
    s = parties.world.session
    first = parties.declare(GEN, serial=1)
    parties.hand_over(first, GEN, DISPOSER, 120_000)
    # before a list is loaded: any code of 1-8 characters, as before
    parties.act(DISPOSER, first, "custody.disposed", {
        "method": "disposal", "method_code": "D10", "permit": PERMIT, "mass_g": 120_000})
    assert method_codes(s) is None
    with pytest.raises(ListError):
        import_list(s, METHODS, "code,name,method\nX1,名称,焚烧\n")
    with pytest.raises(ListError):
        import_list(s, METHODS, "code,name,method\nX1,a,利用\nX1,b,处置\n")
    result = import_list(s, METHODS, METHODS_CSV, source="test fixture")
    assert (result.rows, result.created) == (2, True)
    assert import_list(s, METHODS, METHODS_CSV).created is False
    with pytest.raises(Conflict):
        import_list(s, METHODS, METHODS_CSV + "X3,另一,处置\n")
    second = parties.declare(GEN, serial=2)
    parties.hand_over(second, GEN, DISPOSER, 120_000, manifest="20263310000002")
    dispose = {"method": "disposal", "permit": PERMIT, "mass_g": 120_000}
    refused(parties, lambda: parties.act(DISPOSER, second, "custody.disposed", {
        **dispose, "method_code": "D10"}), RuleViolation, "method_code_unknown")
    refused(parties, lambda: parties.act(DISPOSER, second, "custody.disposed", {
        **dispose, "method_code": "X1"}), RuleViolation, "method_code_mismatch")
    parties.act(DISPOSER, second, "custody.disposed", {**dispose, "method_code": "X2"})
    assert batch(parties, second).state == "disposed"
    # the earlier disposal was appended before the list: a replay still accepts it
    assert method_codes(s, index=0) is None


def test_residues_are_new_batches_linked_to_the_disposals_that_produced_them(parties):
    s = parties.world.session
    a, b = parties.declare(GEN, serial=1), parties.declare(GEN, serial=2)
    receipts = {}
    for i, code in enumerate((a, b)):
        parties.hand_over(code, GEN, DISPOSER, 120_000, manifest=f"202633100000{i + 3:02d}")
        receipts[code] = parties.act(DISPOSER, code, "custody.disposed", {
            "method": "disposal", "method_code": "D10", "permit": PERMIT, "mass_g": 120_000})
    ash = f"{DISPOSER}77200318{'20260921'}001"
    data = {**description("772-003-18", 9_000), "name": "焚烧飞灰",
            "sources": [residue_source(a, receipts[a].leaf_hash),
                        residue_source(b, receipts[b].leaf_hash)]}
    wrong = {**data, "sources": [residue_source(b, receipts[a].leaf_hash)]}
    refused(parties, lambda: parties.act(DISPOSER, ash, "batch.residue", wrong), RuleViolation,
            "residue_source_invalid")
    refused(parties, lambda: parties.act(DISPOSER, ash, "batch.residue", {
        **data, "sources": []}), LedgerError, "field_invalid")
    refused(parties, lambda: parties.act(GEN, batch_code(GEN, 5), "batch.residue", {
        **description("900-039-49", 1), "sources": data["sources"]}), PermissionDenied,
        "role_missing")
    parties.act(DISPOSER, ash, "batch.residue", data)
    residue = batch(parties, ash)
    assert (residue.generator, residue.holder, residue.state, residue.mass_g) == (
        DISPOSER, DISPOSER, "declared", 9_000)
    links = {r.source: r for r in s.scalars(select(Residue).where(Residue.child == ash))}
    assert set(links) == {a, b}
    assert links[a].disposal_entry == receipts[a].index
    # the residue goes on like any batch: released to a disposer that holds a permit for it
    assert s.get(Batch, ash).category == "HW18"


def test_general_codes_are_checked_once_a_list_is_loaded(parties):
    s = parties.world.session
    general = {**description("900-001-99", 50_000), "hazardous": False, "hazards": []}
    code = batch_code(GEN, 1, "90000199")
    parties.act(GEN, code, "batch.declared", {**general, "waste_code": "900-001-99"})
    assert batch(parties, code).category == "GY"
    import_list(s, GENERAL, GENERAL_CSV)
    assert set(general_codes(s)) == {"900-001-99"}
    other = batch_code(GEN, 2, "90000299")
    refused(parties, lambda: parties.act(GEN, other, "batch.declared", {
        **general, "waste_code": "900-002-99"}), RuleViolation, "general_code_unknown")
    parties.act(GEN, batch_code(GEN, 3, "90000199"), "batch.declared",
                {**general, "waste_code": "900-001-99"})
    with pytest.raises(LedgerError):
        import_list(s, "nothing", GENERAL_CSV)
    with pytest.raises(ListError):
        from ledger.custody.reference import parse_general
        parse_general("category,code,name\nSW17,900-001-S18,x\n")


def test_a_replay_rebuilds_facilities_stays_and_residues_identically(parties):
    """Storage, the method list and residues replay as they were appended (rebuild), with
    the method list loaded between two disposals: the earlier one is still accepted."""
    from ledger.tlog.rebuild import rebuild

    s = parties.world.session
    facility(parties, GEN)
    code = parties.declare(GEN, mass_g=120_000)
    parties.act(GEN, code, "storage.in", {"facility": "TS001", "mass_g": 120_000})
    parties.act(GEN, code, "storage.out", {"facility": "TS001", "mass_g": 120_000})
    parties.hand_over(code, GEN, DISPOSER, 120_000)
    done = parties.act(DISPOSER, code, "custody.disposed", {
        "method": "disposal", "method_code": "D10", "permit": PERMIT, "mass_g": 120_000})
    import_list(s, METHODS, METHODS_CSV)
    parties.act(DISPOSER, f"{DISPOSER}77200318{'20260921'}001", "batch.residue", {
        **description("772-003-18", 9_000), "sources": [residue_source(code, done.leaf_hash)]})
    s.rollback()
    report = rebuild(s, parties.world.config, commit=False)
    assert report.identical, report.differences
