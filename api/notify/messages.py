"""What a notification says, in the person's language (Chinese by default), and where it links.

The message ids are the Chinese texts (as everywhere in the pages); ``gettext`` is the pages'
``_`` in a request, and the identity (Chinese) for a Web Push sent by a background job.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from api.extensions import db
from ledger.audit import notifications as n
from ledger.custody.projections import Organisation

Gettext = Callable[..., str]


def _chinese(text: str, **params: Any) -> str:
    return text % params if params else text


def _kg(grams: Any) -> str:
    """Grams as kilograms with up to three decimals, exactly."""
    whole, rest = divmod(abs(int(grams)), 1000)
    text = f"{whole:,}" + (f".{rest:03d}".rstrip("0") if rest else "")
    return ("-" if int(grams) < 0 else "") + text


def batch_page(roles: frozenset[str] | set[str], batch: str | None) -> str:
    """The reader's own page for a batch, by its organisation's roles (a collector, station or
    disposer gets a 403 on the generator's pages and the reverse); the batch's public page
    (/t/<code>) for anyone else."""
    if "generator" in roles:
        return "/generator/#handover-alerts"
    if roles & {"collector", "transporter"}:
        return "/collector/"
    if "receiver" in roles:
        return "/collector/station"
    if "disposer" in roles:
        return "/collector/disposer"
    return f"/t/{batch}" if batch else "/notifications/"


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    url: str  # a path on this site


def describe(event: str, data: dict[str, Any], _: Gettext = _chinese,
             roles: frozenset[str] = frozenset()) -> Message:
    """The title, body and link of an event's notification; ``roles`` are the reading
    organisation's, which choose the page the link opens."""
    if event == n.PICKUP_REQUESTED:
        return Message(_("新的收运预约"),
                       _("联单 %(manifest)s：%(n)s 个批次待收运", manifest=data.get("manifest"),
                         n=len(data.get("batches") or [])),
                       "/collector/")
    if event == n.HANDOVER_WAITING:
        body = (_("批次 %(batch)s 待您确认接收", batch=data.get("batch"))
                if data.get("step") == "answer"
                else _("批次 %(batch)s 待您签名移出", batch=data.get("batch")))
        if data.get("step") == "answer":
            url = "/collector/"
        elif "generator" in roles or not roles:
            url = "/generator/pickups"
        else:
            url = batch_page(roles, data.get("batch"))
        return Message(_("交接待您签名"), body, url)
    if event == n.CASE_ASSIGNED:
        return Message(_("新的整改任务"),
                       _("%(title)s，整改时限 %(deadline)s", title=data.get("title"),
                         deadline=data.get("deadline")), "/rectify/")
    if event == n.CASE_RETURNED:
        return Message(_("整改报告被退回"),
                       _("%(title)s：%(reasons)s", title=data.get("title"),
                         reasons=data.get("reasons") or ""), "/rectify/")
    if event == n.DEADLINE_SOON:
        return Message(_("整改即将到期"),
                       _("%(title)s，%(deadline)s 到期（还剩 %(days)s 天）",
                         title=data.get("title"), deadline=data.get("deadline"),
                         days=data.get("days_left")), "/rectify/")
    if event == n.DECLARATION_DUE:
        return Message(_("申报即将到期"),
                       _("%(period)s 的申报请在 %(due)s 前完成", period=data.get("period"),
                         due=data.get("due")), "/notifications/")
    if event == n.HANDOVER_DIFFERENCE:
        what = data.get("what")
        where = {"batch": data.get("batch"), "manifest": data.get("manifest")}
        released, accepted = data.get("released_g"), data.get("accepted_g")
        if what == "refused":
            title = _("整批拒收")
            body = _("批次 %(batch)s（联单 %(manifest)s）：%(reason)s", **where,
                     reason=data.get("reason") or "")
        elif what == "partly_refused":
            title = _("部分拒收")
            body = _("批次 %(batch)s（联单 %(manifest)s）：拒收 %(refused)s 千克，原因：%(reason)s",
                     **where, refused=_kg(data.get("refused_g") or 0),
                     reason=data.get("reason") or "")
        else:
            title = _("重量差异")
            body = (_("批次 %(batch)s（联单 %(manifest)s）：交出 %(released)s 千克，接收 "
                      "%(accepted)s 千克，相差 %(diff)s 千克", **where, released=_kg(released),
                      accepted=_kg(accepted), diff=_kg(abs(accepted - released)))
                    if released is not None and accepted is not None
                    else _("批次 %(batch)s（联单 %(manifest)s）", **where))
        return Message(title, body, batch_page(roles, data.get("batch")))
    return Message(event, "", "/notifications/")


def describe_row(row: n.Notification, _: Gettext = _chinese,
                 roles: frozenset[str] | None = None) -> Message:
    """``roles``: the reading organisation's; looked up from the row's organisation if not
    given (a push or the API, outside a page)."""
    if roles is None:
        roles = org_roles(row.org)
    return describe(row.event, json.loads(row.data), _, roles)


def org_roles(org: str) -> frozenset[str]:
    found = db.session.get(Organisation, org)
    return frozenset(found.roles.split()) if found is not None else frozenset()
