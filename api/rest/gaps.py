"""Gap findings over HTTP: regulators see their region, others the gaps that involve them."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields, validate
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from api.auth import require_principal
from api.extensions import db
from ledger.audit.gaps import GAP_TYPES, Gap, GapQuery, GapSettings, find_gaps, get_gap
from ledger.custody.codes import region_contains
from ledger.custody.principals import Principal
from ledger.errors import NotFound, PermissionDenied
from ledger.tlog.entries import format_time

blp = Blueprint("gaps", __name__, url_prefix="/api/v1",
                description="Gaps in the chain of custody (监管缺口)")

CSV_HEADERS = ["编号", "类型", "严重程度", "区域", "批次", "相关单位", "开始时间", "状态",
               "解决记录", "说明"]
TYPE_ZH = {
    "uncollected_overdue": "超期未收集", "handover_unconfirmed": "交接未确认",
    "in_transit_overdue": "运输超时", "mass_discrepancy": "重量差异",
    "undisposed_overdue": "超期未处置", "stored_overdue": "超期贮存",
    "permit_violation": "许可证不符", "lineage_imbalance": "合并拆分不平衡",
    "refusal_unresolved": "拒收未处理", "manifest_open": "联单未关闭",
    "integrity": "完整性", "generation_anomaly": "产生量异常",
}


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


def settings_for(app: Flask) -> GapSettings:
    return GapSettings(regions=app.config.get("GAP_THRESHOLDS", {}))


def gap_json(g: Gap) -> dict[str, Any]:
    return {
        "id": g.id, "type": g.type, "type_zh": TYPE_ZH[g.type], "severity": g.severity,
        "region": g.region, "batches": list(g.batches), "organisations": list(g.organisations),
        "entries": list(g.entries), "opened": format_time(g.opened_ms // 1000 * 1000),
        "status": g.status, "resolved_by": g.resolved_by,
        "resolved": None if g.resolved_ms is None else format_time(g.resolved_ms // 1000 * 1000),
        "detail": dict(g.detail),
    }


def _scoped_query(p: Principal, args: dict[str, Any]) -> GapQuery:
    region = args.get("region")
    organisation = args.get("organisation")
    if p.is_regulator and not p.is_operator:
        region = region or p.region

        if not region_contains(p.region, region):
            raise PermissionDenied("a regulator sees its own region only",
                                   code="region_forbidden", field="region")
    elif not p.is_operator:
        if organisation not in (None, p.org):
            raise PermissionDenied("you see the gaps that involve you",
                                   code="permission_denied", field="organisation")
        organisation = p.org
    return GapQuery(now_ms=time.time_ns() // 1_000_000, region=region,
                    types=frozenset(args["type"] or GAP_TYPES), organisation=organisation,
                    status=args.get("status"), severity=args.get("severity"))


def gap_row(g: Gap) -> list[str]:
    """One gap as an export row under ``CSV_HEADERS`` (all text)."""
    j = gap_json(g)
    return [g.id, TYPE_ZH[g.type], g.severity, g.region, " ".join(g.batches),
            " ".join(g.organisations), j["opened"],
            "已解决" if g.resolved_by is not None else "未解决",
            "" if g.resolved_by is None else str(g.resolved_by),
            json.dumps(j["detail"], ensure_ascii=False, sort_keys=True)]


def gaps_csv(gaps: list[Gap]) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(CSV_HEADERS)
    w.writerows(gap_row(g) for g in gaps)
    return "\ufeff" + out.getvalue()  # a BOM, so spreadsheet programs read UTF-8 Chinese


def gaps_xlsx(gaps: list[Gap], names: Mapping[str, str] | None = None) -> bytes:
    """The gaps as a workbook: the CSV's columns (Chinese headers), plus the organisations'
    names when given; every cell text, so nothing typed in becomes a formula."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "监管缺口"
    ws.append([*CSV_HEADERS, *(["相关单位名称"] if names is not None else [])])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for g in gaps:
        row = gap_row(g)
        if names is not None:
            row.append("、".join(names.get(o, o) for o in g.organisations))
        ws.append(row)
        for cell in ws[ws.max_row]:
            cell.data_type = "s"
    widths = (48, 14, 8, 8, 40, 40, 22, 8, 10, 40, 40)
    for index, width in enumerate(widths[:ws.max_column], start=1):
        ws.column_dimensions[get_column_letter(index)].width = width
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@blp.route("/gaps", methods=["GET"])
@blp.arguments(GapQuerySchema, location="query")
@blp.doc(summary="Gap findings, filtered (type may repeat); JSON, CSV or XLSX (Chinese "
                 "headers)")
def list_gaps(args: dict[str, Any]):  # type: ignore[no-untyped-def]
    query = _scoped_query(require_principal(), args)
    gaps = find_gaps(db.session, query, settings_for(current_app))
    if args["format"] == "csv":
        return Response(gaps_csv(gaps), mimetype="text/csv; charset=utf-8",
                        headers={"Content-Disposition": "attachment; filename=gaps.csv"})
    if args["format"] == "xlsx":
        return Response(gaps_xlsx(gaps), mimetype=XLSX_MIMETYPE,
                        headers={"Content-Disposition": "attachment; filename=gaps.xlsx"})
    page = gaps[args["cursor"]: args["cursor"] + args["limit"]]
    more = args["cursor"] + args["limit"] < len(gaps)
    return {"total": len(gaps), "items": [gap_json(g) for g in page],
            "next_cursor": args["cursor"] + args["limit"] if more else None}


@blp.route("/gaps/<gap_id>", methods=["GET"])
@blp.doc(summary="One gap finding by its id")
def one_gap(gap_id: str):  # type: ignore[no-untyped-def]
    p = require_principal()
    query = _scoped_query(p, {"type": [], "region": None, "organisation": None})
    gap = get_gap(db.session, gap_id, query, settings_for(current_app))
    if gap is None or (query.organisation and query.organisation not in gap.organisations):
        raise NotFound(f"no gap {gap_id} visible to you", code="gap_not_found")
    return gap_json(gap)


def register(api: Api) -> None:
    api.register_blueprint(blp)


