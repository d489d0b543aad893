"""A database made before migrations is adopted in place when the app starts."""

from __future__ import annotations

from alembic import command
from sqlalchemy import delete, inspect, select, text

from api.extensions import db
from ledger import migrations
from ledger.custody import access
from ledger.custody.projections import BatchBalance
from ledger.tlog.models import IntegrityWatermark
from tests.api.lifecycle import COLLECTOR, GENERATORS, build_region, code_for, description
from tests.schema import TRIGGERS, triggers

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
