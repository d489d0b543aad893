"""The generator's workspace (产废单位): declare batches, list them, print labels, request a
pickup, sign releases in the browser.

The views only read and render; every custody entry is built and signed by the browser
(``api/static/js/generator/``) with the device's own key. Pickup requests and label sheets are
plain forms (CSRF-protected) so they work on an old PC without much script.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from marshmallow import ValidationError
from sqlalchemy import func, select

from api.auth import page_principal
from api.errors import in_user_language, status_for
from api.extensions import db
from api.rest.generator import MAX_CONTAINERS
from api.rest.labels import LabelSizeField, public_base_url, render_sheet, sheet_size
from labels import SHEETS, LabelSize
from ledger.audit.manifest_form import (
    carried_trips,
    handover_alerts,
    refused_parts_to_take_back,
    released_to,
)
from ledger.audit.notifications import pickup_requested
from ledger.clock import beijing_day, beijing_minutes, beijing_today
from ledger.custody import editions, pickups, waste_help
from ledger.custody.catalogue import load_catalogue
from ledger.custody.exemptions import Option, applicable_exemptions
from ledger.custody.fate import disposed_after_merge
from ledger.custody.kinds import withdrawal_blocker
from ledger.custody.label_data import MAX_LABELS, labels_for
from ledger.custody.permits import Receiver, receivers_for
from ledger.custody.pickups import PickupItem, PickupRequest
from ledger.custody.principals import Principal
from ledger.custody.projections import Batch, Handover, Organisation
from ledger.custody.reference import GENERAL, IMPORT_HINT, general_codes
from ledger.errors import InvalidInput, LedgerError

bp = Blueprint("generator", __name__, url_prefix="/generator")

#: How many batches the list shows at once (newest first).
PAGE_SIZE: Final = 200
#: Tabs of "我的批次": the key in ?state=, the states it covers.
GROUPS: Final[dict[str, tuple[str, ...]]] = {
    "declared": ("declared",),
    "pending": ("pending",),
    "transferred": ("stored", "in_transit", "received", "refused"),
    "disposed": ("disposed",),
    "consolidated": ("consolidated",),
    "withdrawn": ("withdrawn",),
}
OPEN_HANDOVER: Final = ("awaiting_answer", "awaiting_release")
#: What the generator may still hand over (it holds them and nothing is half-signed).
AVAILABLE: Final = ("declared", "stored", "in_transit", "received", "refused")


def group_names() -> dict[str, str]:
    return {"declared": _("待收集"), "pending": _("交接中"), "transferred": _("已转移"),
            "disposed": _("已处置"), "consolidated": _("已合并"), "withdrawn": _("已撤回")}


def state_names() -> dict[str, str]:
    return {"declared": _("待收集"), "pending": _("交接中"), "stored": _("已转移（贮存）"),
            "in_transit": _("已转移（运输中）"), "received": _("已转移（已接收）"),
            "refused": _("被拒收"), "disposed": _("已处置"), "consolidated": _("已合并"),
            "withdrawn": _("已撤回")}


def form_names() -> dict[str, str]:
    return {"solid": _("固态"), "semi_solid": _("半固态"), "liquid": _("液态"), "gas": _("气态")}


def hazard_names() -> dict[str, str]:
    return {"T": _("毒性"), "C": _("腐蚀性"), "I": _("易燃性"), "R": _("反应性"),
            "In": _("感染性")}


def kg(grams: int | None) -> str:
    """Grams as kilograms with up to three decimals, exactly (no float rounding)."""
    if grams is None:
        return ""
    whole, rest = divmod(abs(grams), 1000)
    text = f"{whole:,}" + (f".{rest:03d}".rstrip("0") if rest else "")
    return ("-" if grams < 0 else "") + text


def size_choices() -> list[tuple[str, str]]:
    return [("", _("自动（按容器容积）")), ("100", _("100 × 100 mm")),
            ("150", _("150 × 150 mm")), ("200", _("200 × 200 mm"))]


def sheet_choices() -> list[tuple[str, str]]:
    names = {"a4": _("A4 纸（带裁切线）"), "roll-100x100": _("标签卷 100 × 100 mm"),
             "roll-100x150": _("标签卷 100 × 150 mm")}
    return [(key, names.get(key, key)) for key in sorted(SHEETS)]


# --- 我的批次 -----------------------------------------------------------------------------------


@bp.get("/")
def batches() -> ResponseReturnValue:
    principal = page_principal("generator")
    group = request.args.get("state", "")
    if group not in GROUPS:
        group = ""
    mine = (Batch.generator == principal.org) | (Batch.holder == principal.org)
    counts: Counter[str] = Counter()
    for state, n in db.session.execute(
            select(Batch.state, func.count()).where(mine).group_by(Batch.state)):
        for key, states in GROUPS.items():
            if state in states:
                counts[key] += n
    # A merged batch whose mass was all disposed of shows (and counts) as disposed, with the
    # date of the disposal: its generator asks "was it disposed of?", not "was it merged?".
    merged_disposed = {code: beijing_day(t) for code, t in disposed_after_merge(
        db.session, db.session.scalars(
            select(Batch.code).where(mine, Batch.state == "consolidated"))).items()}
    counts["consolidated"] -= len(merged_disposed)
    counts["disposed"] += len(merged_disposed)
    query = select(Batch).where(mine)
    if group == "disposed":
        query = query.where(Batch.state.in_(GROUPS[group]) | Batch.code.in_(merged_disposed))
    elif group == "consolidated":
        query = query.where(Batch.state.in_(GROUPS[group]), Batch.code.not_in(merged_disposed))
    elif group:
        query = query.where(Batch.state.in_(GROUPS[group]))
    rows = list(db.session.scalars(
        query.order_by(Batch.declared_t_ms.desc(), Batch.code.desc()).limit(PAGE_SIZE + 1)))
    shown = rows[:PAGE_SIZE]
    return render_template(
        "generator/batches.html", rows=shown, more=len(rows) > PAGE_SIZE,
        withdrawable=_withdrawable(principal, shown),
        correctable=_correctable(principal, shown),
        alerts=handover_alerts(db.session, principal.org, limit=10), when=beijing_minutes,
        merged_disposed=merged_disposed,
        take_back={(r.batch, r.manifest): r
                   for r in refused_parts_to_take_back(db.session, principal.org)},
        trips=carried_trips(db.session, principal.org, limit=10),
        returns=released_to(db.session, principal.org),
        group=group, groups=group_names(), counts=counts, total=sum(counts.values()),
        state_names=state_names(), sizes=size_choices(), sheets=sheet_choices(),
        available=AVAILABLE, max_labels=MAX_LABELS, kg=kg,
        js_messages={"none_selected": _("请先勾选批次"),
                     "selected": _("已选 %(n)s 批", n="{n}"),
                     "taking_back": _("正在签名收回…"),
                     "taken_back": _("已签名收回拒收部分，成为本单位的新批次 %(code)s"
                                     "（待收集）。可以重新预约收集，或交给其他有许可证的单位。",
                                     code="{code}"),
                     "take_back_failed": _("收回失败：%(msg)s", msg="{msg}"),
                     "accepting": _("正在签收…"),
                     "return_accepted": _("已签收退回的批次（记录号 %(index)s），"
                                          "批次回到本单位，待收集。", index="{index}"),
                     "accept_failed": _("签收失败：%(msg)s", msg="{msg}"),
                     **_storage_messages(principal), **_amend_messages()})


def _withdrawable(principal: Principal, rows: Iterable[Batch]) -> set[str]:
    """The batches the enterprise may still withdraw (撤回): declared by it, with it, and nobody
    else has signed on them; the same rule the ledger applies to ``batch.withdrawn``."""
    return {b.code for b in rows
            if b.generator == principal.org and b.holder == principal.org
            and b.state == "declared" and not b.consolidated
            and withdrawal_blocker(db.session, b) is None}


def _correctable(principal: Principal, rows: Iterable[Batch]) -> set[str]:
    """The batches whose declared mass the enterprise may correct (更正, ``custody.corrected``
    of its ``batch.declared``, signed by it alone): its own declarations, not withdrawn."""
    return {b.code for b in rows if b.generator == principal.org and b.state != "withdrawn"
            and not b.consolidated}


def _amend_messages() -> dict[str, str]:
    """The strings of the 撤回 and 更正 forms of 我的批次."""
    return {
        "withdraw_title": _("撤回批次 %(code)s", code="{code}"),
        "withdraw_help": _("申报有误（废物代码、日期、重复申报等）且还没有其他单位签名时，"
                           "可以撤回。撤回后该识别码作废，不再使用，也不计入产生量；"
                           "如在收集预约中，将从预约中移除。"),
        "withdraw_sign": _("签名撤回"),
        "withdrawn_state": _("已撤回"),
        "withdrawn_batch": _("已签名撤回（记录号 %(index)s）。此识别码作废，不再使用。",
                             index="{index}"),
        "correct_title": _("更正批次 %(code)s 的申报重量", code="{code}"),
        "correct_help": _("已有其他单位签名的批次不能撤回，只能更正。原记录保留，"
                          "更正记录说明它本应是多少。"),
        "correct_sign": _("签名更正"),
        "corrected": _("已签名更正（记录号 %(index)s），申报重量改为 %(kg)s 千克",
                       index="{index}", kg="{kg}"),
        "declared_now": _("目前申报重量：%(kg)s 千克", kg="{kg}"),
        "reason_required": _("请填写原因"),
        "reason_too_long": _("原因最多 200 个字"),
        "mass_required": _("请填写正确的重量（千克）"),
        "mass_format": _("重量格式不对，例如 65.3"),
        "mass_decimal_comma": _("小数点请用“.”，例如 65.3，不要用逗号"),
        "mass_range": _("重量必须大于 0"),
        "mass_same": _("新重量与目前申报重量相同，无需更正"),
    }


def _storage_messages(principal: Principal) -> dict[str, str]:
    """The strings of the generator's storage buttons (入库/出库, HJ 1259)."""
    return {**_release_messages(principal),
            "store_in": _("入库"), "store_out": _("出库"),
            "in_facility": _("在 %(f)s", f="{f}"),
            "stored": _("已签名入库 %(f)s（记录号 %(index)s）", f="{f}", index="{index}"),
            "taken_out": _("已签名出库（记录号 %(index)s）", index="{index}"),
            "no_facility": _("本单位还没有登记贮存设施，请联系运营方登记后再入库。")}


@bp.post("/labels")
def label_sheet() -> ResponseReturnValue:
    """A PDF sheet of the chosen batches' labels (a plain form post from the list)."""
    principal = page_principal("generator")
    codes = request.form.getlist("codes")
    sheet = request.form.get("sheet", "a4")
    if not codes:
        raise InvalidInput(_("请先勾选要打印标签的批次"), code="labels_none", field="codes")
    if len(codes) > MAX_LABELS:
        raise InvalidInput(_("一次最多打印 %(n)s 张标签", n=MAX_LABELS), code="labels_too_many",
                           field="codes")
    if sheet not in SHEETS:
        raise InvalidInput(_("请选择纸张"), code="sheet_invalid", field="sheet")
    size = _size(request.form.get("size", ""))
    found = labels_for(db.session, principal, codes, public_base_url())
    pdf = render_sheet(found, sheet, sheet_size(found, sheet, size))
    resp = Response(pdf, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = 'inline; filename="labels.pdf"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def _size(raw: str) -> LabelSize | None:
    if not raw:
        return None
    try:
        return LabelSizeField().deserialize(raw)
    except ValidationError:
        raise InvalidInput(_("标签尺寸应为 100、150 或 200 毫米"), code="label_size_invalid",
                           field="size") from None


# --- 申报批次 -----------------------------------------------------------------------------------


@bp.get("/declare")
def declare() -> ResponseReturnValue:
    principal = page_principal("generator")
    now = editions.in_force(db.session, beijing_today())
    return render_template(
        "generator/declare.html", today=beijing_today().isoformat(),
        forms=form_names(), hazards=hazard_names(), sizes=size_choices(),
        sheets=sheet_choices(), max_containers=MAX_CONTAINERS,
        last=_last_declaration(principal), js_messages=_declare_messages(principal),
        catalogue=now, categories=editions.catalogue(db.session, now.used).categories(),
        **_general_list())


def _general_list() -> dict[str, Any]:
    """The loaded general industrial solid waste codes for the declare form (none shipped)."""
    listed = general_codes(db.session)
    return {"general_loaded": listed is not None, "general_import": IMPORT_HINT[GENERAL],
            "general_codes": [{"code": c.code, "category": c.category, "name": c.name}
                              for c in (listed or {}).values()]}


def _last_declaration(principal: Principal) -> dict[str, Any] | None:
    """The latest declaration, with its catalogue entry, for "与上次相同"."""
    last = waste_help.last_declaration(db.session, principal.org)
    if last is None or last.get("waste_code") not in load_catalogue():
        return last
    entry = load_catalogue().get(last["waste_code"])
    category = load_catalogue().category(entry.category)
    return {**last, "category": f"{category.code} {category.name}",
            "description": entry.description}


def _declare_messages(principal: Principal) -> dict[str, str]:
    return {
        "searching": _("正在搜索…"),
        "no_results": _("名录中没有找到，请换个词（如“活性炭”“废矿物油”或代码 900-039-49）"),
        "search_failed": _("搜索失败，请检查网络后重试"),
        "results": _("找到 %(n)s 条（显示 %(shown)s 条），用 ↑↓ 选择，回车确认", n="{n}",
                     shown="{shown}"),
        "usual": _("本单位申报过的和本地常见的 %(n)s 种，也可以输入名称查找", n="{n}"),
        "more": _("显示更多（还有 %(n)s 条）", n="{n}"),
        "why_previous": _("本单位申报过"),
        "why_region": _("本地常见"),
        "why_synonym": _("俗称“%(term)s”", term="{term}"),
        "same_filled": _("已按上次申报填好，请称重并填写重量"),
        "choose_code": _("请从名录中选择废物代码"),
        "name_required": _("请填写废物名称"),
        "mass_required": _("请填写重量"),
        "mass_format": _("重量请填写数字（千克），最多 3 位小数，如 12.5"),
        "mass_decimal_comma": _("小数请用点号，如 65.3；逗号只用作千位分隔，如 1,200"),
        "mass_range": _("重量应大于 0，且不超过 1,000,000,000 千克"),
        "count_invalid": _("容器数量应为 1 以上的整数"),
        "count_too_many": _("一次最多申报 %(n)s 件，请分几次申报", n=MAX_CONTAINERS),
        "lot_mass": _("共 %(n)s 件，每件按此重量申报，每件一个识别码、一张标签；"
                      "各件重量不同请分别申报", n="{n}"),
        "lot_declared": _("已申报 %(n)s 件（每件一个识别码）", n="{n}"),
        "lot_each": _("%(n)s 件 × %(kg)s 千克", n="{n}", kg="{kg}"),
        "lot_partial": _("前 %(done)s 件已申报；第 %(next)s 件未能申报：%(why)s",
                         done="{done}", next="{next}", why="{why}"),
        "print_all": _("打印全部 %(n)s 张标签", n="{n}"),
        "labels_failed": _("标签未能生成"),
        "volume_invalid": _("容器容积应为大于 0 的整数（升）"),
        "container_required": _("请填写容器类型，如 吨袋、铁桶"),
        "date_required": _("请填写产生日期"),
        "first_use": _("本设备还没有签名密钥：第一次申报时会在本浏览器生成密钥并登记到本单位名下"
                       "（私钥不离开本设备）。"),
        "registering": _("首次在本设备签名：正在为本设备生成并登记签名密钥…"),
        "registered": _("本设备已登记签名密钥 %(name)s", name="{name}"),
        "device_label": _("网页浏览器（产废单位）"),
        "signing": _("正在本设备签名并提交…"),
        "retrying": _("批次号已被占用，正在换一个序号重新签名…"),
        "network": _("网络不可用，申报未确认。联网后再按一次“签名并申报”："
                     "会重发同一条签名记录，不会重复申报"),
        "no_webcrypto": _("此浏览器不支持设备签名（需要较新的 Chrome、Edge 或 Firefox，且用 "
                          "https 或本机地址打开）"),
        "failed": _("提交失败"),
        "kg": _("千克"),
        "category_required": _("请选择废物类别"),
        "report_required": _("请填写鉴别报告编号"),
        "identified_hazards": _("请按鉴别结论勾选危险特性"),
        "org": principal.org,
    }


# --- 预约收集与交接签名 --------------------------------------------------------------------------


def receivers(principal: Principal, codes: Iterable[str]) -> list[Receiver]:
    """Receivers for the pickup form, covering first (see ``receivers_for``)."""
    return receivers_for(db.session, principal.org, codes, beijing_today().isoformat())


@dataclass(frozen=True)
class Offer:
    """A receiver on the pickup form: the batches it may take (its permit covers their code, or
    an exemption row fits the receiver) and the codes it may not, said to the person."""

    receiver: Receiver
    takes: frozenset[str]  # batch codes
    lacking: tuple[str, ...]  # waste codes neither permit nor exemption covers


def offers(principal: Principal, available: list[Batch]) -> list[Offer]:
    out = []
    for r in receivers(principal, {b.waste_code for b in available}):
        takes = {b.code for b in available if b.waste_code in r.covered
                 or applicable_exemptions(db.session, b, set(r.roles))}
        lacking = sorted({b.waste_code for b in available if b.code not in takes})
        out.append(Offer(r, frozenset(takes), tuple(lacking)))
    return out


def offered(offer: Offer, chosen: set[str]) -> bool:
    """Whether the form offers ``offer`` for the ticked batches (any that can take something
    when nothing is ticked yet)."""
    return chosen <= offer.takes if chosen else bool(offer.takes)


def _available(principal: Principal) -> list[Batch]:
    return list(db.session.scalars(
        select(Batch).where(Batch.holder == principal.org, Batch.state.in_(AVAILABLE))
        .order_by(Batch.declared_t_ms.desc(), Batch.code.desc()).limit(PAGE_SIZE)))


def _requested(principal: Principal) -> dict[str, str]:
    """Batch code -> manifest number of the open request it is already on."""
    rows = db.session.execute(
        select(PickupItem.batch, PickupRequest.manifest).join(PickupRequest)
        .where(PickupRequest.generator == principal.org, PickupRequest.status == "open"))
    return {code: manifest for code, manifest in rows}


def release_status(principal: Principal, pickup: pickups.Pickup) -> dict[str, str]:
    """Per batch of a request: what the generator still has to do.

    ``sign``: release now; ``answered``: the collector signed first (accepted), the release
    settles it; ``refused``: the collector refused before this unit released (the release
    settles the refusal, or the unit withdraws); ``released``: signed here, awaiting the
    collector; ``done``: handed over; ``closed``."""
    out = {}
    for b in pickup.batches:
        if b.holder != principal.org:
            out[b.code] = "done"
            continue
        if b.state in ("consolidated", "disposed"):
            out[b.code] = "closed"
            continue
        open_handover = db.session.scalars(
            select(Handover).where(Handover.batch == b.code, Handover.status.in_(OPEN_HANDOVER))
            .order_by(Handover.id.desc()).limit(1)).first()
        if open_handover is None:
            out[b.code] = "sign"
        elif open_handover.status == "awaiting_release":
            out[b.code] = "answered" if open_handover.accepted_mass_g is not None else "refused"
        else:
            out[b.code] = "released"
    return out


def weighed_masses(requests: Iterable[pickups.Pickup],
                   statuses: dict[int, dict[str, str]]) -> dict[str, int]:
    """Batch code -> the mass the collector weighed, for batches it signed for first (the
    enterprise confirms against both: its own and the weighed one)."""
    codes = [b.code for p in requests for b in p.batches if statuses[p.id][b.code] == "answered"]
    if not codes:
        return {}
    return {h.batch: h.accepted_mass_g for h in db.session.scalars(select(Handover).where(
        Handover.batch.in_(codes), Handover.status == "awaiting_release"))
        if h.accepted_mass_g is not None}


def early_refusals(requests: Iterable[pickups.Pickup],
                   statuses: dict[int, dict[str, str]]) -> dict[str, dict[str, Any]]:
    """Batch code -> the refusal the collector signed before this unit released: who refused,
    why, and how much (``whole`` when the whole batch; else ``accepted_g`` is what it takes)."""
    masses = {b.code: b.mass_g for p in requests for b in p.batches}
    codes = [b.code for p in requests for b in p.batches if statuses[p.id][b.code] == "refused"]
    if not codes:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for h in db.session.scalars(select(Handover).where(
            Handover.batch.in_(codes), Handover.status == "awaiting_release")):
        mass = masses[h.batch]
        refused = h.refused_mass_g
        whole = refused is None or refused >= mass
        receiver = db.session.get(Organisation, h.to_org)
        out[h.batch] = {"by": receiver.name if receiver is not None else h.to_org,
                        "reason": h.refusal_reason or "", "whole": whole,
                        "refused_g": mass if whole else refused,
                        "accepted_g": 0 if whole else mass - (refused or 0)}
    return out


RECENT_DONE = 10


def exemption_options(requests: Iterable[pickups.Pickup],
                      statuses: dict[int, dict[str, str]]) -> dict[str, list[Option]]:
    """Batch code -> the exemption rows (豁免管理清单) its release to the request's receiver may
    claim, for the batches still to be signed."""
    session = db.session
    out: dict[str, list[Option]] = {}
    for p in requests:
        receiver = session.get(Organisation, p.collector)
        roles = set(receiver.roles.split()) if receiver is not None else set()
        for b in p.batches:
            batch = session.get(Batch, b.code)
            if statuses[p.id][b.code] in ("sign", "answered", "refused") and batch is not None:
                out[b.code] = applicable_exemptions(session, batch, roles)
    return out


def _pickups_page(principal: Principal, form: dict[str, Any] | None = None,
                  errors: dict[str, str] | None = None, status: int = 200) -> ResponseReturnValue:
    form = form or {}
    available = _available(principal)
    chosen = set(form.get("batches") or [])
    # Open requests, then the most recently completed ones (what was fetched, and when).
    open_requests = pickups.pickups_for(db.session, principal, "open") + \
        pickups.pickups_for(db.session, principal, "done", limit=RECENT_DONE)
    statuses = {p.id: release_status(principal, p) for p in open_requests}
    return render_template(
        "generator/pickups.html", available=available, chosen=chosen,
        requested=_requested(principal), offers=offers(principal, available), offered=offered,
        field_errors=("collector", "batches", "wanted_on", "note", "address"), form=form,
        errors=errors or {}, requests=open_requests, statuses=statuses,
        weighed=weighed_masses(open_requests, statuses),
        refusals=early_refusals(open_requests, statuses),
        exemptions=exemption_options(open_requests, statuses),
        state_names=state_names(), today=beijing_today().isoformat(), kg=kg,
        js_messages=_release_messages(principal)), status


def _release_messages(principal: Principal) -> dict[str, str]:
    return {
        "org": principal.org,
        "device_label": _("网页浏览器（产废单位）"),
        "registering": _("首次在本设备签名：正在为本设备生成并登记签名密钥…"),
        "registered": _("本设备已登记签名密钥 %(name)s", name="{name}"),
        "signing": _("正在签名…"),
        "exempt_condition": _("签名即声明满足豁免条件："),
        "accepted": _("记录号 %(index)s", index="{index}"),
        "released_badge": _("本单位已签名，等待收运方确认"),
        "settled_badge": _("已交接"),
        "withdraw_confirm": _("再按一次确认撤回"),
        "withdraw_reason_released": _("交出方撤回：收运方尚未签收"),
        "withdraw_reason_answered": _("交出方不交出，撤回收运方的签收"),
        "withdrawn": _("已签名撤回（记录号 %(index)s），批次仍在本单位", index="{index}"),
        "withdrawn_badge": _("已撤回，可重新交接"),
        "settled": _("交接完成（记录号 %(index)s）", index="{index}"),
        "refusal_confirmed": _("已签名确认拒收（记录号 %(index)s）：批次仍在本单位，没有交出。"
                               "处理好拒收原因后可再次签名交接，或取消预约。", index="{index}"),
        "refused_badge": _("被拒收，待本单位重新签名交接"),
        "sign_again": _("再次签名交接"),
        "partial_settled": _("已交接 %(accepted)s 千克；拒收的 %(refused)s 千克仍由本单位负责，"
                             "请在“我的批次”签名收回（记录号 %(index)s）",
                             accepted="{accepted}", refused="{refused}", index="{index}"),
        "partial_badge": _("已交接（部分拒收）"),
        "withdraw_reason_refused": _("收运方已拒收，交出方撤回这次交接"),
        "already": _("本单位已签名，等待收运方确认"),
        "not_holder": _("该批次已不在本单位"),
        "network": _("网络不可用，未签名，请联网后重试"),
        "no_webcrypto": _("此浏览器不支持设备签名（需要较新的 Chrome、Edge 或 Firefox，且用 "
                          "https 或本机地址打开）"),
        "failed": _("未成功"),
        "confirm_cancel": _("确定取消这个预约吗？"),
    }


@bp.get("/pickups")
def pickup_requests() -> ResponseReturnValue:
    principal = page_principal("generator")
    # a batch already on another open request is not ticked for a new one
    requested = _requested(principal)
    codes = [c for c in request.args.getlist("codes") if c not in requested]
    return _pickups_page(principal, {"batches": codes,
                                     "address": pickups.last_address(db.session, principal.org)})


@bp.post("/pickups")
def create_pickup() -> ResponseReturnValue:
    principal = page_principal("generator")
    collector = request.form.get("collector", "")
    batches = request.form.getlist("batches")
    wanted_on = request.form.get("wanted_on", "").strip() or None
    note = request.form.get("note", "").strip() or None
    address = request.form.get("address", "").strip() or None
    form = {"collector": collector, "batches": batches, "wanted_on": wanted_on, "note": note,
            "address": address}
    try:
        if not collector:
            raise InvalidInput(_("请选择收集单位"), code="collector_missing", field="collector")
        _check_offered(principal, collector, set(batches))
        made = pickups.request_pickup(db.session, principal, collector, batches, wanted_on, note,
                                      address, after=pickup_requested)
    except LedgerError as exc:
        db.session.rollback()
        return _pickups_page(principal, form, {exc.field or "form": in_user_language(exc)},
                             status_for(exc))
    flash(_("已向 %(name)s 预约收集，联单号 %(manifest)s", name=made.collector_name,
            manifest=made.manifest), "ok")
    return redirect(url_for("generator.pickup_requests", _anchor=f"pickup-{made.id}"))


def _check_offered(principal: Principal, collector: str, chosen: set[str]) -> None:
    """The form offers only receivers that may take every ticked batch; a hand-made post
    naming another is refused with the codes it may not take, before anything is reserved."""
    available = [b for b in _available(principal) if b.code in chosen]
    if not available:
        return  # nothing (of one's own) ticked: request_pickup says what is missing
    for offer in offers(principal, available):
        if offer.receiver.uscc == collector and not offered(offer, chosen):
            raise InvalidInput(
                _("%(name)s 的经营许可证不覆盖 %(codes)s，也没有适用的豁免，请选择列表中的单位",
                  name=offer.receiver.name, codes="、".join(offer.lacking)),
                code="receiver_not_offered", field="collector")


@bp.post("/pickups/<int:pickup_id>/cancel")
def cancel_pickup(pickup_id: int) -> ResponseReturnValue:
    principal = page_principal("generator")
    made = pickups.cancel_pickup(db.session, principal, pickup_id)
    flash(_("已取消预约（联单号 %(manifest)s）", manifest=made.manifest), "ok")
    return redirect(url_for("generator.pickup_requests"))

