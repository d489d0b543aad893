"""The witness as an HTTP service (c2sp.org/tlog-witness): ``POST /add-checkpoint``.

A separate, small WSGI app with its own key and database: ``waste-ledger witness serve`` for a
trial, ``gunicorn 'api.witness:from_env()'`` in production (docs/deployment.md). The statuses
are the ones tlog-witness prescribes, chosen here from the domain's error codes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from api.errors import error_body, localised
from ledger.errors import (
    ConfigurationError,
    InvalidInput,
    LedgerError,
    SignatureInvalid,
    TooLarge,
)
from ledger.tlog.db import configure_engine
from ledger.tlog.notes import Signer, parse_vkey
from ledger.tlog.witness import (
    ForkDetected,
    OldSizeMismatch,
    ProofRejected,
    WitnessBase,
    WitnessConfig,
    add_checkpoint,
)

MAX_BODY = 64 * 1024  # old size, up to 63 proof lines and a checkpoint with its signatures


def _status(exc: LedgerError) -> int:
    if exc.code == "witness_log_unknown":
        return 404  # tlog-witness: unknown origin
    for cls, status in ((ForkDetected, 409), (ProofRejected, 422), (SignatureInvalid, 403),
                        (TooLarge, 413), (InvalidInput, 400)):
        if isinstance(exc, cls):
            return status
    return 400


def create_witness_app(config: WitnessConfig, database_url: str,
                       engine_options: Mapping[str, Any] | None = None) -> Flask:
    engine = create_engine(database_url, **dict(engine_options or {}))
    configure_engine(engine)
    WitnessBase.metadata.create_all(engine)
    sessions = sessionmaker(engine)
    app = Flask("waste-ledger-witness")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.extensions["witness_engine"] = engine

    @app.post("/add-checkpoint")
    def post_add_checkpoint() -> Response | tuple[Response, int]:
        with sessions() as session:
            try:
                line = add_checkpoint(session, config, request.get_data())
            except OldSizeMismatch as exc:
                return Response(f"{exc.params['size']}\n", status=409,
                                content_type="text/x.tlog.size")
            except LedgerError as exc:
                status = _status(exc)
                message = localised(exc)
                errors = {exc.field: [message]} if exc.field else {}
                return jsonify(error_body(exc.code, status, message, errors)), status
        return Response(line, status=200, content_type="text/plain; charset=utf-8")

    return app


def from_env(environ: Mapping[str, str] | None = None) -> Flask:
    """The witness app configured by environment variables (for gunicorn):
    ``WASTE_LEDGER_WITNESS_KEY_FILE``, ``WASTE_LEDGER_WITNESS_LOGS`` (the operator vkeys of the
    logs it follows, one per line) and ``WASTE_LEDGER_WITNESS_DATABASE_URL``."""
    env = os.environ if environ is None else environ
    try:
        key_file = env["WASTE_LEDGER_WITNESS_KEY_FILE"]
        logs = env["WASTE_LEDGER_WITNESS_LOGS"]
    except KeyError as missing:
        raise ConfigurationError(f"set {missing.args[0]}", code="witness_config") from None
    signer = Signer.from_private_key_text(Path(key_file).read_text())
    keys = [parse_vkey(line) for line in logs.split()]
    url = env.get("WASTE_LEDGER_WITNESS_DATABASE_URL", "sqlite:///witness.db")
    return create_witness_app(WitnessConfig(signer, {k.name: k for k in keys}), url)
