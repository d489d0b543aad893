"""The mass balance (对账) over HTTP, and its exports: CSV and XLSX with Chinese headers, and
the report bundle signed by the operator key.

Regulators see their own region (or a region within it); the operator sees everything; any
other organisation sees only the batches it declared. The use cases are in
``ledger.audit.reconcile``; this module parses, checks who may ask, and serialises. The CLI
(``api.cli_reports``) uses the same exports.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from typing import Any, Final

from flask import Response
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields, validate
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from api.auth import require_principal
from api.extensions import db
from api.rest import schemas as s
from api.runtime import log_config
from ledger.audit.reconcile import (
    DRILLABLE,
    EARLIEST_DAY,
    LATEST_DAY,
    Figures,
    Report,
    ReportFilters,
    Row,
    batches_behind_filters,
    reconcile_filters,
    scope_for,
    signed_report_bundle,
)
from ledger.custody.catalogue import load_catalogue

reports_blp = Blueprint("reports", __name__, url_prefix="/api/v1",
                        description="Mass balance (对账) for regulators: declared, collected, "
                                    "stored, disposed, unaccounted")

FORMATS: Final = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "bundle": "application/json",
}

#: The figures as the exports show them: (field, Chinese header); masses in kg.
FIGURE_COLUMNS: Final = (
    ("declared", "申报量(kg)"),
    ("collected", "已收集(kg)"),
    ("at_generator", "待收集(kg)"),
    ("in_transit", "运输中(kg)"),
    ("in_storage", "贮存中(kg)"),
    ("received_at_disposers", "已接收(kg)"),
    ("disposed_utilisation", "已利用(kg)"),
    ("disposed_disposal", "已处置(kg)"),
    ("refused", "拒收(kg)"),
    ("returned", "退回(kg)"),
    ("unaccounted", "未核清(kg)"),
)
BATCHES_HEADER: Final = "批次数"

#: Each breakdown: (report attribute, sheet and group name, key columns).
BREAKDOWN_SHEETS: Final = (
    ("by_generator", "按产废单位", ("产废单位", "统一社会信用代码")),
    ("by_waste_code", "按废物代码", ("废物代码", "废物类别", "名称")),
    ("by_category", "按废物类别", ("废物类别", "名称")),
    ("by_month", "按月份", ("月份",)),
)
TOTAL: Final = "合计"
CSV_KEY_COLUMNS: Final = ("分组", "产废单位", "统一社会信用代码", "废物代码", "废物类别", "月份",
                          "名称")


# --- exports ---------------------------------------------------------------------------------


def kg_text(grams: int) -> str:
    """Grams as kilograms with exactly three decimals, without going through a float."""
    sign = "-" if grams < 0 else ""
    whole, rest = divmod(abs(grams), 1000)
    return f"{sign}{whole}.{rest:03d}"


def category_of(waste_code: str) -> str:
    """HW category of a catalogue code, GY (一般工业固体废物) otherwise."""
    if load_catalogue().is_hazardous(waste_code):
        return "HW" + waste_code[-2:]
    return "GY"


def _text(value: str) -> str:
    """Text as a spreadsheet shows it, never as a formula: names are typed in by people, and a
    leading = + - @ would make Excel evaluate the cell (CSV/formula injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _key_cells(breakdown: str, row: Row) -> dict[str, str]:
    """The key columns of one row, by Chinese header."""
    if breakdown == "by_generator":
        return {"产废单位": row.name, "统一社会信用代码": row.key}
    if breakdown == "by_waste_code":
        return {"废物代码": row.key, "废物类别": category_of(row.key), "名称": row.name}
    if breakdown == "by_category":
        return {"废物类别": row.key, "名称": row.name}
    return {"月份": row.key}


def report_csv(report: Report) -> bytes:
    """One table, UTF-8 with a BOM (so Excel reads the Chinese): the total, then each
    breakdown's rows, told apart by the 分组 column; masses in kg with three decimals."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*CSV_KEY_COLUMNS, BATCHES_HEADER, *(h for _, h in FIGURE_COLUMNS)])

    def line(group: str, keys: dict[str, str], figures: Figures) -> None:
        writer.writerow([group, *(_text(keys.get(c, "")) for c in CSV_KEY_COLUMNS[1:]),
                         figures.batches,
                         *(kg_text(figures.figure(name)) for name, _ in FIGURE_COLUMNS)])

    line(TOTAL, {}, report.totals)
    for attr, group, _ in BREAKDOWN_SHEETS:
        for row in report.breakdown(attr):
            line(group, _key_cells(attr, row), row.figures)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _filters_zh(report: Report) -> list[tuple[str, Any]]:
    f = report.filters
    return [
        ("报表", "危险废物产生与去向对账（物料平衡）"),
        ("区域", f.region or "全部"),
        ("申报日期自", f.period_from.isoformat() if f.period_from else "不限"),
        ("申报日期至", f.period_to.isoformat() if f.period_to else "不限"),
        ("产废单位", f.generator or "全部"),
        ("废物代码", f.waste_code or "全部"),
        ("废物类别", f.category or "全部"),
        ("查看单位", report.viewer or "平台运营方（全部）"),
        ("日志条目数 (log size)", report.log_size),
        ("日志根哈希 (root, base64)", report.root),
        ("计算时间 (UTC)", report.computed_at),
        ("说明", "质量单位为千克(kg)，保留三位小数；日期按北京时间计。"
                 "合并批次按各原始批次投入量比例归属；未核清 = 申报量 − 各去向之和。"),
    ]


def _sheet(wb: Workbook, title: str, key_headers: Sequence[str],
           rows: Sequence[tuple[Sequence[str], Figures]]) -> None:
    ws = wb.create_sheet(title)
    headers = [*key_headers, BATCHES_HEADER, *(h for _, h in FIGURE_COLUMNS)]
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center")
    for keys, figures in rows:
        ws.append([*keys, figures.batches,
                   *(figures.figure(name) / 1000 for name, _ in FIGURE_COLUMNS)])
        for cell in ws[ws.max_row][: len(key_headers)]:
            cell.data_type = "s"  # text as typed, even if it starts with "="
    first_kg = len(key_headers) + 2
    for row in ws.iter_rows(min_row=2, min_col=first_kg, max_col=len(headers)):
        for cell in row:
            cell.number_format = "#,##0.000"
    for i, header in enumerate(headers, start=1):
        width = max(len(header) * 2, 12) if i > len(key_headers) else 20
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"


def report_xlsx(report: Report) -> bytes:
    """A workbook: 说明 (filters and log state), 汇总, then a sheet per breakdown; masses
    are numbers in kg shown with three decimals; each sheet's header row is frozen."""
    wb = Workbook()
    info = wb.active
    assert info is not None
    info.title = "说明"
    for label, value in _filters_zh(report):
        info.append([label, value])
    info.column_dimensions["A"].width = 26
    info.column_dimensions["B"].width = 60
    _sheet(wb, "汇总", ["分组"], [([TOTAL], report.totals)])
    for attr, title, key_headers in BREAKDOWN_SHEETS:
        rows = [([_key_cells(attr, r).get(h, "") for h in key_headers], r.figures)
                for r in report.breakdown(attr)]
        _sheet(wb, title, key_headers, rows)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def report_filename(report: Report, ext: str) -> str:
    f = report.filters
    parts = ["reconciliation", f.region or "all",
             f.period_from.isoformat() if f.period_from else "start",
             f.period_to.isoformat() if f.period_to else "now"]
    return "-".join(parts) + "." + ext


EXPORTERS: Final[dict[str, Callable[[Report], bytes]]] = {"csv": report_csv, "xlsx": report_xlsx}


# --- schemas ---------------------------------------------------------------------------------


def _day(name: str, description: str) -> fields.Date:
    return fields.Date(load_default=None, data_key=name,
                       validate=validate.Range(min=EARLIEST_DAY, max=LATEST_DAY),
                       metadata={"description": description})


class ReportFiltersSchema(Schema):
    region = fields.String(load_default=None, validate=validate.Regexp(r"^[0-9]{6}$"),
                           metadata={"description": "GB/T 2260 code; includes its sub-regions "
                                                    "(330000 ⊃ 331000 ⊃ 331002). Regulators: "
                                                    "default and limit is their own region"})
    period_from = _day("from", "declared on or after this day (Beijing time)")
    period_to = _day("to", "declared on or before this day (Beijing time)")
    generator = fields.String(load_default=None, validate=validate.Length(min=1, max=18),
                              metadata={"description": "USCC of the generator (产废单位)"})
    waste_code = fields.String(load_default=None, validate=validate.Length(min=8, max=10),
                               metadata={"description": "e.g. 900-039-49"})
    category = fields.String(load_default=None, validate=validate.Length(min=2, max=4),
                             metadata={"description": "HW01..HW50, or GY"})


class ReconciliationQuerySchema(ReportFiltersSchema):
    format = fields.String(load_default="json", validate=validate.OneOf(sorted(FORMATS)),
                           metadata={"description": "json (default), csv, xlsx, or bundle "
                                                    "(the report signed by the operator)"})


class ReconciliationDrilldownQuerySchema(ReportFiltersSchema):
    figure = fields.String(required=True, validate=validate.OneOf(DRILLABLE))
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


class ReconciliationDrilldownSchema(Schema):
    figure = fields.String()
    items = fields.List(fields.String(), metadata={"description": "original batch codes"})
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
    FORMATS["csv"]: {"schema": {"type": "string"}},
    FORMATS["xlsx"]: {"schema": {"type": "string", "format": "binary"}},
}}}


@reports_blp.route("/reconciliation", methods=["GET"])
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
@s.documented_errors(reports_blp, 401, 403, 409, 422)
def get_reconciliation(args: dict[str, Any]) -> Any:
    principal = require_principal()
    filters = scope_for(principal, filters_from(args))
    fmt = args["format"]
    session = db.session()
    if fmt == "bundle":
        body = signed_report_bundle(session, log_config(), filters, principal=principal)
        return _file(body, fmt, "reconciliation.bundle.json")
    report = reconcile_filters(session, filters, principal=principal)
    if fmt in EXPORTERS:
        return _file(EXPORTERS[fmt](report), fmt, report_filename(report, fmt),
                     report.log_size, report.root)
    return report.to_json()


@reports_blp.route("/reconciliation/drilldown", methods=["GET"])
@reports_blp.arguments(ReconciliationDrilldownQuerySchema, location="query")
@reports_blp.response(200, ReconciliationDrilldownSchema)
@reports_blp.doc(
    summary="The original batches behind one figure of the reconciliation",
    description="Same filters and access rules as /reconciliation; `figure` is one of the "
                "figure names (declared, collected, in_transit, ..., disposed, "
                "unaccounted). Codes in order, `limit` per page, continue with `cursor`.")
@s.documented_errors(reports_blp, 401, 403, 422)
def get_drilldown(args: dict[str, Any]) -> Any:
    principal = require_principal()
    filters = scope_for(principal, filters_from(args))
    codes = batches_behind_filters(db.session(), args["figure"], filters, principal=principal,
                                   after=args["cursor"], limit=args["limit"] + 1)
    more = len(codes) > args["limit"]
    codes = codes[: args["limit"]]
    return {"figure": args["figure"], "items": codes,
            "next_cursor": codes[-1] if more and codes else None}


def register(api: Api) -> None:
    """Add the reconciliation endpoints to an app's flask-smorest ``Api``
    (``api.rest.v1.init_app``)."""
    api.register_blueprint(reports_blp)
