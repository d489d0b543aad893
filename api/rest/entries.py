"""The log over HTTP: append signed entries (one or a batch), read them, drafts to sign,
the checkpoint, receipts and proofs."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, request
from flask_smorest import Blueprint

from api.auth import require_principal
from api.errors import error_body, localised, status_for
from api.extensions import db
from api.rest import schemas as s
from api.runtime import log_config
from ledger.audit.cases import CASE_STREAM_PREFIX, visible_case
from ledger.audit.models import Case
from ledger.audit.queries import (
    get_visible_batch,
    visible_entries,
)
from ledger.custody.codes import parse_batch_code
from ledger.custody.projections import Batch
from ledger.errors import InvalidInput, LedgerError, PermissionDenied
from ledger.tlog import log
from ledger.tlog.notes import b64
from ledger.tlog.witnessing import cosigned_receipt, current_checkpoint

ledger_blp = Blueprint("ledger", __name__, url_prefix="/api/v1",
                       description="The log: append signed entries, read it, prove it")


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
    case_id = body["stream"].removeprefix(CASE_STREAM_PREFIX)
    if case_id != body["stream"] and db.session.get(Case, case_id) is not None:
        visible_case(db.session, principal, case_id)  # 404 as for GET /cases/<id>
    draft = log.draft_entry(db.session, log_config(), stream=body["stream"], org=body["org"],
                            key=body["key"], kind=kind, data=body["data"], t=body.get("t"))
    text = draft.text.decode("utf-8")
    return {"payload": draft.payload, "payload_text": text.split("\n")[1], "note_text": text}


def _is_batch_code(stream: str) -> bool:
    try:
        return parse_batch_code(stream, hazardous_only=False).text == stream
    except LedgerError:  # not a batch code: a registry stream, or nothing at all
        return False
