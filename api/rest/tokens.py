"""Bearer tokens: log in with a username and password (throttled like the log-in page)."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from api.extensions import db
from api.ratelimit import login_limits
from api.rest import schemas as s
from ledger.custody import access

auth_blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="Tokens")


@auth_blp.route("/auth/token", methods=["POST"])
@auth_blp.arguments(s.LoginSchema)
@auth_blp.response(201, s.TokenSchema)
@auth_blp.doc(summary="Log in with a username and password; returns a bearer token")
@s.documented_errors(auth_blp, 403, 422, 429)
@login_limits
@s.public(auth_blp)
def post_token(body: dict[str, Any]) -> Any:  # serialised by the response schema
    user = access.check_password(db.session, body["username"], body["password"])
    token = access.issue_token(db.session, user.org, body["label"], user.id)
    return {"token": token, "org": user.org}
