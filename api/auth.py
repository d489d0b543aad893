"""Who is calling: bearer tokens for API clients (and, for pages, the logged-in session)."""

from __future__ import annotations

import re

from flask import current_app, request, session

from api.extensions import db
from ledger.custody.access import (
    User,
    authenticate_token,
    end_session,
    session_principal,
    start_session,
)
from ledger.custody.principals import Principal
from ledger.errors import PermissionDenied

_CACHE = "waste_ledger.principal"
_MISSING = object()


class Unauthenticated(PermissionDenied):
    """No or bad credentials (HTTP 401)."""

    code = "unauthenticated"


# RFC 6750 §2.1: "Bearer" 1*SP b64token. Anything else in the header is not a bearer token.
_BEARER = re.compile(r"Bearer +([A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)


def bearer_token() -> str | None:
    """The request's bearer token; None without an Authorization header; 401 when the
    header is there but is not a well-formed bearer token (an empty one included)."""
    if "Authorization" not in request.headers:
        return None
    match = _BEARER.fullmatch(request.headers["Authorization"].strip())
    if match is None:
        raise Unauthenticated("use Authorization: Bearer <token>", field="Authorization")
    return match.group(1)


def has_bearer_token() -> bool:
    """A well-formed bearer token is present (what may stand in for the CSRF check)."""
    try:
        return bearer_token() is not None
    except Unauthenticated:
        return False


def log_in_session(user: User) -> None:
    """Start a server-side log-in session for ``user`` in a fresh cookie (privilege change)."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    session["sid"] = start_session(db.session, user)
    session["user"], session["org"] = user.username, user.org
    session.permanent = True
    request.environ.pop(_CACHE, None)


def log_out_session() -> None:
    """End the log-in on the server (the old cookie stops working) and clear the cookie."""
    if isinstance(session.get("sid"), str):
        end_session(db.session, session["sid"])
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    request.environ.pop(_CACHE, None)


def current_principal(required: bool = True) -> Principal | None:
    """The principal of this request, from ``Authorization: Bearer`` or the page session."""
    # Cached per request (not on g: a request made while an app context is already active,
    # as in-process clients do, shares that context's g).
    cached = request.environ.get(_CACHE, _MISSING)
    if cached is not _MISSING:
        if cached is None and required:
            raise Unauthenticated("log in or send a bearer token", field="Authorization")
        return cached
    principal = None
    token = bearer_token()
    if token is not None:
        try:
            principal = authenticate_token(db.session, token)
        except PermissionDenied as exc:
            raise Unauthenticated(exc.message, field="Authorization") from None
    elif "org" in session or "sid" in session:
        # The cookie only names a server-side session: ended (log-out, new password,
        # deactivation) or expired, it logs no one in, whatever its signature.
        max_age = current_app.permanent_session_lifetime.total_seconds()
        principal = session_principal(db.session, session.get("sid"), int(max_age * 1000))
        if principal is None:
            session.clear()
    request.environ[_CACHE] = principal
    if principal is None and required:
        raise Unauthenticated("log in or send a bearer token", field="Authorization")
    return principal


def require_principal() -> Principal:
    p = current_principal(required=True)
    assert p is not None
    return p


def require_role(*roles: str) -> Principal:
    p = require_principal()
    if not set(roles) & p.roles:
        raise PermissionDenied(f"this needs the role {' or '.join(roles)}", code="role_missing")
    return p


def page_principal(*roles: str) -> Principal:
    """The logged-in person for a page (log-in redirect if none; 403 without the role)."""
    return require_role(*roles) if roles else require_principal()
