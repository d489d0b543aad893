"""Pickup requests (预约收集) and registering a device's own signing key, for the pages and any
client: thin views over ledger.pickups and ledger.registry."""

from __future__ import annotations

from typing import Any

from flask_smorest import Api, Blueprint

from api.auth import require_principal
from api.extensions import db
from api.ratelimit import reservation_limits
from api.rest import schemas as s
from api.runtime import log_config
from ledger.audit.notifications import pickup_requested
from ledger.custody import pickups
from ledger.errors import InvalidInput, LedgerError
from ledger.tlog import registry
from ledger.tlog.models import SigningKey
from ledger.tlog.notes import parse_vkey

blp = Blueprint("pickups", __name__, url_prefix="/api/v1",
                description="Pickup requests (预约收集) and device keys")


@blp.route("/pickups", methods=["GET"])
@s.authenticated(blp)
@blp.arguments(s.PickupQuerySchema, location="query")
@blp.response(200, s.PickupListSchema)
@blp.doc(summary="Requests made by, or addressed to, your organisation (newest first)")
@s.documented_errors(blp, 422)
def list_pickups(args: dict[str, Any]) -> Any:  # serialised by the response schema
    status = None if args["status"] == "all" else args["status"]
    return {"items": pickups.pickups_for(db.session, require_principal(), status)}


@blp.route("/pickups", methods=["POST"])
@s.authenticated(blp)
@blp.arguments(s.PickupInSchema)
@blp.response(201, s.PickupSchema)
@blp.doc(summary="Ask a collector to fetch batches you hold; reserves a manifest number")
@s.documented_errors(blp, 403, 404, 409, 422, 429)
@reservation_limits
def create_pickup(body: dict[str, Any]) -> Any:  # serialised by the response schema
    return pickups.request_pickup(db.session, require_principal(), body["collector"],
                                  body["batches"], body["wanted_on"], body["note"],
                                  body["address"], after=pickup_requested)


@blp.route("/pickups/<int:pickup_id>", methods=["GET"])
@s.authenticated(blp)
@blp.response(200, s.PickupSchema)
@blp.doc(summary="One pickup request made by, or addressed to, your organisation")
@s.documented_errors(blp, 404)
def get_pickup(pickup_id: int) -> Any:  # serialised by the response schema
    return pickups.get_pickup(db.session, require_principal(), pickup_id)


@blp.route("/pickups/<int:pickup_id>/cancel", methods=["POST"])
@s.authenticated(blp)
@blp.response(200, s.PickupSchema)
@blp.doc(summary="Cancel a request you made")
@s.documented_errors(blp, 403, 404)
def cancel_pickup(pickup_id: int) -> Any:  # serialised by the response schema
    return pickups.cancel_pickup(db.session, require_principal(), pickup_id)


@blp.route("/keys", methods=["POST"])
@s.authenticated(blp)
@blp.arguments(s.KeyInSchema)
@blp.response(201, s.KeyOutSchema)
@blp.doc(summary="Register a key made on your device (the operator signs key.registered)",
         description="Enrolment for a logged-in person or a token holder: the public key "
                     "becomes valid for your organisation from the entry's index on.")
@s.documented_errors(blp, 409, 422)
def register_device_key(body: dict[str, Any]) -> Any:  # serialised by the response schema
    principal = require_principal()
    try:
        key = parse_vkey(body["vkey"])
    except LedgerError as exc:
        raise InvalidInput(exc.message, code=exc.code, field="vkey") from None
    registry.register_key(db.session, log_config(), principal.org, key, body["label"])
    row = db.session.get(SigningKey, key.fingerprint)
    assert row is not None
    return {"org": row.org, "fingerprint": row.fingerprint, "name": row.name,
            "vkey": key.vkey, "label": row.label, "registered_at": row.registered_at}


def register(api: Api) -> None:
    api.register_blueprint(blp)
