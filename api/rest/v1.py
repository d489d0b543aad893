"""The JSON API under /api/v1 (flask-smorest on marshmallow). Views parse, call, serialise."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from apispec import BasePlugin
from flask import Flask, Response, request
from flask_smorest import Api, Blueprint
from sqlalchemy import Select, select

from api.auth import require_principal
from api.edge import PARAMETER_PATTERN
from api.errors import error_body, localised, status_for
from api.extensions import db
from api.ratelimit import login_limits
from api.rest import schemas as s
from api.rest.cases import register as register_cases
from api.rest.collector import register as register_collector
from api.rest.declare_help import register as register_declare_help
from api.rest.gaps import register as register_gaps
from api.rest.generator import parse_generated_on
from api.rest.generator import register as register_generator
from api.rest.labels import register as register_labels
from api.rest.pickups import register as register_pickups
from api.rest.reconciliation import register as register_reports
from api.runtime import log_config
from ledger.audit.queries import (
    batch_detail,
    batch_summary,
    get_visible_batch,
    get_visible_manifest,
    list_batches,
    visible_entries,
    visible_manifests,
)
from ledger.clock import beijing_today
from ledger.custody import access, editions
from ledger.custody.catalogue import is_identified_code
from ledger.custody.codes import parse_batch_code
from ledger.custody.projections import Batch, Handover, Manifest, Organisation, Permit
from ledger.errors import InvalidInput, LedgerError, NotFound, PermissionDenied
from ledger.tlog import log
from ledger.tlog.models import SigningKey
from ledger.tlog.notes import VerifierKey, b64
from ledger.tlog.witnessing import cosigned_receipt, current_checkpoint

ledger_blp = Blueprint("ledger", __name__, url_prefix="/api/v1",
                       description="The log: append signed entries, read it, prove it")
custody_blp = Blueprint("custody", __name__, url_prefix="/api/v1",
                        description="Batches, organisations, permits, keys, manifests")
catalogue_blp = Blueprint("catalogue", __name__, url_prefix="/api/v1",
                          description="国家危险废物名录 (editions side by side)")
auth_blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="Tokens")

ERRORS = (400, 401, 403, 404, 409, 413, 422)


# --- entries ------------------------------------------------------------------------------


def _note_from_request() -> bytes:
    """A note posted as text/plain (exact bytes) or as JSON {"note": "..."}."""
    if request.mimetype == "application/json":
        try:
            body = json.loads(request.get_data())
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput("the body is not valid JSON", code="json_body_invalid",
                               field="body") from None
        if not isinstance(body, dict) or not isinstance(body.get("note"), str):
            raise InvalidInput('send {"note": "<signed note>"}', code="field_missing",
                               field="note")
        unknown = sorted(set(body) - {"note"})
        if unknown:  # as NoteIn's additionalProperties: false says
            raise InvalidInput(f"unknown field {unknown[0]!r}", code="field_unknown",
                               field=unknown[0])
        return body["note"].encode("utf-8", errors="surrogatepass")
    return request.get_data()


def _receipt(r: log.Receipt) -> dict[str, Any]:
    return {"index": r.index, "leaf_hash": b64(r.leaf_hash), "proof": r.proof}


@ledger_blp.route("/entries", methods=["POST"])
@ledger_blp.doc(
    summary="Append one signed entry",
    description="Body: the signed note as text/plain (exact bytes), or JSON {\"note\": ...}. "
                "201 with the receipt; 200 with the first receipt when the same note is "
                "posted again.",
    requestBody={"content": {"text/plain": {"schema": {"type": "string"}},
                             "application/json": {"schema": s.NoteInSchema}}})
@ledger_blp.response(201, s.ReceiptSchema)
@ledger_blp.alt_response(200, schema=s.ReceiptSchema, description="idempotent repeat")
@s.documented_errors(ledger_blp, 400, 403, 404, 409, 413, 422)
@s.public(ledger_blp)  # the signature inside the note is the authorisation
def post_entry() -> Any:  # serialised by the response schema
    receipt = log.append_entry(db.session, _note_from_request(), log_config())
    return _receipt(receipt), 201 if receipt.created else 200


@ledger_blp.route("/entries/batch", methods=["POST"])
@ledger_blp.arguments(s.BatchNotesInSchema)
@ledger_blp.response(200, s.BatchResultsSchema)
@ledger_blp.doc(summary="Append up to 1,000 entries; each accepted or rejected on its own")
@s.documented_errors(ledger_blp, 413, 422)
@s.public(ledger_blp)
def post_entries_batch(body: dict[str, Any]) -> Any:  # serialised by the response schema
    notes = [note.encode("utf-8", errors="surrogatepass") for note in body["notes"]]
    results, accepted = [], 0
    for r in log.append_entries(db.session, notes, log_config()):
        if isinstance(r, LedgerError):
            status = status_for(r)
            results.append({"status": status, "receipt": None,
                            "error": error_body(r.code, status, localised(r),
                                                {r.field: [r.message]} if r.field else {})})
            continue
        accepted += 1
        results.append({"status": 201 if r.created else 200, "receipt": _receipt(r),
                        "error": None})
    return {"results": results, "accepted": accepted, "rejected": len(results) - accepted}


@ledger_blp.route("/entries", methods=["GET"])
@s.authenticated(ledger_blp, "regulator", "operator")
@ledger_blp.arguments(s.EntriesQuerySchema, location="query")
@ledger_blp.response(200, s.EntriesSchema)
@ledger_blp.doc(summary="Read the log in index order (regulators and the operator)",
                description="The entries with start <= index < start + limit that you may "
                            "read: a regulator, the registry and the batches of its region; "
                            "the operator, all. `size` is the whole log's.")
@s.documented_errors(ledger_blp, 422)
def get_entries(args: dict[str, Any]) -> Any:  # serialised by the response schema
    principal = require_principal()  # a regulator or the operator: see @authenticated
    rows = visible_entries(db.session, principal, args["start"], args["limit"])
    return {"size": log.log_head(db.session).size,
            "entries": [{"index": r.idx, "leaf_hash": b64(r.leaf_hash),
                         "note": r.note.decode("utf-8")} for r in rows]}


_TEXT = {"text/plain; charset=utf-8": {"schema": {"type": "string"}}}


@ledger_blp.route("/checkpoint", methods=["GET"])
@ledger_blp.doc(summary="The latest signed checkpoint (c2sp.org/tlog-checkpoint)",
                description="Verify it with the operator's key (GET /api/v1/operator.vkey).",
                responses={"200": {"description": "the signed checkpoint note",
                                   "content": _TEXT}})
@s.public(ledger_blp)
def get_checkpoint() -> Any:  # serialised by the response schema
    note = current_checkpoint(db.session, log_config())
    return Response(note, content_type="text/plain; charset=utf-8")


@ledger_blp.route("/entries/<int:index>/receipt", methods=["GET"])
@ledger_blp.doc(summary="A receipt (c2sp.org/tlog-proof@v1) for entry `index` to the newest "
                        "checkpoint witnesses cosigned, cosignatures included (else the latest)",
                responses={"200": {"description": "the receipt", "content": _TEXT}})
@ledger_blp.arguments(s.EntryPathSchema, location="path")
@s.documented_errors(ledger_blp, 404, 422)
@s.public(ledger_blp)
def get_receipt(args: dict[str, Any], index: int) -> Response:
    proof = cosigned_receipt(db.session, log_config(), index)
    return Response(proof, content_type="text/plain; charset=utf-8")


@ledger_blp.route("/operator.vkey", methods=["GET"])
@ledger_blp.doc(summary="The operator's verifier key (C2SP vkey, one line)",
                description="The key that signs checkpoints and registry entries, as the "
                            "export's operator.vkey holds it (docs/ledger-format.md). Compare "
                            "it with a copy obtained out of band before trusting it.",
                responses={"200": {"description": "name+hex(key ID)+base64(0x01‖public key), "
                                                  "then a newline", "content": _TEXT}})
@s.public(ledger_blp)
def get_operator_vkey() -> Response:
    return Response(log_config().operator.verifier.vkey + "\n",
                    content_type="text/plain; charset=utf-8")


@ledger_blp.route("/proofs/inclusion", methods=["GET"])
@ledger_blp.arguments(s.InclusionQuerySchema, location="query")
@ledger_blp.response(200, s.ProofSchema)
@ledger_blp.doc(summary="Inclusion proof of entry `index` in the tree of `size` entries")
@s.documented_errors(ledger_blp, 404, 422)
@s.public(ledger_blp)
def get_inclusion(args: dict[str, Any]) -> Any:  # serialised by the response schema
    path = log.inclusion_proof(db.session, args["index"], args["size"])
    return {"size": args["size"], "root": b64(log.root_at(db.session, args["size"])),
            "hashes": [b64(h) for h in path]}


@ledger_blp.route("/proofs/consistency", methods=["GET"])
@ledger_blp.arguments(s.ConsistencyQuerySchema, location="query")
@ledger_blp.response(200, s.ProofSchema)
@ledger_blp.doc(summary="Consistency proof from size `old` to size `new`")
@s.documented_errors(ledger_blp, 404, 422)
@s.public(ledger_blp)
def get_consistency(args: dict[str, Any]) -> Any:  # serialised by the response schema
    path = log.consistency_proof(db.session, args["old"], args["new"])
    return {"size": args["new"], "root": b64(log.root_at(db.session, args["new"])),
            "hashes": [b64(h) for h in path]}


@ledger_blp.route("/drafts/<kind>", methods=["POST"])
@s.authenticated(ledger_blp)
@ledger_blp.arguments(s.DraftInSchema)
@ledger_blp.response(200, s.DraftSchema)
@ledger_blp.doc(summary="The exact payload and note text to sign next in a stream")
@s.documented_errors(ledger_blp, 403, 404, 409, 422)
def post_draft(body: dict[str, Any], kind: str) -> Any:  # serialised by the response schema
    principal = require_principal()
    if body["org"] != principal.org:
        raise PermissionDenied("you can draft only for your own organisation",
                               code="org_mismatch", field="org")
    if _is_batch_code(body["stream"]) and db.session.get(Batch, body["stream"]) is not None:
        get_visible_batch(db.session, principal, body["stream"])  # 404 as for the batch
    draft = log.draft_entry(db.session, log_config(), stream=body["stream"], org=body["org"],
                            key=body["key"], kind=kind, data=body["data"], t=body.get("t"))
    text = draft.text.decode("utf-8")
    return {"payload": draft.payload, "payload_text": text.split("\n")[1], "note_text": text}


def _is_batch_code(stream: str) -> bool:
    try:
        return parse_batch_code(stream, hazardous_only=False).text == stream
    except LedgerError:  # not a batch code: a registry stream, or nothing at all
        return False


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


# --- catalogue and auth --------------------------------------------------------------------


def _waste_json(cat: Any, w: Any) -> dict[str, Any]:
    return {"code": w.code, "category": w.category,
            "category_name": cat.category(w.category).name, "industry": w.industry,
            "description": w.description, "hazards": list(w.hazards), "edition": w.edition,
            "identified": is_identified_code(w.code)}


def _edition_of(args: dict[str, Any]) -> Any:
    """The edition asked for, else the one that applies to ``generated_on`` (default today)."""
    if args.get("edition"):
        return editions.catalogue(db.session, args["edition"])
    day = parse_generated_on(args["generated_on"]) if args.get("generated_on") else (
        beijing_today())
    return editions.catalogue(db.session, editions.edition_for(db.session, day.isoformat())
                              .edition)


@catalogue_blp.route("/catalogue", methods=["GET"])
@catalogue_blp.arguments(s.CatalogueQuerySchema, location="query")
@s.documented_ok(catalogue_blp, s.CatalogueSchema)
@catalogue_blp.doc(summary="Search the catalogue by code, category or Chinese text",
                   description="In the edition asked for, else the edition that applies to "
                               "waste generated on generated_on (default: today, Beijing "
                               "time). The answer names the edition.")
@s.documented_errors(catalogue_blp, 404, 422)
@s.public(catalogue_blp)
def get_catalogue(args: dict[str, Any]) -> Any:  # serialised by the response schema
    cat = _edition_of(args)
    if args["q"].strip():
        items = cat.search(args["q"], limit=args["limit"])
    else:
        items = list(cat.codes(args.get("category")))[: args["limit"]]
    return {"edition": cat.edition, "items": [_waste_json(cat, w) for w in items]}


@catalogue_blp.route("/catalogue/editions", methods=["GET"])
@s.documented_ok(catalogue_blp, s.EditionsSchema)
@catalogue_blp.doc(summary="The loaded editions, and whether the edition in force is one")
@s.public(catalogue_blp)
def get_editions() -> Any:  # serialised by the response schema
    now = editions.in_force(db.session, beijing_today())
    return {"editions": [{"edition": e.edition, "effective_from": e.effective_from,
                          "origin": e.origin, "order": e.order}
                         for e in editions.editions(db.session)],
            "in_force": {"edition": now.edition, "effective_from": now.effective_from,
                         "order": now.order, "loaded": now.loaded, "used": now.used,
                         "import_command": None if now.loaded else now.import_command}}


@catalogue_blp.route("/catalogue/<code>", methods=["GET"])
@catalogue_blp.arguments(s.CatalogueEditionQuerySchema, location="query")
@catalogue_blp.arguments(s.WasteCodePathSchema, location="path")
@s.documented_ok(catalogue_blp, s.WasteCodeSchema)
@catalogue_blp.doc(summary="One waste code (900-039-49 or 90003949) of the catalogue edition "
                           "asked for or in force")
@s.documented_errors(catalogue_blp, 404, 422)
@s.public(catalogue_blp)
def get_waste_code(args: dict[str, Any], _path: dict[str, Any],
                   code: str) -> Any:  # serialised by the response schema
    cat = _edition_of(args)
    return _waste_json(cat, editions.waste_entry(cat, code))


@auth_blp.route("/auth/token", methods=["POST"])
@auth_blp.arguments(s.LoginSchema)
@auth_blp.response(201, s.TokenSchema)
@auth_blp.doc(summary="Log in with a username and password; returns a bearer token")
@s.documented_errors(auth_blp, 403, 422, 429)
@login_limits
@s.public(auth_blp)
def post_token(body: dict[str, Any]) -> Any:  # serialised by the response schema
    user = access.check_password(db.session, body["username"], body["password"])
    token = access.issue_token(db.session, user.org, body["label"], user.id)
    return {"token": token, "org": user.org}


class EdgeRulesPlugin(BasePlugin):
    """Says in the document what api.edge refuses before any view runs: a control character
    in a query or path parameter (422 text_control_char). Free-text parameters get the edge's
    pattern; those with a pattern, enum or format of their own already exclude them."""

    def path_helper(self, path: str | None = None, operations: Any = None,
                    parameters: Any = None, **kwargs: Any) -> None:
        for param in parameters or ():
            _forbid_controls(param)

    def operation_helper(self, path: str | None = None, operations: Any = None,
                         **kwargs: Any) -> None:
        for operation in (operations or {}).values():
            for param in operation.get("parameters", ()):
                _forbid_controls(param)


def _forbid_controls(param: Any) -> None:
    if not isinstance(param, dict) or param.get("in") not in ("query", "path"):
        return
    schema = param.get("schema", {})
    schema = schema.get("items", schema) if schema.get("type") == "array" else schema
    if schema.get("type") == "string" and not {"pattern", "enum", "format"} & set(schema):
        schema["pattern"] = PARAMETER_PATTERN


class LedgerApi(Api):
    """flask-smorest's Api with the project's error body as the documented default error."""

    ERROR_SCHEMA = s.ErrorSchema


def init_app(app: Flask) -> None:
    app.config.setdefault("API_TITLE", "waste-ledger")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", "/static/vendor/swagger-ui/")
    app.config.setdefault("API_SPEC_OPTIONS", {"components": {
        "securitySchemes": s.SECURITY_SCHEMES}})
    api = LedgerApi(app, spec_kwargs={"extra_plugins": [EdgeRulesPlugin()]})
    for blp in (ledger_blp, custody_blp, catalogue_blp, auth_blp):
        api.register_blueprint(blp)
    register_labels(api)
    register_gaps(api)
    register_cases(api)
    register_reports(api)
    register_pickups(api)
    register_collector(api)
    register_generator(api)
    register_declare_help(api)
