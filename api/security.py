"""What every page response carries: CSRF protection on forms and session-authenticated API
calls, and security headers (a strict Content-Security-Policy: no inline script or style).

The headers are a handful of fixed strings, so they are set here rather than through an
extension whose defaults (forced HTTPS redirects, secure-only cookies) break plain-HTTP use on
127.0.0.1; production sets SESSION_COOKIE_SECURE and serves behind TLS (README).
"""

from __future__ import annotations

from flask import Flask, Response, request, session
from flask_wtf.csrf import CSRFError, CSRFProtect

from api.auth import has_bearer_token

csrf = CSRFProtect()

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "connect-src 'self'",
    "worker-src 'self'",
    "manifest-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
# The OpenAPI viewer (swagger-ui, served by flask-smorest) needs its own inline bootstrap.
DOCS_CSP = "default-src 'self'; script-src 'self' 'unsafe-inline'; " \
           "style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"


# Authorised by the signature inside the body, never by the cookie: a foreign site cannot
# forge a note, and a phone sending its offline queue may hold an expired page's token.
SIGNED_BODY_PATHS = frozenset({"/api/v1/entries", "/api/v1/entries/batch"})


def needs_csrf() -> bool:
    """Forms always; the JSON API only when the caller is authenticated by the page session
    (a bearer token or a signed note is not ambient authority a foreign site could borrow)."""
    if request.method not in UNSAFE:
        return False
    if not request.path.startswith("/api/"):
        return True
    if request.path in SIGNED_BODY_PATHS:
        return False
    # Only a well-formed bearer token stands in for the CSRF token: an empty or malformed
    # Authorization header next to the session cookie is still a cookie-borne request.
    return "org" in session and not has_bearer_token()


def protect() -> None:
    if needs_csrf():
        csrf.protect()


def add_headers(response: Response) -> Response:
    h = response.headers
    docs = request.path.startswith("/api/v1/docs")
    h.setdefault("Content-Security-Policy", DOCS_CSP if docs else CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "same-origin")
    h.setdefault("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.is_secure:
        h.setdefault("Strict-Transport-Security", "max-age=31536000")
    if "org" in session or request.path.startswith("/api/"):
        # Pages of a logged-in person and API answers are not for shared caches.
        h.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # checked by protect() instead
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid for the session's lifetime
    csrf.init_app(app)
    app.before_request(protect)
    app.after_request(add_headers)


__all__ = ["CSRFError", "csrf", "init_app"]
