"""The exemption list (危险废物豁免管理清单) in the permit rule, on SQLite and PostgreSQL.

A release or acceptance may claim a row of the list for the stage the receiver performs; the
signed condition is the parties' statement; the permit is then not required for that stage. A
claim whose stage the receiver does not perform, or that the receiver does not carry out, is
recorded and becomes the gap ``exemption_misfit``. Every row of the 2021 list concerning a
stage this product records (收集, 运输, 利用, 处置) is exercised."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from ledger.audit.gaps import GapQuery, GapSettings, find_gaps
from ledger.custody.catalogue import Exemption, load_catalogue
from ledger.custody.exemptions import ExemptionClaim
from ledger.custody.projections import Batch, Disposal, Handover
from ledger.custody.uscc import make_uscc
from ledger.errors import LedgerError, NotFound, PayloadInvalid, RuleViolation
from ledger.tlog.models import LogEntry
from ledger.tlog.rebuild import rebuild
from tests.ledger.custody_world import (
    COLLECTOR,
    DAY,
    DISPOSER,
    GENERATORS,
    UNLICENSED,
    Region,
    description,
    make_region,
)

GEN = GENERATORS[0]
DROSS = "321-026-48"  # 铝灰渣
SMELTER = UNLICENSED  # a disposer with no hazardous waste permit: utilises under item 22
UNLICENSED_COLLECTOR = make_uscc("331002", 301)
CARRIER = make_uscc("331002", 302)
CAT = load_catalogue("2021")


def claim(row: Exemption, stage: str, **extra: Any) -> dict[str, Any]:
    body = {"edition": "2021", "item": row.seq, "row": row.row, "stage": stage,
            "condition": row.condition}
    if not row.names_code:
        body["basis"] = "台州市生态环境局 处置方案 2026-01"
    return {**body, **extra}


ALUMINIUM = claim(CAT.exemption(22), "利用")


@pytest.fixture
def exempt(database):
    engine = database.engine()
    r = make_region(engine)
    for org, role in ((UNLICENSED_COLLECTOR, "collector"), (CARRIER, "transporter")):
        r.world.register_org(org, f"单位{org[-4:]}", "331002", (role,))
        r.keys[org] = r.world.register_key(org, f"key-{org[-6:]}")
    yield r
    r.world.session.close()
    engine.dispose()


def declare(exempt: Region, waste: str, serial: int = 1) -> str:
    code = f"{GEN}{waste.replace('-', '')}{DAY}{serial:03d}"
    exempt.act(GEN, code, "batch.declared", description(waste, 50_000))
    return code


def release(exempt: Region, code: str, to: str, exemption: dict[str, Any] | None = None,
            frm: str = GEN, manifest: str = "20263310000001"):
    data: dict[str, Any] = {"to": to, "mass_g": 50_000, "manifest": manifest}
    if exemption is not None:
        data["exemption"] = exemption
    return exempt.act(frm, code, "custody.released", data)


def accept(exempt: Region, code: str, to: str, exemption: dict[str, Any] | None = None,
           frm: str = GEN, manifest: str = "20263310000001"):
    data: dict[str, Any] = {"from": frm, "mass_g": 50_000, "manifest": manifest}
    if exemption is not None:
        data["exemption"] = exemption
    return exempt.act(to, code, "custody.accepted", data)


def dispose(exempt: Region, code: str, org: str, method: str = "utilisation",
            **extra: Any):
    return exempt.act(org, code, "custody.disposed",
                      {"method": method, "method_code": "R4", "mass_g": 50_000, **extra})


def log_size(exempt: Region) -> int:
    exempt.world.session.rollback()
    return exempt.world.session.scalar(select(func.count()).select_from(LogEntry))


def refused(exempt: Region, call, exc_type, code: str) -> LedgerError:
    before = log_size(exempt)
    with pytest.raises(exc_type) as err:
        call()
    assert err.value.code == code, err.value
    assert log_size(exempt) == before
    return err.value


def claims(exempt: Region) -> list[ExemptionClaim]:
    exempt.world.session.rollback()
    return list(exempt.world.session.scalars(select(ExemptionClaim).order_by(ExemptionClaim.id)))


def misfits(exempt: Region) -> list[Any]:
    q = GapQuery(now_ms=exempt.world.clock.ms, types=frozenset({"exemption_misfit"}))
    return find_gaps(exempt.world.session, q, GapSettings())


# --- 铝灰渣 to a smelter that recovers aluminium (2021 list item 22) ----------------------------


def test_aluminium_dross_goes_to_a_smelter_under_the_utilisation_exemption(exempt):
    code = declare(exempt, DROSS)
    err = refused(exempt, lambda: release(exempt, code, SMELTER), RuleViolation,
                  "permit_not_covering")
    assert err.field == "data.to"
    release(exempt, code, SMELTER, ALUMINIUM)
    accept(exempt, code, SMELTER)
    s = exempt.world.session
    b = s.get(Batch, code)
    assert (b.state, b.holder) == ("received", SMELTER)
    assert not s.scalars(select(Handover)).one().permit_flagged
    dispose(exempt, code, SMELTER, exemption=ALUMINIUM)  # no permit named
    s.rollback()
    assert s.get(Batch, code).state == "disposed"
    assert s.get(Disposal, code).permit == ""
    on_handover, on_disposal = claims(exempt)
    assert (on_handover.item, on_handover.row, on_handover.stage, on_handover.org) == (
        22, 1, "利用", SMELTER)
    assert (on_handover.by_release, on_handover.by_answer, on_handover.fits) == (
        True, False, True)
    assert on_disposal.disposal_entry is not None and on_disposal.fits
    assert misfits(exempt) == []
    report = rebuild(s, exempt.world.config, commit=False)  # a replay claims the same
    assert report.identical, report.differences


def test_the_receiver_may_claim_first_and_both_claims_must_agree(exempt):
    code = declare(exempt, DROSS)
    exempt.offer(code, GEN, SMELTER)  # asked to fetch it, the smelter may sign first
    accept(exempt, code, SMELTER, ALUMINIUM)  # the smelter signs first, claiming item 22
    release(exempt, code, SMELTER)  # the generator's release stands under that claim
    (row,) = claims(exempt)
    assert (row.by_release, row.by_answer, row.fits) == (False, True, True)
    other = declare(exempt, DROSS, serial=2)
    exempt.offer(other, GEN, SMELTER, manifest="20263310000002")
    accept(exempt, other, SMELTER, ALUMINIUM, manifest="20263310000002")
    refused(exempt, lambda: release(exempt, other, SMELTER,
                                    claim(CAT.exemption(22), "利用", item=9),
                                    manifest="20263310000002"),
            RuleViolation, "exemption_not_for_code")


@pytest.mark.parametrize(("override", "exc", "code"), [
    ({"condition": "回收金属铝"}, RuleViolation, "exemption_condition_mismatch"),
    ({"edition": "2025"}, RuleViolation, "exemption_edition_mismatch"),
    ({"item": 8}, RuleViolation, "exemption_not_for_code"),
    ({"item": 99}, NotFound, "exemption_unknown"),
    ({"row": 2}, NotFound, "exemption_unknown"),
    ({"stage": "运输"}, RuleViolation, "exemption_stage_invalid"),
    ({"stage": "贮存"}, PayloadInvalid, "exemption_invalid"),
    ({"item": "22"}, PayloadInvalid, "exemption_invalid"),
    ({"extra": 1}, PayloadInvalid, "exemption_invalid"),
])
def test_a_claim_that_does_not_match_the_list_is_refused(exempt, override, exc, code):
    batch = declare(exempt, DROSS)
    refused(exempt, lambda: release(exempt, batch, SMELTER, {**ALUMINIUM, **override}),
            exc, code)
    assert claims(exempt) == []


def test_rows_without_a_code_need_the_basis(exempt):
    code = declare(exempt, "900-039-49")
    point_to_point = CAT.exemption(32)
    body = claim(point_to_point, "利用")
    del body["basis"]
    refused(exempt, lambda: release(exempt, code, SMELTER, body), PayloadInvalid,
            "exemption_basis_missing")
    release(exempt, code, SMELTER, claim(point_to_point, "利用"))


def test_a_claim_whose_stage_the_receiver_does_not_do_is_a_gap(exempt):
    code = declare(exempt, DROSS)
    # The collector's permit covers 321-026-48 for collection: accepted, but 利用 is not what a
    # collector does, so the claim is recorded as not fitting.
    release(exempt, code, COLLECTOR, ALUMINIUM)
    accept(exempt, code, COLLECTOR)
    (row,) = claims(exempt)
    assert (row.fits, row.misfit) == (False, "receiver_not_stage")
    (gap,) = misfits(exempt)
    assert gap.batches == (code,) and gap.organisations == (COLLECTOR,)
    assert gap.detail == {"edition": "2021", "item": 22, "row": 1, "stage": "利用",
                          "reason": "receiver_not_stage"}
    # Without a permit, a claim that does not fit excuses nothing.
    other = declare(exempt, DROSS, serial=2)
    err = refused(exempt, lambda: release(exempt, other, UNLICENSED_COLLECTOR, ALUMINIUM,
                                          manifest="20263310000002"),
                  RuleViolation, "permit_not_covering")
    assert "利用" in err.message


def test_a_smelter_that_passes_the_dross_on_did_not_utilise_it(exempt):
    code = declare(exempt, DROSS)
    release(exempt, code, SMELTER, ALUMINIUM)
    accept(exempt, code, SMELTER)
    assert misfits(exempt) == []
    release(exempt, code, DISPOSER, frm=SMELTER, manifest="20263310000002")
    (gap,) = misfits(exempt)
    assert gap.detail["reason"] == "stage_not_done" and len(gap.entries) == 2


def test_a_utilisation_claim_disposed_of_by_another_method_is_a_gap(exempt):
    code = declare(exempt, DROSS)
    release(exempt, code, DISPOSER, ALUMINIUM)  # DISPOSER also holds a permit
    accept(exempt, code, DISPOSER)
    refused(exempt, lambda: dispose(exempt, code, DISPOSER, "disposal", exemption=ALUMINIUM),
            RuleViolation, "exemption_stage_invalid")
    dispose(exempt, code, DISPOSER, "disposal", permit=f"浙危废经第{DISPOSER[-4:]}号")
    (gap,) = misfits(exempt)
    assert gap.detail["reason"] == "stage_not_done"


def test_disposal_without_permit_or_exemption_is_still_refused(exempt):
    code = declare(exempt, DROSS)
    release(exempt, code, SMELTER, ALUMINIUM)
    accept(exempt, code, SMELTER)
    refused(exempt, lambda: dispose(exempt, code, SMELTER), PayloadInvalid, "field_invalid")
    refused(exempt, lambda: dispose(exempt, code, SMELTER, permit="无"), RuleViolation,
            "permit_not_covering")


# --- every row of the 2021 list that concerns a stage this product records -------------------

RECEIVER_FOR_STAGE = {"收集": UNLICENSED_COLLECTOR, "运输": CARRIER, "利用": SMELTER,
                      "处置": SMELTER}
METHOD_FOR_STAGE = {"利用": "utilisation", "处置": "disposal"}


def code_for(row: Exemption) -> str:
    if row.codes:
        return row.codes[0]
    if row.categories:
        return CAT.codes(row.categories[0])[0].code
    return "900-039-49"  # rows about an origin apply to whatever waste has it


def test_every_exemption_row_lifts_the_permit_for_its_stages(exempt):
    serials: Counter[str] = Counter()
    exercised = []
    for row in CAT.exemptions():
        for stage in sorted(row.stages):
            waste = code_for(row)
            serials[waste] += 1
            code = declare(exempt, waste, serials[waste])
            body = claim(row, stage)
            manifest = f"2026331{len(exercised) + 1:07d}"
            receiver = RECEIVER_FOR_STAGE[stage]
            release(exempt, code, receiver, body, manifest=manifest)
            accept(exempt, code, receiver, manifest=manifest)
            if stage in METHOD_FOR_STAGE:
                dispose(exempt, code, receiver, METHOD_FOR_STAGE[stage], exemption=body)
            exercised.append((row.seq, row.row, stage))
    rows = claims(exempt)
    handover_claims = [c for c in rows if c.handover_entry is not None]
    assert [(c.item, c.row, c.stage) for c in handover_claims] == exercised
    assert all(c.fits for c in rows), [(c.item, c.stage, c.misfit) for c in rows]
    assert {(e.seq, e.row) for e in CAT.exemptions()} == {(i, r) for i, r, _ in exercised}
    assert len(exercised) == 71
    assert not exempt.world.session.scalar(
        select(func.count()).select_from(Handover).where(Handover.permit_flagged))
