"""The transfer manifest (危险废物转移联单) printed as a PDF, in the layout of the national form.

Three parts as the 2021 办法's form has them — 一、移出信息 (移出人), 二、运输信息 (承运人),
三、接收信息 (接收人) — every field the log knows, and under each part its signatures: the
signing organisation, its key, the time in Beijing time and the entry's log index. The font is
the CJK font the labels use (``labels.fonts``), embedded. Data in (``ManifestForm``), bytes out.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from flask import Response
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from labels.fonts import find_cjk_font
from ledger.audit.manifest_form import ManifestForm, Party, Signature
from ledger.clock import beijing_minutes

DASH = "—"
OPINIONS = {"refused": "拒收", "confirmed": "接收", "awaiting_answer": "待接收",
            "awaiting_release": "待移出", "superseded": "已作废", "withdrawn": "已撤回"}


def _kg(grams: int | None) -> str:
    if grams is None:
        return DASH
    return f"{grams // 1000:,}.{grams % 1000:03d}"


def _time(t_ms: int | None) -> str:
    return DASH if t_ms is None else f"{beijing_minutes(t_ms)} 北京时间"


def render_manifest_pdf(form: ManifestForm) -> bytes:
    """The manifest as an A4 PDF, the CJK font embedded."""
    font = find_cjk_font().pdf_name
    base = ParagraphStyle("cell", fontName=font, fontSize=8.5, leading=11, wordWrap="CJK")
    head = ParagraphStyle("head", parent=base, fontSize=10.5, leading=14, spaceBefore=6,
                          spaceAfter=3)
    title = ParagraphStyle("title", parent=base, fontSize=16, leading=22, alignment=1)

    def p(text: Any, style: ParagraphStyle = base) -> Paragraph:
        return Paragraph(escape(str(text if text not in (None, "") else DASH)), style)

    def grid(rows: Sequence[Sequence[Any]], widths: Sequence[float],
             header: bool = False) -> Table:
        table = Table([[c if isinstance(c, Paragraph) else p(c) for c in row] for row in rows],
                      colWidths=[w * mm for w in widths], repeatRows=1 if header else 0)
        style = [("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                 ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]
        if header:
            style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")))
        table.setStyle(TableStyle(style))
        return table

    def party(who: Party | None, permit_label: str) -> Table:
        if who is None:
            return grid([["单位名称", "（移出人或接收人自行运输，无承运人）"]], [30, 150])
        return grid([["单位名称", who.name, "统一社会信用代码", who.uscc],
                     ["联系人", who.contact, "联系电话", who.phone],
                     [permit_label, who.permit, "", ""]], [30, 60, 30, 60])

    def signed(acts: set[str]) -> Table:
        rows: list[list[Any]] = [["签署", "签署单位", "签署密钥", "签署时间", "日志序号"]]
        for s in form.signatures:
            if s.act in acts:
                rows.append([_act(s), s.org_name, s.key_fp[:16], _time(s.t_ms), str(s.index)])
        if len(rows) == 1:
            rows.append(["未签署", "", "", "", ""])
        return grid(rows, [22, 50, 34, 46, 28], header=True)

    story: list[Any] = [
        Paragraph("危险废物转移联单", title),
        grid([["联单编号", form.number, "联单状态", "已完成" if form.closed else "运行中"]],
             [30, 60, 30, 60]),
        Paragraph("一、危险废物移出信息（由移出人填写）", head),
        party(form.origin, "许可证或备案编号"),
        Spacer(1, 2 * mm),
        grid([["序号", "废物名称", "废物代码", "危险特性", "形态", "包装方式及数量",
               "移出量（千克）"]]
             + [[str(i), ln.name, ln.waste_code, ln.hazards, ln.form, ln.container,
                 _kg(ln.released_g)] for i, ln in enumerate(form.lines, 1)],
             [12, 34, 24, 20, 16, 42, 32], header=True),
        grid([["序号", "批次码（数字识别码）"]]
             + [[str(i), ln.batch] for i, ln in enumerate(form.lines, 1)], [12, 168],
             header=True),
        Spacer(1, 2 * mm),
        grid([["交付时间", _time(form.opened_ms)]], [30, 150]),
        signed({"移出"}),
        Paragraph("二、危险废物运输信息（由承运人填写）", head),
        party(form.carrier, "营运证件号"),
        Spacer(1, 2 * mm),
        grid([["运输工具", "汽车", "牌号", form.vehicle],
              ["驾驶员", form.driver, "运输起点", form.origin.name],
              ["运输终点", form.destination.name, "实际起运时间", _time(_first(form, "起运"))],
              ["运抵时间", _time(form.arrived_ms), "", ""]], [30, 60, 30, 60]),
        signed({"承运"}),
        Paragraph("三、危险废物接收信息（由接收人填写）", head),
        party(form.destination, "危险废物经营许可证编号"),
        Spacer(1, 2 * mm),
        grid([["序号", "接收量（千克）", "拒收量（千克）", "差异及拒收说明", "处理意见"]]
             + [[str(i), _kg(ln.accepted_g), _kg(ln.refused_g), _difference(ln),
                 _opinion(ln)] for i, ln in enumerate(form.lines, 1)], [12, 28, 28, 82, 30],
             header=True),
        signed({"接收", "拒收"}),
        Spacer(1, 4 * mm),
        Paragraph(escape("本联单由电子台账生成：每一处签署都是日志中的一条已签名记录，可按日志序号"
                         "在核验页面或离线核验工具中逐条核对。"), base),
    ]
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm,
                            topMargin=15 * mm, bottomMargin=15 * mm,
                            title=f"危险废物转移联单 {form.number}", author="waste-ledger")
    doc.build(story)
    return out.getvalue()


def _act(s: Signature) -> str:
    return f"{s.act}（{s.detail}）" if s.detail else s.act


def _first(form: ManifestForm, detail: str) -> int | None:
    return next((s.t_ms for s in form.signatures if s.detail == detail), None)


def _difference(ln: Any) -> str:
    parts = []
    if ln.discrepancy:
        parts.append(f"重量差异：移出 {_kg(ln.released_g)}，接收 {_kg(ln.accepted_g)}")
    if ln.refusal_reason:
        parts.append(f"拒收原因：{ln.refusal_reason}")
    if ln.refused_part:
        parts.append(f"拒收部分已转为批次 {ln.refused_part}")
    return "；".join(parts) or "无"


def _opinion(ln: Any) -> str:
    if ln.status == "confirmed" and ln.refused_g is not None:
        return "部分接收"
    return OPINIONS.get(ln.status, ln.status)


def manifest_pdf_response(pdf: bytes, number: str) -> Response:
    """The PDF as a download; manifests are access-controlled, so no shared caches."""
    resp = Response(pdf, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = f'attachment; filename="manifest-{number}.pdf"'
    resp.headers["Cache-Control"] = "private, no-cache"
    return resp
