"""The mass balance (对账) over HTTP, and its exports: CSV and XLSX with Chinese headers, and
the report bundle signed by the operator key.

Regulators see their own region (or a region within it); the operator sees everything; any
other organisation sees only the batches it declared. The use cases are in
``ledger.audit.reconcile``; this module parses, checks who may ask, and serialises. The CLI
(``api.cli.reports``) uses the same exports.
"""

from __future__ import annotations

from typing import Any, Final

from flask import Response
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields, validate

from api.auth import require_principal
from api.exports import EXPORTERS, export_report, report_filename
from api.extensions import db
from api.rest import schemas as s
from api.runtime import log_config, reports_session
from ledger.audit.reconcile import (
    DRILLABLE,
    EARLIEST_DAY,
    LATEST_DAY,
    PLAN_FIGURES,
    ReportFilters,
    batches_behind_filters,
    plans_behind_filters,
    reconcile_filters,
    scope_for,
    signed_report_bundle,
)

reports_blp = Blueprint("reports", __name__, url_prefix="/api/v1",
                        description="Mass balance (对账) for regulators: declared, collected, "
                                    "stored, disposed, unaccounted")

FORMATS: Final = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "bundle": "application/json",
}

# --- schemas ---------------------------------------------------------------------------------


def _day(name: str, description: str) -> fields.Date:
    return fields.Date(load_default=None, data_key=name,
                       validate=validate.Range(min=EARLIEST_DAY, max=LATEST_DAY),
                       metadata={"description": description})


class ReportFiltersSchema(Schema):
    region = s.region_field(load_default=None,
                           metadata={"description": "GB/T 2260 code; includes its sub-regions "
                                                    "(330000 ⊃ 331000 ⊃ 331002). Regulators: "
                                                    "default and limit is their own region"})
    period_from = _day("from", "declared on or after this day (Beijing time)")
    period_to = _day("to", "declared on or before this day (Beijing time)")
    generator = fields.String(load_default=None, validate=validate.Length(equal=18),
                              metadata={"description": "USCC of the generator (产废单位)"})
    waste_code = s.waste_code_field(load_default=None,
                               metadata={"description": "e.g. 900-039-49"})
    category = s.category_field("GY", load_default=None,
                             metadata={"description": "HW01..HW50, or GY"})


class ReconciliationQuerySchema(ReportFiltersSchema):
    format = fields.String(load_default="json", validate=validate.OneOf(sorted(FORMATS)),
                           metadata={"description": "json (default), csv, xlsx, or bundle "
                                                    "(the report signed by the operator)"})


class ReconciliationDrilldownQuerySchema(ReportFiltersSchema):
    figure = fields.String(required=True, validate=validate.OneOf((*DRILLABLE, *PLAN_FIGURES)))
    cursor = fields.String(load_default=None,
                           validate=validate.Regexp(r"^[0-9A-Z]{1,37}$"),
                           metadata={"description": "the last code of the previous page"})
    limit = fields.Integer(load_default=1000, validate=validate.Range(min=1, max=10_000))


class ReconciliationFiguresSchema(Schema):
    batches = fields.Integer(metadata={"description": "original batches (not consolidated)"})
    declared = fields.Integer(metadata={"description": "申报量, g"})
    collected = fields.Integer(metadata={"description": "已收集: accepted by the first "
                                                        "receiver, g"})
    at_generator = fields.Integer(metadata={"description": "待收集: still with its generator"})
    returned = fields.Integer(metadata={"description": "退回: back with its generator after "
                                                       "a refusal"})
    in_transit = fields.Integer(metadata={"description": "运输中: with a transporter, or a "
                                                         "handover has one side signed"})
    in_storage = fields.Integer(metadata={"description": "贮存中: at a collector or transfer "
                                                         "station"})
    received_at_disposers = fields.Integer(metadata={"description": "已接收: at a disposer"})
    disposed_utilisation = fields.Integer(metadata={"description": "已利用"})
    disposed_disposal = fields.Integer(metadata={"description": "已处置"})
    disposed = fields.Integer(metadata={"description": "utilisation + disposal"})
    refused = fields.Integer(metadata={"description": "拒收: with the carrier, whole or part"})
    planned = fields.Integer(metadata={"description": "计划产生量: the plans' generation in "
                                                     "the period, spread by day (docs/plans.md)"})
    reported = fields.Integer(metadata={"description": "申报产生量: the declarations' "
                                                      "generation in the period, spread by day"})
    unaccounted = fields.Integer(metadata={"description": "未核清: declared − all the above "
                                                          "stock figures"})


class ReconciliationRowSchema(ReconciliationFiguresSchema):
    key = fields.String(metadata={"description": "USCC, waste code, category or YYYY-MM"})
    name = fields.String()


class ReportLogStateSchema(Schema):
    size = fields.Integer()
    root = fields.String(metadata={"description": "base64 Merkle root at that size"})


class ReportFiltersOutSchema(Schema):
    region = fields.String(allow_none=True)
    period_from = fields.String(allow_none=True, data_key="from", attribute="from")
    period_to = fields.String(allow_none=True, data_key="to", attribute="to")
    generator = fields.String(allow_none=True)
    waste_code = fields.String(allow_none=True)
    category = fields.String(allow_none=True)
    viewer = fields.String(allow_none=True)


class ExemptHandoverSchema(Schema):
    batch = fields.String()
    from_ = fields.String(data_key="from", attribute="from")
    to = fields.String()
    manifest = fields.String()
    accepted_mass_g = fields.Integer(allow_none=True)
    edition = fields.String(metadata={"description": "catalogue edition of the exemption list"})
    item = fields.Integer(metadata={"description": "清单序号"})
    row = fields.Integer(metadata={"description": "row within the item"})
    stage = fields.String(metadata={"description": "收集, 运输, 利用 or 处置"})
    fits = fields.Boolean(metadata={"description": "false: the gap exemption_misfit"})


class ReconciliationSchema(Schema):
    format = fields.String()
    unit = fields.String(metadata={"description": "g: every mass is integer grams"})
    log = fields.Nested(ReportLogStateSchema)
    computed_at = fields.String()
    filters = fields.Nested(ReportFiltersOutSchema)
    totals = fields.Nested(ReconciliationFiguresSchema)
    by_generator = fields.List(fields.Nested(ReconciliationRowSchema))
    by_waste_code = fields.List(fields.Nested(ReconciliationRowSchema))
    by_category = fields.List(fields.Nested(ReconciliationRowSchema))
    by_month = fields.List(fields.Nested(ReconciliationRowSchema))
    exempt_handovers = fields.List(fields.Nested(ExemptHandoverSchema), metadata={
        "description": "settled handovers under a claimed exemption (豁免管理清单); their "
                       "masses are in the figures like any other"})


class ReconciliationBundleSchema(Schema):
    """format=bundle: the report signed by the operator (docs/reconciliation.md)."""

    format = fields.String(required=True)
    report = fields.Nested(ReconciliationSchema, required=True)
    note = fields.String(required=True, metadata={"description": "the operator's signed note "
                                                                "over the report's hash"})
    checkpoint = fields.String(metadata={"description": "the operator's checkpoint at the "
                                                        "report's log size"})


class ReconciliationDrilldownSchema(Schema):
    figure = fields.String()
    items = fields.List(fields.String(), metadata={
        "description": "original batch codes; for planned and reported, the streams of the "
                       "plans or declarations (plan:<USCC>:<year>, report:<USCC>:<period>)"})
    next_cursor = fields.String(allow_none=True)


# --- views -----------------------------------------------------------------------------------


def filters_from(args: dict[str, Any]) -> ReportFilters:
    return ReportFilters.checked(region=args.get("region"), period_from=args.get("period_from"),
                                 period_to=args.get("period_to"),
                                 generator=args.get("generator"),
                                 waste_code=args.get("waste_code"),
                                 category=args.get("category"))


def _file(body: bytes, fmt: str, filename: str, report_size: int | None = None,
          root: str | None = None) -> Response:
    resp = Response(body, mimetype=FORMATS[fmt])
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    resp.headers["Cache-Control"] = "private, no-cache"
    if report_size is not None and root is not None:
        resp.headers["X-Log-Size"] = str(report_size)
        resp.headers["X-Log-Root"] = root
    return resp


_EXPORT_DOC = {"200": {"description": "the report", "content": {
    "application/json": {"schema": {"oneOf": [
        ReconciliationSchema, ReconciliationBundleSchema]}},
    FORMATS["csv"]: {"schema": {"type": "string"}},
    FORMATS["xlsx"]: {"schema": {"type": "string", "format": "binary"}},
}}}


@reports_blp.route("/reconciliation", methods=["GET"])
@s.authenticated(reports_blp)
@reports_blp.arguments(ReconciliationQuerySchema, location="query")
@reports_blp.response(200, ReconciliationSchema)
@reports_blp.doc(
    summary="Mass balance (对账): declared, collected, in transit, stored, received, "
            "disposed, refused, returned, unaccounted",
    description="Totals and breakdowns by generator, waste code, category and Beijing month "
                "of declaration, in integer grams, for the original batches matching the "
                "filters; consolidated batches are attributed back to them in proportion. "
                "The report names the log size and root it was computed at. Regulators: "
                "their region (403 for another); the operator: all; others: only the batches "
                "they declared. format=csv|xlsx give exports with Chinese headers (kg); "
                "format=bundle gives the report signed by the operator key "
                "(docs/reconciliation.md).",
    responses=_EXPORT_DOC)
@s.documented_errors(reports_blp, 403, 409, 422)
def get_reconciliation(args: dict[str, Any]) -> Any:
    principal = require_principal()
    filters = scope_for(principal, filters_from(args))
    fmt = args["format"]
    session = reports_session()
    if fmt == "bundle":
        body = signed_report_bundle(session, log_config(), filters, principal=principal,
                                    primary=db.session)
        return _file(body, fmt, "reconciliation.bundle.json")
    report = reconcile_filters(session, filters, principal=principal)
    if fmt in EXPORTERS:
        return _file(export_report(fmt, report, db.session), fmt, report_filename(report, fmt),
                     report.log_size, report.root)
    return report.to_json()


@reports_blp.route("/reconciliation/drilldown", methods=["GET"])
@s.authenticated(reports_blp)
@reports_blp.arguments(ReconciliationDrilldownQuerySchema, location="query")
@reports_blp.response(200, ReconciliationDrilldownSchema)
@reports_blp.doc(
    summary="The original batches behind one figure of the reconciliation",
    description="Same filters and access rules as /reconciliation; `figure` is one of the "
                "figure names (declared, collected, in_transit, ..., disposed, "
                "unaccounted; planned and reported name the plans and declarations). "
                "Codes in order, `limit` per page, continue with `cursor`.")
@s.documented_errors(reports_blp, 403, 422)
def get_drilldown(args: dict[str, Any]) -> Any:
    principal = require_principal()
    filters = scope_for(principal, filters_from(args))
    if args["figure"] in PLAN_FIGURES:  # a few per enterprise and year: one page
        return {"figure": args["figure"], "next_cursor": None, "items": plans_behind_filters(
            reports_session(), args["figure"], filters, principal=principal)}
    codes = batches_behind_filters(reports_session(), args["figure"], filters, principal=principal,
                                   after=args["cursor"], limit=args["limit"] + 1)
    more = len(codes) > args["limit"]
    codes = codes[: args["limit"]]
    return {"figure": args["figure"], "items": codes,
            "next_cursor": codes[-1] if more and codes else None}


def register(api: Api) -> None:
    """Add the reconciliation endpoints to an app's flask-smorest ``Api``
    (``api.rest.v1.init_app``)."""
    api.register_blueprint(reports_blp)
