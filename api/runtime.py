"""The ledger as this app runs it: the operator key and the LogConfig built from settings."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from api.extensions import REPORTS_BIND, db
from api.instance import write_private_key
from ledger.errors import ConfigurationError
from ledger.tlog.log import KindHandler, LogConfig
from ledger.tlog.notes import Signer

EXT = "waste_ledger"


def init_app(app: Flask) -> None:
    app.extensions[EXT] = {"kinds": {}}
    app.teardown_appcontext(_close_reports_session)


def reports_session() -> Session:
    """The session reconciliation reports and gap scans read from: one on
    REPORTS_DATABASE_URL (a streaming replica) when configured, else the primary's ``db.session``.
    A replica may lag: what is read there is the log as of the replica's last replay, which
    the report names (its log size and root). Anything that writes stays on ``db.session``."""
    if REPORTS_BIND not in db.engines:
        return db.session
    if "reports_session" not in g:
        g.reports_session = Session(db.engines[REPORTS_BIND])
    session: Session = g.reports_session
    return session


def _close_reports_session(_exc: BaseException | None) -> None:
    session = g.pop("reports_session", None)
    if session is not None:
        session.close()


def register_kinds(app: Flask, kinds: dict[str, KindHandler]) -> None:
    """Domain modules add the kinds they handle (with their rules and projections)."""
    app.extensions[EXT]["kinds"].update(kinds)
    app.extensions[EXT].pop("log_config", None)


def load_operator(app: Flask) -> Signer:
    path = Path(app.config["OPERATOR_KEY_FILE"])
    try:
        return Signer.from_private_key_text(path.read_text())
    except FileNotFoundError:
        raise ConfigurationError(
            f"operator key {path} is missing: restore it from its backup (a new, empty "
            "database gets a new key from `waste-ledger init`)",
            code="operator_key_missing") from None


def create_operator_key(app: Flask) -> Signer:
    """Generate the operator key file (0600) if it does not exist yet: only for a new log
    (``api.bootstrap`` never calls it once the log exists)."""
    path = Path(app.config["OPERATOR_KEY_FILE"])
    if path.exists():
        return load_operator(app)
    signer = Signer.generate(app.config["LOG_ORIGIN"])
    write_private_key(path, signer)
    return signer


def forget_log_config(app: Flask) -> None:
    """Drop the cached LogConfig (the operator key file changed)."""
    app.extensions[EXT].pop("log_config", None)


def log_config(app: Flask | None = None) -> LogConfig:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]  # the proxy's own method
    ext = app.extensions[EXT]
    if "log_config" not in ext:
        c = app.config
        ext["log_config"] = LogConfig(
            operator=load_operator(app),
            max_note_bytes=int(c["MAX_NOTE_BYTES"]),
            max_skew_ms=int(c["MAX_SKEW_SECONDS"]) * 1000,
            checkpoint_every_entries=int(c["CHECKPOINT_EVERY_ENTRIES"]),
            checkpoint_every_ms=int(c["CHECKPOINT_EVERY_SECONDS"]) * 1000,
            kinds=dict(ext["kinds"]),
        )
    return ext["log_config"]
