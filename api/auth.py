"""Who is calling: bearer tokens for API clients (and, for pages, the logged-in session)."""

from __future__ import annotations

from flask import request, session

from api.extensions import db
from ledger.custody.access import authenticate_token, principal_for
from ledger.custody.principals import Principal
from ledger.errors import LedgerError, PermissionDenied

_CACHE = "waste_ledger.principal"
_MISSING = object()


class Unauthenticated(PermissionDenied):
    """No or bad credentials (HTTP 401)."""

    code = "unauthenticated"


def current_principal(required: bool = True) -> Principal | None:
    """The principal of this request, from ``Authorization: Bearer`` or the page session."""
    # Cached per request (not on g: a request made while an app context is already active,
    # as in-process clients do, shares that context's g).
    cached = request.environ.get(_CACHE, _MISSING)
    if cached is not _MISSING:
        if cached is None and required:
            raise Unauthenticated("log in or send a bearer token", field="Authorization")
        return cached  # type: ignore[no-any-return]
    principal = None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("use Authorization: Bearer <token>", field="Authorization")
        try:
            principal = authenticate_token(db.session, token.strip())
        except PermissionDenied as exc:
            raise Unauthenticated(exc.message, field="Authorization") from None
    elif "org" in session:
        try:
            principal = principal_for(db.session, session["org"], session.get("user"))
        except LedgerError:  # the organisation is gone (a rebuilt or replaced database)
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
