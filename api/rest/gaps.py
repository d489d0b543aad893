"""Gap findings over HTTP: regulators see their region, others the gaps that involve them."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields, validate

from api.auth import require_principal
from api.exports import XLSX_MIMETYPE, gap_json, gaps_csv, gaps_xlsx
from api.extensions import db
from api.rest.schemas import authenticated, documented_errors, documented_ok, region_field
from api.runtime import reports_session
from api.scoping import gap_settings, scoped_gap_query
from ledger.audit.gaps import GAP_TYPES, find_gaps, get_gap
from ledger.audit.reconcile import log_state
from ledger.errors import NotFound
from ledger.tlog.notes import b64

blp = Blueprint("gaps", __name__, url_prefix="/api/v1",
                description="Gaps in the chain of custody (监管异常)")

class GapQuerySchema(Schema):
    type = fields.List(fields.String(validate=validate.OneOf(GAP_TYPES)), load_default=list)
    severity = fields.String(validate=validate.OneOf(["high", "medium", "low"]))
    region = region_field()
    organisation = fields.String()
    status = fields.String(validate=validate.OneOf(["open", "resolved"]))
    format = fields.String(load_default="json",
                           validate=validate.OneOf(["json", "csv", "xlsx"]))
    cursor = fields.Integer(load_default=0, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class GapSchema(Schema):
    id = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf(GAP_TYPES))
    type_zh = fields.String(required=True)
    severity = fields.String(required=True, metadata={"description": "high, medium or low"})
    region = fields.String(required=True)
    batches = fields.List(fields.String(), required=True)
    organisations = fields.List(fields.String(), required=True)
    entries = fields.List(fields.Integer(), required=True, metadata={"description": "log "
                                                                                   "indices"})
    opened = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "open or resolved"})
    resolved_by = fields.Integer(required=True, allow_none=True,
                                 metadata={"description": "the log index that resolved it"})
    resolved = fields.String(required=True, allow_none=True)
    detail = fields.Dict(required=True, metadata={"description": "per type (docs/gaps.md)"})


class GapLogStateSchema(Schema):
    size = fields.Integer(required=True)
    root = fields.String(required=True, metadata={"description": "base64"})


class GapPageSchema(Schema):
    total = fields.Integer(required=True)
    log = fields.Nested(GapLogStateSchema, required=True,
                        metadata={"description": "the log state the scan began at"})
    items = fields.List(fields.Nested(GapSchema), required=True)
    next_cursor = fields.Integer(required=True, allow_none=True, metadata={
        "description": "give it as ?cursor= for the next page; null on the last page"})


_EXPORT_DOC = {"200": {"description": "the gaps", "content": {
    "application/json": {"schema": GapPageSchema},
    "text/csv; charset=utf-8": {"schema": {"type": "string"}},
    XLSX_MIMETYPE: {"schema": {"type": "string", "format": "binary"}},
}}}


@blp.route("/gaps", methods=["GET"])
@authenticated(blp)
@blp.arguments(GapQuerySchema, location="query")
@documented_ok(blp, GapPageSchema)
@blp.doc(summary="Gap findings, filtered (type may repeat); JSON, CSV or XLSX (Chinese "
                 "headers)", responses=_EXPORT_DOC)
@documented_errors(blp, 403, 422)
def list_gaps(args: dict[str, Any]) -> Any:  # serialised by the response schema
    query = scoped_gap_query(require_principal(), args)
    session = reports_session()
    size, root = log_state(session)
    gaps = find_gaps(session, query, gap_settings(current_app), primary=db.session)
    if args["format"] == "csv":
        return Response(gaps_csv(gaps), mimetype="text/csv; charset=utf-8",
                        headers={"Content-Disposition": "attachment; filename=gaps.csv"})
    if args["format"] == "xlsx":
        return Response(gaps_xlsx(gaps), mimetype=XLSX_MIMETYPE,
                        headers={"Content-Disposition": "attachment; filename=gaps.xlsx"})
    page = gaps[args["cursor"]: args["cursor"] + args["limit"]]
    more = args["cursor"] + args["limit"] < len(gaps)
    return {"total": len(gaps), "log": {"size": size, "root": b64(root)},
            "items": [gap_json(g) for g in page],
            "next_cursor": args["cursor"] + args["limit"] if more else None}


@blp.route("/gaps/<gap_id>", methods=["GET"])
@authenticated(blp)
@documented_ok(blp, GapSchema)
@blp.doc(summary="One gap finding by its id")
@documented_errors(blp, 404)
def one_gap(gap_id: str) -> Any:  # serialised by the response schema
    p = require_principal()
    query = scoped_gap_query(p, {"type": [], "region": None, "organisation": None})
    gap = get_gap(reports_session(), gap_id, query, gap_settings(current_app),
                  primary=db.session)
    if gap is None or (query.organisation and query.organisation not in gap.organisations):
        raise NotFound(f"no gap {gap_id} visible to you", code="gap_not_found")
    return gap_json(gap)


def register(api: Api) -> None:
    api.register_blueprint(blp)


