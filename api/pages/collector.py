"""The workspace of those who receive waste (收集、运输、中转、利用处置): the pickup round,
the scanning page (camera or typed code), signing in the browser, offline queue.

The pages are shells: their scripts (api/static/js/collector/) download the round into
IndexedDB, sign entries with the device key and queue them while offline. The service worker
(/collector/sw.js, scope /collector/) keeps the pages, their scripts and the vendored libraries
so both pages open without a network."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from flask import Blueprint, Response, current_app, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from api.auth import page_principal
from api.extensions import db
from ledger.custody.pickups import RECEIVING_ROLES
from ledger.custody.reference import IMPORT_HINT, METHODS, method_codes

bp = Blueprint("collector", __name__, url_prefix="/collector")

#: Static files the service worker keeps for offline use (relative to api/static).
OFFLINE_STATIC = (
    "css/app.css", "css/collector.css", "js/ledger.js",
    "js/collector/common.js", "js/collector/round.js", "js/collector/scan.js",
    "vendor/idb/index.js", "vendor/canonicalize/canonicalize.js", "vendor/jsqr/jsQR.js",
    "vendor/noble-ed25519/index.js",  # ledger.js imports it (signing without WebCrypto Ed25519)
)
HAZARD_LETTERS = ("T", "C", "I", "R", "In")


def _messages() -> dict[str, str]:
    """The strings the collector scripts show, translated for this request."""
    return {
        "queue": _("待发送"),
        "queued": _("已签名，联网后自动发送"),
        "accepted": _("已签名记录"),
        "rejected": _("被拒绝"),
        "index": _("日志序号 %(n)s"),
        "offline": _("离线"),
        "online": _("在线"),
        "nothing_queued": _("没有待发送的记录"),
        "sending": _("正在发送…"),
        "sent": _("已发送 %(n)s 条"),
        "still_offline": _("仍然离线，稍后自动发送"),
        "key_ready": _("本机签名密钥已登记：%(fp)s"),
        "key_missing_offline": _("本机还没有签名密钥。请在有网络时打开“收运任务”页面，"
                                 "系统会自动生成并登记密钥，之后离线也能签名。"),
        "key_failed": _("签名密钥登记失败：%(msg)s"),
        "key_making": _("正在生成并登记本机签名密钥…"),
        "key_renewed": _("本机原来的签名密钥已被注销（或不再有效），"
                         "已自动生成并登记新的密钥：%(fp)s"),
        "key_dead": _("本机原来的签名密钥已被注销。请在有网络时打开本页面，"
                      "会自动生成并登记新的密钥。"),
        "downloading": _("正在下载收运任务…"),
        "downloaded": _("已下载到手机：%(t)s"),
        "download_failed": _("下载失败：%(msg)s"),
        "offline_round": _("离线：显示 %(t)s 下载的任务"),
        "no_round": _("还没有下载收运任务。请在有网络时打开本页。"),
        "no_pickups": _("没有发给本单位的收运请求"),
        "no_held": _("本单位目前没有持有的批次"),
        "manifest": _("联单号"),
        "declared": _("申报"),
        "held_mass": _("现有"),
        "contact": _("联系人"),
        "location": _("存放地点"),
        "phone": _("电话"),
        "wanted_on": _("预约日期"),
        "holder": _("持有单位"),
        "waste_code": _("废物代码"),
        "done": _("已完成"),
        "signed_here": _("本机已签名"),
        "todo": _("待收"),
        "released_to_me": _("已交出，待接收"),
        "scan": _("扫码"),
        "release": _("转交"),
        "consolidate": _("合并"),
        "dispose": _("处置"),
        "state_declared": _("待收集"),
        "state_pending": _("交接中"),
        "state_stored": _("贮存中"),
        "state_in_transit": _("运输中"),
        "state_received": _("已接收待处置"),
        "state_refused": _("被拒收"),
        "state_consolidated": _("已合并"),
        "state_disposed": _("已处置"),
        "hazard_T": _("毒性"),
        "hazard_C": _("腐蚀性"),
        "hazard_I": _("易燃性"),
        "hazard_R": _("反应性"),
        "hazard_In": _("感染性"),
        "code_invalid": _("识别码应为 37 位字母数字（可带空格，或扫描标签上的二维码）"),
        "not_found": _("未找到该批次：%(msg)s"),
        "not_in_round": _("离线时只能处理已下载到手机的批次，该批次不在收运任务中"),
        "not_for_me": _("该批次没有交给本单位的交接，也不在发给本单位的收运请求中"),
        "already_mine": _("本单位已持有该批次"),
        "mass_invalid": _("请输入称重重量（千克，最多 3 位小数，大于 0）"),
        "mass_required": _("请先称重，在上面填写磅秤读数（千克）"),
        "mass_format": _("请输入称重重量（千克，最多 3 位小数，大于 0）"),
        "mass_decimal_comma": _("小数请用点号，如 65.3；逗号只用作千位分隔，如 1,200"),
        "mass_range": _("重量应大于 0，且不超过 1,000,000,000 千克"),
        "camera_denied": _("相机权限被拒绝。请在浏览器设置中允许本网站使用相机，"
                           "或手动输入识别码。"),
        "camera_missing": _("没有找到相机。可以手动输入识别码。"),
        "camera_busy": _("相机正被其他应用使用。关闭其他应用后再试，或手动输入识别码。"),
        "camera_failed": _("无法打开相机。可以手动输入识别码。"),
        "synced": _("已发送并签名记录 · 日志序号 %(n)s"),
        "mass_differs": _("称重 %(kg)s 千克，与交出的 %(released)s 千克相差 %(pct)s。"
                          "核对无误请再按一次“接收并签名”。"),
        "reason_missing": _("请填写拒收原因"),
        "mass_compare": _("对照：%(kg)s。请按实际称重填写。"),
        "camera_insecure": _("相机需要 HTTPS 或本机地址（localhost）。可以手动输入识别码。"),
        "camera_looking": _("请将二维码对准取景框"),
        "signing": _("正在签名…"),
        "accept_done": _("已接收 %(kg)s 千克"),
        "refuse_done": _("已拒收"),
        "resigned": _("已按最新进度重新签名"),
        "choose_batches": _("请先勾选批次"),
        "choose_receiver": _("请选择接收单位"),
        "release_done": _("已签名转交 %(n)s 批，联单号 %(m)s"),
        "accept_all": _("全部签收 %(n)s 件（按交出重量；要逐件称重请扫码）"),
        "accept_all_done": _("已签收 %(n)s 件"),
        "accept_all_label": _("签收"),
        "consolidate_done": _("已合并为 %(code)s"),
        "consolidate_partial": _("已把 %(n)s 批合并为 %(code)s；%(name)s 未能并入（%(msg)s），"
                                 "仍在本单位，可以单独处理。"),
        "dispose_done": _("已记录处置"),
        "permit_missing": _("没有覆盖该废物代码和方式的许可证"),
        "needs_online": _("这一步需要网络（预留联单号或合并批次识别码）"),
        "one_waste_code": _("合并的批次应为同一废物代码"),
        "error": _("出错了：%(msg)s"),
        "kg": _("千克"),
        "from": _("交出单位"),
        "ho_released": _("已签名交给 %(who)s（联单 %(m)s），等对方签收。"),
        "ho_they_accepted": _("%(who)s 已签收 %(kg)s（联单 %(m)s），等本单位签名交出。"),
        "ho_they_refused": _("%(who)s 已签名拒收（联单 %(m)s），等本单位签名确认。"),
        "ho_we_signed": _("本单位已签收（联单 %(m)s），等 %(who)s 签名交出。"),
        "complete_release": _("签名交出"),
        "withdraw_release": _("撤回交出"),
        "withdraw_decline": _("不交出（撤回）"),
        "withdraw_receipt": _("撤回签收"),
        "withdraw_confirm": _("再按一次确认撤回"),
        "withdraw_explain": _("撤回会签名记录在该批次下，已有的签名不会删除；批次留在原持有单位。"),
        "withdraw_done": _("已签名撤回联单 %(m)s 的交接"),
        "withdrawn": _("撤回交接"),
        "reason_giver_withdraws": _("交出方撤回：对方尚未签收"),
        "reason_giver_declines": _("交出方不交出，撤回对方的签收"),
        "reason_receiver_withdraws": _("接收方撤回签收"),
        "complete_done": _("已签名交给 %(who)s，联单 %(m)s"),
        "cancel_pickup": _("取消预约"),
        "on_other_reservation": _("所选批次还在本单位预留给 %(who)s 的联单 %(m)s 中"
                                  "（预约未取消）。取消那条预约后即可转交："),
        "cancelled": _("已取消联单 %(m)s 的预约，批次可以重新转交"),
        "no_vehicle": _("不填"),
        "other_vehicle": _("其他车牌（手动输入）…"),
        "vehicle_missing": _("请输入车牌，或在列表中选择"),
        "reservation_released": _("已取消为这一趟预留的联单 %(m)s，改正后可以重新转交。"),
        "reservation_kept": _("为这一趟预留的联单 %(m)s 未能取消，"
                              "请在下面“本单位预留的联单”中取消。"),
        "release_partial": _("已签名交出 %(n)s 批（联单 %(m)s）；"
                             "其余批次再次转交给同一单位时沿用这张联单。"),
        "complete_on_round": _("%(who)s 已签收，等本单位签名交出："
                               "请在“收运任务”页签名交出或撤回。"),
        "waiting_for_giver": _("本单位已签收，等 %(who)s 签名交出。"),
        "released_by_us": _("本单位已签名交给 %(who)s，等对方签收。"),
        "to_round": _("打开收运任务"),
        "not_covered": _("未列出的接收单位：许可证不覆盖所选批次的废物代码——%(list)s"),
        "address": _("取货地址"),
        "map": _("地图导航"),
        "leg_released": _("移出"),
        "leg_departed": _("起运"),
        "leg_arrived": _("运抵"),
        "leg_received": _("接收"),
        "leg_refused": _("拒收"),
        "leg_partly_refused": _("部分拒收 %(kg)s"),
        "leg_not_yet": _("未签"),
        "trip_carrier": _("承运人 %(who)s · 车牌 %(plate)s · 驾驶员 %(driver)s"),
        "vehicle": _("车牌"),
        "driver": _("驾驶员"),
        "sign_departed": _("签名起运（%(n)s 件）"),
        "sign_arrived": _("签名运抵（%(n)s 件）"),
        "carrier_nothing": _("本单位在这张联单上没有要签的了"),
        "carrier_no_vehicle": _("本单位没有登记车辆，请联系运营方登记车牌后再签起运"),
        "driver_missing": _("请填写驾驶员姓名"),
        "departed_done": _("已签名起运 %(n)s 件（联单 %(m)s）"),
        "arrived_done": _("已签名运抵 %(n)s 件（联单 %(m)s），等接收单位签收"),
        "refused_kg": _("拒收 %(kg)s"),
        "refused_by": _("%(who)s 拒收（联单 %(m)s，%(t)s）：%(reason)s"),
        "take_back": _("签名收回拒收部分"),
        "refused_here": _("被拒收，在本单位。可以转交给其他接收单位（改送），或退回 %(who)s。"),
        "return_enterprise": _("签名退回产废单位"),
        "returned_done": _("已签名退回 %(who)s（联单 %(m)s），等对方签收。"),
        "taken_back": _("已收回 %(kg)s，成为新批次 %(code)s。"
                        "可以在“本单位持有的批次”里转交给其他接收单位。"),
    }


def _yard_messages() -> dict[str, str]:
    """The strings of the station and disposer pages."""
    return {
        "incoming_none": _("没有待签收的批次"),
        "held_none": _("本单位目前没有持有的批次"),
        "accept": _("称重接收并签名"),
        "weighed": _("称重（千克）"),
        "in_storage": _("在 %(f)s 贮存（入库 %(kg)s）"),
        "not_stored": _("未入库"),
        "store_in": _("入库"),
        "store_out": _("出库"),
        "choose_facility": _("请先登记并选择贮存设施"),
        "stored_done": _("已签名入库 %(f)s"),
        "out_done": _("已签名出库"),
        "facility_line": _("%(code)s %(name)s（%(type)s）：现存 %(kg)s / 设计容量 %(cap)s 千克"),
        "no_facility": _("本单位还没有登记贮存设施，请联系运营方登记后再入库。"),
        "release_done_one": _("已签名转交 %(n)s 批给 %(who)s，联单号 %(m)s"),
        "receiver_not_covered": _("%(who)s 的许可证不覆盖 %(codes)s，不能转交给它；"
                                  "请选择其他接收单位"),
        "choose_method": _("请选择利用/处置方式"),
        "residue_done": _("已登记次生废物 %(code)s"),
        "residue_sources": _("请勾选产生该次生废物的处置记录"),
        "residue_fields": _("请填写废物代码、名称和重量"),
        "residue_hazards": _("危险废物请至少勾选一项危险特性"
                             "（毒性、腐蚀性、易燃性、反应性、感染性）"),
    }


def _page(template: str, active: str, **extra: object) -> ResponseReturnValue:
    principal = page_principal(*RECEIVING_ROLES)
    return render_template(
        template, active=active, js_messages={**_messages(), **_yard_messages()}, **extra,
        hazard_letters=HAZARD_LETTERS,
        org_data={"org": principal.org, "name": principal.name,
                  "roles": sorted(principal.roles), "user": principal.user or ""},
    )


@bp.get("/")
def round():  # type: ignore[no-untyped-def]  # noqa: A001 - the driver's "round"
    return _page("collector/round.html", "round")


@bp.get("/station")
def station() -> ResponseReturnValue:
    """A transfer station's own job: incoming, storage (入库/出库), consolidation, outgoing."""
    return _page("collector/station.html", "station")


@bp.get("/disposer")
def disposer() -> ResponseReturnValue:
    """A disposer's receiving and disposal page: 利用/处置方式 from the list, residues; until
    the list is loaded, the page says so and how the operator loads it."""
    return _page("collector/disposer.html", "disposer",
                 methods_loaded=method_codes(db.session) is not None,
                 methods_import=IMPORT_HINT[METHODS])


@bp.get("/scan")
def scan() -> ResponseReturnValue:
    return _page("collector/scan.html", "scan")


@bp.get("/sw.js")
def service_worker() -> ResponseReturnValue:
    """The service worker, served from /collector/ so that its scope is /collector/ (a worker
    may control only pages under its own path), with the list of files to keep offline."""
    static = Path(current_app.static_folder or "")
    body = (static / "js" / "collector" / "sw.js").read_text(encoding="utf-8")
    assets = [url_for("collector.round"), url_for("collector.scan")]
    assets += [url_for("static", filename=f) for f in OFFLINE_STATIC]
    assets += [url_for("pages.pictogram", letter=x) for x in HAZARD_LETTERS]
    # From the files' contents, so any change of a kept file (and only that) renews the cache.
    digest = hashlib.sha256()
    for f in (*OFFLINE_STATIC, "js/collector/sw.js"):
        digest.update((static / f).read_bytes())
    version = digest.hexdigest()[:16]
    head = (f"const VERSION = {json.dumps(version)};\n"
            f"const OFFLINE = {json.dumps(assets)};\n")
    resp = Response(head + body, mimetype="text/javascript")
    resp.headers["Cache-Control"] = "no-cache"
    return resp
