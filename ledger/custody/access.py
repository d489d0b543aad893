"""Who may see what: people, API tokens, and the visibility of batches.

Signing keys decide what may be *written* (every entry is signed by its party). This module
decides what may be *read*: a regulator (生态环境主管部门) sees everything in its region, the
operator sees everything, and everyone else sees their own organisation's batches and those
that passed through their hands. Users and tokens are access control, not evidence, so they
live outside the log.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    delete,
    false,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql import ColumnElement

from ledger.custody.pickups import batches_requested_of
from ledger.custody.principals import Principal
from ledger.custody.projections import Batch, Handover, Manifest, Organisation
from ledger.errors import Conflict, InvalidInput, NotFound, PermissionDenied, TooManyAttempts
from ledger.tlog.db import write_transaction
from ledger.tlog.models import Base, LogEntry

TOKEN_PREFIX = "wl_"
_hasher = PasswordHasher()  # Argon2id with the library's current recommended parameters


class User(Base):
    """A person who logs in and acts for one organisation."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    org: Mapped[str] = mapped_column(String(18), index=True)  # no FK: rebuild resets orgs
    display_name: Mapped[str] = mapped_column(String(100))
    created_ms: Mapped[int]
    # A deactivated person cannot log in, and their sessions and tokens stop working.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Manages the organisation's people, devices and API tokens from the pages (单位管理员).
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ApiToken(Base):
    """A bearer token for an API client; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    org: Mapped[str] = mapped_column(String(18), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    label: Mapped[str] = mapped_column(String(100))
    created_ms: Mapped[int]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


def principal_for(session: Session, org: str, user: str | None = None) -> Principal:
    o = session.get(Organisation, org)
    if o is None:
        raise NotFound(f"organisation {org} is not registered", code="org_unknown")
    return Principal(o.uscc, o.name, frozenset(o.roles.split()), o.region, user)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, org: str, label: str, user_id: int | None = None) -> str:
    """Create a bearer token for ``org``; the token itself is shown once and never stored."""
    principal_for(session, org)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(token_hash=_token_hash(token), org=org, user_id=user_id, label=label,
                         created_ms=time.time_ns() // 1_000_000))
    session.commit()
    return token


def authenticate_token(session: Session, token: str) -> Principal:
    row = session.get(ApiToken, _token_hash(token))
    if row is None or row.revoked:
        raise PermissionDenied("the bearer token is not valid", code="token_invalid")
    user = session.get(User, row.user_id) if row.user_id else None
    if user is not None and not user.active:
        raise PermissionDenied("the bearer token is not valid", code="token_invalid")
    return principal_for(session, row.org, user.username if user else None)


class LoginSession(Base):
    """A logged-in browser session, so that the server can end it (log-out, a new password,
    a deactivated person). The cookie carries a random id; only its SHA-256 is stored."""

    __tablename__ = "login_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_ms: Mapped[int]


def start_session(session: Session, user: User) -> str:
    """Record a new log-in of ``user``; returns the id to keep in the (signed) cookie."""
    sid = secrets.token_urlsafe(32)
    session.add(LoginSession(id_hash=_token_hash(sid), user_id=user.id,
                             created_ms=time.time_ns() // 1_000_000))
    session.commit()
    return sid


def session_principal(session: Session, sid: object, max_age_ms: int) -> Principal | None:
    """The principal of a live log-in session; None once it was ended or is too old."""
    row = session.get(LoginSession, _token_hash(sid)) if isinstance(sid, str) else None
    if row is None or row.created_ms < time.time_ns() // 1_000_000 - max_age_ms:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    try:
        return principal_for(session, user.org, user.username)
    except NotFound:  # the organisation is gone (a rebuilt or replaced database)
        return None


def display_name(session: Session, username: str) -> str | None:
    """The name a person is shown and signs as (经办人), or None for an unknown user."""
    name = session.scalar(select(User.display_name).where(User.username == username))
    return None if name is None else name[:50]


def end_session(session: Session, sid: str) -> None:
    """Log-out: the session id stops working at once, wherever the cookie was copied."""
    session.execute(delete(LoginSession).where(LoginSession.id_hash == _token_hash(sid)))
    session.commit()


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username}", code="user_unknown", field="username")
    return user


def change_password(session: Session, username: str, password: str) -> None:
    """Set a new password and end every session of that person (log in again everywhere)."""
    user = _user(session, username)
    _check_strength(password)
    user.password_hash = _hasher.hash(password)
    session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    session.commit()


def deactivate_user(session: Session, username: str) -> None:
    """Stop a person from acting: no log-in, their sessions end and their tokens are revoked."""
    user = _user(session, username)
    user.active = False
    session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    session.execute(update(ApiToken).where(ApiToken.user_id == user.id).values(revoked=True))
    session.commit()


def reactivate_user(session: Session, username: str) -> None:
    """Let a deactivated person log in again (their old sessions and tokens stay ended)."""
    _user(session, username).active = True
    session.commit()


def set_admin(session: Session, username: str, admin: bool) -> None:
    """Make a person their organisation's admin (单位管理员), or stop them being one."""
    _user(session, username).is_admin = admin
    session.commit()


def user_of(session: Session, org: str, username: str) -> User:
    """A person of ``org``; 404 for a person of another organisation, as for no one."""
    user = session.scalar(select(User).where(User.username == username, User.org == org))
    if user is None:
        raise NotFound(f"no user {username} in {org}", code="user_unknown", field="username")
    return user


def people_of(session: Session, org: str) -> list[User]:
    return list(session.scalars(select(User).where(User.org == org).order_by(User.username)))


def is_org_admin(session: Session, org: str, username: str | None) -> bool:
    if username is None:
        return False
    return bool(session.scalar(select(User.is_admin).where(
        User.username == username, User.org == org, User.active)))


def token_id(token: ApiToken) -> str:
    """How a page names a token: the start of its hash (the hash is not the secret)."""
    return token.token_hash[:16]


def tokens_of(session: Session, org: str) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.org == org)
                                .order_by(ApiToken.created_ms.desc())))


def revoke_token(session: Session, org: str, ident: str) -> None:
    """Revoke ``org``'s token named by ``token_id``; it stops working at once."""
    if not (len(ident) == 16 and all(c in "0123456789abcdef" for c in ident)):
        raise NotFound(f"no token {ident}", code="token_unknown", field="token")
    token = session.scalar(select(ApiToken).where(ApiToken.org == org,
                                                  ApiToken.token_hash.startswith(ident)))
    if token is None:
        raise NotFound(f"no token {ident}", code="token_unknown", field="token")
    token.revoked = True
    session.commit()


def _check_username(username: str) -> None:
    """2 to 64 characters, none of them a space, a control character or "/" (a username is
    typed at log-in and appears in the admin pages' addresses)."""
    if not (2 <= len(username) <= 64) or any(c.isspace() or not c.isprintable() or c == "/"
                                              for c in username):
        raise InvalidInput("a username has 2 to 64 characters without spaces or /",
                           code="username_invalid", field="username")


def _check_strength(password: str) -> None:
    if len(password) < 8:
        raise PermissionDenied("passwords have at least 8 characters", code="password_weak",
                               field="password")


def add_user(session: Session, username: str, password: str, org: str,
             display_name: str, *, is_admin: bool = False) -> User:
    """Register a person; the password is kept only as an Argon2id hash."""
    principal_for(session, org)
    _check_username(username)
    if not display_name.strip() or len(display_name) > 100:
        raise InvalidInput("a person's name has 1 to 100 characters", code="name_invalid",
                           field="display_name")
    _check_strength(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username} exists", code="user_exists", field="username")
    user = User(username=username, password_hash=_hasher.hash(password), org=org,
                display_name=display_name.strip(), created_ms=time.time_ns() // 1_000_000,
                is_admin=is_admin)
    session.add(user)
    session.commit()
    return user


class RateCounter(Base):
    """A rate-limit counter (Flask-Limiter's fixed window) kept in the database, so every
    worker process of an installation counts the same attempts (api/ratelimit.py)."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the limit key
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float, index=True)  # Unix seconds


class LoginFailure(Base):
    """A failed log-in, kept for a while to slow down password guessing."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    at_ms: Mapped[int]


# A username that many people guess at (from many addresses: one address is stopped earlier by
# the log-in rate limits) makes each further attempt wait after its latest failure, the wait
# doubling per failure up to MAX_DELAY_MS. It is a delay, never a lock: the right password
# after the wait logs in, so nobody can shut a person out by failing on purpose.
FREE_FAILURES = 20
MAX_DELAY_MS = 60_000
FAILURE_WINDOW_MS = 15 * 60 * 1000


def login_delay_ms(failures: int) -> int:
    """How long after the latest failure the next attempt for that username must wait."""
    if failures < FREE_FAILURES:
        return 0
    return min(1000 * 2 ** min(failures - FREE_FAILURES, 16), MAX_DELAY_MS)


def check_password(session: Session, username: str, password: str,
                   now_ms: int | None = None) -> User:
    """The user if the password is right; the same error whether the user exists or not."""
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    username = username[:64]
    failures, last = session.execute(
        select(func.count(), func.max(LoginFailure.at_ms)).where(
            LoginFailure.username == username,
            LoginFailure.at_ms > now - FAILURE_WINDOW_MS)).one()
    wait = login_delay_ms(failures) - (now - last) if last is not None else 0
    if wait > 0:
        session.rollback()
        raise TooManyAttempts(f"{failures} failed log-ins for {username} in 15 minutes; try "
                              f"again in {-(-wait // 1000)} s", code="login_throttled",
                              field="username")
    user = session.scalar(select(User).where(User.username == username))
    stored = user.password_hash if user is not None and user.active else None
    # End the read before the (slow) hash check, and write in a transaction that takes the
    # write lock first: SQLite cannot upgrade a read that another writer has overtaken.
    session.commit()
    try:
        if user is None or stored is None:
            raise VerificationError
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        with write_transaction(session):
            session.add(LoginFailure(username=username, at_ms=now))
            session.execute(delete(LoginFailure).where(
                LoginFailure.at_ms <= now - FAILURE_WINDOW_MS))  # forget old failures
        raise PermissionDenied("wrong username or password", code="login_failed") from None
    if failures:
        with write_transaction(session):
            session.execute(delete(LoginFailure).where(LoginFailure.username == username))
    return user


def batch_visibility(principal: Principal) -> ColumnElement[bool] | None:
    """A WHERE clause limiting batches to what ``principal`` may see (None: everything)."""
    if principal.is_operator:
        return None
    if principal.is_regulator:
        return region_clause(principal.region)
    handled = select(Handover.batch).where(
        or_(Handover.from_org == principal.org, Handover.to_org == principal.org))
    carried = select(Handover.batch).join(Manifest, Manifest.number == Handover.manifest).where(
        Manifest.carrier == principal.org)
    return or_(Batch.generator == principal.org, Batch.holder == principal.org,
               Batch.code.in_(handled), Batch.code.in_(batches_requested_of(principal.org)),
               Batch.code.in_(carried))


def region_prefix(region: str) -> str:
    """GB/T 2260: a province ends in 0000, a city in 00; they contain the codes sharing the
    prefix (the SQL form of ``codes.region_contains``)."""
    if region.endswith("0000"):
        return region[:2]
    if region.endswith("00"):
        return region[:4]
    return region


def region_clause(region: str) -> ColumnElement[bool]:
    return Batch.region.like(region_prefix(region) + "%")


def entry_visibility(principal: Principal) -> ColumnElement[bool] | None:
    """A WHERE clause on log entries: those of batches ``principal`` may see, and the
    registry (organisations, keys, permits, vehicles: a public register). None: all."""
    clause = batch_visibility(principal)
    if clause is None:
        return None
    return or_(~LogEntry.stream.in_(select(Batch.code)),
               LogEntry.stream.in_(select(Batch.code).where(clause)))


def manifest_visibility(principal: Principal) -> ColumnElement[bool] | None:
    """Manifests ``principal`` may see: its own trips; a regulator's, those leaving or
    reaching an organisation of its region; the operator's, all (None)."""
    if principal.is_operator:
        return None
    if principal.is_regulator:
        regional = select(Organisation.uscc).where(
            Organisation.region.like(region_prefix(principal.region) + "%"))
        return or_(Manifest.origin.in_(regional), Manifest.destination.in_(regional))
    return or_(Manifest.origin == principal.org, Manifest.destination == principal.org,
               Manifest.carrier == principal.org)


def can_see_batch(session: Session, principal: Principal, code: str) -> bool:
    clause = batch_visibility(principal)
    query = select(Batch.code).where(Batch.code == code)
    if clause is not None:
        query = query.where(clause)
    return session.scalar(query) is not None
