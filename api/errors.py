"""One error body for the API, error pages for people; status codes are chosen here.

Every /api/ error is ``{"code", "status", "message", "errors"}``. Domain errors carry a stable
code; the message is shown in Chinese unless the client prefers English.
"""

from __future__ import annotations

import re
from typing import Any

from flask import (
    Flask,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from api.auth import Unauthenticated
from api.extensions import db
from api.i18n import select_locale
from api.messages import MESSAGES_ZH
from ledger import errors as le

STATUS_BY_CLASS: list[tuple[type[le.LedgerError], int]] = [
    (Unauthenticated, 401),
    (le.TooManyAttempts, 429),
    (le.TooLarge, 413),
    (le.InvalidInput, 422),
    (le.Conflict, 409),
    (le.KeyNotAuthorised, 403),
    (le.RuleViolation, 422),
    (le.NotFound, 404),
    (le.PermissionDenied, 403),
    (le.ConfigurationError, 503),
    (le.Busy, 503),
]


def status_for(exc: le.LedgerError) -> int:
    for cls, status in STATUS_BY_CLASS:
        if isinstance(exc, cls):
            return status
    return 400


def error_body(code: str, status: int, message: str,
               errors: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "status": status, "message": message, "errors": errors or {}}


def _wants_json() -> bool:
    return (request.path == "/api" or request.path.startswith(("/api/", "/log/"))
            or request.accept_mimetypes.best == "application/json")


def prefers_english() -> bool:
    """The language chosen on the pages (session), else for the API Accept-Language."""
    return select_locale() == "en"


def localised(exc: le.LedgerError) -> str:
    """The message in Chinese (the default) or English, as the client prefers."""
    return localise(exc.code, exc.message)


_IDENTIFIER = re.compile(r"(?<![0-9A-Za-z])[0-9A-Z]{14,37}(?![0-9A-Za-z])"
                         # a plate: 浙J·X9999, 浙JX9999
                         r"|[\u4e00-\u9fff][A-Z][·•]?[A-Z0-9]{4,6}(?![0-9A-Za-z])")
#: The header the pages' scripts send with every API call (api/static/js/ledger.js): the error's
#: ``message`` (and ``errors``) then come in the person's language only (docs/pages.md 5).
PAGE_HEADER = "X-Ledger-Page"


def in_user_language(exc: le.LedgerError) -> str:
    """For a page: the message in the person's language only (the API's bodies carry the
    English detail beside the Chinese for integrators; a person needs one sentence)."""
    zh = MESSAGES_ZH.get(exc.code)
    if zh is None or prefers_english():
        return exc.message
    # keep what the English detail names (a batch code, a manifest number, a USCC), so the
    # person knows which one: "批次不存在：9133…001"
    named = list(dict.fromkeys(_IDENTIFIER.findall(exc.message)))
    return f"{zh}：{'、'.join(named)}" if named else zh


def from_page() -> bool:
    """A person reads this error: an HTML page, or a page's script calling the API."""
    return not _wants_json() or request.headers.get(PAGE_HEADER) == "1"


def localise_for_page(code: str, english: str) -> str:
    """``localise`` for a person: the Chinese text alone (or the English alone)."""
    zh = MESSAGES_ZH.get(code)
    return english if zh is None or prefers_english() else zh


def localise(code: str, english: str) -> str:
    """The Chinese text of ``code`` with the English detail, or the English alone."""
    zh = MESSAGES_ZH.get(code)
    if zh is None or prefers_english():
        return english
    return f"{zh}（{english}）"


def handle_ledger_error(exc: le.LedgerError) -> ResponseReturnValue:
    if isinstance(exc, Unauthenticated) and not _wants_json():
        return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))
    status = status_for(exc)
    message = in_user_language(exc) if from_page() else localised(exc)
    errors = {exc.field: [message]} if exc.field else {}
    if _wants_json():
        return jsonify(error_body(exc.code, status, message, errors)), status
    return render_template("errors/error.html", status=status, message=message,
                           code=exc.code), status


def handle_http_error(exc: HTTPException) -> ResponseReturnValue:
    if isinstance(exc, CSRFError):
        return handle_ledger_error(le.PermissionDenied(
            "the form has expired or did not come from this site; reload the page and retry",
            code="csrf_invalid"))
    status = exc.code or 500
    code = _http_code(exc)
    english = exc.description or exc.name
    message = localise_for_page(code, english) if from_page() else localise(code, english)
    if _wants_json():
        body = error_body(code, status, message)
        data = getattr(exc, "data", None)  # flask-smorest/webargs put field messages here
        if isinstance(data, dict) and "messages" in data:
            body["errors"] = data["messages"]
        response = jsonify(body)
    else:
        response = make_response(render_template("errors/error.html", status=status,
                                                 message=message, code=code))
    # Keep the headers the exception carries besides its own HTML body's type: Allow on a
    # 405 (RFC 9110 requires it), Retry-After, WWW-Authenticate.
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response, status


# Werkzeug's errors take the project's code where one names the same condition: a body over
# MAX_CONTENT_LENGTH is ``too_large`` like a note over the note limit.
_HTTP_CODES = {413: "too_large"}


def _http_code(exc: HTTPException) -> str:
    if exc.code in _HTTP_CODES:
        return _HTTP_CODES[exc.code]
    return (exc.name or "error").lower().replace(" ", "_")


def handle_database_busy(exc: OperationalError) -> ResponseReturnValue:
    """SQLite's "database is locked" under contention is the client's cue to retry, not a
    server fault: 503 with Retry-After, after rolling back (nothing the request did stays).
    Any other OperationalError is a real fault and stays a 500."""
    if "database is locked" not in str(exc.orig):
        raise exc
    db.session.rollback()
    response = make_response(handle_ledger_error(le.Busy(
        "the database is busy with another write; nothing was changed, retry in a second")))
    response.headers["Retry-After"] = "1"
    return response


def init_app(app: Flask) -> None:
    app.register_error_handler(le.LedgerError, handle_ledger_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(OperationalError, handle_database_busy)
