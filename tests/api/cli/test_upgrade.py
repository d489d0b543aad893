"""A database made before migrations is adopted in place when the app starts; the baseline
revision is the schema of that release (tests/data/schema-660c4f9)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from alembic import command
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import Engine, MetaData, create_engine, delete, inspect, select, text
from sqlalchemy.orm import Session

from api import create_app
from api.cli.main import main
from api.extensions import db
from ledger import migrations
from ledger.custody import access
from ledger.custody.projections import BatchBalance
from ledger.tlog.log import issue_checkpoint
from ledger.tlog.models import IntegrityWatermark
from tests.api.lifecycle import COLLECTOR, GENERATORS, build_region, code_for, description
from tests.ledger.custody_world import COLLECTOR as REGION_COLLECTOR
from tests.ledger.custody_world import GENERATORS as region_generators
from tests.ledger.custody_world import make_region
from tests.ledger.factories import operator
from tests.schema import TRIGGERS, load_frozen_schema, shape, triggers

GEN = GENERATORS[0]


def _drop_integrity_triggers(session) -> None:
    for name in triggers(session.connection()):
        if "integrity_reset" not in name:
            continue
        if session.connection().dialect.name == "sqlite":
            session.execute(text(f'DROP TRIGGER "{name}"'))
        else:
            session.execute(text(f"DROP TRIGGER {name} ON {name.split('_integrity')[0]}"))


def test_an_older_database_gets_its_triggers_summary_and_version(app, cli):
    region = build_region(app, generators=1)
    code = code_for(GEN, 1)
    region[GEN].declare(code, description(50_000))
    region[GEN].release(code, COLLECTOR, 50_000, "20263310000001")
    region[COLLECTOR].accept(code, GEN, 49_000, "20263310000001")
    with app.app_context():
        before = db.session.scalars(select(BatchBalance).order_by(BatchBalance.origin)).all()
        before = [(b.origin, b.declared, b.collected) for b in before]
        # What a database from before migrations, the summary and the triggers looks like:
        _drop_integrity_triggers(db.session)
        db.session.execute(delete(BatchBalance))
        db.session.execute(text("DROP TABLE alembic_version"))
        db.session.commit()
        assert migrations.current(db.engine) is None
        db.session.remove()
    result = cli("init")
    assert result.exit_code == 0, result.output
    assert "adopted a database made before migrations" in result.output
    assert "reconciliation summary filled for 1 batches" in result.output
    with app.app_context():
        assert migrations.current(db.engine) == migrations.heads()[0]
        assert triggers(db.session.connection()) == TRIGGERS[db.engine.dialect.name]
        after = db.session.scalars(select(BatchBalance).order_by(BatchBalance.origin)).all()
        assert [(b.origin, b.declared, b.collected) for b in after] == before
        # The restored trigger works: editing a verified tree node sends the watermark to 0.
        db.session.merge(IntegrityWatermark(id=1, verified_size=5, frontier=b""))
        db.session.commit()
        db.session.execute(text("UPDATE merkle_nodes SET hash = hash"))
        db.session.commit()
        assert db.session.get(IntegrityWatermark, 1).verified_size == 0
        db.session.remove()
    # Started again on a current database: nothing to do, nothing said.
    again = cli("init")
    assert again.exit_code == 0 and "already initialised" in again.output
    assert "adopted" not in again.output and "summary" not in again.output


def test_a_database_at_the_baseline_gets_users_active_and_sessions(app, cli):
    build_region(app, generators=1)
    with app.app_context():
        access.add_user(db.session, "wang", "correct-horse", GEN, "王师傅")
        db.session.commit()
        db.session.remove()
        with db.engine.begin() as conn:  # as the release before 0002 left it
            command.downgrade(migrations.config(conn), "0001")
            assert "active" not in {c["name"] for c in inspect(conn).get_columns("users")}
            assert not inspect(conn).has_table("login_sessions")
    result = cli("init")
    assert result.exit_code == 0, result.output
    assert f"upgraded the database schema from 0001 to {migrations.heads()[0]}" in result.output
    resp = app.test_client().post("/api/v1/auth/token", json={
        "username": "wang", "password": "correct-horse", "label": "x"})
    assert resp.status_code == 201  # the existing person is active


def test_the_baseline_is_the_schema_of_the_release_before_migrations(database):
    engine = database.engine()
    migrations.upgrade(engine, "0001")
    with engine.connect() as conn:
        baseline = shape(conn)
    with engine.begin() as conn:
        command.downgrade(migrations.config(conn), "base")
        conn.execute(text("DROP TABLE alembic_version"))
    load_frozen_schema(engine)
    with engine.connect() as conn:
        frozen = shape(conn)
    engine.dispose()
    assert frozen["triggers"] == TRIGGERS[database.kind]
    assert len(frozen["tables"]) == 22
    assert frozen == baseline


def _signed(engine) -> dict[str, list]:
    """Everything signed or derived from signatures that must survive an upgrade unchanged."""
    with engine.connect() as conn:
        return {table: [tuple(row) for row in conn.execute(text(query))] for table, query in {
            "log_entries": "SELECT * FROM log_entries ORDER BY idx",
            "checkpoints": "SELECT * FROM checkpoints ORDER BY size",
            "log_head": "SELECT size, root, frontier, operator_vkey FROM log_head",
            "merkle_nodes": "SELECT * FROM merkle_nodes ORDER BY level, idx",
        }.items()}


@contextmanager
def _scratch_engine(database, tmp_path) -> Iterator[Engine]:
    """A second, empty database of the same kind, to write today's log into."""
    if database.kind == "sqlite":
        scratch = create_engine(f"sqlite:///{tmp_path / 'scratch.db'}")
        try:
            yield scratch
        finally:
            scratch.dispose()
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(database.url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    scratch = create_engine(database.url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield scratch
    finally:
        scratch.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _write_a_log(engine: Engine) -> None:
    """Organisations, keys, permits, declarations, a handover and a checkpoint, signed by
    today's append path (on a database at head: it needs tables that release lacked)."""
    region = make_region(engine)
    gen = region_generators[0]
    code = region.declare(gen)
    region.hand_over(code, gen, REGION_COLLECTOR, 120_000)
    region.declare(gen, serial=2, mass_g=30_000)
    issue_checkpoint(region.world.session, region.world.config)
    region.world.session.close()


def _copy_rows(source: Engine, target: Engine) -> None:
    """Every row of every table the target has, in the columns it has: the log as the
    release before migrations would hold it."""
    have, want = MetaData(), MetaData()
    have.reflect(source)
    want.reflect(target)
    with source.connect() as read, target.begin() as write:
        for table in want.sorted_tables:
            if table.name not in have.tables:
                continue
            old = have.tables[table.name]
            columns = [c.name for c in table.columns if c.name in old.c]
            rows = [dict(r) for r in read.execute(
                select(*(old.c[c] for c in columns))).mappings()]
            if rows:
                write.execute(table.insert(), rows)


@pytest.mark.parametrize("older", [False, True], ids=["660c4f9", "before-integrity-triggers"])
def test_a_database_made_by_the_release_before_migrations_is_adopted(database, tmp_path, older):
    engine = database.engine()
    load_frozen_schema(engine)
    with _scratch_engine(database, tmp_path) as scratch:
        _write_a_log(scratch)
        if older:  # as the release before the integrity triggers and the summary left it
            with scratch.begin() as conn:
                conn.execute(delete(BatchBalance))
        _copy_rows(scratch, engine)  # what that release would have stored, column by column
    if older:
        with Session(engine) as session:
            _drop_integrity_triggers(session)
            session.commit()
    before = _signed(engine)
    assert len(before["log_entries"]) > 20 and before["checkpoints"]

    key = tmp_path / "operator.key"
    key.write_text(operator().private_key_text() + "\n")
    app = create_app({"TESTING": True, "DATABASE_URL": database.url, "SECRET_KEY": "test",
                      "SQLALCHEMY_ENGINE_OPTIONS": database.engine_options,
                      "OPERATOR_KEY_FILE": str(key)})

    def waste_ledger(*args: str):
        return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app),
                                  catch_exceptions=False)

    try:
        init = waste_ledger("init")
        assert init.exit_code == 0, init.output
        assert "adopted a database made before migrations" in init.output
        assert "already initialised" in init.output
        assert ("reconciliation summary filled for 2 batches" in init.output) is older
        check = waste_ledger("rebuild", "--check")
        assert check.exit_code == 0, check.output
        assert "projections identical" in check.output
    finally:
        with app.app_context():
            db.engine.dispose()
    assert _signed(engine) == before  # not one signed byte changed
    assert migrations.current(engine) == migrations.heads()[0]
    with engine.connect() as conn:
        assert triggers(conn) == TRIGGERS[database.kind]
        assert "active" in {c["name"] for c in inspect(conn).get_columns("users")}
        assert conn.execute(text("SELECT count(*) FROM batch_balances")).scalar() == 2
    engine.dispose()
