"""Rate limits (Flask-Limiter): log-in attempts per client address and per username from that
address, and manifest reservations per organisation.

The counters must be shared by every gunicorn worker, so Flask-Limiter's in-memory storage
(one count per process) is not used. By default they live in the installation's own database
(``DatabaseStorage`` below: one atomic upsert per hit, so parallel attempts can never all read
"under the limit"); with ``RATELIMIT_STORAGE_URI`` set (e.g. ``redis://127.0.0.1:6379/0``,
needs the ``redis`` package) Flask-Limiter's own storage for that URI is used instead.
docs/deployment.md says which to choose.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from flask import Flask, current_app, request
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address
from limits.storage import Storage
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import OperationalError

from api.auth import current_principal
from api.extensions import db
from ledger.custody.access import RateCounter
from ledger.errors import TooManyAttempts
from ledger.tlog.db import WRITE_OPTION

DB_SCHEME = "waste-ledger-db"

# One statement, so the count a request sees already includes itself: a window that has
# expired starts again at ``amount``. Both SQLite (>= 3.35) and PostgreSQL accept it.
_INCR = text(
    "INSERT INTO rate_counters (key, count, expires_at) VALUES (:key, :amount, :until) "
    "ON CONFLICT (key) DO UPDATE SET "
    "count = CASE WHEN rate_counters.expires_at <= :now THEN :amount "
    "ELSE rate_counters.count + :amount END, "
    "expires_at = CASE WHEN rate_counters.expires_at <= :now THEN :until "
    "ELSE rate_counters.expires_at END "
    "RETURNING count")


def _hashed(key: str) -> str:
    # Keys carry what a client sent (a username): hashed, any text (NUL included) is a
    # fixed-length key that no database refuses.
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class DatabaseStorage(Storage):
    """Flask-Limiter counters in the app's database (table ``rate_counters``).

    It runs inside a request, so it uses the current app's engine, on its own connection and
    transaction (a rate-limit hit is committed whatever the request then does)."""

    STORAGE_SCHEME = [DB_SCHEME]
    _cleanup_every = 500

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False,
                 **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._hits = 0

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return OperationalError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        session = db.session
        if not (session.new or session.dirty or session.deleted):
            # The request may already have read (who is calling): end that snapshot, or on
            # SQLite the request's own later write could not follow this one.
            session.rollback()
        with db.engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, \
                conn.begin():
            count = conn.execute(_INCR, {"key": _hashed(key), "amount": amount, "now": now,
                                         "until": now + expiry}).scalar_one()
            self._hits += 1
            if self._hits % self._cleanup_every == 0:  # forget windows long over
                conn.execute(delete(RateCounter).where(RateCounter.expires_at < now - 3600))
        return int(count)

    def _row(self, key: str) -> tuple[int, float] | None:
        with db.engine.connect() as conn:
            row = conn.execute(select(RateCounter.count, RateCounter.expires_at).where(
                RateCounter.key == _hashed(key), RateCounter.expires_at > time.time())).first()
        return None if row is None else (int(row[0]), float(row[1]))

    def get(self, key: str) -> int:
        row = self._row(key)
        return 0 if row is None else row[0]

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        return time.time() if row is None else row[1]

    def check(self) -> bool:
        with db.engine.connect() as conn:
            conn.execute(select(func.count()).select_from(RateCounter))
        return True

    def reset(self) -> int | None:
        with db.engine.connect() as conn, conn.begin():
            return conn.execute(delete(RateCounter)).rowcount

    def clear(self, key: str) -> None:
        with db.engine.connect() as conn, conn.begin():
            conn.execute(delete(RateCounter).where(RateCounter.key == _hashed(key)))


limiter = Limiter(key_func=get_remote_address, default_limits=[])


def login_username() -> str:
    """The username a log-in attempt names (form or JSON), as the account lookup sees it."""
    if request.mimetype == "application/json":
        body = request.get_json(silent=True)
        name = body.get("username") if isinstance(body, dict) else None
    else:
        name = request.form.get("username")
    return (name.strip() if isinstance(name, str) else "")[:64]


def username_at_address() -> str:
    """Guesses at one account from one address: failures elsewhere never lock it."""
    return f"{login_username()}\x1f{get_remote_address()}"


def _login_breached(limit: RequestLimit) -> None:
    raise TooManyAttempts(f"too many log-in attempts ({limit.limit}); wait and try again",
                          code="login_throttled", field="username")


def login_limits(view):  # type: ignore[no-untyped-def]
    """The two log-in limits, for the page form and the token API alike: per client address
    (``LOGIN_LIMIT_PER_ADDRESS``) and per username from that address
    (``LOGIN_LIMIT_PER_USERNAME``). Every attempt counts, counted before the password is
    checked, so parallel guesses cannot pass together. Shared: the page and the API draw on
    the same counts, so switching between them gains nothing."""
    view = limiter.shared_limit(lambda: current_app.config["LOGIN_LIMIT_PER_USERNAME"],
                                "login-username", key_func=username_at_address,
                                methods=["POST"], on_breach=_login_breached)(view)
    return limiter.shared_limit(lambda: current_app.config["LOGIN_LIMIT_PER_ADDRESS"],
                                "login-address", methods=["POST"],
                                on_breach=_login_breached)(view)


def organisation_or_address() -> str:
    """Whose reservations these are: the caller's organisation (any of its people, tokens
    and devices together), or the address of an anonymous caller."""
    principal = current_principal(required=False)
    return f"org:{principal.org}" if principal is not None else get_remote_address()


def _reservations_breached(limit: RequestLimit) -> None:
    raise TooManyAttempts(f"too many pickup requests ({limit.limit}); wait and try again",
                          code="pickups_throttled")


def reservation_limits(view):  # type: ignore[no-untyped-def]
    """Each pickup request reserves a manifest number of the city's yearly series: one
    organisation may make ``PICKUP_LIMIT_PER_ORG`` of them, so nobody can use up the series."""
    return limiter.limit(lambda: current_app.config["PICKUP_LIMIT_PER_ORG"],
                         key_func=organisation_or_address, methods=["POST"],
                         on_breach=_reservations_breached)(view)


def init_app(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", f"{DB_SCHEME}://")
    if not app.config["RATELIMIT_STORAGE_URI"]:
        app.config["RATELIMIT_STORAGE_URI"] = f"{DB_SCHEME}://"
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)
