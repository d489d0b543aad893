"""The plan (管理计划) and declaration (申报登记) pages: an enterprise drafts its plan from last
year's ledger and declares a period from the pre-filled figures, signing on its device like
the declare page (api/static/js/generator/plans.js); a regulator sees who has filed and who
has not (the roster, 应纳尽纳). The figures come from the JSON API (api/rest/plans.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from api.auth import page_principal
from api.extensions import db
from api.pages.generator import kg
from api.scoping import plan_settings
from ledger.audit.plans import (
    FREQUENCY,
    Obligation,
    Period,
    last_ended,
    management_class,
    obligations_due,
    parse_period,
    roster,
)
from ledger.clock import beijing_today
from ledger.custody.principals import Principal
from ledger.errors import InvalidInput

bp = Blueprint("plan_pages", __name__)

CLASS_LABELS = {"key": _l("重点监管单位"), "simplified": _l("简化管理单位"),
                "registered": _l("登记管理单位")}
FREQUENCY_LABELS = {"monthly": _l("按月申报"), "quarterly": _l("按季度申报"),
                    "yearly": _l("按年度申报")}


def _messages(principal: Principal) -> dict[str, Any]:
    return {
        "org": principal.org,
        "loading": _("正在读取台账…"),
        "registering": _("首次在本设备签名：正在为本设备生成并登记签名密钥…"),
        "registered": _("本设备已登记签名密钥 %(name)s", name="{name}"),
        "device_label": _("网页浏览器（产废单位）"),
        "signing": _("正在本设备签名并提交…"),
        "network": _("网络不可用，未能提交，请联网后再试"),
        "no_webcrypto": _("此浏览器不支持设备签名（需要较新的 Chrome、Edge 或 Firefox，且用 "
                          "https 或本机地址打开）"),
        "failed": _("提交失败"),
        "kg": _("千克"), "t": _("吨"),
        "mass_format": _("重量请填写数字（千克），最多 3 位小数"),
        "reduction_required": _("请填写减量化措施"),
        "reason_required": _("请填写修改原因"),
        "no_wastes": _("去年台账中没有危险废物记录，请至少填写一种计划产生的废物"),
        "none_recorded": _("本期台账没有记录，可直接签名零申报"),
        "receiver": _("接收单位"), "permit": _("许可证"),
        "generation": _("计划产生量"), "storage": _("计划贮存量"),
        "generated": _("产生量"), "transferred": _("转移量"),
        "opening": _("期初贮存量"), "closing": _("期末贮存量"),
        "own_utilisation": _("自行利用量"), "own_disposal": _("自行处置量"),
        "explanation": _("情况说明"), "ledger": _("台账记录"), "declared": _("申报数"),
        "difference": _("差异"),
        "filed_plan": _("管理计划已签名备案（日志第 %(index)s 条）", index="{index}"),
        "filed_report": _("%(period)s 申报已签名提交（日志第 %(index)s 条）",
                          period="{period}", index="{index}"),
        "amend": _("修改已备案的计划：请填写修改原因"),
        "classes": {k: str(v) for k, v in CLASS_LABELS.items()},
        "frequencies": {k: str(v) for k, v in FREQUENCY_LABELS.items()},
    }


def _period_label(p: Period) -> str:
    if p.frequency == "monthly":
        return _("%(y)s 年 %(m)s 月", y=p.year, m=p.start.month)
    if p.frequency == "quarterly":
        return _("%(y)s 年第 %(q)s 季度", y=p.year, q=(p.start.month + 2) // 3)
    return _("%(y)s 年度", y=p.year)


@bp.get("/generator/plan")
def plan_page() -> ResponseReturnValue:
    """管理计划: this year's or next year's plan, drafted from the year before's ledger."""
    principal = page_principal("generator")
    today = beijing_today()
    try:
        year = int(request.args.get("year", today.year))
    except ValueError:
        year = today.year
    year = min(max(year, today.year - 1), today.year + 1)
    return render_template("generator/plan.html", year=year,
                           years=[today.year - 1, today.year, today.year + 1],
                           js_messages=_messages(principal))


@bp.get("/generator/report")
def report_page() -> ResponseReturnValue:
    """申报登记: a period's declaration from the pre-filled figures; the periods owed are
    offered first."""
    principal = page_principal("generator")
    today = beijing_today()
    settings = plan_settings(current_app)
    owed = [o for o in obligations_due(db.session, today, settings)
            if o.organisation == principal.org and o.kind == "report"]
    cls = management_class(db.session, principal.org, today.year, settings)
    default = owed[0].period if owed else last_ended(today, FREQUENCY[cls]).text
    try:
        period = parse_period(request.args.get("period", default))
    except InvalidInput:
        period = parse_period(default)
    choices: dict[str, Obligation | None] = {o.period: o for o in owed}
    choices.setdefault(period.text, None)
    return render_template(
        "generator/report.html", period=period, label=_period_label(period),
        management_class=CLASS_LABELS[cls], frequency=FREQUENCY_LABELS[FREQUENCY[cls]],
        owed=[(p, _period_label(parse_period(p)), o.due.isoformat() if o else "")
              for p, o in sorted(choices.items())],
        js_messages=_messages(principal))


@bp.get("/regulator/roster")
def roster_page() -> ResponseReturnValue:
    """应纳尽纳: every generator of the region, those with no batches too, with its class, its
    plan and its declarations in or missing."""
    principal = page_principal("regulator", "operator")
    today = beijing_today()
    region = None if principal.is_operator else principal.region
    rows = roster(db.session, region, today, plan_settings(current_app))
    show = request.args.get("show", "")
    if show == "missing":
        rows = [r for r in rows if not r.plan_filed or r.missing]
    counts = {"total": len(rows), "plans": sum(r.plan_filed for r in rows),
              "missing": sum(1 for r in rows if not r.plan_filed or r.missing),
              "silent": sum(1 for r in rows if r.batches == 0)}
    return render_template("regulator/roster.html", rows=rows, year=today.year,
                           today=today.isoformat(), counts=counts, show=show,
                           classes=CLASS_LABELS, frequencies=FREQUENCY_LABELS, kg=kg,
                           period_label=lambda p: _period_label(parse_period(p)))
