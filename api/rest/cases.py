"""Cases (问题清单) over HTTP: the list and one case with its signed entries, evidence uploads
and downloads, the 问题清单 workbook. Steps of a case are signed entries and go through
``POST /api/v1/drafts/<kind>`` and ``POST /api/v1/entries`` like every other kind."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

from flask import Response, current_app, request, send_file
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields, validate

from api.auth import require_principal
from api.edge import upload_limit
from api.exports import XLSX_MIMETYPE, case_json, cases_xlsx, entry_json
from api.extensions import db
from api.rest import schemas as s
from api.runtime import log_config
from ledger.audit.cases import (
    STATES,
    CaseFilters,
    case_entries,
    list_cases,
    tally,
    visible_case,
)
from ledger.audit.evidence import case_evidence, evidence_file, evidence_path, store_evidence
from ledger.clock import beijing_today
from ledger.custody.projections import Organisation
from ledger.errors import InvalidInput, PermissionDenied
from ledger.tlog.entries import format_time

blp = Blueprint("cases", __name__, url_prefix="/api/v1",
                description="Cases: 问题 → 交办 → 整改 → 销号 (docs/cases.md)")

SHA256 = r"[0-9a-f]{64}"


class CaseQuerySchema(Schema):
    state = fields.String(validate=validate.OneOf(STATES))
    type = fields.String(validate=validate.Length(min=1, max=64))
    deadline_before = fields.Date()
    organisation = fields.String(validate=validate.Regexp(r"^[0-9A-Z]{18}$"))
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "xlsx"]))


class CaseSchema(Schema):
    """A case (整改案件) as case_json writes it."""

    id = fields.String(required=True)
    region = fields.String(required=True)
    state = fields.String(required=True)
    state_zh = fields.String(required=True)
    source = fields.String(required=True)
    type = fields.String(required=True)
    severity = fields.String(required=True)
    gap = fields.String(required=True, allow_none=True)
    title = fields.String(required=True)
    facts = fields.String(required=True)
    organisations = fields.List(fields.String(), required=True)
    batches = fields.List(fields.String(), required=True)
    assignee = fields.String(required=True, allow_none=True)
    person = fields.String(required=True, allow_none=True)
    measures = fields.String(required=True, allow_none=True)
    deadline = fields.String(required=True, allow_none=True)
    progress = fields.String(required=True, allow_none=True)
    reopened = fields.Integer(required=True)
    opened_at = fields.Integer(required=True)
    opened = fields.String(required=True)
    closed_at = fields.Integer(required=True, allow_none=True)
    closed = fields.String(required=True, allow_none=True)


class CasePageSchema(Schema):
    total = fields.Integer(required=True)
    items = fields.List(fields.Nested(CaseSchema), required=True)


class CaseEntrySchema(Schema):
    index = fields.Integer(required=True)
    seq = fields.Integer(required=True)
    kind = fields.String(required=True)
    org = fields.String(required=True)
    t = fields.String(required=True)
    leaf_hash = fields.String(required=True)
    note = fields.String(required=True)


class CaseDetailSchema(CaseSchema):
    entries = fields.List(fields.Nested(CaseEntrySchema), required=True)


class EvidenceSchema(Schema):
    sha256 = fields.String(required=True)
    media_type = fields.String(required=True)
    size = fields.Integer(required=True)


_CASES_DOC = {"200": {"description": "the cases", "content": {
    "application/json": {"schema": CasePageSchema},
    XLSX_MIMETYPE: {"schema": {"type": "string", "format": "binary"}}}}}


@blp.route("/cases", methods=["GET"])
@s.authenticated(blp)
@blp.arguments(CaseQuerySchema, location="query")
@s.documented_ok(blp, CasePageSchema)
@blp.doc(responses=_CASES_DOC)
@blp.doc(summary="Cases you may see (a regulator: its region; an organisation: the cases "
                 "assigned to it), filtered; JSON or the 问题清单 as XLSX")
def get_cases(args: dict[str, Any]) -> Any:  # serialised by hand: JSON or a workbook
    before = args.get("deadline_before")
    filters = CaseFilters(state=args.get("state"), type=args.get("type"),
                          deadline_before=None if before is None else before.isoformat(),
                          organisation=args.get("organisation"))
    cases = list_cases(db.session, require_principal(), filters)
    if args["format"] == "xlsx":
        summary = tally(cases, beijing_today().isoformat())
        return Response(cases_xlsx(cases, _names(cases), summary), mimetype=XLSX_MIMETYPE,
                        headers={"Content-Disposition": "attachment; filename=cases.xlsx"})
    return {"total": len(cases), "items": [case_json(c) for c in cases]}


def _names(cases: list[Any]) -> dict[str, str]:
    orgs = {c.assignee for c in cases if c.assignee}
    if not orgs:
        return {}
    rows = db.session.query(Organisation.uscc, Organisation.name).filter(
        Organisation.uscc.in_(orgs))
    return {uscc: name for uscc, name in rows}


@blp.route("/cases/<case_id>", methods=["GET"])
@s.authenticated(blp)
@s.documented_ok(blp, CaseDetailSchema)
@s.documented_errors(blp, 404)
@blp.doc(summary="One case with its signed entries in order")
def get_case(case_id: str) -> Any:  # serialised by hand
    case = visible_case(db.session, require_principal(), case_id)
    entries = [entry_json(e) for e in case_entries(db.session, case.id)]
    return {**case_json(case), "entries": entries}


def _evidence_root() -> Path:
    return Path(current_app.config["CASE_EVIDENCE_DIR"])


@blp.route("/cases/<case_id>/evidence", methods=["POST"])
@s.authenticated(blp)
@blp.alt_response(201, schema=EvidenceSchema, description="stored", success=True)
@blp.doc(requestBody={"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary"}}}}}})
@s.documented_errors(blp, 403, 404, 413, 422)
@upload_limit("CASE_EVIDENCE_MAX_BYTES")
@blp.doc(summary="Upload an evidence file (multipart field `file`: JPEG, PNG, WebP, HEIC or "
                 "PDF, at most CASE_EVIDENCE_MAX_BYTES); answers its SHA-256 to name in "
                 "case.responded")
def post_evidence(case_id: str) -> Any:  # serialised by hand
    principal = require_principal()
    case = visible_case(db.session, principal, case_id)
    if principal.org != case.assignee and not (principal.is_regulator or principal.is_operator):
        raise PermissionDenied("only the assignee or a regulator adds evidence to a case",
                               code="case_forbidden", field="org")
    limit = int(current_app.config["CASE_EVIDENCE_MAX_BYTES"])
    upload = request.files.get("file")
    if upload is None:
        raise InvalidInput("send the file as multipart/form-data field 'file'",
                           code="file_missing", field="file")
    data = upload.stream.read(limit + 1)
    stored = store_evidence(db.session, _evidence_root(), case, principal.org, data,
                            log_config().clock(), limit)
    return {"sha256": stored.sha256, "media_type": stored.media_type, "size": stored.size}, 201


@blp.route("/cases/<case_id>/evidence/<sha256>", methods=["GET"])
@s.authenticated(blp)
@blp.doc(responses={"200": {"description": "the file", "content": {
    m: {"schema": {"type": "string", "format": "binary"}}
    for m in ("image/jpeg", "image/png", "image/webp", "image/heic", "application/pdf")}}})
@s.documented_errors(blp, 404, 422)
@blp.doc(summary="An evidence file of a case, to whoever may see the case")
def get_evidence(case_id: str, sha256: str) -> Any:  # a file
    case = visible_case(db.session, require_principal(), case_id)
    if not re.fullmatch(SHA256, sha256):
        raise InvalidInput("the file is named by its SHA-256 in lower-case hex",
                           code="field_invalid", field="sha256")
    path, media_type = evidence_file(db.session, _evidence_root(), case, sha256)
    response = send_file(path, mimetype=media_type, max_age=0, etag=sha256)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox"  # a PDF runs no script of ours
    return response


EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp",
              "image/heic": "heic", "application/pdf": "pdf"}

EXPORT_README = """问题（案件）导出 · case export

case.json        the case as the API shows it, with its entries (index, kind, signer, time)
entries/         each signed entry of the case stream case:<id>, byte for byte as signed
                 (C2SP signed notes; docs/ledger-format.md). File names: <seq>-<kind>.note
evidence/        each evidence file uploaded to the case, named <sha256>.<ext>; a
                 case.responded entry names the files it relies on by that SHA-256, so
                 `sha256sum evidence/*` checks them against the signed entries
evidence.json    for each file: sha256, media type, size, uploading organisation, time

To check the entries' signatures and that they are in the log, verify a full export
(`waste-ledger export DIR`, `python -m ledger.verify DIR`) or each entry's inclusion proof
(GET /api/v1/proofs/inclusion).
"""


@blp.route("/cases/<case_id>/export.zip", methods=["GET"])
@s.authenticated(blp)
@blp.doc(responses={"200": {"description": "a zip of the case", "content": {
    "application/zip": {"schema": {"type": "string", "format": "binary"}}}}})
@s.documented_errors(blp, 404)
@blp.doc(summary="A case as one file for the record (立卷): its signed entries byte for byte "
                 "and every evidence file, to whoever may see the case")
def get_case_export(case_id: str) -> Any:  # a file
    case = visible_case(db.session, require_principal(), case_id)
    entries = case_entries(db.session, case.id)
    files = case_evidence(db.session, case)
    root = _evidence_root()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("README.txt", EXPORT_README)
        z.writestr("case.json", json.dumps({
            **case_json(case),
            "entries": [entry_json(e, note=False) for e in entries]},
            ensure_ascii=False, indent=2))
        for e in entries:
            z.writestr(f"entries/{e.seq:04d}-{e.kind}.note", e.note)
        listed = []
        for f in files:
            path = evidence_path(root, f.sha256)
            if not path.exists():  # listed, so the gap is seen, but not invented
                listed.append({"sha256": f.sha256, "missing": True})
                continue
            z.write(path, f"evidence/{f.sha256}.{EXTENSIONS.get(f.media_type, 'bin')}")
            listed.append({"sha256": f.sha256, "media_type": f.media_type, "size": f.size,
                           "uploaded_by": f.uploaded_by,
                           "uploaded": format_time(f.uploaded_ms)})
        z.writestr("evidence.json", json.dumps(listed, ensure_ascii=False, indent=2))
    return Response(out.getvalue(), mimetype="application/zip", headers={
        "Content-Disposition": f"attachment; filename=case-{case.id}.zip"})


def register(api: Api) -> None:
    api.register_blueprint(blp)
