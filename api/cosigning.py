"""Witness cosignatures in the background: one thread per server process asks the configured
witnesses (``WITNESSES``) to cosign the latest checkpoint every ``WITNESS_INTERVAL_SECONDS``.

Appends never wait for a witness; a witness that is slow or down costs at most its timeout in
this thread. Several processes may ask the same witness for the same checkpoint: the witness
answers 409 with its size to the late one, which then finds the checkpoint already cosigned or
asks again from that size, so duplicates are harmless.
"""

from __future__ import annotations

import logging
import os
import threading

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from api.extensions import db
from api.runtime import log_config
from ledger.errors import LedgerError
from ledger.tlog.witnessing import Outcome, Witness, parse_witnesses, request_cosignatures

EXT = "waste_ledger_cosigning"
log = logging.getLogger(__name__)


def witnesses(app: Flask) -> list[Witness]:
    found: list[Witness] = app.extensions[EXT]["witnesses"]
    return found


def init_app(app: Flask) -> None:
    app.extensions[EXT] = {"witnesses": parse_witnesses(app.config.get("WITNESSES")),
                           "pid": None, "stop": threading.Event(), "thread": None}
    if witnesses(app) and float(app.config["WITNESS_INTERVAL_SECONDS"]) > 0:
        # Started by the first request, in the serving process (not before a fork).
        app.before_request(lambda: _ensure_running(app))


def _ensure_running(app: Flask) -> None:
    state = app.extensions[EXT]
    if state["pid"] == os.getpid():
        return
    state["pid"] = os.getpid()
    state["thread"] = threading.Thread(target=_loop, args=(app,), name="cosigner", daemon=True)
    state["thread"].start()


def cosign_now(app: Flask, *, fresh: bool = False) -> list[Outcome]:
    """Ask every witness once, now (the background loop's step; `witness push` and the
    exports ask with ``fresh``, for a checkpoint of the whole log)."""
    return request_cosignatures(db.session, log_config(app), witnesses(app), fresh=fresh,
                                timeout=float(app.config["WITNESS_TIMEOUT_SECONDS"]))


def _loop(app: Flask) -> None:
    state = app.extensions[EXT]
    interval = float(app.config["WITNESS_INTERVAL_SECONDS"])
    while not state["stop"].is_set():
        with app.app_context():  # its end returns the session's connection to the pool
            try:
                for outcome in cosign_now(app):
                    if not outcome.cosigned:
                        log.warning("witness %s: %s", outcome.witness, outcome.detail)
            except (LedgerError, SQLAlchemyError, OSError) as exc:
                log.warning("cosigning failed: %s", exc)
        state["stop"].wait(interval)


def stop(app: Flask) -> None:
    """End the background thread (tests; a server just exits)."""
    state = app.extensions[EXT]
    state["stop"].set()
    if state["thread"] is not None:
        state["thread"].join()
