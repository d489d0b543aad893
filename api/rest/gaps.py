"""Gap findings over HTTP: regulators see their region, others the gaps that involve them."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields, validate

from api.auth import require_principal
from api.exports import XLSX_MIMETYPE, gap_json, gaps_csv, gaps_xlsx
from api.extensions import db
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
    region = fields.String(validate=validate.Regexp(r"^[0-9]{6}$"))
    organisation = fields.String()
    status = fields.String(validate=validate.OneOf(["open", "resolved"]))
    format = fields.String(load_default="json",
                           validate=validate.OneOf(["json", "csv", "xlsx"]))
    cursor = fields.Integer(load_default=0, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


@blp.route("/gaps", methods=["GET"])
@blp.arguments(GapQuerySchema, location="query")
@blp.doc(summary="Gap findings, filtered (type may repeat); JSON, CSV or XLSX (Chinese "
                 "headers)")
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
@blp.doc(summary="One gap finding by its id")
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


