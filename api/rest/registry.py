"""Batches and the public register over HTTP: organisations, permits, keys and transfer
manifests, each scoped to what the caller may see."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, TypeVar

from flask import Response
from flask_smorest import Blueprint
from sqlalchemy import Select, select

from api.auth import require_principal
from api.extensions import db
from api.manifest_pdf import manifest_pdf_response, render_manifest_pdf
from api.rest import schemas as s
from api.runtime import log_config
from ledger.audit.manifest_form import handover_alerts, manifest_form
from ledger.audit.queries import (
    batch_detail,
    batch_summary,
    get_visible_manifest,
    list_batches,
    visible_manifests,
)
from ledger.custody.codes import parse_batch_code
from ledger.custody.projections import Handover, Manifest, Organisation, Permit
from ledger.errors import NotFound
from ledger.tlog.models import SigningKey
from ledger.tlog.notes import VerifierKey

custody_blp = Blueprint("custody", __name__, url_prefix="/api/v1",
                        description="Batches, organisations, permits, keys, manifests")


# --- batches and the registry ----------------------------------------------------------------


@custody_blp.route("/batches", methods=["GET"])
@s.authenticated(custody_blp)
@custody_blp.arguments(s.BatchQuerySchema, location="query")
@custody_blp.response(200, s.BatchPageSchema)
@custody_blp.doc(summary="Batches you may see, filtered, ordered by code, cursor-paginated")
@s.documented_errors(custody_blp, 422)
def get_batches(args: dict[str, Any]) -> Any:  # serialised by the response schema
    rows, cursor = list_batches(db.session, require_principal(), args, args["limit"])
    return {"items": [batch_summary(b) for b in rows], "next_cursor": cursor}


@custody_blp.route("/batches/<code>", methods=["GET"])
@s.authenticated(custody_blp)
@s.documented_ok(custody_blp, s.BatchDetailSchema)
@custody_blp.doc(summary="One batch: state, holder, masses, handovers, lineage, verified "
                         "history. The code may also be given as its trace URL.")
@s.documented_errors(custody_blp, 404, 422)
def get_batch(code: str) -> Any:  # serialised by the response schema
    principal = require_principal()
    parsed = parse_batch_code(code, hazardous_only=False).text
    return batch_detail(db.session, principal, parsed, log_config().operator.verifier)


T = TypeVar("T")


def _page(query: Select[T], key: Any, args: dict[str, Any]) -> tuple[list[T], bool]:
    """One page of ``query`` in ``key`` order after the cursor, and whether more follow."""
    if args.get("cursor"):
        query = query.where(key > args["cursor"])
    rows = list(db.session.scalars(query.order_by(key).limit(args["limit"] + 1)))
    more = len(rows) > args["limit"]
    return rows[: args["limit"]], more


def _org_json(o: Organisation) -> dict[str, Any]:
    return {"uscc": o.uscc, "name": o.name, "region": o.region, "roles": o.roles.split(),
            "registered_at": o.registered_at}


@custody_blp.route("/organisations", methods=["GET"])
@custody_blp.arguments(s.PageQuerySchema, location="query")
@s.documented_ok(custody_blp, s.page_of(s.OrganisationSchema, "OrganisationPageSchema"))
@custody_blp.doc(summary="Registered organisations (public register)")
@s.documented_errors(custody_blp, 422)
@s.public(custody_blp)
def get_organisations(args: dict[str, Any]) -> Any:  # serialised by the response schema
    rows, more = _page(select(Organisation), Organisation.uscc, args)
    return {"items": [_org_json(o) for o in rows],
            "next_cursor": rows[-1].uscc if more and rows else None}


@custody_blp.route("/organisations/<uscc>", methods=["GET"])
@s.documented_ok(custody_blp, s.OrganisationDetailSchema)
@custody_blp.doc(summary="One organisation with its permits and keys")
@s.documented_errors(custody_blp, 404)
@s.public(custody_blp)
def get_organisation(uscc: str) -> Any:  # serialised by the response schema
    o = db.session.get(Organisation, uscc)
    if o is None:
        raise NotFound(f"organisation {uscc} is not registered", code="org_unknown")
    body = _org_json(o)
    body["permits"] = [_permit_json(p) for p in db.session.scalars(
        select(Permit).where(Permit.org == uscc))]
    body["keys"] = [_key_json(k) for k in db.session.scalars(
        select(SigningKey).where(SigningKey.org == uscc))]
    return body


def _permit_json(p: Permit) -> dict[str, Any]:
    return {"org": p.org, "number": p.number, "valid_from": p.valid_from,
            "valid_to": p.valid_to, "codes": p.codes.split(), "activities": p.activities.split(),
            "capacity_t": p.capacity_t}


def _key_json(k: SigningKey) -> dict[str, Any]:
    return {"org": k.org, "fingerprint": k.fingerprint, "name": k.name, "label": k.label,
            "vkey": VerifierKey(k.name, k.public_key).vkey, "registered_at": k.registered_at,
            "revoked_at": k.revoked_at}


@custody_blp.route("/permits", methods=["GET"])
@custody_blp.arguments(s.PageQuerySchema, location="query")
@s.documented_ok(custody_blp, s.page_of(s.PermitSchema, "PermitPageSchema"))
@custody_blp.doc(summary="Permits (public register); filter by org")
@s.documented_errors(custody_blp, 422)
@s.public(custody_blp)
def get_permits(args: dict[str, Any]) -> Any:  # serialised by the response schema
    query = select(Permit)
    if args.get("org"):
        query = query.where(Permit.org == args["org"])
    rows, more = _page(query, Permit.number, args)
    return {"items": [_permit_json(p) for p in rows],
            "next_cursor": rows[-1].number if more and rows else None}


@custody_blp.route("/keys", methods=["GET"])
@custody_blp.arguments(s.PageQuerySchema, location="query")
@s.documented_ok(custody_blp, s.page_of(s.KeySchema, "KeyPageSchema"))
@custody_blp.doc(summary="Registered signing keys (public, so anyone can verify); by org")
@s.documented_errors(custody_blp, 422)
@s.public(custody_blp)
def get_keys(args: dict[str, Any]) -> Any:  # serialised by the response schema
    query = select(SigningKey)
    if args.get("org"):
        query = query.where(SigningKey.org == args["org"])
    rows, more = _page(query, SigningKey.fingerprint, args)
    return {"items": [_key_json(k) for k in rows],
            "next_cursor": rows[-1].fingerprint if more and rows else None}


def _manifest_json(m: Manifest) -> dict[str, Any]:
    return {"number": m.number, "origin": m.origin, "destination": m.destination,
            "vehicle": m.vehicle, "carrier": m.carrier, "opened_at": m.opened_at,
            "closed": m.closed_at is not None}


@custody_blp.route("/manifests", methods=["GET"])
@s.authenticated(custody_blp)
@custody_blp.arguments(s.PageQuerySchema, location="query")
@s.documented_ok(custody_blp, s.page_of(s.ManifestSchema, "ManifestPageSchema"))
@custody_blp.doc(summary="Transfer manifests (转移联单) you took part in (a regulator: those "
                         "leaving or reaching its region; the operator: all)")
@s.documented_errors(custody_blp, 422)
def get_manifests(args: dict[str, Any]) -> Any:  # serialised by the response schema
    rows, more = _page(visible_manifests(require_principal()), Manifest.number, args)
    return {"items": [_manifest_json(m) for m in rows],
            "next_cursor": rows[-1].number if more and rows else None}


@custody_blp.route("/manifests/<number>.pdf", methods=["GET"])
@s.authenticated(custody_blp)
@custody_blp.doc(
    summary="One transfer manifest printed in the layout of the national form (PDF)",
    description="移出人, 承运人 and 接收人 parts with every field the log has, and under each "
                "part its signatures: signer, key, Beijing time and log index. Scoped like "
                "GET /manifests/{number}: anyone else gets 404.",
    responses={"200": {"description": "the manifest", "content": {
        "application/pdf": {"schema": {"type": "string", "format": "binary"}}}}})
@s.documented_errors(custody_blp, 404, 503)
def get_manifest_pdf(number: str) -> Response:
    m = get_visible_manifest(db.session, require_principal(), number)
    return manifest_pdf_response(render_manifest_pdf(manifest_form(db.session, m)), m.number)


@custody_blp.route("/alerts", methods=["GET"])
@s.authenticated(custody_blp)
@s.documented_ok(custody_blp, s.AlertListSchema)
@custody_blp.doc(summary="Refusals and weight discrepancies of the handovers you released or "
                         "of your own batches, newest first (转移办法: the receiver tells the "
                         "移出人)")
def get_alerts() -> Any:  # serialised by the response schema
    principal = require_principal()
    return {"items": [asdict(a) for a in handover_alerts(db.session, principal.org)]}


@custody_blp.route("/manifests/<number>", methods=["GET"])
@s.authenticated(custody_blp)
@s.documented_ok(custody_blp, s.ManifestDetailSchema)
@custody_blp.doc(summary="One transfer manifest with its handovers")
@s.documented_errors(custody_blp, 404)
def get_manifest(number: str) -> Any:  # serialised by the response schema
    m = get_visible_manifest(db.session, require_principal(), number)
    body = _manifest_json(m)
    body["handovers"] = [{"batch": h.batch, "status": h.status,
                          "released_mass_g": h.released_mass_g,
                          "accepted_mass_g": h.accepted_mass_g}
                         for h in db.session.scalars(select(Handover).where(
                             Handover.manifest == number))]
    return body
