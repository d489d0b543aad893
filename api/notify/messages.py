"""What a notification says, in the person's language (Chinese by default), and where it links.

The message ids are the Chinese texts (as everywhere in the pages); ``gettext`` is the pages'
``_`` in a request, and the identity (Chinese) for a Web Push sent by a background job.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ledger.audit import notifications as n

Gettext = Callable[..., str]


def _chinese(text: str, **params: Any) -> str:
    return text % params if params else text


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    url: str  # a path on this site


def describe(event: str, data: dict[str, Any], _: Gettext = _chinese) -> Message:
    """The title, body and link of an event's notification."""
    if event == n.PICKUP_REQUESTED:
        return Message(_("新的收运预约"),
                       _("联单 %(manifest)s：%(n)s 个批次待收运", manifest=data.get("manifest"),
                         n=len(data.get("batches") or [])),
                       "/collector/")
    if event == n.HANDOVER_WAITING:
        body = (_("批次 %(batch)s 待您确认接收", batch=data.get("batch"))
                if data.get("step") == "answer"
                else _("批次 %(batch)s 待您签名移出", batch=data.get("batch")))
        return Message(_("交接待您签名"), body,
                       "/collector/" if data.get("step") == "answer" else "/generator/pickups")
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
        title = (_("整批拒收") if what == "refused" else
                 _("部分拒收") if what == "partly_refused" else _("重量差异"))
        return Message(title,
                       _("批次 %(batch)s（联单 %(manifest)s）：%(reason)s",
                         batch=data.get("batch"), manifest=data.get("manifest"),
                         reason=data.get("reason") or ""), "/generator/")
    return Message(event, "", "/notifications/")


def describe_row(row: n.Notification, _: Gettext = _chinese) -> Message:
    return describe(row.event, json.loads(row.data), _)
