"""`waste-ledger backup` while entries are being appended, `waste-ledger restore` into an empty
database: the restored installation starts with the same operator key, replays identically,
verifies offline, holds every entry acknowledged before the backup began, and its people can
still log in. A non-empty database is never overwritten."""

from __future__ import annotations

import stat
import threading
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import create_engine, select, text

from api import create_app
from api.cli.main import main
from api.extensions import db
from api.runtime import log_config
from ledger.custody import access
from ledger.custody.uscc import make_uscc
from ledger.tlog import registry
from ledger.tlog.log import log_head
from ledger.tlog.models import LogEntry
from tests.api.replay import assert_rebuild_identical_and_export_verifies
from tests.conftest import PG_URL, Database


def run(app, *args: str):
    return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app),
                              catch_exceptions=False)


@pytest.fixture
def empty_target(database, tmp_path):
    """An empty database of the same kind: a new SQLite file, or a new PostgreSQL database
    (the restore recreates the schema the backup was taken from)."""
    if database.kind == "sqlite":
        yield Database("sqlite", f"sqlite:///{tmp_path / 'restored' / 'ledger.db'}", {})
        return
    name = f"restore_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield Database("postgresql", PG_URL.rsplit("/", 1)[0] + "/" + name,
                       database.engine_options)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


class Writer(threading.Thread):
    """Registers organisations one after another, noting each acknowledged entry."""

    def __init__(self, app) -> None:
        super().__init__(daemon=True)
        self.app = app
        self.acked: list[bytes] = []
        self.stop = threading.Event()
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            with self.app.app_context():
                n = 0
                while not self.stop.is_set():
                    n += 1
                    receipt = registry.register_org(
                        db.session, log_config(), make_uscc("331002", 7000 + n),
                        f"备份期间登记的单位{n}", "331002", ["generator"])
                    self.acked.append(receipt.leaf_hash)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.failure = exc

    def wait_for(self, count: int) -> None:
        while len(self.acked) < count and self.failure is None and self.is_alive():
            self.stop.wait(0.01)


def leaves(app) -> set[bytes]:
    with app.app_context():
        got = set(db.session.scalars(select(LogEntry.leaf_hash)))
        db.session.remove()
    return got


def test_backup_under_writes_and_restore_into_an_empty_database(app, empty_target, tmp_path):
    with app.app_context():
        access.add_user(db.session, "lin", "s3cret-pass", app.config["OPERATOR_ORG"], "林工")
        db.session.remove()
    writer = Writer(app)
    writer.start()
    try:
        writer.wait_for(3)
        acknowledged_before = list(writer.acked)  # acknowledged before the backup began
        file = tmp_path / "backups" / "ledger.backup"
        out = run(app, "backup", str(file))
        writer.wait_for(len(acknowledged_before) + 3)  # appends went on during and after
    finally:
        writer.stop.set()
        writer.join(60)
    assert writer.failure is None, writer.failure
    assert out.exit_code == 0, out.output
    assert "operator key" in out.output
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    # the source is not empty: restoring over it is refused and changes nothing
    with app.app_context():
        size_before = log_head(db.session).size
        db.session.remove()
    refused = run(app, "restore", str(file))
    assert refused.exit_code != 0 and "restore_target_not_empty" in refused.output
    with app.app_context():
        assert log_head(db.session).size == size_before
        db.session.remove()

    restored = create_app({"TESTING": True, "DATABASE_URL": empty_target.url,
                           "SQLALCHEMY_ENGINE_OPTIONS": empty_target.engine_options,
                           "OPERATOR_KEY_FILE": app.config["OPERATOR_KEY_FILE"],
                           "SECRET_KEY": "another-secret"})
    try:
        done = run(restored, "restore", str(file))
        assert done.exit_code == 0, done.output
        started = run(restored, "init")
        assert started.exit_code == 0 and "already initialised" in started.output, started.output
        assert_rebuild_identical_and_export_verifies(lambda *a: run(restored, *a), tmp_path)
        kept = leaves(restored)
        assert set(acknowledged_before) <= kept
        assert kept <= leaves(app)  # a snapshot of the source, nothing else
        token = restored.test_client().post("/api/v1/auth/token", json={
            "username": "lin", "password": "s3cret-pass"})
        assert token.status_code == 201, token.json  # people and their passwords came along
        again = run(restored, "restore", str(file))
        assert again.exit_code != 0 and "restore_target_not_empty" in again.output
    finally:
        with restored.app_context():
            db.session.remove()
            db.engine.dispose()


def test_restore_refuses_a_file_that_is_not_a_backup(app, empty_target, tmp_path):
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"not a backup at all")
    restored = create_app({"TESTING": True, "DATABASE_URL": empty_target.url,
                           "SQLALCHEMY_ENGINE_OPTIONS": empty_target.engine_options,
                           "OPERATOR_KEY_FILE": str(tmp_path / "none.key"),
                           "SECRET_KEY": "x"})
    try:
        out = run(restored, "restore", str(junk))
        assert out.exit_code != 0 and "backup_unreadable" in out.output
    finally:
        with restored.app_context():
            db.engine.dispose()
    assert not Path(tmp_path / "none.key").exists()
