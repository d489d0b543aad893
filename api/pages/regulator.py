"""The regulator's workspace (生态环境主管部门): mass balance, gaps, batch timelines with
proofs, exports, and verifying an uploaded export or checkpoint.

The views parse the form, call the same use cases as the API (``ledger.audit.reconcile``,
``ledger.audit.gaps`` through ``api.scoping``, ``ledger.audit.queries``,
``ledger.tlog.verify``) and render. A regulator sees its own region (or a region within it);
the operator sees all.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from api.auth import page_principal
from api.edge import raw_form
from api.errors import localised, status_for
from api.exports import XLSX_MIMETYPE, kg_text, table_csv, table_xlsx
from api.exports import gaps_xlsx as gaps_workbook
from api.extensions import db
from api.manifest_pdf import render_manifest_pdf
from api.pages.uploads import UploadRejected, gather_export
from api.rest.registry import manifest_pdf_response
from api.runtime import log_config, reports_session
from api.scoping import gap_settings, scoped_gap_query
from ledger.audit import search as finder
from ledger.audit.cases import (
    ALLOWED_FROM,
    CaseFilters,
    CaseReport,
    CaseSettings,
    case_history,
    case_report,
    list_cases,
    next_case_id,
    open_case_for_gap,
    overdue,
    visible_case,
)
from ledger.audit.gaps import GAP_TYPES, Gap, find_gaps, get_gap
from ledger.audit.manifest_form import manifest_form
from ledger.audit.models import CaseEvidence
from ledger.audit.queries import batch_detail, find_manifests, get_visible_manifest, manifest_legs
from ledger.audit.reconcile import (
    STOCK,
    Report,
    ReportFilters,
    batches_behind_filters,
    reconcile_filters,
    region_bounds,
    scope_for,
    totals_by_region,
    verify_report_bundle,
)
from ledger.clock import beijing_day_start_ms, beijing_minutes, beijing_today
from ledger.custody import editions
from ledger.custody.codes import parse_batch_code
from ledger.custody.principals import Principal
from ledger.custody.projections import Batch, BatchBalance, Organisation
from ledger.custody.regions import region_label, region_name
from ledger.errors import LedgerError, NotFound
from ledger.tlog import export as export_files
from ledger.tlog.checkpoints import SignedCheckpoint, parse_checkpoint, read_checkpoint
from ledger.tlog.cosignatures import CosignerKey, cosigners, parse_cosigner_vkey
from ledger.tlog.log import (
    consistency_proof,
    genesis_operator_vkey,
    inclusion_proof,
    issue_checkpoint,
    latest_checkpoint,
    log_head,
    operator_key_of,
    operator_vkey_at,
    root_at,
)
from ledger.tlog.merkle import verify_consistency, verify_inclusion
from ledger.tlog.models import SigningKey
from ledger.tlog.notes import b64, parse_note, unb64
from ledger.tlog.verify import VerificationFailed, verify_export

bp = Blueprint("regulator", __name__, url_prefix="/regulator")

ROLES: Final = ("regulator", "operator")
GAPS_PER_PAGE: Final = 25
DRILL_PAGE: Final = 100
#: The figures of the mass balance as the dashboard lists them (field, label); kg.
FIGURES: Final = (
    ("declared", _l("申报量")),
    ("collected", _l("已收集")),
    ("at_generator", _l("待收集（在产废单位）")),
    ("returned", _l("退回产废单位")),
    ("in_transit", _l("运输中")),
    ("in_storage", _l("贮存中（收集/中转）")),
    ("received_at_disposers", _l("已接收（利用处置单位）")),
    ("disposed_utilisation", _l("已利用")),
    ("disposed_disposal", _l("已处置")),
    ("refused", _l("拒收")),
    ("unaccounted", _l("未核清")),
)
GAP_TYPE_LABELS: Final = {
    "uncollected_overdue": _l("超期未收集"), "handover_unconfirmed": _l("交接未确认"),
    "in_transit_overdue": _l("运输超时"), "mass_discrepancy": _l("重量差异"),
    "undisposed_overdue": _l("超期未处置"), "stored_overdue": _l("超期贮存"),
    "permit_violation": _l("许可证不符"), "lineage_imbalance": _l("合并拆分不平衡"),
    "refusal_unresolved": _l("拒收未处理"), "manifest_open": _l("联单未关闭"),
    "integrity": _l("完整性"), "generation_anomaly": _l("产生量异常"),
    "exemption_misfit": _l("豁免条件不符"), "case_overdue": _l("整改超期"),
    "plan_missing": _l("管理计划未备案"),
    "plan_exceeded": _l("产生量超出计划"),
    "code_not_in_plan": _l("计划外废物"),
    "receiver_not_in_plan": _l("计划外接收单位"),
    "report_missing": _l("未按期申报"),
    "report_mismatch": _l("申报与台账不符"),
    "refused_part_unresolved": _l("拒收部分逾期未退回或改送预警"),
}
SEVERITY_LABELS: Final = {"high": _l("高"), "medium": _l("中"), "low": _l("低")}
SEVERITY_BADGE: Final = {"high": "bad", "medium": "warn", "low": ""}
STATUS_LABELS: Final = {"open": _l("未解决"), "resolved": _l("已解决")}
KIND_LABELS: Final = {
    "batch.declared": _l("申报"), "batch.consolidated": _l("合并生成"),
    "custody.released": _l("移出（交出方签名）"), "custody.accepted": _l("接收确认"),
    "custody.refused": _l("拒收"), "custody.consolidated_out": _l("合并/拆分转出"),
    "custody.disposed": _l("利用/处置"), "custody.corrected": _l("更正"),
    "custody.withdrawn": _l("撤回交接"), "batch.withdrawn": _l("撤回批次（申报有误）"),
    "custody.carried": _l("承运（承运人签名）"), "batch.refused_part": _l("拒收部分退回"),
}
STATE_LABELS: Final = {
    "declared": _l("待收集"), "pending": _l("交接中"), "stored": _l("贮存中"),
    "in_transit": _l("运输中"), "received": _l("已接收"), "refused": _l("拒收"),
    "consolidated": _l("已合并"), "disposed": _l("已利用/处置"), "withdrawn": _l("已撤回"),
}
METHOD_LABELS: Final = {"utilisation": _l("利用"), "disposal": _l("处置")}
HANDOVER_LABELS: Final = {
    "awaiting_answer": _l("待接收方确认"), "awaiting_release": _l("待交出方签名"),
    "confirmed": _l("已确认"), "refused": _l("已拒收"), "withdrawn": _l("已撤回"),
    "superseded": _l("已改交他方"),
}
DETAIL_LABELS: Final = {
    "declared_mass_g": _l("申报重量"), "threshold_days": _l("期限（天）"),
    "manifest": _l("联单编号"), "missing": _l("缺少"), "released_mass_g": _l("移出重量"),
    "accepted_mass_g": _l("接收重量"), "reason": _l("原因"), "year": _l("年度"),
    "parents_g": _l("来源合计"), "child_g": _l("合并批次重量"), "holder": _l("持有单位"),
    "waste_code": _l("废物代码"), "month": _l("月份"), "declared_g": _l("申报量"),
    "case": _l("问题编号"), "deadline": _l("整改时限"), "state": _l("办理状态"),
    "assignee": _l("责任单位"),
    "refused_mass_g": _l("拒收重量"), "refused_part": _l("收回后的批次"),
}


def kg(grams: int | None) -> str:
    """A single batch's grams as kilograms with thousands separators, exact, without trailing
    zeros ("1,200", "119.5", "0.001")."""
    if grams is None:
        return "—"
    text = kg_text(int(grams))
    sign, body = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, frac = body.split(".")
    frac = frac.rstrip("0")
    return f"{sign}{int(whole):,}" + (f".{frac}" if frac else "")


def tonnes(grams: int | None) -> str:
    """A total's grams as tonnes (吨) with thousands separators and three decimals, i.e. to
    the nearest kilogram (half up): regulators count in tonnes."""
    if grams is None:
        return "—"
    sign = "-" if grams < 0 else ""
    kgs = (abs(int(grams)) + 500) // 1000
    whole, rest = divmod(kgs, 1000)
    return f"{sign}{whole:,}.{rest:03d}"


@bp.app_template_filter("region")
def _region_filter(code: str | None) -> str:
    return region_label(code)


@bp.app_template_filter("reg_kg")
def _kg_filter(grams: int | None) -> str:
    return kg(grams)


@bp.app_template_filter("reg_t")
def _t_filter(grams: int | None) -> str:
    return tonnes(grams)


# --- shared helpers --------------------------------------------------------------------------


def _org_names(usccs: Iterable[str]) -> dict[str, str]:
    wanted = sorted({u for u in usccs if u})
    names: dict[str, str] = {}
    for i in range(0, len(wanted), 500):
        names.update(db.session.execute(select(Organisation.uscc, Organisation.name)
                                        .where(Organisation.uscc.in_(wanted[i:i + 500]))).all())
    return names


def _query_string(params: Mapping[str, Any], keep: tuple[str, ...] = ()) -> str:
    """A query string without the empty parameters (except those in ``keep``: an empty
    status means "all", its absence "open")."""
    clean = [(k, v) for k, v in params.items() if v not in (None, "") or k in keep]
    return urlencode(clean, doseq=True)


# --- 1. the dashboard: mass balance, charts, gaps summary ----------------------------------


@dataclass
class DashboardForm:
    """The dashboard's filters as typed, and the checked ``ReportFilters`` (or the errors)."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    filters: ReportFilters | None = None
    notices: dict[str, str] = field(default_factory=dict)  # said, but not blocking

    def api_params(self) -> dict[str, str]:
        """The same filters as the reconciliation API's query parameters."""
        f = self.filters
        if f is None:
            return {}
        return {k: v for k, v in {
            "region": f.region, "from": f.period_from.isoformat() if f.period_from else None,
            "to": f.period_to.isoformat() if f.period_to else None,
            "generator": f.generator, "waste_code": f.waste_code, "category": f.category,
        }.items() if v}


def _parse_day(text: str, name: str, errors: dict[str, str]) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        errors[name] = _("日期格式应为 年-月-日，例如 2026-01-31")
        return None


def dashboard_form(args: Mapping[str, str], principal: Principal) -> DashboardForm:
    """Read the filters; defaults: this year (Beijing) in the principal's region."""
    today = beijing_today()
    values = {
        "from": args.get("from", dt.date(today.year, 1, 1).isoformat()).strip(),
        "to": args.get("to", today.isoformat()).strip(),
        "region": args.get("region", "").strip(),
        "category": args.get("category", "").strip().upper(),
        "generator": args.get("generator", "").strip().upper(),
        "waste_code": args.get("waste_code", "").strip(),
    }
    form = DashboardForm(values)
    period_from = _parse_day(values["from"], "from", form.errors)
    period_to = _parse_day(values["to"], "to", form.errors)
    if form.errors:
        return form
    generator: str | None = values["generator"]
    if generator:
        # A name is what people type: resolved here, and when it names no single unit the
        # dashboard still shows (unfiltered by unit) with the reason beside the box.
        generator, problem = resolve_generator(principal, values["generator"])
        if problem:
            form.notices["generator"] = problem
        elif generator:
            values["generator_name"] = _org_names([generator]).get(generator, "")
    try:
        checked = ReportFilters.checked(
            region=values["region"] or None, period_from=period_from, period_to=period_to,
            generator=generator or None, waste_code=values["waste_code"] or None,
            category=values["category"] or None)
        form.filters = scope_for(principal, checked)
    except LedgerError as exc:
        form.errors[exc.field or "form"] = localised(exc)
        form.errors["_status"] = str(status_for(exc))
    return form


@dataclass(frozen=True)
class DistrictRow:
    region: str
    name: str
    batches: int
    declared: int
    disposed: int


def by_district(filters: ReportFilters) -> list[DistrictRow]:
    """Declared and disposed per county (the batch's region), for the district chart.

    The caller has already limited the filters to what the principal may see (``scope_for``);
    each county is named by its GB/T 2260 name (``ledger/data/regions``), not by the agency
    registered there."""
    rows = totals_by_region(db.session, filters)
    return [DistrictRow(r.region, region_name(r.region), r.batches, r.declared_g,
                        r.disposed_g) for r in rows]


def chart_data(report: Report, districts: list[DistrictRow]) -> dict[str, Any]:
    """What the charts draw (tonnes, as numbers), read by regulator/dashboard.js."""
    def kgs(grams: int) -> float:  # tonnes, to the kilogram
        return round(grams / 1_000_000, 3)

    return {
        "labels": {"declared": _("申报量 (t)"), "disposed": _("利用/处置量 (t)")},
        "by_month": {"keys": [r.key for r in report.by_month],
                     "declared": [kgs(r.figures.declared) for r in report.by_month],
                     "disposed": [kgs(r.figures.disposed) for r in report.by_month]},
        "by_category": {"keys": [r.key for r in report.by_category],
                        "names": [r.name for r in report.by_category],
                        "declared": [kgs(r.figures.declared) for r in report.by_category],
                        "disposed": [kgs(r.figures.disposed) for r in report.by_category]},
        "by_district": {"keys": [d.region for d in districts],
                        "names": [d.name for d in districts],
                        "declared": [kgs(d.declared) for d in districts],
                        "disposed": [kgs(d.disposed) for d in districts]},
    }


def case_figures(principal: Principal, filters: ReportFilters) -> CaseReport:
    """整改率, 销号率, overdue and recurred for the cases opened in the dashboard's period and
    region (Beijing days; the period's last day included)."""
    start = beijing_day_start_ms(filters.period_from) if filters.period_from else None
    end = (beijing_day_start_ms(filters.period_to + dt.timedelta(days=1))
           if filters.period_to else None)
    return case_report(db.session, principal, region=filters.region, from_ms=start,
                       to_ms=end, today=beijing_today().isoformat())


def percent(rate: float | None) -> str:
    """A rate as a whole percentage ("87%"), or "—" with nothing to count."""
    return "—" if rate is None else f"{round(rate * 100)}%"


@bp.app_template_filter("percent")
def _percent_filter(rate: float | None) -> str:
    return percent(rate)


def _region_names(regions: Iterable[str]) -> dict[str, str]:
    """Each county code with its name ("331002 椒江区")."""
    return {r: region_label(r) for r in regions}


def case_chart_data(report: CaseReport) -> dict[str, Any]:
    """What the case charts draw (counts per month; rates per county, in %)."""
    def pct(rate: float | None) -> float | None:
        return None if rate is None else round(rate * 100, 1)

    return {
        "by_month": {"keys": [m.key for m in report.by_month], "series": [
            {"label": _("立案"), "data": [m.cases for m in report.by_month],
             "colour": "#4a6fa5"},
            {"label": _("已整改"), "data": [m.rectified for m in report.by_month],
             "colour": "#f39800"},
            {"label": _("已销号"), "data": [m.closed for m in report.by_month],
             "colour": "#1f7a3a"},
            {"label": _("超期"), "data": [m.overdue for m in report.by_month],
             "colour": "#c0392b"},
            {"label": _("反弹"), "data": [m.recurred for m in report.by_month],
             "colour": "#8e44ad"}]},
        "by_region": {"keys": [region_label(r.key) for r in report.by_region], "percent": True,
                      "series": [
            {"label": _("整改率 (%)"), "data": [pct(r.rectify_rate) for r in report.by_region],
             "colour": "#f39800"},
            {"label": _("销号率 (%)"), "data": [pct(r.close_rate) for r in report.by_region],
             "colour": "#1f7a3a"}]},
    }


def _open_gaps(principal: Principal, region: str | None) -> list[Gap]:
    query = scoped_gap_query(principal, {"type": [], "region": region, "status": "open"})
    return find_gaps(reports_session(), query, gap_settings(current_app), primary=db.session)


def gap_summary(gaps: list[Gap]) -> list[dict[str, Any]]:
    """Open gaps counted by type, and within each type by severity."""
    counts = Counter((g.type, g.severity) for g in gaps)
    out = []
    for t in GAP_TYPES:
        by_sev = {s: counts.get((t, s), 0) for s in ("high", "medium", "low")}
        if any(by_sev.values()):
            out.append({"type": t, "label": GAP_TYPE_LABELS[t], "total": sum(by_sev.values()),
                        "severity": by_sev})
    return out


@bp.get("/")
def dashboard() -> ResponseReturnValue:
    principal = page_principal(*ROLES)
    form = dashboard_form(request.args, principal)
    figure = request.args.get("figure", "")
    context: dict[str, Any] = {"form": form, "figures": FIGURES, "figure": figure,
                               "region": principal.region if not principal.is_operator
                               else None}
    status = 200
    if form.filters is None:
        status = int(form.errors.pop("_status", "422"))
    else:
        session = reports_session()
        report = reconcile_filters(session, form.filters, principal=principal)
        districts = by_district(form.filters)
        params = form.api_params()
        context.update(report=report, districts=districts,
                       charts=chart_data(report, districts),
                       query=_query_string(params))
        if figure:
            if figure not in {name for name, _label in FIGURES} | {"disposed"}:
                form.errors["figure"] = _("没有这一项统计数")
                status = 422
            else:
                after = request.args.get("after") or None
                codes = batches_behind_filters(session, figure, form.filters,
                                               principal=principal, after=after,
                                               limit=DRILL_PAGE + 1)
                context["drill"] = {"figure": figure, "codes": codes[:DRILL_PAGE],
                                    "rows": drill_rows(codes[:DRILL_PAGE], figure),
                                    "next": codes[DRILL_PAGE - 1] if len(codes) > DRILL_PAGE
                                    else None,
                                    "label": dict(FIGURES).get(figure, _("已利用/处置"))}
        gaps = _open_gaps(principal, form.filters.region)
        context.update(gap_summary=gap_summary(gaps), open_gaps=len(gaps),
                       high_gaps=sum(1 for g in gaps if g.severity == "high"))
        cases_seen = case_figures(principal, form.filters)
        context.update(case_report=cases_seen, case_charts=case_chart_data(cases_seen),
                       region_names=_region_names(r.key for r in cases_seen.by_region))
    context["generators"] = _generator_options(principal)
    context["catalogue"] = editions.in_force(db.session, beijing_today())
    return render_template("regulator/dashboard.html", **context), status


def figure_grams(b: BatchBalance, figure: str) -> int:
    """One batch's share of a dashboard figure (the drill-down's amount column)."""
    if figure == "disposed":
        return b.disposed_utilisation + b.disposed_disposal
    if figure == "unaccounted":
        return b.declared - sum(getattr(b, name) for name in STOCK)
    if figure == "batches":
        return b.declared
    return int(getattr(b, figure))


def drill_rows(codes: list[str], figure: str) -> list[dict[str, Any]]:
    """The batches behind a figure as rows a regulator reads: unit, waste, masses, state,
    dates (Beijing), in the order given."""
    if not codes:
        return []
    rows = {b.code: b for b in db.session.scalars(select(Batch).where(Batch.code.in_(codes)))}
    balances = {b.origin: b for b in db.session.scalars(
        select(BatchBalance).where(BatchBalance.origin.in_(codes)))}
    names = _org_names({b.generator for b in rows.values()} | {b.holder for b in rows.values()})
    out = []
    for code in codes:
        b, bal = rows.get(code), balances.get(code)
        if b is None or bal is None:
            continue
        out.append({"code": code, "generator": b.generator,
                    "generator_name": names.get(b.generator, ""), "waste_code": b.waste_code,
                    "name": b.name, "declared_g": b.declared_mass_g,
                    "figure_g": figure_grams(bal, figure), "state": b.state,
                    "state_label": STATE_LABELS.get(b.state, b.state),
                    "holder_name": names.get(b.holder, b.holder),
                    "declared_on": beijing_minutes(b.declared_t_ms)[:10],
                    "generated_on": b.generated_on})
    return out


DRILL_COLUMNS: Final = (
    ("code", _l("识别码")), ("generator_name", _l("产废单位")),
    ("generator", _l("统一社会信用代码")), ("waste_code", _l("废物代码")),
    ("name", _l("废物名称")), ("declared_kg", _l("申报重量 (kg)")),
    ("figure_kg", _l("该项重量 (kg)")), ("state_label", _l("状态")),
    ("holder_name", _l("持有单位")), ("generated_on", _l("产生日期")),
    ("declared_on", _l("申报日期")),
)
DRILL_EXPORT_MAX: Final = 10_000


@bp.get("/drill.<any(csv, xlsx):fmt>")
def drill_export(fmt: str) -> ResponseReturnValue:
    """The drill-down as CSV (UTF-8 with BOM, for Excel) or XLSX: every batch behind the
    figure, masses in kg."""
    principal = page_principal(*ROLES)
    form = dashboard_form(request.args, principal)
    figure = request.args.get("figure", "")
    if form.filters is None or figure not in {n for n, _x in FIGURES} | {"disposed"}:
        raise NotFound("no such figure", code="figure_unknown", field="figure")
    codes = batches_behind_filters(db.session, figure, form.filters, principal=principal,
                                   limit=DRILL_EXPORT_MAX)
    headers = [str(label) for _k, label in DRILL_COLUMNS]
    rows = []
    for row in drill_rows(codes, figure):
        if fmt == "csv":
            row = {**row, "declared_kg": kg_text(row["declared_g"]),
                   "figure_kg": kg_text(row["figure_g"])}
        else:
            row = {**row, "declared_kg": row["declared_g"] / 1000,
                   "figure_kg": row["figure_g"] / 1000}
        rows.append([row[k] for k, _label in DRILL_COLUMNS])
    if fmt == "csv":
        resp = Response(table_csv(headers, rows), mimetype="text/csv")
    else:
        resp = Response(table_xlsx(_("批次明细"), headers, rows), mimetype=XLSX_MIMETYPE)
    resp.headers["Content-Disposition"] = f"attachment; filename=drill-{figure}.{fmt}"
    return resp


def _generator_options(principal: Principal) -> list[tuple[str, str]]:
    """Generators in the principal's region, for the filter's suggestions."""
    query = (select(Organisation.uscc, Organisation.name)
             .where(Organisation.roles.like("%generator%")).order_by(Organisation.name)
             .limit(1000))
    if not principal.is_operator:
        lo, hi = region_bounds(principal.region)
        query = query.where(Organisation.region >= lo, Organisation.region <= hi)
    return [(r[0], r[1]) for r in db.session.execute(query)]


# --- 2. gaps ---------------------------------------------------------------------------------


def gap_view(g: Gap, names: Mapping[str, str]) -> dict[str, Any]:
    def when(ms: int | None) -> str | None:
        if ms is None:
            return None
        return beijing_minutes(ms)

    return {
        "id": g.id, "type": g.type, "type_label": GAP_TYPE_LABELS[g.type],
        "severity": g.severity, "severity_label": SEVERITY_LABELS[g.severity],
        "badge": SEVERITY_BADGE[g.severity], "region": g.region,
        "batches": list(g.batches),
        "organisations": [(o, names.get(o, "")) for o in g.organisations],
        "entries": list(g.entries), "opened": when(g.opened_ms), "status": g.status,
        "status_label": STATUS_LABELS[g.status], "resolved_by": g.resolved_by,
        "resolved": when(g.resolved_ms),
        "detail": [(DETAIL_LABELS.get(k, k), _detail_value(k, v)) for k, v in g.detail.items()],
    }


def _detail_value(key: str, value: Any) -> str:
    if isinstance(value, int) and key.endswith("_g"):
        return kg(value) + " kg"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return "—" if value is None else str(value)


@dataclass
class GapForm:
    """The gap list's filters as typed, the errors, and the scoped query."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    page: int = 1
    status: int = 200
    found: list[Gap] = field(default_factory=list)
    involved: list[str] = field(default_factory=list)


def gap_form(args: Mapping[str, str], principal: Principal) -> GapForm:
    """Read and check the filters, then find the gaps (open ones unless a status is given)."""
    values = {k: args.get(k, "").strip() for k in
              ("type", "severity", "status", "organisation", "region")}
    if "status" not in args:
        values["status"] = "open"
    form = GapForm(values)
    errors = form.errors
    if values["type"] and values["type"] not in GAP_TYPES:
        errors["type"] = _("没有这种异常类型")
    if values["severity"] and values["severity"] not in SEVERITY_LABELS:
        errors["severity"] = _("严重程度应为 高、中 或 低")
    if values["status"] and values["status"] not in STATUS_LABELS:
        errors["status"] = _("状态应为 未解决 或 已解决")
    if values["region"] and not re.fullmatch(r"[0-9]{6}", values["region"]):
        errors["region"] = _("行政区划代码应为 6 位数字")
    try:
        form.page = max(1, int(args.get("page", "1")))
    except ValueError:
        errors["page"] = _("页码应为正整数")
    if errors:
        form.status = 422
        return form
    try:
        query = scoped_gap_query(principal, {
            "type": [values["type"]] if values["type"] else [],
            "severity": values["severity"] or None, "status": values["status"] or None,
            "region": values["region"] or None, "organisation": None})
    except LedgerError as exc:
        errors[exc.field or "form"] = localised(exc)
        form.status = status_for(exc)
        return form
    found = find_gaps(reports_session(), query, gap_settings(current_app), primary=db.session)
    form.involved = sorted({o for g in found for o in g.organisations})
    if values["organisation"]:
        found = [g for g in found if values["organisation"] in g.organisations]
    form.found = found
    return form


@bp.get("/search")
def search() -> ResponseReturnValue:
    """One box for a company name, USCC, batch code, manifest number or plate (监管检索)."""
    principal = page_principal(*ROLES)
    q = request.args.get("q", "").strip()
    hits = finder.search(db.session, principal, q) if q else []
    if len(hits) == 1 and hits[0].kind == "batch":
        return redirect(url_for("regulator.batch", code=hits[0].key))
    names = _org_names({h.org for h in hits if h.org})
    details = {h.key: finder.manifest_batches(db.session, h.key)
               for h in hits if h.kind == "manifest"}
    trips = {h.key: finder.plate_manifests(db.session, h.key)
             for h in hits if h.kind == "vehicle"}
    return render_template("regulator/search.html", q=q, hits=hits, names=names,
                           manifests=details, trips=trips)


def resolve_generator(principal: Principal, text: str) -> tuple[str | None, str | None]:
    """A generator filter typed as a USCC or as (part of) a company name: (USCC, None), or
    (None, what is wrong) when no single organisation in the region is named."""
    if finder.ALNUM_18.fullmatch(text.upper()):
        return text.upper(), None
    found = [h for h in finder.search(db.session, principal, text, limit=6)
             if h.kind == "organisation"]
    if len(found) == 1:
        return found[0].key, None
    if not found:
        return None, _("辖区内没有名称含“%(q)s”的单位", q=text)
    return None, _("“%(q)s”对应多个单位：%(names)s。请从列表中选择或输入统一社会信用代码",
                   q=text, names="、".join(h.label for h in found[:5]))


@bp.get("/gaps")
def gaps() -> ResponseReturnValue:
    principal = page_principal(*ROLES)
    form = gap_form(request.args, principal)
    values = form.values
    context: dict[str, Any] = {"values": values, "errors": form.errors,
                               "types": GAP_TYPE_LABELS, "severities": SEVERITY_LABELS,
                               "statuses": STATUS_LABELS}
    if form.status != 200:
        return render_template("regulator/gaps.html", **context), form.status
    found = form.found
    pages = max(1, -(-len(found) // GAPS_PER_PAGE))
    page = min(form.page, pages)
    shown = found[(page - 1) * GAPS_PER_PAGE: page * GAPS_PER_PAGE]
    names = _org_names(form.involved)
    filters = {k: values[k] for k in ("type", "severity", "status", "organisation", "region")}
    context.update(
        gaps=[gap_view(g, names) for g in shown], total=len(found), page=page, pages=pages,
        organisations=[(o, names.get(o, "")) for o in form.involved],
        csv_query=_query_string({**filters, "format": "csv"}),
        xlsx_query=_query_string(filters, keep=("status",)),
        page_query=lambda n: _query_string({**values, "page": n}, keep=("status",)))
    return render_template("regulator/gaps.html", **context)


@bp.get("/gaps.xlsx")
def gaps_xlsx() -> ResponseReturnValue:
    """The filtered gaps as a workbook, with the organisations' names beside their codes."""
    principal = page_principal(*ROLES)
    form = gap_form(request.args, principal)
    if form.status != 200:
        return render_template("regulator/gaps.html", values=form.values, errors=form.errors,
                               types=GAP_TYPE_LABELS, severities=SEVERITY_LABELS,
                               statuses=STATUS_LABELS), form.status
    names = _org_names(form.involved)
    resp = Response(gaps_workbook(form.found, names), mimetype=XLSX_MIMETYPE)
    resp.headers["Content-Disposition"] = 'attachment; filename="gaps.xlsx"'
    return resp


@bp.get("/gaps/<path:gap_id>")
def gap(gap_id: str) -> ResponseReturnValue:
    principal = page_principal(*ROLES)
    query = scoped_gap_query(principal, {"type": [], "region": None, "organisation": None})
    found = get_gap(reports_session(), gap_id, query, gap_settings(current_app),
                    primary=db.session)
    if found is None:
        raise NotFound(f"no gap {gap_id} visible to you", code="gap_not_found")
    names = _org_names(found.organisations)
    existing = open_case_for_gap(db.session, found.id)
    return render_template("regulator/gap.html", gap=gap_view(found, names),
                           batches_known=_known_batches(found.batches), existing=existing,
                           form=None if existing else gap_case_form(found, names),
                           js_messages=_case_messages(principal))


def _known_batches(codes: Iterable[str]) -> list[str]:
    """The gap's batches that are on the ledger (a case names only those)."""
    wanted = list(codes)[:100]
    known = set(db.session.scalars(select(Batch.code).where(Batch.code.in_(wanted))))
    return [c for c in wanted if c in known]


# --- 3. a batch's timeline -----------------------------------------------------------------


@dataclass(frozen=True)
class CurrentCheckpoint:
    size: int
    root: str
    note: str


def _checkpoint(covering: int) -> tuple[SignedCheckpoint, CurrentCheckpoint]:
    """The latest checkpoint; a fresh one when the latest does not yet cover entry
    ``covering`` (checkpoints are otherwise issued at most once a minute, and a timeline
    whose newest entries have no proof would be of little use to an inspector)."""
    config = log_config()
    note = latest_checkpoint(db.session, config)
    if parse_checkpoint(note, config.operator.verifier).size <= covering:
        note = issue_checkpoint(db.session, config)
    cp = parse_checkpoint(note, config.operator.verifier)
    return cp, CurrentCheckpoint(cp.size, b64(cp.root), note.decode("utf-8"))


def _key_names(fingerprints: Iterable[str]) -> dict[str, tuple[str, str | None]]:
    wanted = sorted(set(fingerprints))
    rows = db.session.execute(select(SigningKey.fingerprint, SigningKey.name, SigningKey.label)
                              .where(SigningKey.fingerprint.in_(wanted))).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def timeline(detail: dict[str, Any], cp: SignedCheckpoint) -> list[dict[str, Any]]:
    """The batch's entries, oldest first, with who signed, masses, marks and proofs."""
    history = detail["history"]
    orgs = _org_names([e["org"] for e in history] + [
        e["data"].get(k, "") for e in history for k in ("to", "from")
        if isinstance(e["data"].get(k), str)])
    operator = log_config().operator.verifier
    keys = _key_names(e["key"] for e in history)
    keys.setdefault(operator.fingerprint, (operator.name, _("平台运营方密钥")))
    handovers = detail["handovers"]
    out = []
    for e in history:
        data = e["data"]
        item = dict(e)
        item["kind_label"] = KIND_LABELS.get(e["kind"], e["kind"])
        item["org_name"] = orgs.get(e["org"], "")
        key_name, key_label = keys.get(e["key"], ("", None))
        item["key_name"], item["key_label"] = key_name, key_label
        item["when"] = _beijing_time(e["t"])
        item["to_name"] = orgs.get(data.get("to", ""), "") if "to" in data else None
        item["from_name"] = orgs.get(data.get("from", ""), "") if "from" in data else None
        item["discrepancy"] = _discrepancy(e, handovers)
        if e["index"] < cp.size:
            path = inclusion_proof(db.session, e["index"], cp.size)
            item["proof"] = {"hashes": [b64(h) for h in path], "ok": verify_inclusion(
                e["index"], cp.size, unb64(e["leaf_hash"], field="leaf"), path, cp.root),
                "api": url_for("ledger.get_inclusion", index=e["index"], size=cp.size)}
        else:
            item["proof"] = None  # appended after the latest checkpoint
        out.append(item)
    return out


def _beijing_time(t: str) -> str:
    try:
        when = dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        return t
    return beijing_minutes(when)


def _discrepancy(entry: dict[str, Any], handovers: list[dict[str, Any]]) -> dict[str, Any] | None:
    """For an acceptance: the handover's released and accepted masses when they differ."""
    if entry["kind"] != "custody.accepted":
        return None
    data = entry["data"]
    for h in handovers:
        if h["manifest"] == data.get("manifest") and h["from"] == data.get("from") \
                and h["to"] == entry["org"] and h["released_mass_g"] is not None \
                and h["accepted_mass_g"] is not None:
            diff = h["accepted_mass_g"] - h["released_mass_g"]
            if diff == 0:
                return None
            permille = abs(diff) * 1000 // max(h["released_mass_g"], 1)
            return {"released": h["released_mass_g"], "accepted": h["accepted_mass_g"],
                    "diff": diff, "percent": f"{permille / 10:.1f}", "flagged": h["discrepancy"]}
    return None


@bp.get("/batch/<code>")
def batch(code: str) -> ResponseReturnValue:
    principal = page_principal(*ROLES)
    parsed = parse_batch_code(code, hazardous_only=False).text
    detail = batch_detail(db.session, principal, parsed, log_config().operator.verifier)
    cp, current = _checkpoint(max((e["index"] for e in detail["history"]), default=-1))
    entries = timeline(detail, cp)
    names = _org_names([detail["generator"], detail["holder"]]
                       + [h["from"] for h in detail["handovers"]]
                       + [h["to"] for h in detail["handovers"]]
                       + ([detail["disposal"]["disposer"]] if detail["disposal"] else []))
    return render_template(
        "regulator/batch.html", b=detail, entries=entries, names=names, checkpoint=current,
        states=STATE_LABELS, methods=METHOD_LABELS, handover_states=HANDOVER_LABELS,
        verified=bool(entries) and all(e["verified"] for e in entries))


# --- 4b. transfer manifests (转移联单) ----------------------------------------------------------

MANIFEST_LIST_MAX: Final = 200


@bp.get("/manifests")
def manifests() -> ResponseReturnValue:
    """The region's manifests, newest first: by number (or its first digits), a company
    (name or USCC: origin, destination or carrier) and the Beijing days they were opened."""
    principal = page_principal(*ROLES)
    args = {k: request.args.get(k, "").strip() for k in ("number", "company", "from", "to")}
    errors: dict[str, str] = {}
    if args["number"] and not args["number"].isdigit():
        errors["number"] = _("联单号只含数字")
    start = _parse_day(args["from"], "from", errors)
    end = _parse_day(args["to"], "to", errors)
    org = None
    if args["company"]:
        org, why = resolve_generator(principal, args["company"])
        if why:
            errors["company"] = why
    rows: list[Any] = []
    if not errors:
        rows = find_manifests(
            db.session, principal, number=args["number"], org=org,
            start_ms=beijing_day_start_ms(start) if start else None,
            end_ms=beijing_day_start_ms(end + dt.timedelta(days=1)) if end else None,
            limit=MANIFEST_LIST_MAX)
    names = _org_names([o for m in rows for o in (m.origin, m.destination, m.carrier) if o])
    return render_template("regulator/manifests.html", rows=rows, args=args, errors=errors,
                           names=names, limit=MANIFEST_LIST_MAX,
                           opened=lambda m: beijing_minutes(m.opened_t_ms)), \
        422 if errors else 200


@bp.get("/manifests/<number>")
def manifest(number: str) -> ResponseReturnValue:
    """One manifest: its legs (handovers) and, for each, the signed entries — who signed,
    when (Beijing time), the entry's index and whether it is in the latest checkpoint."""
    principal = page_principal(*ROLES)
    m = get_visible_manifest(db.session, principal, number)
    legs = manifest_legs(db.session, m.number)
    entries = [e for _h, es in legs for e in es]
    cp, current = _checkpoint(max((e.idx for e in entries), default=-1))
    keys = _key_names(e.key_fp for e in entries)
    signed = {e.idx: {
        "index": e.idx, "org": e.org, "kind": KIND_LABELS.get(e.kind, e.kind),
        "key": keys.get(e.key_fp, (e.key_fp[:16], None))[0], "when": beijing_minutes(e.t_ms),
        "included": verify_inclusion(e.idx, cp.size, e.leaf_hash,
                                     inclusion_proof(db.session, e.idx, cp.size), cp.root)}
        for e in entries}
    names = _org_names([o for o in (m.origin, m.destination, m.carrier) if o]
                       + [h.from_org for h, _e in legs] + [h.to_org for h, _e in legs])
    return render_template("regulator/manifest.html", m=m, legs=legs, signed=signed,
                           names=names, checkpoint=current, handover_states=HANDOVER_LABELS,
                           opened=beijing_minutes(m.opened_t_ms),
                           arrived=beijing_minutes(m.arrived_t_ms) if m.arrived_t_ms else None)


@bp.get("/manifests/<number>.pdf")
def manifest_pdf(number: str) -> ResponseReturnValue:
    """The manifest printed in the layout of the national form (same scope as the page)."""
    m = get_visible_manifest(db.session, page_principal(*ROLES), number)
    return manifest_pdf_response(render_manifest_pdf(manifest_form(db.session, m)), m.number)


# --- 5. verifying an export or a checkpoint ---------------------------------------------------


@dataclass
class Verdict:
    """What the verify page shows: ✔ or ✘, why, and the figures."""

    what: str  # "export" | "checkpoint" | "bundle" | "label"
    ok: bool
    reason: str
    entries: int | None = None
    size: int | None = None
    root: str | None = None
    facts: list[tuple[str, str]] = field(default_factory=list)
    proof: list[str] = field(default_factory=list)
    proof_link: str | None = None
    batch_link: str | None = None  # a label's batch: its timeline with the inclusion proofs


@dataclass(frozen=True)
class WitnessPolicy:
    """The witnesses the regulator trusts (their vkeys) and how many must have cosigned."""

    keys: list[CosignerKey]
    quorum: int


def witness_policy(vkeys_text: str, quorum_text: str) -> WitnessPolicy:
    """Parse the verify form's witness fields: one vkey per line; the quorum defaults to all."""
    try:
        keys = [parse_cosigner_vkey(line) for line in vkeys_text.split() if line]
    except LedgerError as exc:
        raise UploadRejected(_("见证方公钥无效：%(why)s", why=localised(exc))) from None
    if not quorum_text.strip():
        return WitnessPolicy(keys, len(keys))
    if not quorum_text.strip().isascii() or not quorum_text.strip().isdigit() \
            or not 0 <= int(quorum_text) <= len(keys):
        raise UploadRejected(_("联署门槛应是 0 到 %(n)s 之间的整数（不超过所填见证方公钥数）",
                               n=len(keys)))
    return WitnessPolicy(keys, int(quorum_text))


def _cosigned_fact(note: bytes, policy: WitnessPolicy) -> tuple[str, str]:
    signed = cosigners(parse_note(note), policy.keys)
    names = ", ".join(k.name for k in signed) or "—"
    return _("见证方联署"), _("%(n)s / %(m)s（需要 %(k)s）：%(names)s", n=len(signed),
                               m=len(policy.keys), k=policy.quorum, names=names)


def verify_uploaded_export(files: list[FileStorage],
                           policy: WitnessPolicy | None = None) -> Verdict:
    """Verify an uploaded export against this platform's operator key (and, with ``policy``, a
    quorum of witness cosignatures on its checkpoint), then compare it with this log: its root
    must be the root of this log's first N entries."""
    policy = policy or WitnessPolicy([], 0)
    work = Path(tempfile.mkdtemp(prefix="wl-verify-"))
    try:
        gather_export(files, work)
        if not (work / export_files.CHECKPOINT).is_file():
            raise UploadRejected(_("缺少 checkpoint（导出目录中的签名检查点）"))
        operator = operator_key_of(genesis_operator_vkey(db.session))  # the trust anchor
        vkey_file = work / export_files.OPERATOR_VKEY
        facts: list[tuple[str, str]] = []
        if vkey_file.is_file():
            given = vkey_file.read_bytes().decode("utf-8", "replace").strip()
            if given != operator.vkey:
                return Verdict("export", False, _(
                    "导出中的运营方公钥不是本平台的运营方公钥：这不是本平台日志的导出，"
                    "或公钥被替换"))
        if policy.keys:
            facts.append(_cosigned_fact((work / export_files.CHECKPOINT).read_bytes(), policy))
        try:
            summary = verify_export(work, operator=operator, jobs=1, witnesses=policy.keys,
                                    witness_quorum=policy.quorum)
        except VerificationFailed as exc:
            f = exc.failure
            where = "" if f.index is None else _("第 %(i)s 条记录", i=f.index)
            if f.stream:
                where += _("（批次/流 %(s)s）", s=f.stream)
            return Verdict("export", False, _("验证失败：%(where)s %(rule)s — %(message)s",
                                              where=where, rule=f.rule, message=f.message),
                           facts=facts)
        facts.append((_("批次/流数量"), str(summary.streams)))
        facts.append((_("一致的检查点数"), str(summary.checkpoints)))
        head = log_head(db.session).size
        verdict = Verdict("export", True, "", entries=summary.entries, size=summary.entries,
                          root=b64(summary.root), facts=facts)
        if summary.entries > head:
            verdict.ok = False
            verdict.reason = _("签名与哈希链均有效，但导出有 %(n)s 条记录，本平台日志只有 %(h)s 条",
                               n=summary.entries, h=head)
        elif root_at(db.session, summary.entries) != summary.root:
            verdict.ok = False
            verdict.reason = _("签名有效，但其默克尔根与本平台日志前 %(n)s 条记录的根不同"
                               "（日志分叉）", n=summary.entries)
        else:
            verdict.reason = _("全部 %(n)s 条记录签名有效、哈希链完整，默克尔根与签名检查点一致，"
                               "且与本平台日志（当前 %(h)s 条）的前 %(n)s 条一致",
                               n=summary.entries, h=head)
        return verdict
    finally:
        shutil.rmtree(work, ignore_errors=True)


def verify_checkpoint_text(raw: bytes, policy: WitnessPolicy | None = None) -> Verdict:
    """Check a checkpoint note: the operator's signature, a quorum of witness cosignatures
    (with ``policy``), then that this log's current tree extends it (a consistency proof from
    its size to the current size)."""
    policy = policy or WitnessPolicy([], 0)
    raw = raw.replace(b"\r\n", b"\n").strip(b"\n") + b"\n"
    config = log_config()
    try:
        # signed by the operator key in force at its size (a rotation may lie after it)
        size = read_checkpoint(raw, config.origin).size
        cp = parse_checkpoint(raw, operator_key_of(operator_vkey_at(db.session, size)))
    except LedgerError as exc:
        return Verdict("checkpoint", False, _("检查点无效：%(why)s", why=localised(exc)))
    head = log_head(db.session).size
    verdict = Verdict("checkpoint", True, "", size=cp.size, root=b64(cp.root),
                      facts=[(_("日志来源"), cp.origin), (_("本平台日志当前条数"), str(head))])
    if policy.keys:
        verdict.facts.append(_cosigned_fact(raw, policy))
        if len(cosigners(parse_note(raw), policy.keys)) < policy.quorum:
            verdict.ok = False
            verdict.reason = _("运营方签名有效，但联署该检查点的见证方不足 %(k)s 个",
                               k=policy.quorum)
            return verdict
    if cp.size > head:
        verdict.ok = False
        verdict.reason = _("运营方签名有效，但检查点声称有 %(n)s 条记录，本平台日志只有 %(h)s 条",
                           n=cp.size, h=head)
        return verdict
    path = consistency_proof(db.session, cp.size, head)
    now_root = root_at(db.session, head)
    verdict.proof = [b64(h) for h in path]
    verdict.proof_link = url_for("ledger.get_consistency", old=cp.size, new=head)
    verdict.facts.append((_("本平台当前根哈希"), b64(now_root)))
    if verify_consistency(cp.size, head, cp.root, now_root, path):
        verdict.reason = _("运营方签名有效；一致性证明表明本平台当前日志（%(h)s 条）是该检查点"
                           "（%(n)s 条）的延续，没有被改写", h=head, n=cp.size)
    else:
        verdict.ok = False
        verdict.reason = _("运营方签名有效，但一致性证明不成立：本平台当前日志不是该检查点的延续")
    return verdict


# a report bundle is a JSON report plus two signed notes: a few hundred KB at most
MAX_BUNDLE: Final = 4 * 1024 * 1024


def is_report_bundle(files: list[FileStorage]) -> bool:
    """One uploaded JSON file: the signed report bundle the dashboard offers (an export is a
    .zip/.tar.gz or its binary files, never JSON)."""
    named = [f for f in files if f.filename]
    if len(named) != 1:
        return False
    head = named[0].stream.read(64)
    named[0].stream.seek(0)
    return head.lstrip()[:1] == b"{"


def _bundle_size(raw: bytes) -> int | None:
    """The log size the bundle's report names, read loosely only to pick the operator key in
    force at that size (the strict check is verify_report_bundle's)."""
    try:
        size = json.loads(raw)["report"]["log"]["size"]
    except (ValueError, KeyError, TypeError):
        return None
    return size if isinstance(size, int) and not isinstance(size, bool) else None


def verify_uploaded_bundle(raw: bytes) -> Verdict:
    """Check a report bundle (reports?format=bundle): the operator's signature over the
    report's hash, then that the log state it names is this log's (its root is the root of
    this log's first N entries)."""
    head = log_head(db.session).size
    size = _bundle_size(raw)
    vkey = operator_vkey_at(db.session, size if size is not None and 0 <= size <= head else head)
    try:
        checked = verify_report_bundle(raw, vkey)
    except LedgerError as exc:
        return Verdict("bundle", False, _(
            "这份报表包不可信：它被改动过，或不是本平台运营方签名的。（%(why)s）",
            why=localised(exc)))
    verdict = Verdict("bundle", True, "", size=checked.log_size, root=b64(checked.root),
                      facts=[(_("报表内容 SHA-256"), checked.sha256),
                             (_("本平台日志当前条数"), str(head))])
    if checked.log_size > head:
        verdict.ok = False
        verdict.reason = _("报表包的签名有效，但它依据的台账有 %(n)s 条记录，本平台日志只有 "
                           "%(h)s 条：这不是本平台的报表", n=checked.log_size, h=head)
    elif root_at(db.session, checked.log_size) != checked.root:
        verdict.ok = False
        verdict.reason = _("报表包的签名有效，但它依据的台账与本平台日志不同（日志被改写或分叉）")
    else:
        verdict.reason = _("这份报表由本平台运营方签名，内容没有被改动过；它依据的是本平台台账"
                           "的前 %(n)s 条记录，与本平台日志一致", n=checked.log_size)
    return verdict


def label_code(text: str) -> str:
    """The batch code in a label's QR URL (``<base>/t/<code>``), or the code typed as printed
    (groups separated by spaces); raises InvalidInput for anything else."""
    tail = text.strip().rsplit("/t/", 1)[-1]
    return parse_batch_code(re.split(r"[?#]", tail)[0].replace(" ", "").upper(),
                            hazardous_only=False).text


def verify_label_url(principal: Principal, text: str) -> Verdict:
    """A label's QR URL: every entry of its batch re-verified (the signature, and inclusion
    in the latest checkpoint by a proof computed from this log). Only a batch in the
    regulator's region is shown (batch_detail enforces it)."""
    code = label_code(text)
    detail = batch_detail(db.session, principal, code, log_config().operator.verifier)
    cp, _current = _checkpoint(max((e["index"] for e in detail["history"]), default=-1))
    entries = timeline(detail, cp)
    bad = [e["index"] for e in entries
           if not e["verified"] or e["proof"] is None or not e["proof"]["ok"]]
    facts = [(_("批次识别码"), code), (_("记录条数"), str(len(entries)))]
    if bad:
        return Verdict("label", False, _(
            "这张标签对应批次的记录有 %(n)s 条未通过核验（第 %(which)s 条）：记录可能被改动",
            n=len(bad), which="、".join(map(str, bad))), size=cp.size, root=b64(cp.root),
            facts=facts)
    return Verdict("label", True, _(
        "这张标签对应的批次有 %(n)s 条记录，每条都有正确的签名，并且都在本平台最新签名检查点"
        "所记载的日志中：记录没有被改动", n=len(entries)), size=cp.size, root=b64(cp.root),
        facts=facts, batch_link=url_for("regulator.batch", code=code))


def _verify_page(verdict: Verdict | None = None, error: str | None = None,
                 status: int = 200, checkpoint_text: str = "",
                 witness_fields: Mapping[str, str] | None = None) -> ResponseReturnValue:
    """The page; ``witness_fields`` refills the witness vkeys and quorum the person typed (the
    form is passed in, never read here: this also renders the answer to an oversized upload)."""
    limit_mb = (current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)
    return render_template("regulator/verify.html", verdict=verdict, error=error,
                           limit_mb=limit_mb, checkpoint_text=checkpoint_text,
                           witness_fields=witness_fields or {}), status


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc: RequestEntityTooLarge) -> ResponseReturnValue:
    """An upload beyond MAX_CONTENT_LENGTH (raised while the form is read, even by the CSRF
    check before the view): the verify page with a clear message instead of a bare 413."""
    limit_mb = (current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)
    return _verify_page(error=_("上传的文件超过 %(mb)s MB 的上限。较大的导出请用命令行 "
                                "waste-ledger verify DIR 离线验证", mb=limit_mb), status=413)


@bp.route("/verify", methods=["GET", "POST"])
@raw_form  # a pasted checkpoint with a control character gets the page's own verdict
def verify() -> ResponseReturnValue:
    principal = page_principal(*ROLES)
    if request.method == "GET":
        return _verify_page()
    what = request.form.get("what", "")
    fields = {name: request.form.get(name, "") for name in ("witnesses", "witness_quorum")}
    try:
        policy = witness_policy(fields["witnesses"], fields["witness_quorum"])
    except UploadRejected as exc:
        return _verify_page(error=exc.message, status=422, witness_fields=fields)
    if what == "export":
        files = request.files.getlist("export")
        if is_report_bundle(files):
            data = next(f for f in files if f.filename).read(MAX_BUNDLE + 1)
            if len(data) > MAX_BUNDLE:
                return _verify_page(error=_("报表包过大"), status=422, witness_fields=fields)
            return _verify_page(verify_uploaded_bundle(data), witness_fields=fields)
        try:
            verdict = verify_uploaded_export(files, policy)
        except UploadRejected as exc:
            return _verify_page(error=exc.message, status=422, witness_fields=fields)
        return _verify_page(verdict, witness_fields=fields)
    if what == "checkpoint":
        text = request.form.get("checkpoint", "")
        upload = request.files.get("checkpoint_file")
        raw = upload.read() if upload is not None and upload.filename else text.encode("utf-8")
        if not raw.strip():
            return _verify_page(error=_("请粘贴检查点文本或选择检查点文件"), status=422,
                                checkpoint_text=text, witness_fields=fields)
        return _verify_page(verify_checkpoint_text(raw, policy), checkpoint_text=text,
                            witness_fields=fields)
    if what == "label":
        try:
            return _verify_page(verify_label_url(principal, request.form.get("label_url", "")),
                                witness_fields=fields)
        except LedgerError as exc:
            return _verify_page(error=localised(exc), status=status_for(exc),
                                witness_fields=fields)
    return _verify_page(error=_("请选择要验证的内容：导出或检查点"), status=422)


# --- 5. cases (问题清单) ----------------------------------------------------------------------

CASE_STATE_LABELS: Final = {
    "opened": _l("已立案，待交办"), "assigned": _l("已交办，整改中"),
    "responded": _l("已报送整改情况，待验收"), "returned": _l("验收退回，重新整改"),
    "accepted": _l("验收通过，待销号"), "closed": _l("已销号"), "reopened": _l("已重新打开"),
}


CASE_KIND_LABELS: Final = {
    "case.opened": _l("立案"), "case.assigned": _l("交办"), "case.responded": _l("报送整改情况"),
    "case.reviewed": _l("验收"), "case.closed": _l("销号"), "case.reopened": _l("重新打开"),
}
SOURCE_LABELS: Final = {"gap": _l("异常预警"), "inspection": _l("现场检查"),
                        "public_report": _l("群众举报"), "video_iot": _l("视频/物联监测")}


def _case_messages(principal: Principal) -> dict[str, str]:
    """What the case scripts say (api/static/js/cases/act.js)."""
    return {
        "org": principal.org,
        "device_label": _("网页浏览器（监管部门）") if principal.is_regulator
        else _("网页浏览器（整改单位）"),
        "registering": _("首次在本设备签名：正在为本设备生成并登记签名密钥…"),
        "registered": _("本设备已登记签名密钥 %(name)s", name="{name}"),
        "signing": _("正在签名…"),
        "uploading": _("正在上传 %(name)s…", name="{name}"),
        "done": _("已签名，记录号 %(index)s", index="{index}"),
        "failed": _("没有成功"),
        "network": _("网络不通，请联网后重试"),
        "no_webcrypto": _("这个浏览器不能签名（需要 HTTPS 或本机地址，且支持 Ed25519）"),
        "none_selected": _("请先勾选要交办的问题"),
        "bulk_done": _("已交办 %(n)s 项", n="{n}"),
        "reasons_required": _("退回时请写明原因"),
        "report_required": _("请写明整改情况"),
        "half_signed": _("已签名。请把下面的销号记录整段发给另一位监管部门人员联署"),
        "not_a_note": _("粘贴的不是完整的签名记录"),
        "not_this_case": _("粘贴的不是本问题的销号记录"),
    }


def _case_filters(args: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    values = {k: args.get(k, "").strip() for k in
              ("state", "type", "deadline_before", "organisation")}
    errors: dict[str, str] = {}
    if values["state"] and values["state"] not in CASE_STATE_LABELS:
        errors["state"] = _("没有这种办理状态")
    if values["deadline_before"]:
        try:
            dt.date.fromisoformat(values["deadline_before"])
        except ValueError:
            errors["deadline_before"] = _("日期格式应为 YYYY-MM-DD")
    if values["organisation"] and not finder.ALNUM_18.fullmatch(values["organisation"]):
        errors["organisation"] = _("统一社会信用代码应为 18 位")
    return values, errors


@bp.get("/cases")
def cases() -> ResponseReturnValue:
    """The region's cases, nearest deadline first, filtered by state, type, deadline and
    organisation; several can be assigned at once (signed on this device, one entry each)."""
    principal = page_principal(*ROLES)
    values, errors = _case_filters(request.args)
    context: dict[str, Any] = {"values": values, "errors": errors, "states": CASE_STATE_LABELS,
                               "types": GAP_TYPE_LABELS,
                               "js_messages": _case_messages(principal)}
    if errors:
        return render_template("regulator/cases.html", **context), 422
    found = list_cases(db.session, principal, CaseFilters(
        state=values["state"] or None, type=values["type"] or None,
        deadline_before=values["deadline_before"] or None,
        organisation=values["organisation"] or None))
    everyone = list_cases(db.session, principal, CaseFilters())
    involved = {o for c in everyone for o in (c.assignee, *c.organisations.split()) if o}
    today = beijing_today().isoformat()
    names = _org_names(involved)
    context.update(total=len(found), xlsx_query=_query_string({**values, "format": "xlsx"}),
                   organisations=sorted(((o, names.get(o, "")) for o in involved),
                                        key=lambda p: (p[1], p[0])),
                   cases=[{"case": c, "state": CASE_STATE_LABELS[c.state],
                           "type": GAP_TYPE_LABELS.get(c.type, c.type),
                           "assignee": names.get(c.assignee or "", c.assignee or ""),
                           "involved": c.organisations.split()[0],
                           "assignable": c.state in ALLOWED_FROM["case.assigned"],
                           "overdue": overdue(c, today)} for c in found])
    return render_template("regulator/cases.html", **context)


@bp.get("/cases/<case_id>")
def case_page(case_id: str) -> ResponseReturnValue:
    """One case: what was found, who must rectify what by when, every signed step with its
    evidence, and the next step this regulator may sign (assign, review, close, reopen)."""
    principal = page_principal(*ROLES)
    case = visible_case(db.session, principal, case_id)
    steps = case_history(db.session, case.id)
    orgs = {o for o in (case.assignee, *case.organisations.split()) if o}
    orgs |= {s.org for s in steps} | {s.data.get("assignee", "") for s in steps}
    names = _org_names(orgs)
    evidence = {e.sha256: e for e in db.session.scalars(
        select(CaseEvidence).where(CaseEvidence.case_id == case.id))}
    two_level = bool(current_app.config.get("CASE_TWO_LEVEL_REGIONS")) and CaseSettings(
        frozenset(current_app.config["CASE_TWO_LEVEL_REGIONS"])).two_level(case.region)
    return render_template(
        "regulator/case.html", case=case, names=names, evidence=evidence,
        state=CASE_STATE_LABELS[case.state], type=GAP_TYPE_LABELS.get(case.type, case.type),
        source=SOURCE_LABELS.get(case.source, case.source),
        severity=SEVERITY_LABELS.get(case.severity, case.severity),
        overdue=overdue(case, beijing_today().isoformat()),
        steps=[{"step": s, "label": CASE_KIND_LABELS.get(s.kind, s.kind),
                "when": beijing_minutes(s.t_ms)} for s in steps],
        can={k: case.state in ALLOWED_FROM[k] for k in ALLOWED_FROM},
        two_level=two_level,
        involved=sorted({o for o in (case.assignee, *case.organisations.split()) if o}),
        js_messages=_case_messages(principal))


def gap_case_form(gap: Gap, names: Mapping[str, str]) -> dict[str, Any]:
    """What opening a case from a gap fills in: the next case id, a one-line title, the facts
    in words, and the organisation to assign it to (the first involved)."""
    region = gap.region or ""
    first = gap.organisations[0] if gap.organisations else ""
    label = str(GAP_TYPE_LABELS[gap.type])
    who = names.get(first, first)
    facts = [f"{label}（{gap.id}）"]
    facts += [f"{DETAIL_LABELS.get(k, k)}：{_detail_value(k, v)}" for k, v in gap.detail.items()]
    if gap.batches:
        facts.append(_("涉及批次：%(codes)s", codes="、".join(gap.batches[:20])))
    return {"id": next_case_id(db.session, region, beijing_today().year) if region else "",
            "title": f"{who}：{label}"[:200], "facts": "\n".join(facts)[:5000],
            "assignee": first, "region": region,
            "deadline": (beijing_today() + dt.timedelta(days=30)).isoformat()}
