"""Notifications over HTTP: the caller's list and marking read, Web Push subscriptions, and
webhook subscriptions with their delivery logs. Everything is scoped to the caller's
organisation (and, for notifications addressed to one person, to that person).
docs/notifications.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import current_app
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields, validate

from api.auth import require_principal
from api.extensions import db
from api.notify import webhooks, webpush
from api.notify.deliver import reach
from api.notify.messages import describe_row
from api.rest import schemas as s
from ledger.audit import notifications as n
from ledger.tlog.db import write_transaction
from ledger.tlog.entries import format_time

blp = Blueprint("notifications", __name__, url_prefix="/api/v1",
                description="Notifications, Web Push and webhooks (docs/notifications.md)")


class NotificationQuerySchema(Schema):
    unread = fields.Boolean(load_default=False)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class NotificationSchema(Schema):
    id = fields.Integer(required=True)
    event = fields.String(required=True)
    subject = fields.String(required=True)
    user = fields.String(required=True, allow_none=True)
    data = fields.Dict(required=True)
    title = fields.String(required=True)
    body = fields.String(required=True)
    url = fields.String(required=True)
    created = fields.String(required=True)
    read = fields.String(required=True, allow_none=True)


class NotificationPageSchema(Schema):
    unread = fields.Integer(required=True)
    items = fields.List(fields.Nested(NotificationSchema), required=True)


class MarkReadSchema(Schema):
    ids = fields.List(fields.Integer(validate=validate.Range(min=1, max=2**31 - 1)),
                      validate=validate.Length(max=500), load_default=None,
                      metadata={"description": "the notifications to mark; all when left out"})


class MarkedSchema(Schema):
    marked = fields.Integer(required=True)
    unread = fields.Integer(required=True)


class PushKeySchema(Schema):
    public_key = fields.String(required=True, metadata={
        "description": "the VAPID applicationServerKey (base64url, uncompressed P-256)"})


class PushKeysSchema(Schema):
    p256dh = fields.String(required=True, validate=validate.Length(min=1, max=200))
    auth = fields.String(required=True, validate=validate.Length(min=1, max=100))


class PushSubscriptionSchema(Schema):
    """A browser's PushSubscription.toJSON()."""

    endpoint = fields.String(required=True, validate=[
        validate.Length(min=1, max=1000), validate.Regexp(r"^https?://[^\s/?#]+")])
    keys = fields.Nested(PushKeysSchema, required=True)
    expirationTime = fields.Integer(allow_none=True, load_default=None)  # noqa: N815 - the browser's name


class UnsubscribeSchema(Schema):
    endpoint = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class SubscribedSchema(Schema):
    id = fields.Integer(required=True)
    endpoint = fields.String(required=True)


class RemovedSchema(Schema):
    removed = fields.Boolean(required=True)


class WebhookInSchema(Schema):
    url = fields.String(required=True, validate=[
        validate.Length(min=1, max=1000), validate.Regexp(r"^https?://[^\s/?#]+")])
    events = fields.List(fields.String(validate=validate.OneOf([*n.EVENTS, "*"])),
                         required=True, validate=validate.Length(min=1, max=len(n.EVENTS)))


class WebhookSchema(Schema):
    id = fields.Integer(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    created = fields.String(required=True)


class WebhookCreatedSchema(WebhookSchema):
    secret = fields.String(required=True, metadata={
        "description": "the signing secret, shown this once (docs/notifications.md)"})


class WebhookListSchema(Schema):
    items = fields.List(fields.Nested(WebhookSchema), required=True)


class DeliverySchema(Schema):
    delivery_id = fields.String(required=True)
    notification = fields.Integer(required=True)
    event = fields.String(required=True)
    status = fields.String(required=True)
    attempts = fields.Integer(required=True)
    last_status = fields.Integer(required=True, allow_none=True)
    last_error = fields.String(required=True, allow_none=True)
    created = fields.String(required=True)
    next_attempt = fields.String(required=True, allow_none=True)
    done = fields.String(required=True, allow_none=True)


class DeliveryLogSchema(Schema):
    items = fields.List(fields.Nested(DeliverySchema), required=True)


def notification_json(row: n.Notification) -> dict[str, Any]:
    msg = describe_row(row)
    return {"id": row.id, "event": row.event, "subject": row.subject, "user": row.user,
            "data": json.loads(row.data), "title": msg.title, "body": msg.body, "url": msg.url,
            "created": format_time(row.created_ms),
            "read": None if row.read_ms is None else format_time(row.read_ms)}


def _webhook_json(row: n.WebhookSubscription) -> dict[str, Any]:
    return {"id": row.id, "url": row.url, "events": row.events.split(),
            "created": format_time(row.created_ms)}


@blp.route("/notifications", methods=["GET"])
@s.authenticated(blp)
@blp.arguments(NotificationQuerySchema, location="query")
@s.documented_ok(blp, NotificationPageSchema)
@blp.doc(summary="Your notifications, newest first, and how many are unread")
def get_notifications(args: dict[str, Any]) -> Any:
    p = require_principal()
    rows = n.notifications_for(db.session, p, unread_only=args["unread"], limit=args["limit"])
    return {"unread": n.unread_count(db.session, p),
            "items": [notification_json(r) for r in rows]}


@blp.route("/notifications/read", methods=["POST"])
@s.authenticated(blp)
@blp.arguments(MarkReadSchema, required=False)
@s.documented_ok(blp, MarkedSchema)
@blp.doc(summary="Mark your notifications read (the listed ids, or all)")
@s.documented_errors(blp, 422)
def mark_notifications_read(body: dict[str, Any]) -> Any:
    p = require_principal()
    marked = n.mark_read(db.session, p, body.get("ids"))
    return {"marked": marked, "unread": n.unread_count(db.session, p)}


@blp.route("/push/key", methods=["GET"])
@s.authenticated(blp)
@s.documented_ok(blp, PushKeySchema)
@blp.doc(summary="The VAPID public key to subscribe with (applicationServerKey)")
def get_push_key() -> Any:
    return {"public_key": webpush.public_key(Path(current_app.config["VAPID_KEY_FILE"]))}


@blp.route("/push/subscriptions", methods=["POST"])
@s.authenticated(blp)
@blp.arguments(PushSubscriptionSchema)
@blp.response(201, SubscribedSchema)
@blp.doc(summary="Keep this browser's push subscription: your notifications are pushed to it")
@s.documented_errors(blp, 422)
def post_push_subscription(body: dict[str, Any]) -> Any:
    keys = body["keys"]
    webpush.check_subscription(body["endpoint"], keys["p256dh"], keys["auth"],
                               reach(current_app._get_current_object()))  # type: ignore[attr-defined]
    principal = require_principal()
    with write_transaction(db.session):  # reads then writes: take the write lock first
        row = n.save_push_subscription(db.session, principal, body["endpoint"],
                                       keys["p256dh"], keys["auth"])
    return {"id": row.id, "endpoint": row.endpoint}


@blp.route("/push/unsubscribe", methods=["POST"])
@s.authenticated(blp)
@blp.arguments(UnsubscribeSchema)
@s.documented_ok(blp, RemovedSchema)
@blp.doc(summary="Forget a push subscription of your organisation")
@s.documented_errors(blp, 422)
def post_push_unsubscribe(body: dict[str, Any]) -> Any:
    principal = require_principal()
    with write_transaction(db.session):
        removed = n.remove_push_subscription(db.session, principal, body["endpoint"])
    return {"removed": removed}


@blp.route("/webhooks", methods=["GET"])
@s.authenticated(blp)
@s.documented_ok(blp, WebhookListSchema)
@blp.doc(summary="Your organisation's webhooks (never their secrets)")
def get_webhooks() -> Any:
    return {"items": [_webhook_json(w) for w in n.webhooks_of(db.session, require_principal())]}


@blp.route("/webhooks", methods=["POST"])
@s.authenticated(blp)
@blp.arguments(WebhookInSchema)
@blp.response(201, WebhookCreatedSchema)
@blp.doc(summary="Subscribe a URL to events; the answer shows the signing secret once")
@s.documented_errors(blp, 409, 422)
def post_webhook(body: dict[str, Any]) -> Any:
    webhooks.check_url(body["url"], reach(current_app._get_current_object()))  # type: ignore[attr-defined]
    principal = require_principal()
    with write_transaction(db.session):  # the count of webhooks and the insert, together
        row, secret = n.add_webhook(db.session, principal, body["url"], body["events"])
    return {**_webhook_json(row), "secret": secret}


@blp.route("/webhooks/<int:hook_id>", methods=["DELETE"])
@s.authenticated(blp)
@blp.response(204)
@blp.doc(summary="Unsubscribe (the delivery log is kept)")
@s.documented_errors(blp, 404)
def delete_webhook(hook_id: int) -> None:
    principal = require_principal()
    with write_transaction(db.session):
        n.remove_webhook(db.session, principal, hook_id)


@blp.route("/webhooks/<int:hook_id>/deliveries", methods=["GET"])
@s.authenticated(blp)
@s.documented_ok(blp, DeliveryLogSchema)
@blp.doc(summary="The delivery log of one of your webhooks, newest first")
@s.documented_errors(blp, 404)
def get_webhook_deliveries(hook_id: int) -> Any:
    rows = n.deliveries_of(db.session, require_principal(), hook_id)
    return {"items": [{
        "delivery_id": d.delivery_id, "notification": note.id, "event": note.event,
        "status": d.status, "attempts": d.attempts, "last_status": d.last_status,
        "last_error": d.last_error, "created": format_time(d.created_ms),
        "next_attempt": format_time(d.next_ms) if d.status == n.PENDING else None,
        "done": None if d.done_ms is None else format_time(d.done_ms)} for d, note in rows]}


def register(api: Api) -> None:
    api.register_blueprint(blp)
