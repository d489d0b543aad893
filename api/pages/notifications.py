"""提醒: the logged-in person's notifications (any organisation), marking them read, and the
switch that subscribes this browser to Web Push (api/static/js/notifications.js)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from api.auth import page_principal
from api.extensions import db
from api.notify.messages import describe_row
from ledger.audit import notifications as n
from ledger.clock import beijing_minutes
from ledger.custody.principals import Principal

bp = Blueprint("inbox", __name__, url_prefix="/notifications")


@bp.get("/")
def inbox() -> ResponseReturnValue:
    principal = page_principal()
    rows = [{"row": r, "msg": describe_row(r, gettext, principal.roles),
             "when": beijing_minutes(r.created_ms)}
            for r in n.notifications_for(db.session, principal, limit=100)]
    return render_template("notifications/list.html", rows=rows, js_messages={
        "push_on": gettext("已开启推送提醒"), "push_off": gettext("未开启推送提醒"),
        "push_denied": gettext("浏览器不允许通知，请在浏览器设置中允许"),
        "push_unsupported": gettext("此浏览器不支持推送提醒"),
        "push_failed": gettext("开启推送失败："),
    })


@bp.post("/read")
def mark_read() -> ResponseReturnValue:
    """Mark one notification read (``id``) or all of them, then back to the list (or to the
    notification's page with ``open``)."""
    principal = page_principal()
    raw = request.form.get("id", "")
    ids = [int(raw)] if raw.isdigit() and int(raw) < 2**31 else None
    n.mark_read(db.session, principal, ids)
    target = request.form.get("open", "")
    if ids and target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(url_for("inbox.inbox"))


def unread_for_page(principal: Principal | None) -> int:
    """The header badge's number (0 without a log-in)."""
    return 0 if principal is None else n.unread_count(db.session, principal)
