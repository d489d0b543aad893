"""The ledger as this app runs it: the operator key and the LogConfig built from settings."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app

from api.instance import write_private_key
from ledger.errors import ConfigurationError
from ledger.tlog.log import KindHandler, LogConfig
from ledger.tlog.notes import Signer

EXT = "waste_ledger"


def init_app(app: Flask) -> None:
    app.extensions[EXT] = {"kinds": {}}


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
