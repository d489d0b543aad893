"""The operator's registry actions: organisations, their keys and permits, signed by the
operator key and appended like any other entry (so they are in the log, verifiable)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from ledger.tlog.log import (
    LogConfig,
    Receipt,
    append_entry,
    draft_entry,
    log_head,
    require_operator,
)
from ledger.tlog.notes import Signer, VerifierKey, sign_note
from ledger.tlog.rules import KIND_OPERATOR_ROTATED, org_stream


def operator_act(session: Session, config: LogConfig, stream: str, kind: str,
                 data: dict[str, Any]) -> Receipt:
    """Draft, sign with the operator key, append."""
    head = log_head(session)
    require_operator(config, head.operator_vkey)  # say so plainly, not as key_unknown
    operator_org = head.operator_org
    assert operator_org is not None
    draft = draft_entry(session, config, stream=stream, org=operator_org,
                        key=config.operator.verifier.fingerprint, kind=kind, data=data)
    return append_entry(session, sign_note(draft.text, config.operator), config)


def register_org(session: Session, config: LogConfig, uscc: str, name: str, region: str,
                 roles: Sequence[str], contact: str | None = None,
                 phone: str | None = None) -> Receipt:
    data: dict[str, Any] = {"name": name, "region": region, "roles": list(roles)}
    if contact:
        data["contact"] = contact
    if phone:
        data["phone"] = phone
    return operator_act(session, config, org_stream(uscc), "org.registered", data)


def register_key(session: Session, config: LogConfig, org: str, key: VerifierKey,
                 label: str) -> Receipt:
    return operator_act(session, config, org_stream(org), "key.registered",
                        {"vkey": key.vkey, "label": label})


def revoke_key(session: Session, config: LogConfig, org: str, fingerprint: str,
               reason: str) -> Receipt:
    return operator_act(session, config, org_stream(org), "key.revoked",
                        {"key": fingerprint, "reason": reason})


def grant_permit(session: Session, config: LogConfig, org: str, number: str, valid_from: str,
                 valid_to: str, codes: Sequence[str], activities: Sequence[str],
                 capacity_t: int) -> Receipt:
    return operator_act(session, config, org_stream(org), "permit.granted", {
        "number": number, "valid_from": valid_from, "valid_to": valid_to,
        "codes": list(codes), "activities": list(activities), "capacity_t": capacity_t})


def register_vehicle(session: Session, config: LogConfig, org: str, plate: str,
                     transport_permit: str) -> Receipt:
    return operator_act(session, config, org_stream(org), "vehicle.registered",
                        {"plate": plate, "transport_permit": transport_permit})


def register_facility(session: Session, config: LogConfig, org: str, code: str, name: str,
                      type_: str, capacity_kg: int) -> Receipt:
    """A storage facility (贮存设施) of ``org``, signed by the operator for it."""
    return operator_act(session, config, org_stream(org), "facility.registered",
                        {"code": code, "name": name, "type": type_, "capacity_kg": capacity_kg})


def rotate_operator(session: Session, config: LogConfig, new: Signer) -> Receipt:
    """Hand the log over to a new operator key (docs/ledger-format.md, operator.rotated).

    The key in force signs the entry naming the new key, and the new key signs it too; the
    entry is appended with the new key as the checkpoint signer, so every checkpoint from
    this size on is signed by the new key. Whoever runs the log must use the new key after."""
    operator_org = log_head(session).operator_org
    assert operator_org is not None
    old = config.operator
    draft = draft_entry(session, config, stream=org_stream(operator_org), org=operator_org,
                        key=old.verifier.fingerprint, kind=KIND_OPERATOR_ROTATED,
                        data={"old": old.verifier.vkey, "vkey": new.verifier.vkey})
    return append_entry(session, sign_note(draft.text, old, new), replace(config, operator=new))
