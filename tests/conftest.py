"""Shared fixtures: a real database per test (SQLite file or a fresh PostgreSQL schema)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

PG_URL = os.environ.get("WASTE_LEDGER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_pg_checked: dict[str, str | None] = {}


def _pg_unavailable() -> str | None:
    """Why PostgreSQL cannot be used, or None. Checked once per run."""
    if "reason" not in _pg_checked:
        try:
            eng = create_engine(PG_URL)
            with eng.connect() as conn:
                conn.execute(text("select 1"))
            eng.dispose()
            _pg_checked["reason"] = None
        except Exception as exc:  # noqa: BLE001 - any failure to connect means unavailable
            _pg_checked["reason"] = f"PostgreSQL at {PG_URL} is unreachable: {exc}"
    return _pg_checked["reason"]


@dataclass(frozen=True)
class Database:
    """Where one test's data lives: a URL plus the engine options that isolate it."""

    kind: str
    url: str
    engine_options: dict[str, Any]

    def engine(self) -> Engine:
        return create_engine(self.url, **self.engine_options)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path) -> Iterator[Database]:
    """A fresh, empty database of each kind; PostgreSQL gets its own schema per test."""
    if request.param == "sqlite":
        yield Database("sqlite", f"sqlite:///{tmp_path / 'ledger.db'}", {})
        return
    reason = _pg_unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield Database("postgresql", PG_URL,
                       {"connect_args": {"options": f"-csearch_path={schema}"}})
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def initialised_app(database: Database, tmp_path, **config: Any):
    """An app on ``database``, initialised (tables, operator key, entry 0), disposed after."""
    from api import create_app
    from api.bootstrap import ensure_initialised
    from api.extensions import db

    app = create_app({
        "TESTING": True,
        "DATABASE_URL": database.url,
        "SQLALCHEMY_ENGINE_OPTIONS": database.engine_options,
        "OPERATOR_KEY_FILE": str(tmp_path / "operator.key"),
        "CASE_EVIDENCE_DIR": str(tmp_path / "evidence"),
        "VAPID_KEY_FILE": str(tmp_path / "vapid.pem"),
        "SECRET_KEY": "test-secret",
        **config,
    })
    with app.app_context():
        ensure_initialised()
        db.session.remove()
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            for engine in db.engines.values():  # the reports engine too, when configured
                engine.dispose()


@pytest.fixture
def app(database, tmp_path):
    """A fresh app on a fresh database, initialised."""
    with initialised_app(database, tmp_path) as app:
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def cli(app):
    """Invoke `waste-ledger ...` against this test's app."""
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from api.cli.main import main

    def invoke(*args: str):
        return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app),
                                  catch_exceptions=False)

    return invoke
