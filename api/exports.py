"""What the product gives out as files: CSV and XLSX with Chinese headers, shared by the API,
the pages and the CLI (one writer per table, so the three never disagree).

Gaps (监管异常) and the mass balance (对账) are written here; the use cases that compute them
are in ``ledger.audit``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from sqlalchemy.orm import Session

from api.extensions import db
from ledger.audit.cases import CaseReport
from ledger.audit.gaps import Gap
from ledger.audit.ledger_book import LedgerBook
from ledger.audit.models import Case
from ledger.audit.reconcile import Figures, Report, Row
from ledger.clock import beijing_day, beijing_minutes
from ledger.custody.editions import describe_code, editions
from ledger.custody.regions import region_label
from ledger.errors import InvalidInput
from ledger.tlog.entries import format_time
from ledger.tlog.models import LogEntry
from ledger.tlog.notes import b64

XLSX_MIMETYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- gaps ------------------------------------------------------------------------------------

CSV_HEADERS = ["编号", "类型", "严重程度", "区域", "批次", "相关单位", "开始时间（北京时间）",
               "状态", "解决记录", "说明"]
#: The detail's keys in the 说明 column (masses, keys ending in _g, are written in kg).
DETAIL_ZH: Final = {
    "declared_mass_g": "申报重量", "threshold_days": "期限（天）",
    "threshold_hours": "期限（小时）",
    "manifest": "联单编号", "missing": "缺少", "released_mass_g": "移出重量",
    "accepted_mass_g": "接收重量", "accepted_g": "接收重量", "reason": "原因", "year": "年度",
    "parents_g": "来源合计", "child_g": "合并批次重量", "holder": "持有单位",
    "waste_code": "废物代码", "month": "月份", "declared_g": "申报量", "mass_g": "重量",
    "median_g": "中位数", "mad_g": "绝对中位差", "capacity_t": "许可能力（吨）",
    "case": "案件", "assignee": "责任单位", "deadline": "整改时限", "edition": "名录版本",
    "item": "清单项", "row": "行", "stage": "环节", "state": "状态",
    "working_days": "工作日", "calendar_unknown": "节假日安排未知的年份",
    "deadline_estimated": "期限",
    "refused_mass_g": "拒收重量", "refused_part": "收回后的批次",
}
MISSING_ZH: Final = {"answer": "接收方签名", "release": "交出方签名"}


def detail_text(detail: Mapping[str, Any]) -> str:
    """A gap's detail in words a regulator reads: "移出重量：100.000 kg；接收重量：80.000 kg"."""
    parts = []
    for key, value in detail.items():
        if value is None:
            continue
        if key.endswith("_g") and isinstance(value, int):
            text = f"{kg_text(value)} kg"
        elif key == "missing":
            text = MISSING_ZH.get(str(value), str(value))
        elif key == "deadline_estimated":
            text = "该年节假日安排未知，按周一至周五估算"
        elif isinstance(value, list | tuple):
            text = "、".join(str(v) for v in value)
        elif isinstance(value, dict):
            text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        else:
            text = str(value)
        parts.append(f"{DETAIL_ZH.get(key, key)}：{text}")
    return "；".join(parts)


#: Severity as the pages say it (the API's JSON keeps the codes high/medium/low).
SEVERITY_ZH: Final = {"high": "高", "medium": "中", "low": "低"}
TYPE_ZH = {
    "uncollected_overdue": "超期未收集", "handover_unconfirmed": "交接未确认",
    "in_transit_overdue": "运输超时", "mass_discrepancy": "重量差异",
    "undisposed_overdue": "超期未处置", "stored_overdue": "超期贮存",
    "permit_violation": "许可证不符", "lineage_imbalance": "合并拆分不平衡",
    "refusal_unresolved": "拒收未处理", "manifest_open": "联单未关闭",
    "integrity": "完整性", "generation_anomaly": "产生量异常",
    "exemption_misfit": "豁免条件不符", "case_overdue": "整改超期",
    "plan_missing": "管理计划未备案",
    "plan_exceeded": "产生量超出计划",
    "code_not_in_plan": "计划外废物",
    "receiver_not_in_plan": "计划外接收单位",
    "report_missing": "未按期申报",
    "report_mismatch": "申报与台账不符",
    "refused_part_unresolved": "拒收部分逾期未退回或改送预警",
}



def gap_json(g: Gap) -> dict[str, Any]:
    return {
        "id": g.id, "type": g.type, "type_zh": TYPE_ZH[g.type], "severity": g.severity,
        "region": g.region, "batches": list(g.batches), "organisations": list(g.organisations),
        "entries": list(g.entries), "opened": format_time(g.opened_ms // 1000 * 1000),
        "status": g.status, "resolved_by": g.resolved_by,
        "resolved": None if g.resolved_ms is None else format_time(g.resolved_ms // 1000 * 1000),
        "detail": dict(g.detail),
    }


def gap_row(g: Gap) -> list[str]:
    """One gap as an export row under ``CSV_HEADERS`` (all text)."""
    j = gap_json(g)
    return [g.id, TYPE_ZH[g.type], SEVERITY_ZH.get(g.severity, g.severity), region_label(g.region),
            " ".join(g.batches), " ".join(g.organisations), beijing_minutes(g.opened_ms),
            "已解决" if g.resolved_by is not None else "未解决",
            "" if g.resolved_by is None else str(g.resolved_by), detail_text(j["detail"])]


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
    ws.title = "监管异常"
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


# --- cases (问题清单) ---------------------------------------------------------------------------

#: The columns regulators' rectification lists use (问题清单).
CASE_HEADERS: Final = ("序号", "问题", "责任单位", "责任人", "整改措施", "整改时限", "整改进展",
                       "销号情况")
CASE_STATE_ZH: Final = {
    "opened": "已立案，待交办", "assigned": "已交办，整改中", "responded": "已报送整改情况，待验收",
    "returned": "验收退回，重新整改", "accepted": "验收通过，待销号", "closed": "已销号",
    "reopened": "已重新打开",
}


def entry_json(e: LogEntry, *, note: bool = True) -> dict[str, Any]:
    """One signed entry of a case, plan or declaration stream, as the API and the export
    zips list it; ``note`` is the exact signed text (left out where the zip holds the file)."""
    out = {"index": e.idx, "seq": e.seq, "kind": e.kind, "org": e.org,
           "t": format_time(e.t_ms), "leaf_hash": b64(e.leaf_hash)}
    if note:
        out["note"] = e.note.decode("utf-8")
    return out


def case_json(c: Case) -> dict[str, Any]:
    return {
        "id": c.id, "region": c.region, "state": c.state, "state_zh": CASE_STATE_ZH[c.state],
        "source": c.source, "type": c.type, "severity": c.severity, "gap": c.gap_id,
        "title": c.title, "facts": c.facts, "organisations": c.organisations.split(),
        "batches": c.batches.split(), "assignee": c.assignee, "person": c.person,
        "measures": c.measures, "deadline": c.deadline, "progress": c.progress,
        "reopened": c.reopened, "opened_at": c.opened_at,
        "opened": format_time(c.opened_t_ms // 1000 * 1000), "closed_at": c.closed_at,
        "closed": None if c.closed_t_ms is None else format_time(c.closed_t_ms // 1000 * 1000),
    }


def case_row(n: int, c: Case, names: Mapping[str, str]) -> list[str]:
    """One case as a 问题清单 row under ``CASE_HEADERS``."""
    progress = CASE_STATE_ZH[c.state] + (f"：{c.progress}" if c.progress else "")
    closed = "未销号" if c.closed_t_ms is None else f"已销号（{beijing_day(c.closed_t_ms)}）"
    unit = "" if c.assignee is None else f"{names.get(c.assignee, c.assignee)}（{c.assignee}）"
    return [str(n), f"{c.title}：{c.facts}", unit, c.person or "", c.measures or "",
            c.deadline or "", progress, closed]


CASE_SUMMARY_HEADERS: Final = ("区县", "问题数", "已整改", "整改率", "已销号", "销号率",
                                "超期未销号", "反弹")


def _rate(rate: float | None) -> str:
    return "—" if rate is None else f"{round(rate * 100)}%"


def cases_xlsx(cases: Sequence[Case], names: Mapping[str, str],
               summary: CaseReport | None = None) -> bytes:
    """The 问题清单: one row per case, every cell text (nothing typed in becomes a formula);
    with ``summary``, a second sheet 整改汇总: per county and in total, the cases, 整改率,
    销号率, overdue and recurred (反弹)."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "问题清单"
    ws.append(list(CASE_HEADERS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for n, c in enumerate(cases, start=1):
        ws.append(case_row(n, c, names))
        for cell in ws[ws.max_row]:
            cell.data_type = "s"
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    for index, width in enumerate((6, 48, 30, 10, 40, 12, 40, 18), start=1):
        ws.column_dimensions[get_column_letter(index)].width = width
    ws.freeze_panes = "A2"
    if summary is not None:
        sheet = wb.create_sheet("整改汇总")
        sheet.append(list(CASE_SUMMARY_HEADERS))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for f in (*summary.by_region, summary.total):
            label = region_label(f.key) if f.key.isdigit() else f.key
            sheet.append([label, f.cases, f.rectified, _rate(f.rectify_rate), f.closed,
                          _rate(f.close_rate), f.overdue, f.recurred])
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# --- the mass balance ------------------------------------------------------------------------

#: The figures as the exports show them: (field, Chinese header); masses in kg.
FIGURE_COLUMNS: Final = (
    ("declared", "申报量(kg)"),  # recorded on the ledger, batch by batch
    ("planned", "计划产生量(kg)"),  # 管理计划, spread over the period (docs/plans.md)
    ("reported", "申报登记产生量(kg)"),  # 申报登记, spread over the period
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
    """HW category of a code some loaded edition lists (or 900-000-××), GY (一般工业固体废物)
    otherwise."""
    if describe_code(db.session, waste_code) is not None:
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


def _filters_zh(report: Report, editions_note: str) -> list[tuple[str, Any]]:
    f = report.filters
    return [
        ("报表", "危险废物产生与去向对账（物料平衡）"),
        ("区域", region_label(f.region) or "全部"),
        ("申报日期自", f.period_from.isoformat() if f.period_from else "不限"),
        ("申报日期至", f.period_to.isoformat() if f.period_to else "不限"),
        ("产废单位", f.generator or "全部"),
        ("废物代码", f.waste_code or "全部"),
        ("废物类别", f.category or "全部"),
        ("查看单位", report.viewer or "平台运营方（全部）"),
        ("日志条目数 (log size)", report.log_size),
        ("日志根哈希 (root, base64)", report.root),
        ("计算时间 (UTC)", report.computed_at),
        ("说明", "重量单位为千克(kg)，保留三位小数；日期按北京时间计。"
                 "合并批次按各原始批次投入量比例归属；未核清 = 申报量 − 各去向之和。"),
        *([("名录版本", editions_note)] if editions_note else []),
    ]


def editions_note(session: Session) -> str:
    """The catalogue editions loaded, for the 说明 sheet: which edition each batch is checked
    against (the writers themselves read nothing from the database)."""
    return ("；".join(f"{e.edition}年版（{e.effective_from} 起施行）" for e in editions(session))
            + "。每个批次按其产生日期施行的版本核对废物代码。")


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


def report_xlsx(report: Report, editions_note: str = "") -> bytes:
    """A workbook: 说明 (filters and log state), 汇总, then a sheet per breakdown; masses
    are numbers in kg shown with three decimals; each sheet's header row is frozen."""
    wb = Workbook()
    info = wb.active
    assert info is not None
    info.title = "说明"
    for label, value in _filters_zh(report, editions_note):
        info.append([label, value])
    info.column_dimensions["A"].width = 26
    info.column_dimensions["B"].width = 60
    _sheet(wb, "汇总", ["分组"], [([TOTAL], report.totals)])
    for attr, title, key_headers in BREAKDOWN_SHEETS:
        rows = [([_key_cells(attr, r).get(h, "") for h in key_headers], r.figures)
                for r in report.breakdown(attr)]
        _sheet(wb, title, key_headers, rows)
    if report.exempt:
        _exempt_sheet(wb, report)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


EXEMPT_HEADERS: Final = ("批次", "移出单位", "接收单位", "联单编号", "接收量(kg)", "名录版本",
                         "清单序号", "行", "豁免环节", "与实际相符")


def _exempt_sheet(wb: Workbook, report: Report) -> None:
    """Handovers made under a claimed exemption (豁免管理清单), marked as such; their masses
    are in the other sheets like any other."""
    ws = wb.create_sheet("豁免交接")
    ws.append(list(EXEMPT_HEADERS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for e in report.exempt:
        ws.append([e.batch, e.from_org, e.to_org, e.manifest,
                   None if e.accepted_mass_g is None else e.accepted_mass_g / 1000,
                   e.edition, e.item, e.row, e.stage, "是" if e.fits else "否"])
        for cell in ws[ws.max_row][:4]:
            cell.data_type = "s"
    ws.freeze_panes = "A2"


def report_filename(report: Report, ext: str) -> str:
    f = report.filters
    parts = ["reconciliation", f.region or "all",
             f.period_from.isoformat() if f.period_from else "start",
             f.period_to.isoformat() if f.period_to else "now"]
    return "-".join(parts) + "." + ext


EXPORTERS: Final = frozenset({"csv", "xlsx"})


def export_report(fmt: str, report: Report, session: Session) -> bytes:
    """The report as a CSV or XLSX file (``fmt`` in ``EXPORTERS``)."""
    return report_xlsx(report, editions_note(session)) if fmt == "xlsx" else report_csv(report)


# --- the dashboard's drill-down (batches behind a figure) --------------------------------------

def table_csv(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """A table as CSV in UTF-8 with a BOM, so Excel opens it in Chinese."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def table_xlsx(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """A table as a one-sheet workbook: bold frozen headers; numbers stay numbers (kg with
    three decimals and thousands separators), every other cell text, so nothing typed in
    becomes a formula."""
    wb = Workbook()
    _book_sheet(wb, title, headers, rows, first=True)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _book_sheet(wb: Workbook, title: str, headers: Sequence[str],
                rows: Sequence[Sequence[Any]], first: bool) -> None:
    """One sheet as ``table_xlsx`` describes it (the workbook's first, or a new one)."""
    ws = wb.active if first else wb.create_sheet()
    assert ws is not None
    ws.title = title
    ws.append(list(headers))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append([v if isinstance(v, float) else "" if v is None else str(v) for v in row])
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, float):
                cell.number_format = "#,##0.000"
            else:
                cell.data_type = "s"
    for index in range(1, ws.max_column + 1):
        ws.column_dimensions[get_column_letter(index)].width = 20
    ws.column_dimensions["A"].width = 42
    ws.freeze_panes = "A2"


def ledger_book_xlsx(book: LedgerBook) -> bytes:
    """The 台账 as a workbook: a cover sheet (unit, period, kind) and one sheet per record
    table of HJ 1259 (产生, 入库, 出库, 转移, 接收, 利用处置), kg with three decimals."""
    wb = Workbook()
    cover = [("单位名称", book.org_name), ("统一社会信用代码", book.org),
             ("台账", book.title),
             ("期间", f"{beijing_day(book.start_ms)} 至 {beijing_day(book.end_ms - 1)}"),
             ("依据", "HJ 1259-2022" if book.kind == "hazardous"
              else "一般工业固体废物管理台账制定指南（试行）"),
             ("说明", "每行对应一条已签名记录；经办人取自签名记录中的 handled_by"
                      "（此前的记录为空）")]
    _book_sheet(wb, "台账说明", ("项目", "内容"), cover, first=True)
    for table in book.tables:
        _book_sheet(wb, table.name, table.headers, table.rows, first=False)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def ledger_book_csv(book: LedgerBook, table: str) -> bytes:
    """One record table of the 台账 as CSV (UTF-8 with BOM), kg with three decimals."""
    found = book.table(table)
    if found is None:
        raise InvalidInput(f"table must be one of {', '.join(t.name for t in book.tables)}",
                           code="table_unknown", field="table")
    rows = [[f"{v:.3f}" if isinstance(v, float) else "" if v is None else v for v in row]
            for row in found.rows]
    return table_csv(found.headers, rows)


def ledger_book_filename(book: LedgerBook, ext: str, table: str = "") -> str:
    period = f"{beijing_day(book.start_ms)}_{beijing_day(book.end_ms - 1)}"
    name = "台账" if book.kind == "hazardous" else "一般固废台账"
    return f"{name}_{book.org}_{period}{'_' + table if table else ''}.{ext}"
