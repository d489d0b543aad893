"""The custody domain: what each kind of entry means and when it is allowed (全过程监管).

Each kind has a handler that runs inside the append transaction (see ``ledger.tlog.log``): it
checks the kind's data and the custody rules against the projections, then updates them. A
rule that fails raises a specific error and the whole append is rolled back.

Custody moves only by a two-sided handover: the holder signs ``custody.released`` (to whom,
mass, manifest) and the receiver signs ``custody.accepted`` (the mass it weighed) or
``custody.refused``, in either order. docs/custody.md has the state machine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.clock import beijing_day
from ledger.custody.catalogue import is_identified_code, normalise_waste_code
from ledger.custody.codes import (
    BatchCode,
    check_manifest_issued_for,
    parse_batch_code,
    parse_manifest_number,
    region_contains,
    validate_region,
)
from ledger.custody.containers import check_one_code
from ledger.custody.editions import EditionInfo, catalogue, edition_for, editions, waste_entry
from ledger.custody.exemptions import (
    METHOD_STAGES,
    MISFIT_NOT_DONE,
    MISFIT_ROLE,
    TERMINAL_STAGES,
    Claim,
    ExemptionClaim,
    check_claim,
    handover_entry,
    parse_claim,
    stage_fits,
)
from ledger.custody.permits import covering_permit, permit_covers
from ledger.custody.pickups import PickupItem, PickupRequest
from ledger.custody.projections import (
    Batch,
    CarrierLeg,
    Disposal,
    Handover,
    Lineage,
    Manifest,
    Organisation,
    Permit,
    Residue,
    StorageFacility,
    StorageStay,
    Vehicle,
)
from ledger.custody.reference import general_codes, method_codes
from ledger.custody.uscc import validate_uscc
from ledger.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PayloadInvalid,
    PermissionDenied,
    RuleViolation,
)
from ledger.tlog.entries import Entry, prev_field
from ledger.tlog.log import AppendContext, KindHandler
from ledger.tlog.models import LogEntry
from ledger.tlog.notes import unb64
from ledger.tlog.rules import ORG_STREAM_PREFIX

ROLES = frozenset({"generator", "collector", "transporter", "receiver", "disposer",
                   "regulator", "operator"})
ACTIVITIES = frozenset({"collect", "store", "utilise", "dispose"})
FORMS = frozenset({"solid", "semi_solid", "liquid", "gas"})
HAZARDS = ("T", "C", "I", "R", "In")
MAX_MASS_G = 10**12  # a million tonnes: anything larger is a typo

# Batch states
DECLARED = "declared"  # with its generator
PENDING = "pending"  # a handover has one side signed
STORED = "stored"  # at a collector or transfer station
IN_TRANSIT = "in_transit"  # with a transporter
RECEIVED = "received"  # at a disposer, awaiting disposal
REFUSED = "refused"  # refused, with the carrier
CONSOLIDATED = "consolidated"  # all its mass went into other batches
DISPOSED = "disposed"
WITHDRAWN = "withdrawn"  # 已撤回: withdrawn by its generator before anyone else signed
FINAL_STATES = frozenset({CONSOLIDATED, DISPOSED, WITHDRAWN})
RECEIVING_ROLES = {"collector", "transporter", "receiver", "disposer"}
HOLDING_ROLES = {"collector", "receiver", "disposer"}  # may consolidate or split


@dataclass(frozen=True)
class CustodySettings:
    """Domain policy: mass tolerance and, per region, what to do when a permit does not fit."""

    tolerance_permille: int = 50  # 5 %
    permit_policy: Mapping[str, str] = field(default_factory=dict)  # region -> refuse | flag

    def policy_for(self, region: str) -> str:
        return self.permit_policy.get(region, self.permit_policy.get("*", "refuse"))


# --- data validation helpers --------------------------------------------------------------


def _str(data: Mapping[str, Any], key: str, *, max_len: int = 200, required: bool = True,
         allow_empty: bool = False) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (not value.strip() and not allow_empty) or len(
        value
    ) > max_len:
        raise PayloadInvalid(f"data.{key} must be text of 1-{max_len} characters",
                             code="field_invalid", field=f"data.{key}")
    return value


def _mass(data: Mapping[str, Any], key: str = "mass_g", *, required: bool = True) -> int | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_MASS_G:
        raise PayloadInvalid(f"data.{key} must be a whole number of grams > 0",
                             code="mass_invalid", field=f"data.{key}")
    return value


def _date(data: Mapping[str, Any], key: str) -> str:
    value = _str(data, key, max_len=10)
    assert value is not None
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise PayloadInvalid(f"data.{key} must be a date YYYY-MM-DD", code="date_invalid",
                             field=f"data.{key}") from None
    if len(value) != 10:
        raise PayloadInvalid(f"data.{key} must be a date YYYY-MM-DD", code="date_invalid",
                             field=f"data.{key}")
    return value


def _org_ref(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise PayloadInvalid(f"data.{key} must be a valid USCC (a string of 18 characters)",
                             code="uscc_invalid", field=f"data.{key}")
    try:
        return validate_uscc(value)
    except InvalidInput as exc:
        raise PayloadInvalid(f"data.{key} must be a valid USCC: {exc}", code="uscc_invalid",
                             field=f"data.{key}") from None


def _tolerance_exceeded(expected: int, actual: int, settings: CustodySettings) -> bool:
    return abs(actual - expected) * 1000 > expected * settings.tolerance_permille


def _entry_day(entry: Entry) -> str:
    """The calendar day of the entry in China, for permit validity."""
    return beijing_day(entry.t_ms)


# --- projection look-ups ----------------------------------------------------------------------


def organisation(session: Session, uscc: str, field_name: str = "org") -> Organisation:
    org = session.get(Organisation, uscc)
    if org is None:
        raise NotFound(f"organisation {uscc} is not registered", code="org_unknown",
                       field=field_name)
    return org


def _batch(session: Session, code: str) -> Batch:
    batch = session.get(Batch, code)
    if batch is None:
        raise RuleViolation(f"batch {code} has not been declared", code="batch_unknown",
                            field="stream")
    return batch


def _require_role(org: Organisation, roles: set[str], field_name: str) -> None:
    if not roles & set(org.roles.split()):
        raise PermissionDenied(
            f"{org.name} ({org.uscc}) is not a {' or '.join(sorted(roles))}",
            code="role_missing", field=field_name)


def _is_return(batch: Batch, receiver: str) -> bool:
    """A refused batch going back to the enterprise that made it (退回产废单位)."""
    return batch.state in (REFUSED, PENDING) and receiver == batch.generator


def _check_permit(ctx: AppendContext, settings: CustodySettings, receiver: Organisation,
                  batch: Batch, claim: Claim | None = None) -> bool:
    """True when the receiver's permit covers this batch, or a claimed exemption row exempts
    the stage the receiver performs (豁免管理清单); refuse or flag otherwise.

    Transporters carry under a road-transport permit, not a business permit; general
    industrial solid waste needs no hazardous waste permit."""
    if not batch.hazardous or set(receiver.roles.split()) <= {"transporter"}:
        return True
    if _is_return(batch, receiver.uscc):
        return True
    if claim is not None and stage_fits(claim.stage, set(receiver.roles.split())):
        return True
    day = _entry_day(ctx.entry)
    activities = ["collect", "store"] if not (
        receiver.has_role("disposer") or receiver.has_role("receiver")) else [
        "utilise", "dispose", "store"]
    if any(covering_permit(ctx.session, receiver.uscc, batch.waste_code, a, day)
           for a in activities):
        return True
    if settings.policy_for(receiver.region) == "flag":
        return False
    raise RuleViolation(
        f"{receiver.name} has no permit covering {batch.waste_code} on {day}"
        + (f", and the exemption claimed is for {claim.stage}, which a "
           f"{'/'.join(receiver.roles.split())} does not do" if claim is not None else ""),
        code="permit_not_covering", field="data.to")


# --- exemptions (豁免管理清单) -----------------------------------------------------------------


def _claimed(ctx: AppendContext, batch: Batch) -> Claim | None:
    """The exemption this entry claims, checked against the batch's edition, if any."""
    claim = parse_claim(ctx.entry.data)
    if claim is not None:
        check_claim(ctx.session, claim, batch)
    return claim


def _handover_claim(session: Session, ho: Handover | None) -> ExemptionClaim | None:
    opened = None if ho is None else handover_entry(ho)
    if opened is None:
        return None
    return session.scalars(select(ExemptionClaim).where(
        ExemptionClaim.handover_entry == opened)).first()


def _effective_claim(own: Claim | None, recorded: ExemptionClaim | None) -> Claim | None:
    """The claim a handover stands under: both parties' claims, when both made one, agree."""
    if recorded is None:
        return own
    if own is not None and own.key != (recorded.edition, recorded.item, recorded.row,
                                       recorded.stage):
        raise RuleViolation("the two parties claim different exemption rows or stages",
                            code="exemption_mismatch", field="data.exemption")
    return own or Claim(recorded.edition, recorded.item, recorded.row, recorded.stage, "")


def _record_claim(ctx: AppendContext, ho: Handover, batch: Batch, receiver: Organisation,
                  claim: Claim | None, side: str) -> None:
    """Keep the claim on the handover, noting which party signed it and whether it fits."""
    if claim is None:
        return
    row = _handover_claim(ctx.session, ho)
    if row is None:
        fits = stage_fits(claim.stage, set(receiver.roles.split()))
        row = ExemptionClaim(batch=batch.code, handover_entry=handover_entry(ho),
                             org=receiver.uscc,
                             edition=claim.edition, item=claim.item, row=claim.row,
                             stage=claim.stage, by_release=False, by_answer=False, fits=fits,
                             misfit=None if fits else MISFIT_ROLE, claimed_at=ctx.index,
                             claimed_t_ms=ctx.entry.t_ms)
        ctx.session.add(row)
    if "exemption" in ctx.entry.data:
        setattr(row, f"by_{side}", True)


def _stage_left_undone(ctx: AppendContext, batch: Batch, done: str | None) -> None:
    """The holder that received this batch claiming 利用/处置 now passes it on (``done`` None)
    or records the other stage: its claim did not fit what happened."""
    session = ctx.session
    last = session.scalars(select(Handover).where(
        Handover.batch == batch.code, Handover.to_org == ctx.entry.org,
        Handover.status == "confirmed").order_by(Handover.id.desc()).limit(1)).first()
    row = _handover_claim(session, last)
    if row is not None and row.fits and row.stage in TERMINAL_STAGES and row.stage != done:
        row.fits, row.misfit, row.misfit_at = False, MISFIT_NOT_DONE, ctx.index


# --- registry kinds: organisations and permits -------------------------------------------------


def _org_subject(entry: Entry) -> str:
    return entry.stream[len(ORG_STREAM_PREFIX):]


def on_org_registered(ctx: AppendContext) -> None:
    """org.registered: the operator registers an organisation with its region and roles."""
    e, data = ctx.entry, ctx.entry.data
    uscc = validate_uscc(_org_subject(e))
    region = validate_region(_str(data, "region", max_len=6) or "")
    roles = data.get("roles")
    if not isinstance(roles, list) or not roles or not set(roles) <= ROLES or len(
        set(roles)
    ) != len(roles):
        raise PayloadInvalid(f"data.roles must list roles among {sorted(ROLES)}",
                             code="roles_invalid", field="data.roles")
    ctx.session.add(Organisation(
        uscc=uscc, name=_str(data, "name"), region=region, roles=" ".join(roles),
        contact=_str(data, "contact", max_len=100, required=False),
        phone=_str(data, "phone", max_len=40, required=False), registered_at=ctx.index))
    ctx.session.flush()


def on_permit_granted(ctx: AppendContext) -> None:
    """permit.granted: the operator or a regulator records an organisation's permit."""
    e, data = ctx.entry, ctx.entry.data
    holder = organisation(ctx.session, _org_subject(e), "stream")
    signer = organisation(ctx.session, e.org)
    if not (signer.has_role("operator") or signer.has_role("regulator")):
        raise PermissionDenied("only the operator or a regulator records permits",
                               code="permit_forbidden", field="org")
    if not signer.has_role("operator") and not region_contains(signer.region, holder.region):
        raise PermissionDenied(f"{holder.name} ({holder.region}) is outside the region of "
                               f"{signer.name} ({signer.region})", code="permit_out_of_region",
                               field="stream")
    valid_from, valid_to = _date(data, "valid_from"), _date(data, "valid_to")
    if valid_to < valid_from:
        raise PayloadInvalid("valid_to is before valid_from", code="date_invalid",
                             field="data.valid_to")
    codes = _permit_codes(data.get("codes"))
    activities = data.get("activities")
    if not isinstance(activities, list) or not activities or not set(activities) <= ACTIVITIES:
        raise PayloadInvalid(f"data.activities must list among {sorted(ACTIVITIES)}",
                             code="activities_invalid", field="data.activities")
    capacity = data.get("capacity_t")
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity <= 0:
        raise PayloadInvalid("data.capacity_t must be whole tonnes > 0", code="field_invalid",
                             field="data.capacity_t")
    number = _str(data, "number", max_len=64)
    if ctx.session.scalar(select(Permit.id).where(Permit.org == holder.uscc,
                                                  Permit.number == number)):
        raise Conflict(f"permit {number} is already recorded", code="permit_exists",
                       field="data.number")
    ctx.session.add(Permit(org=holder.uscc, number=number, valid_from=valid_from,
                           valid_to=valid_to, codes=" ".join(codes),
                           activities=" ".join(activities), capacity_t=capacity,
                           granted_at=ctx.index))


def _permit_codes(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise PayloadInvalid("data.codes must list waste codes or HW categories",
                             code="field_invalid", field="data.codes")
    out = []
    for item in value:
        if isinstance(item, str) and len(item) == 4 and item.startswith("HW"):
            out.append(item)
        else:
            out.append(normalise_waste_code(item))
    return out


def on_vehicle_registered(ctx: AppendContext) -> None:
    """vehicle.registered: a carrier (or the operator for it) registers a vehicle."""
    e, data = ctx.entry, ctx.entry.data
    holder = organisation(ctx.session, _org_subject(e), "stream")
    signer = organisation(ctx.session, e.org)
    if e.org != holder.uscc and not signer.has_role("operator"):
        raise PermissionDenied("vehicles are registered by their organisation or the operator",
                               code="registry_forbidden", field="org")
    _require_role(holder, {"transporter", "collector", "receiver", "disposer"}, "stream")
    plate = _plate(data)
    if ctx.session.get(Vehicle, plate) is not None:
        raise Conflict(f"vehicle {plate} is already registered", code="vehicle_exists",
                       field="data.plate")
    ctx.session.add(Vehicle(plate=plate, org=holder.uscc,
                            transport_permit=_str(data, "transport_permit", max_len=64),
                            registered_at=ctx.index))


#: 贮存设施 types of GB 18597-2023 (危险废物贮存污染控制标准).
FACILITY_TYPES = ("贮存库", "贮存场", "贮存池", "贮存罐区")
STORING_ROLES = {"generator", "collector", "receiver", "disposer"}


def on_facility_registered(ctx: AppendContext) -> None:
    """facility.registered: an organisation (or the operator for it) registers a storage
    facility (贮存设施) with its code, name, type and design capacity."""
    e, data = ctx.entry, ctx.entry.data
    holder = organisation(ctx.session, _org_subject(e), "stream")
    signer = organisation(ctx.session, e.org)
    if e.org != holder.uscc and not signer.has_role("operator"):
        raise PermissionDenied("storage facilities are registered by their organisation or the "
                               "operator", code="registry_forbidden", field="org")
    _require_role(holder, STORING_ROLES, "stream")
    code = _facility_code(data)
    if data.get("type") not in FACILITY_TYPES:
        raise PayloadInvalid(f"data.type must be one of {'、'.join(FACILITY_TYPES)}",
                             code="field_invalid", field="data.type")
    capacity = data.get("capacity_kg")
    if isinstance(capacity, bool) or not isinstance(capacity, int) or not (
            0 < capacity <= MAX_MASS_G // 1000):
        raise PayloadInvalid("data.capacity_kg must be whole kilograms > 0",
                             code="field_invalid", field="data.capacity_kg")
    if ctx.session.get(StorageFacility, (holder.uscc, code)) is not None:
        raise Conflict(f"storage facility {code} is already registered",
                       code="facility_exists", field="data.code")
    ctx.session.add(StorageFacility(org=holder.uscc, code=code,
                                    name=_str(data, "name", max_len=100),
                                    type=data["type"], capacity_kg=capacity,
                                    registered_at=ctx.index))


def _facility_code(data: Mapping[str, Any], key: str = "code") -> str:
    code = _str(data, key, max_len=32)
    assert code is not None
    if not all(c.isascii() and (c.isalnum() or c in "-_.") for c in code):
        raise PayloadInvalid(f"data.{key} is a facility code of letters, digits and - _ .",
                             code="field_invalid", field=f"data.{key}")
    return code


def _plate(data: Mapping[str, Any]) -> str:
    plate = _str(data, "plate", max_len=20)
    assert plate is not None
    if any(c.isspace() for c in plate) or len(plate) < 5:
        raise PayloadInvalid("data.plate is a licence plate like 浙J·D1234",
                             code="field_invalid", field="data.plate")
    return plate


def _check_vehicle(ctx: AppendContext, data: Mapping[str, Any], carriers: set[str]) -> None:
    """A named vehicle must be registered to the carrier (or, without one, the receiver)."""
    if data.get("vehicle") is None:
        return
    plate = _plate({"plate": data.get("vehicle")})
    vehicle = ctx.session.get(Vehicle, plate)
    if vehicle is None or vehicle.org not in carriers:
        raise RuleViolation(f"vehicle {plate} is not registered to the carrier",
                            code="vehicle_unknown", field="data.vehicle")


# --- batches -------------------------------------------------------------------------------


def _new_batch_code(ctx: AppendContext) -> tuple[BatchCode, bool]:
    """The code of a batch being created by this entry (seq 0): exact, and the signer's own."""
    e = ctx.entry
    if e.seq != 0:
        raise RuleViolation("a batch is created by its first entry", code="batch_exists",
                            field="seq")
    hazardous = e.data.get("hazardous", True)
    if not isinstance(hazardous, bool):
        raise PayloadInvalid("data.hazardous must be true or false", code="field_invalid",
                             field="data.hazardous")
    code = parse_batch_code(e.stream, hazardous_only=hazardous)
    if code.text != e.stream:
        raise PayloadInvalid("stream must be the batch code exactly", code="field_invalid",
                             field="stream")
    if code.uscc != e.org:
        raise PermissionDenied("a batch code starts with the creating unit's USCC",
                               code="batch_code_not_yours", field="stream")
    return code, hazardous


def on_batch_declared(ctx: AppendContext) -> None:
    """batch.declared (seq 0): a generator declares a batch under its own code."""
    e, data = ctx.entry, ctx.entry.data
    code, hazardous = _new_batch_code(ctx)
    generator = organisation(ctx.session, e.org)
    _require_role(generator, {"generator"}, "org")
    described = _describe(ctx, data, code.waste_code, hazardous)
    if hazardous and is_identified_code(code.waste_code):
        _check_identification(data)
    if described["generated_on"] != code.day.isoformat():
        raise PayloadInvalid("data.generated_on must be the date inside the batch code",
                             code="date_mismatch", field="data.generated_on")
    _new_batch(ctx, e.stream, generator, code.waste_code, hazardous, described, DECLARED)


def _describe(ctx: AppendContext, data: Mapping[str, Any], waste_code: str,
              hazardous: bool) -> dict[str, Any]:
    """Check the description every batch carries (HJ 1276 label fields) against the edition
    of the catalogue in force on the day the waste was generated."""
    given = normalise_waste_code(_str(data, "waste_code", max_len=10) or "")
    if given != waste_code:
        raise PayloadInvalid("data.waste_code must match the batch code",
                             code="waste_code_mismatch", field="data.waste_code")
    generated_on = _date(data, "generated_on")
    if hazardous:
        _check_listed(ctx, data, waste_code, generated_on)
    else:
        # Any loaded edition listing it makes it hazardous waste, whatever the date.
        cats = (catalogue(ctx.session, e.edition) for e in _editions(ctx))
        if any(cat.is_hazardous(waste_code) for cat in cats):
            raise RuleViolation(f"{waste_code} is in the hazardous waste catalogue",
                                code="hazardous_code_as_general", field="data.hazardous")
        listed = general_codes(ctx.session, ctx.index)
        if listed is not None and waste_code not in listed:
            raise RuleViolation(f"{waste_code} is not a code of the loaded list of general "
                                "industrial solid waste", code="general_code_unknown",
                                field="data.waste_code")
    if data.get("form") not in FORMS:
        raise PayloadInvalid(f"data.form must be one of {sorted(FORMS)}", code="field_invalid",
                             field="data.form")
    hazards = data.get("hazards", [])
    if not isinstance(hazards, list) or not set(hazards) <= set(HAZARDS):
        raise PayloadInvalid(f"data.hazards must list among {list(HAZARDS)}",
                             code="field_invalid", field="data.hazards")
    container = data.get("container")
    if not isinstance(container, dict) or not isinstance(container.get("type"), str) or (
        isinstance(container.get("count"), bool) or not isinstance(container.get("count"), int)
        or container["count"] < 1
    ):
        raise PayloadInvalid("data.container needs a type and a count >= 1",
                             code="field_invalid", field="data.container")
    check_one_code(ctx.session, ctx.index, data, generated_on, hazardous)
    return {"name": _str(data, "name", max_len=100), "mass_g": _mass(data),
            "generated_on": generated_on}


def _editions(ctx: AppendContext) -> list[EditionInfo]:
    return [e for e in editions(ctx.session) if e.from_index <= ctx.index]


def _check_listed(ctx: AppendContext, data: Mapping[str, Any], waste_code: str,
                  generated_on: str) -> None:
    """The code is in the edition that applies (名录: by the day the waste was generated, among
    the editions loaded before this entry), or is 900-000-×× with an identification report."""
    edition = edition_for(ctx.session, generated_on, ctx.index).edition
    named = data.get("catalogue_edition")
    if named is not None and named != edition:
        raise RuleViolation(f"waste generated on {generated_on} is classed under the "
                            f"{edition} catalogue, not {named!r}",
                            code="catalogue_edition_mismatch", field="data.catalogue_edition")
    waste_entry(catalogue(ctx.session, edition), waste_code)  # NotFound: unknown / superseded


def _check_identification(data: Mapping[str, Any]) -> None:
    """900-000-××: the declarer names the identification report (鉴别报告) and states that no
    listed code fits (名录 2025 第六条), and chooses the hazards the report found."""
    ident = data.get("identification")
    report = ident.get("report") if isinstance(ident, dict) else None
    if not isinstance(report, str) or not report.strip() or len(report) > 200:
        raise PayloadInvalid("a 900-000-×× waste names its identification report in "
                             "data.identification.report (1-200 characters)",
                             code="identification_missing", field="data.identification")
    assert isinstance(ident, dict)
    if ident.get("no_listed_code") is not True:
        raise PayloadInvalid("a 900-000-×× waste states data.identification.no_listed_code: "
                             "true (no listed code fits its main harmful components and "
                             "hazards)", code="identification_missing",
                             field="data.identification.no_listed_code")
    if not data.get("hazards"):
        raise PayloadInvalid("a 900-000-×× waste lists the hazards its identification found",
                             code="identification_hazards_missing", field="data.hazards")


def _new_batch(ctx: AppendContext, code: str, holder: Organisation, waste_code: str,
               hazardous: bool, described: Mapping[str, Any], state: str,
               consolidated: bool = False) -> Batch:
    batch = Batch(
        code=code, generator=holder.uscc, region=holder.region, waste_code=waste_code,
        category="HW" + waste_code[-2:] if hazardous else "GY", hazardous=hazardous,
        name=described["name"], declared_mass_g=described["mass_g"],
        mass_g=described["mass_g"], holder=holder.uscc, state=state,
        generated_on=described["generated_on"], declared_t_ms=ctx.entry.t_ms,
        declared_at=ctx.index, updated_at=ctx.index, consolidated=consolidated)
    ctx.session.add(batch)
    ctx.session.flush()
    return batch


def _live_batch(ctx: AppendContext) -> Batch:
    batch = _batch(ctx.session, ctx.entry.stream)
    _not_withdrawn(batch)
    if batch.state in FINAL_STATES:
        raise RuleViolation(f"batch is {batch.state}; nothing more can happen to it",
                            code="batch_closed", field="stream")
    return batch


def _open_handover(session: Session, code: str) -> Handover | None:
    return session.scalars(
        select(Handover).where(Handover.batch == code,
                               Handover.status.in_(("awaiting_answer", "awaiting_release")))
    ).first()


# --- handovers ---------------------------------------------------------------------------


def make_release_handler(settings: CustodySettings) -> KindHandler:
    def on_released(ctx: AppendContext) -> None:
        """custody.released: the holder hands the batch to a named receiver."""
        e, data = ctx.entry, ctx.entry.data
        batch = _live_batch(ctx)
        if batch.holder != e.org:
            raise PermissionDenied("only the current holder may release a batch",
                                   code="not_holder", field="org")
        _not_in_storage(ctx, batch)
        to = _org_ref(data, "to")
        if to == e.org:
            raise PayloadInvalid("a batch cannot be released to its holder",
                                 code="field_invalid", field="data.to")
        receiver = organisation(ctx.session, to, "data.to")
        if not _is_return(batch, to):
            _require_role(receiver, RECEIVING_ROLES, "data.to")
        mass = _mass(data)
        assert mass is not None
        if _tolerance_exceeded(batch.mass_g, mass, settings):
            # A batch moves whole; to hand on part of it, split it first (consolidated_out).
            raise RuleViolation(f"release of {mass} g is not the {batch.mass_g} g held",
                                code="mass_mismatch", field="data.mass_g")
        manifest = _release_manifest(ctx, e.org, to)
        own = _claimed(ctx, batch)
        answered = _open_handover(ctx.session, batch.code)
        if answered is not None and (answered.status, answered.from_org, answered.to_org,
                                     answered.manifest) != ("awaiting_release", e.org, to,
                                                            manifest):
            answered = None  # a different receiver or trip: the early answer is superseded
        claim = _effective_claim(own, _handover_claim(ctx.session, answered))
        covered = _check_permit(ctx, settings, receiver, batch, claim)
        _stage_left_undone(ctx, batch, None)
        carrier = data.get("carrier")
        if carrier is not None:
            _require_role(organisation(ctx.session, _org_ref(data, "carrier"), "data.carrier"),
                          {"transporter", "collector"}, "data.carrier")
        _check_vehicle(ctx, data, {carrier} if carrier else {to, e.org})
        _open_manifest(ctx, manifest, e.org, to, data)
        ho = _open_handover(ctx.session, batch.code)
        if ho is None:
            ho = Handover(
                batch=batch.code, from_org=e.org, to_org=to, manifest=manifest,
                status="awaiting_answer", released_mass_g=mass, released_at=ctx.index,
                released_t_ms=e.t_ms)
            ctx.session.add(ho)
            batch.state = PENDING
        elif ho.status == "awaiting_release" and (ho.from_org, ho.to_org, ho.manifest) == (
            e.org, to, manifest
        ):
            ho.released_mass_g, ho.released_at, ho.released_t_ms = mass, ctx.index, e.t_ms
            _settle(ctx, settings, batch, ho)
        elif ho.status == "awaiting_release":
            # Someone answered before the holder released, but the holder chose another
            # receiver or trip: the holder decides where its batch goes.
            ho.status = "superseded"
            ho = Handover(
                batch=batch.code, from_org=e.org, to_org=to, manifest=manifest,
                status="awaiting_answer", released_mass_g=mass, released_at=ctx.index,
                released_t_ms=e.t_ms)
            ctx.session.add(ho)
            batch.state = PENDING
        else:
            raise Conflict("this batch already has an open handover", code="handover_open",
                           field="stream")
        if not covered:
            ho.permit_flagged = True  # the region records and flags instead of refusing
        _record_claim(ctx, ho, batch, receiver, claim, "release")
        batch.updated_at = ctx.index

    return on_released


def _release_manifest(ctx: AppendContext, releaser: str, receiver: str) -> str:
    """The manifest number of a release: one the server reserved for this releaser and
    receiver (a pickup request), one of a trip already open between them, or, issued by the
    provincial system, a number of the releaser's province and the entry's year. A number
    reserved for another pair is refused, so nobody can take or exhaust others' numbers."""
    number = parse_manifest_number(_str(ctx.entry.data, "manifest", max_len=14) or "")
    reserved = ctx.session.scalars(select(PickupRequest).where(
        PickupRequest.manifest == number.text)).first()
    if reserved is not None:
        if (reserved.generator, reserved.collector) != (releaser, receiver):
            raise RuleViolation(f"manifest {number.text} is reserved for another hand-over",
                                code="manifest_reserved", field="data.manifest")
        return number.text
    if ctx.session.get(Manifest, number.text) is None:
        region = organisation(ctx.session, releaser).region
        year = int(_entry_day(ctx.entry)[:4])
        try:
            check_manifest_issued_for(number, region, year)
        except InvalidInput as exc:
            raise PayloadInvalid(exc.message, code=exc.code, field="data.manifest") from None
    return number.text  # an open trip's pair is checked by _open_manifest


def _check_offered(ctx: AppendContext, batch: Batch, holder: str, manifest: str) -> None:
    """Answering before the release is for a receiver the batch was offered to: a pickup
    request of the holder to this receiver that lists the batch, or a manifest (a trip)
    from the holder to it. Anyone else would only block the holder's batch."""
    acceptor = ctx.entry.org
    requested = ctx.session.scalars(
        select(PickupRequest.id).join(PickupItem).where(
            PickupRequest.manifest == manifest, PickupRequest.generator == holder,
            PickupRequest.collector == acceptor, PickupItem.batch == batch.code)).first()
    trip = ctx.session.get(Manifest, manifest)
    if requested is None and (trip is None or (trip.origin, trip.destination) != (
            holder, acceptor)):
        raise PermissionDenied("nobody released, requested or manifested this batch to you",
                               code="answer_unsolicited", field="data.manifest")


def _holder_overrides_answer(ctx: AppendContext, batch: Batch) -> None:
    """The holder acts on its batch while a receiver's early answer awaits its release: the
    holder decides, so that answer is superseded (an answer never blocks the holder)."""
    ho = _open_handover(ctx.session, batch.code)
    if ho is not None and ho.status == "awaiting_release":
        ho.status = "superseded"
        batch.state = _state_at(batch, organisation(ctx.session, batch.holder))


def make_answer_handler(settings: CustodySettings, accept: bool) -> KindHandler:
    def on_answer(ctx: AppendContext) -> None:
        """custody.accepted / custody.refused: the named receiver answers a handover."""
        e, data = ctx.entry, ctx.entry.data
        batch = _live_batch(ctx)
        frm = _org_ref(data, "from")
        manifest = parse_manifest_number(_str(data, "manifest", max_len=14) or "").text
        receiver = organisation(ctx.session, e.org)
        if not _is_return(batch, e.org):
            _require_role(receiver, RECEIVING_ROLES, "org")
        ho = _open_handover(ctx.session, batch.code)
        if ho is not None and ho.status == "awaiting_answer":
            if ho.to_org != e.org:
                raise PermissionDenied("only the named receiver may answer this handover",
                                       code="not_receiver", field="org")
            if (ho.from_org, ho.manifest) != (frm, manifest):
                raise RuleViolation("from and manifest must match the release",
                                    code="handover_mismatch", field="data.manifest")
        elif ho is None:
            if batch.holder != frm:
                raise RuleViolation("data.from is not the batch's holder",
                                    code="handover_mismatch", field="data.from")
            if batch.holder == e.org:
                raise PayloadInvalid("the holder cannot receive its own batch",
                                     code="field_invalid", field="org")
            _check_offered(ctx, batch, frm, manifest)
            ho = Handover(batch=batch.code, from_org=frm, to_org=e.org, manifest=manifest,
                          status="awaiting_release")
            ctx.session.add(ho)
        else:
            raise Conflict("this handover is already answered; awaiting the release",
                           code="handover_answered", field="stream")
        _record_answer(ctx, ho, data, accept)
        claim = _effective_claim(_claimed(ctx, batch) if accept else None,
                                 _handover_claim(ctx.session, ho))
        if accept and not _check_permit(ctx, settings, receiver, batch, claim):
            ho.permit_flagged = True
        if accept:
            _record_claim(ctx, ho, batch, receiver, claim, "answer")
        if ho.status == "awaiting_release":
            batch.state = PENDING
        else:
            _settle(ctx, settings, batch, ho)
        batch.updated_at = ctx.index

    return on_answer


def _record_answer(ctx: AppendContext, ho: Handover, data: Mapping[str, Any],
                   accept: bool) -> None:
    ho.answered_at, ho.answered_t_ms = ctx.index, ctx.entry.t_ms
    if accept:
        ho.accepted_mass_g = _mass(data)
        ho.refused_mass_g = None
        return
    ho.refusal_reason = _str(data, "reason", max_len=500)
    ho.refused_mass_g = _mass(data, "refused_mass_g", required=False)
    if ho.refused_mass_g is not None and ho.released_mass_g is not None and (
        ho.refused_mass_g > ho.released_mass_g
    ):
        raise PayloadInvalid("refused_mass_g is more than was released", code="mass_invalid",
                             field="data.refused_mass_g")
    ho.accepted_mass_g = None


def _settle(ctx: AppendContext, settings: CustodySettings, batch: Batch, ho: Handover) -> None:
    """Both sides have signed: move custody (or not) and record any discrepancy."""
    released = ho.released_mass_g or 0
    receiver = organisation(ctx.session, ho.to_org)
    if ho.accepted_mass_g is not None:
        ho.status = "confirmed"
        ho.discrepancy = _tolerance_exceeded(released, ho.accepted_mass_g, settings)
        _move(batch, receiver, ho.accepted_mass_g)
    elif ho.refused_mass_g is not None and ho.refused_mass_g < released:
        # Partial refusal: the receiver keeps what it did not refuse; the refused mass stays
        # with the carrier on this handover record until it is returned or re-routed.
        ho.status = "confirmed"
        ho.accepted_mass_g = released - ho.refused_mass_g
        _move(batch, receiver, ho.accepted_mass_g)
    else:
        ho.status = "refused"
        batch.state = REFUSED
    _close_manifest_if_done(ctx, ho.manifest)


def _move(batch: Batch, receiver: Organisation, mass: int) -> None:
    batch.holder = receiver.uscc
    batch.mass_g = mass
    batch.state = _state_at(batch, receiver)


def _state_at(batch: Batch, receiver: Organisation) -> str:
    """The state of a batch in the hands of ``receiver``."""
    if receiver.uscc == batch.generator and (
            not batch.consolidated or not set(receiver.roles.split()) & RECEIVING_ROLES):
        # back with the enterprise that made it, to be collected again (a consolidated batch
        # is "made" by a collector, except the refused part of a partial refusal, 3.17)
        return DECLARED
    if receiver.has_role("disposer") or receiver.has_role("receiver"):
        return RECEIVED
    if receiver.has_role("collector"):
        return STORED
    return IN_TRANSIT


def _open_manifest(ctx: AppendContext, number: str, origin: str, destination: str,
                   data: Mapping[str, Any]) -> None:
    m = ctx.session.get(Manifest, number)
    carrier = _org_ref(data, "carrier") if data.get("carrier") is not None else None
    if m is None:
        ctx.session.add(Manifest(
            number=number, origin=origin, destination=destination,
            vehicle=_str(data, "vehicle", max_len=20, required=False), carrier=carrier,
            opened_at=ctx.index, opened_t_ms=ctx.entry.t_ms))
        ctx.session.flush()
    elif (m.origin, m.destination) != (origin, destination):
        raise RuleViolation(f"manifest {number} is for another trip",
                            code="manifest_mismatch", field="data.manifest")
    elif carrier is not None and carrier != m.carrier:
        raise RuleViolation(f"manifest {number} names another carrier",
                            code="manifest_mismatch", field="data.carrier")
    else:
        # another batch joins the trip: open until it too is answered
        m.closed_at = m.closed_t_ms = m.span_ms = None


def manifest_span(m: Manifest) -> int | None:
    """How long after the waste's arrival (the carrier's signed arrival, else the opening)
    the manifest was closed; None while it is open. The gap scan reads it (manifest_open):
    kept wherever ``closed_at`` or the arrival changes, and recomputed set-based by
    ``ledger.audit.intervals.rebuild_manifest_times`` and migration 0017."""
    if m.closed_t_ms is None:
        return None
    return m.closed_t_ms - (m.arrived_t_ms if m.arrived_t_ms is not None else m.opened_t_ms)


def _close_manifest_if_done(ctx: AppendContext, number: str) -> None:
    ctx.session.flush()
    open_left = ctx.session.scalar(
        select(Handover.id).where(Handover.manifest == number,
                                  Handover.status.in_(("awaiting_answer", "awaiting_release")))
    )
    m = ctx.session.get(Manifest, number)
    if m is not None and open_left is None:
        m.closed_at, m.closed_t_ms = ctx.index, ctx.entry.t_ms
        m.span_ms = manifest_span(m)


def on_withdrawn(ctx: AppendContext) -> None:
    """custody.withdrawn: a party of a half-signed handover withdraws it (撤回).

    Either the side that signed first takes its signature back, or the side that has not
    signed declines to. Nothing is edited: both entries stay in the batch's stream, and the
    handover is closed as ``withdrawn`` with the batch back in its holder's hands."""
    e, data = ctx.entry, ctx.entry.data
    batch = _live_batch(ctx)
    manifest = parse_manifest_number(_str(data, "manifest", max_len=14) or "").text
    ho = _open_handover(ctx.session, batch.code)
    if ho is None:
        raise RuleViolation("this batch has no half-signed handover to withdraw",
                            code="handover_not_open", field="stream")
    if e.org not in (ho.from_org, ho.to_org):
        raise PermissionDenied("only the two parties of a handover may withdraw it",
                               code="not_party", field="org")
    if ho.manifest != manifest:
        raise RuleViolation("data.manifest is not the open handover's manifest",
                            code="handover_mismatch", field="data.manifest")
    _str(data, "reason", max_len=500)
    ho.status = "withdrawn"
    holder = organisation(ctx.session, batch.holder)
    batch.state = _state_at(batch, holder)  # custody never moved: as it was with its holder
    batch.updated_at = ctx.index
    if ctx.session.get(Manifest, ho.manifest) is not None:
        _close_manifest_if_done(ctx, ho.manifest)


# --- withdrawing a wrong batch (撤回批次) ----------------------------------------------------

MAX_WITHDRAW_REASON = 200


def _not_withdrawn(batch: Batch) -> None:
    if batch.state == WITHDRAWN:
        raise RuleViolation("the batch was withdrawn by its generator; nothing more can be "
                            "recorded on it", code="batch_withdrawn", field="stream")


def withdrawal_blocker(session: Session, batch: Batch,
                       before: int | None = None) -> tuple[str, str] | None:
    """Why ``batch`` cannot be withdrawn by its generator now: (error code, English reason),
    or None when it can. The rule of ``batch.withdrawn`` and the page's 撤回 button both ask
    here, so the button is offered exactly when the entry would be accepted (reason apart).
    ``before``: the index of the entry being checked (a replay stores every entry first)."""
    if batch.state == WITHDRAWN:
        return "batch_withdrawn", "the batch is already withdrawn"
    first = session.get(LogEntry, batch.declared_at)
    if first is None or first.kind != "batch.declared" or first.stream != batch.code:
        return ("withdraw_not_declared",
                "only a batch made by batch.declared can be withdrawn")
    others = select(LogEntry.org).where(LogEntry.stream == batch.code,
                                        LogEntry.org != batch.generator)
    if before is not None:
        others = others.where(LogEntry.idx < before)
    other = session.scalar(others.limit(1))
    if other is not None:
        return ("withdraw_others_signed",
                f"{other} has signed on this batch; correct it (custody.corrected) instead")
    if _open_handover(session, batch.code) is not None:
        return ("withdraw_handover_open",
                "the batch has a release awaiting its answer; withdraw the release first")
    if _open_stay(session, batch.code) is not None:
        return ("withdraw_in_storage",
                "the batch is in a storage facility; record storage.out first")
    moved = session.scalar(select(Lineage.child).where(Lineage.parent == batch.code).limit(1))
    if moved is not None or batch.state != DECLARED or batch.holder != batch.generator:
        return ("withdraw_mass_moved",
                "mass of this batch left its generator (handed over, poured or disposed)")
    return None


def on_batch_withdrawn(ctx: AppendContext) -> None:
    """batch.withdrawn: the generator withdraws a batch declared by mistake before anyone
    else has signed on it (撤回批次). Final: nothing more is recorded on the batch, and its
    code is never used again (the stream exists). docs/custody.md 3.18."""
    e, data = ctx.entry, ctx.entry.data
    batch = _batch(ctx.session, e.stream)
    if e.org != batch.generator:
        raise PermissionDenied("only the enterprise that declared the batch may withdraw it",
                               code="withdraw_not_generator", field="org")
    blocker = withdrawal_blocker(ctx.session, batch, ctx.index)
    if blocker is not None:
        code, reason = blocker
        error = Conflict if code == "batch_withdrawn" else RuleViolation
        raise error(reason, code=code, field="stream")
    reason_text = data.get("reason")
    if not isinstance(reason_text, str) or not reason_text.strip() or len(
            reason_text) > MAX_WITHDRAW_REASON or any(
            ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in reason_text):
        raise PayloadInvalid(f"data.reason is why the batch is withdrawn: text of 1-"
                             f"{MAX_WITHDRAW_REASON} characters on one line, no control "
                             "characters", code="withdraw_reason_invalid", field="data.reason")
    batch.state = WITHDRAWN
    batch.updated_at = ctx.index


# --- storage (入库 / 出库, HJ 1259) ---------------------------------------------------------


def _open_stay(session: Session, code: str) -> StorageStay | None:
    return session.scalars(select(StorageStay).where(StorageStay.batch == code,
                                                     StorageStay.out_at.is_(None))).first()


def _not_in_storage(ctx: AppendContext, batch: Batch) -> None:
    """A batch in a storage facility leaves it (出库) before it is handed on, poured into
    another batch or utilised/disposed of: the 台账 then has both steps."""
    stay = _open_stay(ctx.session, batch.code)
    if stay is not None:
        raise RuleViolation(f"the batch is in storage facility {stay.facility}; record its "
                            "storage.out (出库) first", code="in_storage", field="stream")


def on_storage_in(ctx: AppendContext) -> None:
    """storage.in (入库): the holder puts the batch into one of its storage facilities."""
    e, data = ctx.entry, ctx.entry.data
    batch = _live_batch(ctx)
    if batch.holder != e.org or batch.state == PENDING:
        raise PermissionDenied("only the holder stores a batch it has in hand (no handover "
                               "open)", code="not_holder", field="org")
    _require_role(organisation(ctx.session, e.org), STORING_ROLES, "org")
    code = _facility_code(data, "facility")
    if ctx.session.get(StorageFacility, (e.org, code)) is None:
        raise RuleViolation(f"storage facility {code} is not registered to this organisation",
                            code="facility_unknown", field="data.facility")
    stay = _open_stay(ctx.session, batch.code)
    if stay is not None:
        raise Conflict(f"the batch is already in storage facility {stay.facility}",
                       code="already_stored", field="stream")
    mass = _mass(data)
    assert mass is not None
    ctx.session.add(StorageStay(batch=batch.code, org=e.org, facility=code, in_mass_g=mass,
                                in_at=ctx.index, in_t_ms=e.t_ms))
    batch.updated_at = ctx.index


def on_storage_out(ctx: AppendContext) -> None:
    """storage.out (出库): the holder takes the batch out of the facility it is in."""
    e, data = ctx.entry, ctx.entry.data
    batch = _live_batch(ctx)
    stay = _open_stay(ctx.session, batch.code)
    if stay is None or stay.org != e.org:
        raise RuleViolation("the batch is not in a storage facility of this organisation",
                            code="not_stored", field="stream")
    if _facility_code(data, "facility") != stay.facility:
        raise RuleViolation(f"the batch is in storage facility {stay.facility}",
                            code="facility_mismatch", field="data.facility")
    mass = _mass(data)
    assert mass is not None
    stay.out_mass_g, stay.out_at, stay.out_t_ms = mass, ctx.index, e.t_ms
    batch.updated_at = ctx.index
# --- the refused part of a partial refusal (部分拒收) ------------------------------------------


def on_refused_part(ctx: AppendContext) -> None:
    """batch.refused_part (seq 0): the party that released a batch and had part of it refused
    (移出人) signs that it has the refused part back, as a batch of its own code: the mass no
    longer belongs to no batch. Back with its generator it is ``declared`` (退回, to be
    collected again); with anyone else it is ``refused`` and is released onward (re-routed)
    or back to its generator like a wholly refused batch (docs/custody.md 3.17)."""
    e, data = ctx.entry, ctx.entry.data
    code, hazardous = _new_batch_code(ctx)
    parent = ctx.session.get(Batch, _str(data, "parent", max_len=37) or "")
    if parent is None:
        raise RuleViolation("data.parent is not a batch", code="batch_unknown",
                            field="data.parent")
    if code.waste_code != parent.waste_code or hazardous != parent.hazardous:
        raise RuleViolation("the refused part keeps the waste code of its batch",
                            code="waste_code_mismatch", field="stream")
    ref = data.get("refusal")
    if not isinstance(ref, str):
        raise PayloadInvalid("data.refusal names the refusal entry's leaf hash",
                             code="field_missing", field="data.refusal")
    idx = ctx.session.scalar(select(LogEntry.idx).where(
        LogEntry.leaf_hash == unb64(ref, field="data.refusal", length=32)))
    ho = None if idx is None else ctx.session.scalars(select(Handover).where(
        Handover.batch == parent.code, Handover.answered_at == idx)).first()
    if ho is None or ho.status != "confirmed" or ho.refused_mass_g is None:
        raise RuleViolation("data.refusal is not a partial refusal of data.parent",
                            code="refusal_unknown", field="data.refusal")
    if ho.from_org != e.org:
        raise PermissionDenied("the refused part is taken back by the party that released it",
                               code="not_holder", field="org")
    if ho.refused_part is not None:
        raise Conflict(f"the refused part is already batch {ho.refused_part}",
                       code="refused_part_taken", field="data.refusal")
    mass = _mass(data)
    if mass != ho.refused_mass_g:
        raise RuleViolation(f"the refused part is {ho.refused_mass_g} g",
                            code="mass_mismatch", field="data.mass_g")
    organisation(ctx.session, e.org)  # registered (org_unknown otherwise)
    part = Batch(
        code=e.stream, generator=parent.generator, region=parent.region,
        waste_code=parent.waste_code, category=parent.category, hazardous=parent.hazardous,
        name=parent.name, declared_mass_g=mass, mass_g=mass, holder=e.org, state=REFUSED,
        generated_on=parent.generated_on, declared_t_ms=e.t_ms, declared_at=ctx.index,
        updated_at=ctx.index, consolidated=True)
    if e.org == parent.generator:
        part.state = DECLARED  # returned to the enterprise that made it
    ctx.session.add(part)
    ctx.session.flush()
    # hash-linked like a consolidation: the refusal entry gave, this entry took
    ctx.session.add(Lineage(parent=parent.code, child=part.code, mass_g=mass, parent_entry=idx,
                            child_entry=ctx.index))
    ho.refused_part = part.code


# --- the carrier's leg (承运人) -----------------------------------------------------------------

CARRIER_ROLES = {"transporter", "collector"}
CARRIER_EVENTS = ("departed", "arrived")


def on_carried(ctx: AppendContext) -> None:
    """custody.carried: the carrier named on the manifest signs its part for this batch —
    ``departed`` (起运: vehicle and driver) once the holder has released, then ``arrived``
    (运抵) at the receiver. Custody does not move: the carrier only carries, and the
    receiver's confirmation period starts at the arrival (docs/custody.md 3.16)."""
    e, data = ctx.entry, ctx.entry.data
    batch = _live_batch(ctx)
    manifest = parse_manifest_number(_str(data, "manifest", max_len=14) or "").text
    event = data.get("event")
    if event not in CARRIER_EVENTS:
        raise PayloadInvalid("data.event is departed or arrived", code="field_invalid",
                             field="data.event")
    carrier = organisation(ctx.session, e.org)
    _require_role(carrier, CARRIER_ROLES, "org")
    ho = _open_handover(ctx.session, batch.code)
    if ho is None or ho.status != "awaiting_answer":
        raise RuleViolation("the carrier signs between the holder's release and the "
                            "receiver's answer", code="handover_not_open", field="stream")
    if ho.manifest != manifest:
        raise RuleViolation("data.manifest is not the open handover's manifest",
                            code="handover_mismatch", field="data.manifest")
    m = ctx.session.get(Manifest, manifest)
    if m is None or m.carrier != e.org:
        raise PermissionDenied("only the carrier named on the manifest signs its transport leg",
                               code="not_carrier", field="org")
    leg = ctx.session.scalars(select(CarrierLeg).where(
        CarrierLeg.batch == batch.code, CarrierLeg.manifest == manifest)).first()
    if event == "departed":
        if leg is not None:
            raise Conflict("the carrier already signed the departure of this batch",
                           code="carrier_signed", field="data.event")
        if data.get("vehicle") is None:
            raise PayloadInvalid("data.vehicle names the vehicle", code="field_missing",
                                 field="data.vehicle")
        _check_vehicle(ctx, data, {e.org})
        driver = _str(data, "driver", max_len=40)
        assert driver is not None
        vehicle = _plate({"plate": data["vehicle"]})
        ctx.session.add(CarrierLeg(batch=batch.code, manifest=manifest, carrier=e.org,
                                   vehicle=vehicle, driver=driver, departed_at=ctx.index,
                                   departed_t_ms=e.t_ms))
        m.vehicle = m.vehicle or vehicle
        m.driver = m.driver or driver
        return
    if leg is None:
        raise RuleViolation("the carrier signs the departure before the arrival",
                            code="carrier_not_departed", field="data.event")
    if leg.arrived_at is not None:
        raise Conflict("the carrier already signed the arrival of this batch",
                       code="carrier_signed", field="data.event")
    leg.arrived_at, leg.arrived_t_ms = ctx.index, e.t_ms
    if m.arrived_at is None:
        m.arrived_at, m.arrived_t_ms = ctx.index, e.t_ms
        m.span_ms = manifest_span(m)  # None: an arrival is signed while the manifest is open


# --- consolidation and disposal ------------------------------------------------------------


def make_handoff_handler(settings: CustodySettings) -> KindHandler:
    def on_consolidated_out(ctx: AppendContext) -> None:
        """custody.consolidated_out: the holder pours mass of this batch into a new batch."""
        e, data = ctx.entry, ctx.entry.data
        batch = _live_batch(ctx)
        if batch.holder != e.org:
            raise PermissionDenied("only the holder may consolidate a batch", code="not_holder",
                                   field="org")
        _require_role(organisation(ctx.session, e.org), HOLDING_ROLES, "org")
        _not_in_storage(ctx, batch)
        _holder_overrides_answer(ctx, batch)
        if batch.state == PENDING:
            raise Conflict("the batch has an open handover", code="handover_open",
                           field="stream")
        child = parse_batch_code(_str(data, "into", max_len=37) or "",
                                 hazardous_only=batch.hazardous)
        if child.uscc != e.org or ctx.session.get(Batch, child.text) is not None:
            raise RuleViolation("consolidate into a new batch code of your own",
                                code="child_invalid", field="data.into")
        mass = _mass(data)
        assert mass is not None
        if mass > batch.mass_g:
            raise RuleViolation(f"cannot take {mass} g from {batch.mass_g} g",
                                code="mass_exceeds_held", field="data.mass_g")
        if ctx.session.get(Lineage, (batch.code, child.text)) is not None:
            raise Conflict("this batch already went into that child", code="lineage_exists",
                           field="data.into")
        ctx.session.add(Lineage(parent=batch.code, child=child.text, mass_g=mass,
                                parent_entry=ctx.index))
        batch.mass_g -= mass
        if batch.mass_g == 0:
            batch.state = CONSOLIDATED
        batch.updated_at = ctx.index

    return on_consolidated_out


def make_consolidated_handler(settings: CustodySettings) -> KindHandler:
    def on_batch_consolidated(ctx: AppendContext) -> None:
        """batch.consolidated (seq 0): a new batch made of parents' hand-offs, hash-linked."""
        e, data = ctx.entry, ctx.entry.data
        code, hazardous = _new_batch_code(ctx)
        holder = organisation(ctx.session, e.org)
        _require_role(holder, {"collector", "receiver", "disposer"}, "org")
        parents = data.get("parents")
        if not isinstance(parents, list) or not parents or len(parents) > 1000:
            raise PayloadInvalid("data.parents must list 1-1000 parent batches",
                                 code="field_invalid", field="data.parents")
        total = sum(_link_parent(ctx, p, i) for i, p in enumerate(parents))
        described = _describe(ctx, data, code.waste_code, bool(hazardous))
        if _tolerance_exceeded(total, described["mass_g"], settings):
            raise RuleViolation(f"parents give {total} g, the new batch declares "
                                f"{described['mass_g']} g", code="lineage_imbalance",
                                field="data.mass_g")
        child = _new_batch(ctx, e.stream, holder, code.waste_code, bool(hazardous), described,
                           STORED, consolidated=True)
        _move(child, holder, child.mass_g)  # the state any batch arriving there would have
        ctx.session.flush()

    return on_batch_consolidated


def _link_parent(ctx: AppendContext, ref: Any, i: int) -> int:
    where = f"data.parents[{i}]"
    if not isinstance(ref, dict) or not isinstance(ref.get("entry"), str):
        raise PayloadInvalid(f"{where} needs code, mass_g and entry", code="field_invalid",
                             field=where)

    leaf = unb64(ref["entry"], field=f"{where}.entry", length=32)
    idx = ctx.session.scalar(select(LogEntry.idx).where(LogEntry.leaf_hash == leaf))
    link = None if idx is None else ctx.session.scalars(
        select(Lineage).where(Lineage.parent_entry == idx)).first()
    if link is None or link.child != ctx.entry.stream or link.parent != ref.get("code"):
        raise RuleViolation(f"{where} does not name a hand-off into this batch",
                            code="lineage_broken", field=where)
    if link.child_entry is not None:
        raise Conflict(f"{where} is already linked", code="lineage_reused", field=where)
    if ref.get("mass_g") != link.mass_g:
        raise RuleViolation(f"{where}.mass_g differs from the hand-off", code="lineage_broken",
                            field=where)
    link.child_entry = ctx.index
    return link.mass_g


def on_disposed(ctx: AppendContext) -> None:
    """custody.disposed: the disposer records utilisation or disposal of what it holds."""
    e, data = ctx.entry, ctx.entry.data
    batch = _live_batch(ctx)
    if batch.holder == e.org:
        _holder_overrides_answer(ctx, batch)
    if batch.holder != e.org or batch.state != RECEIVED:
        raise PermissionDenied("only the disposer holding a received batch may dispose of it",
                               code="not_holder", field="org")
    method = data.get("method")
    if method not in ("utilisation", "disposal"):
        raise PayloadInvalid("data.method is utilisation or disposal", code="field_invalid",
                             field="data.method")
    _not_in_storage(ctx, batch)
    method_code = _method_code(ctx, data, method)
    claim = _claimed(ctx, batch)
    if claim is not None and claim.stage != METHOD_STAGES[method]:
        raise RuleViolation(f"{method} is {METHOD_STAGES[method]}; the exemption claimed is "
                            f"for {claim.stage}", code="exemption_stage_invalid",
                            field="data.exemption.stage")
    # Under a claimed exemption no business permit is needed (清单: 不按危险废物管理).
    permit_no = _str(data, "permit", max_len=64, required=claim is None)
    activity = "utilise" if method == "utilisation" else "dispose"
    permit = ctx.session.scalars(select(Permit).where(Permit.org == e.org,
                                                      Permit.number == permit_no)).first()
    if batch.hazardous and claim is None and (permit is None or not permit_covers(
            permit, batch.waste_code, activity, _entry_day(e))):
        raise RuleViolation(f"permit {permit_no} does not cover {activity} of "
                            f"{batch.waste_code}", code="permit_not_covering",
                            field="data.permit")
    mass = _mass(data)
    assert mass is not None
    ctx.session.add(Disposal(batch=batch.code, disposer=e.org, method=method,
                             method_code=method_code,
                             permit=permit_no or "", mass_g=mass, entry=ctx.index,
                             t_ms=e.t_ms))
    _stage_left_undone(ctx, batch, METHOD_STAGES[method])
    if claim is not None:
        ctx.session.add(ExemptionClaim(
            batch=batch.code, disposal_entry=ctx.index, org=e.org, edition=claim.edition,
            item=claim.item, row=claim.row, stage=claim.stage, by_release=False,
            by_answer=False, fits=True, claimed_at=ctx.index, claimed_t_ms=e.t_ms))
    batch.state = DISPOSED
    batch.updated_at = ctx.index


def _method_code(ctx: AppendContext, data: Mapping[str, Any], method: str) -> str:
    """The 利用/处置方式 code: once the official list is loaded (before this entry), one of
    its codes, of the entry's method; until then any code of 1-8 characters."""
    code = _str(data, "method_code", max_len=8)
    assert code is not None
    listed = method_codes(ctx.session, ctx.index)
    if listed is None:
        return code
    item = listed.get(code)
    if item is None:
        raise RuleViolation(f"{code} is not a 利用/处置方式 of the loaded list",
                            code="method_code_unknown", field="data.method_code")
    if item.method != method:
        raise RuleViolation(f"{code} ({item.name}) is a code of {item.method}, not {method}",
                            code="method_code_mismatch", field="data.method_code")
    return code


def on_batch_residue(ctx: AppendContext) -> None:
    """batch.residue (seq 0): a disposer declares the residue (次生废物) that utilising or
    disposing of batches produced, as a new batch of its own, each source named by its
    ``custody.disposed`` entry (leaf hash)."""
    e, data = ctx.entry, ctx.entry.data
    code, hazardous = _new_batch_code(ctx)
    holder = organisation(ctx.session, e.org)
    _require_role(holder, {"disposer", "receiver"}, "org")
    sources = data.get("sources")
    if not isinstance(sources, list) or not sources or len(sources) > 1000:
        raise PayloadInvalid("data.sources must list 1-1000 disposals",
                             code="field_invalid", field="data.sources")
    described = _describe(ctx, data, code.waste_code, hazardous)
    if hazardous and is_identified_code(code.waste_code):
        _check_identification(data)
    batch = _new_batch(ctx, e.stream, holder, code.waste_code, hazardous, described, DECLARED)
    seen: set[str] = set()
    for i, ref in enumerate(sources):
        where = f"data.sources[{i}]"
        if not isinstance(ref, dict) or not isinstance(ref.get("entry"), str):
            raise PayloadInvalid(f"{where} needs code and entry", code="field_invalid",
                                 field=where)
        leaf = unb64(ref["entry"], field=f"{where}.entry", length=32)
        disposal = ctx.session.scalars(select(Disposal).join(
            LogEntry, LogEntry.idx == Disposal.entry).where(LogEntry.leaf_hash == leaf)).first()
        if disposal is None or disposal.batch != ref.get("code") or disposal.disposer != e.org:
            raise RuleViolation(f"{where} is not a disposal of yours of that batch",
                                code="residue_source_invalid", field=where)
        if disposal.batch in seen:
            raise PayloadInvalid(f"{where} names a batch twice", code="field_invalid",
                                 field=where)
        seen.add(disposal.batch)
        ctx.session.add(Residue(child=batch.code, source=disposal.batch,
                                disposal_entry=disposal.entry, child_entry=ctx.index))
    ctx.session.flush()


def residue_source(code: str, leaf: bytes) -> dict[str, Any]:
    """How a residue batch names one disposal that produced it."""
    return {"code": code, "entry": prev_field(leaf)}


# --- the person who acted (经办人, HJ 1259) -----------------------------------------------------


def _check_handled_by(data: Mapping[str, Any]) -> None:
    """``data.handled_by``, when present, is the name of the person logged in on the signing
    device (经办人): text of 1-50 characters. Entries without it stay valid."""
    if "handled_by" in data:
        name = data["handled_by"]
        if not isinstance(name, str) or not name.strip() or len(name) > 50:
            raise PayloadInvalid("data.handled_by must be a name of 1-50 characters",
                                 code="field_invalid", field="data.handled_by")


def _with_handled_by(handler: KindHandler) -> KindHandler:
    def run(ctx: AppendContext) -> None:
        _check_handled_by(ctx.entry.data)
        handler(ctx)

    run.__doc__ = handler.__doc__
    return run


# --- corrections ------------------------------------------------------------------------------

CORRECTABLE = frozenset({"batch.declared", "custody.released", "custody.accepted",
                         "custody.refused", "custody.disposed"})


def make_correction_handler(settings: CustodySettings) -> KindHandler:
    def on_corrected(ctx: AppendContext) -> None:
        """custody.corrected: fix the mass of an earlier entry of this batch (更正).

        Nothing is edited: the original entry stays, this one says what it should have said.
        A correction to a handover needs both parties' signatures on this one note."""
        e, data = ctx.entry, ctx.entry.data
        batch = _batch(ctx.session, e.stream)
        _not_withdrawn(batch)
        target = _correction_target(ctx, data)
        mass = _mass(data, "mass_g")
        assert mass is not None
        _str(data, "reason", max_len=500)
        if target.kind == "batch.declared":
            _correct_declared(ctx, batch, target, mass)
        elif target.kind == "custody.disposed":
            _correct_disposal(ctx, batch, target, mass)
        else:
            _correct_handover(ctx, settings, batch, target, mass)
        batch.updated_at = ctx.index

    return on_corrected


def _correction_target(ctx: AppendContext, data: Mapping[str, Any]) -> LogEntry:

    ref = data.get("corrects")
    if not isinstance(ref, str):
        raise PayloadInvalid("data.corrects names the entry's leaf hash", code="field_missing",
                             field="data.corrects")
    leaf = unb64(ref, field="data.corrects", length=32)
    target = ctx.session.scalars(select(LogEntry).where(LogEntry.leaf_hash == leaf)).first()
    if target is None or target.stream != ctx.entry.stream:
        raise RuleViolation("data.corrects is not an entry of this batch",
                            code="correction_target_unknown", field="data.corrects")
    if target.kind not in CORRECTABLE:
        raise RuleViolation(f"{target.kind} entries cannot be corrected",
                            code="correction_not_allowed", field="data.corrects")
    return target


def _require_signers(ctx: AppendContext, orgs: set[str]) -> None:
    missing = orgs - ctx.verdict.signer_orgs
    if missing:
        raise PermissionDenied(
            f"this correction needs the signature of {', '.join(sorted(missing))} too",
            code="cosignature_missing", field="note")


def _correct_declared(ctx: AppendContext, batch: Batch, target: LogEntry, mass: int) -> None:
    _require_signers(ctx, {target.org})
    batch.declared_mass_g = mass
    if batch.holder == batch.generator and batch.state in (DECLARED, REFUSED):
        batch.mass_g = mass


def _correct_disposal(ctx: AppendContext, batch: Batch, target: LogEntry, mass: int) -> None:
    _require_signers(ctx, {target.org})
    disposal = ctx.session.get(Disposal, batch.code)
    assert disposal is not None
    disposal.mass_g = mass


def _correct_handover(ctx: AppendContext, settings: CustodySettings, batch: Batch,
                      target: LogEntry, mass: int) -> None:
    ho = ctx.session.scalars(select(Handover).where(
        (Handover.released_at == target.idx) | (Handover.answered_at == target.idx))).first()
    if ho is None:
        raise RuleViolation("no handover is recorded for that entry",
                            code="correction_target_unknown", field="data.corrects")
    _require_signers(ctx, {ho.from_org, ho.to_org})
    if target.kind == "custody.released":
        ho.released_mass_g = mass
    elif target.kind == "custody.accepted":
        ho.accepted_mass_g = mass
        if batch.holder == ho.to_org and ho.status == "confirmed":
            batch.mass_g = mass
    else:
        ho.refused_mass_g = mass
    if ho.released_mass_g and ho.accepted_mass_g is not None:
        ho.discrepancy = _tolerance_exceeded(ho.released_mass_g, ho.accepted_mass_g, settings)


BatchChangeHook = Callable[[Session, list[str]], object]
"""Called in the append transaction after an entry changed a batch stream, with the streams.

The audit layer registers its reconciliation-summary refresh here at start-up
(``ledger.bootstrap``), so this domain never imports the layer that reads it."""


def _then(handler: KindHandler, after: BatchChangeHook) -> KindHandler:
    """Run a batch kind's handler, then ``after`` in the same transaction, so whatever the hook
    maintains is never older than the log head."""

    def run(ctx: AppendContext) -> None:
        handler(ctx)
        after(ctx.session, [ctx.entry.stream])

    run.__doc__ = handler.__doc__
    return run


def custody_kinds(settings: CustodySettings | None = None,
                  after_batch_change: BatchChangeHook | None = None) -> dict[str, KindHandler]:
    """The kinds this domain adds to the log, with their handlers; ``after_batch_change`` runs
    after every kind that changes a batch."""
    s = settings or CustodySettings()
    batch_kinds: dict[str, KindHandler] = {
        "batch.declared": on_batch_declared,
        "batch.consolidated": make_consolidated_handler(s),
        "batch.refused_part": on_refused_part,
        "custody.released": make_release_handler(s),
        "custody.accepted": make_answer_handler(s, accept=True),
        "custody.refused": make_answer_handler(s, accept=False),
        "custody.consolidated_out": make_handoff_handler(s),
        "custody.disposed": on_disposed,
        "custody.corrected": make_correction_handler(s),
        "custody.withdrawn": on_withdrawn,
        "batch.withdrawn": on_batch_withdrawn,
        "batch.residue": on_batch_residue,
        "storage.in": on_storage_in,
        "storage.out": on_storage_out,
        "custody.carried": on_carried,
    }
    if after_batch_change is not None:
        hook = after_batch_change
        batch_kinds = {kind: _then(h, hook) for kind, h in batch_kinds.items()}
    kinds = {
        "org.registered": on_org_registered,
        "permit.granted": on_permit_granted,
        "vehicle.registered": on_vehicle_registered,
        "facility.registered": on_facility_registered,
        **batch_kinds,
    }
    return {kind: _with_handled_by(h) for kind, h in kinds.items()}


def parent_link(code: str, mass_g: int, leaf: bytes) -> dict[str, Any]:
    """How a consolidated batch names one parent hand-off."""
    return {"code": code, "mass_g": mass_g, "entry": prev_field(leaf)}

