"""The Flask layer: the app factory, blueprints, schemas, error handlers and the CLI."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from api import cosigning, edge, errors, jobs, ratelimit, runtime
from api.bootstrap import register_jobs
from api.extensions import REPORTS_BIND, db
from api.instance import instance_dir, private_sqlite_file, sqlite_path, write_private_file
from api.pages import web
from api.rest import tiles, v1
from api.scoping import plan_settings
from api.settings import defaults
from ledger.audit.cases import CaseSettings
from ledger.bootstrap import ledger_kinds
from ledger.custody.kinds import CustodySettings
from ledger.tlog.db import configure_engine


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then WASTE_LEDGER_* environment variables, then ``config``.

    All state lives in the instance directory (``INSTANCE_PATH``: ``instance/`` in the checkout
    unless ``WASTE_LEDGER_INSTANCE_PATH`` or ``config`` names another), made 0700."""
    root = Path(__file__).resolve().parent.parent
    where = (config or {}).get("INSTANCE_PATH") or os.environ.get("WASTE_LEDGER_INSTANCE_PATH")
    app = Flask(__name__, template_folder=str(root / "templates"),
                instance_path=str(Path(where).absolute() if where else root / "instance"),
                instance_relative_config=True)
    instance_dir(Path(app.instance_path))
    app.config.update(defaults(app.instance_path))
    app.config.from_prefixed_env("WASTE_LEDGER")
    if config:
        app.config.update(config)
    _finish_config(app)
    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            configure_engine(engine)
    edge.init_app(app)
    runtime.init_app(app)
    ratelimit.init_app(app)
    runtime.register_kinds(app, ledger_kinds(CustodySettings(
        tolerance_permille=int(app.config["MASS_TOLERANCE_PERMILLE"]),
        permit_policy=dict(app.config["PERMIT_POLICY"])), CaseSettings(
        two_level_regions=frozenset(app.config["CASE_TWO_LEVEL_REGIONS"])),
        plan_settings(app)))
    v1.init_app(app)
    tiles.init_app(app)
    cosigning.init_app(app)
    jobs.init_app(app)
    register_jobs(app)
    web.init_app(app)
    errors.init_app(app)  # last, so our error body wins over the library's
    if int(app.config.get("PROXY_HOPS", 0)):
        # Behind a TLS-terminating proxy: trust its X-Forwarded-* headers (that many hops),
        # so the app knows the request was HTTPS (HSTS, secure cookies, absolute URLs).
        hops = int(app.config["PROXY_HOPS"])
        app.wsgi_app = ProxyFix(app.wsgi_app,  # type: ignore[method-assign]  # Flask's documented way
                                x_for=hops, x_proto=hops, x_host=hops)
    return app


def _finish_config(app: Flask) -> None:
    url = app.config["DATABASE_URL"]
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    database = sqlite_path(url)
    if database is not None:
        private_sqlite_file(database)
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    if app.config.get("REPORTS_DATABASE_URL"):
        app.config.setdefault("SQLALCHEMY_BINDS", {})[REPORTS_BIND] = {
            **app.config["SQLALCHEMY_ENGINE_OPTIONS"], "url": app.config["REPORTS_DATABASE_URL"]}
    if app.config.get("SECRET_KEY") is None:
        app.config["SECRET_KEY"] = _instance_secret(app)


def _instance_secret(app: Flask) -> str:
    """A per-installation session secret kept in instance/, made on first start."""
    path = Path(app.instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    secret = secrets.token_hex(32)
    write_private_file(path, secret.encode())
    return secret
