"""A database made by an earlier version is brought up to date when the app starts."""

from __future__ import annotations

from sqlalchemy import delete, func, select, text

from api.extensions import db
from ledger.custody.projections import BatchBalance
from ledger.tlog.models import IntegrityWatermark
from ledger.upgrade import upgrade_schema
from tests.api.lifecycle import COLLECTOR, GENERATORS, build_region, code_for, description

GEN = GENERATORS[0]


def _triggers(session, table: str) -> int:
    if session.connection().dialect.name == "sqlite":
        query = text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
                     "AND tbl_name = :t AND name LIKE '%integrity_reset%'")
    else:
        query = text("SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                     "WHERE c.relname = :t AND t.tgname LIKE '%integrity_reset%' "
                     "AND pg_table_is_visible(c.oid)")
    return session.execute(query, {"t": table}).scalar_one()


def _drop_triggers(session, table: str) -> None:
    if session.connection().dialect.name == "sqlite":
        for name in session.execute(text(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t "
                "AND name LIKE '%integrity_reset%'"), {"t": table}).scalars().all():
            session.execute(text(f'DROP TRIGGER "{name}"'))
    else:
        session.execute(text(f"DROP TRIGGER {table}_integrity_reset ON {table}"))


def test_an_older_database_gets_its_triggers_and_summary(app, cli):
    region = build_region(app, generators=1)
    code = code_for(GEN, 1)
    region[GEN].declare(code, description(50_000))
    region[GEN].release(code, COLLECTOR, 50_000, "20263310000001")
    region[COLLECTOR].accept(code, GEN, 49_000, "20263310000001")
    with app.app_context():
        before = db.session.scalars(select(BatchBalance).order_by(BatchBalance.origin)).all()
        before = [(b.origin, b.declared, b.collected) for b in before]
        # What a database from before the summary and the triggers looks like:
        for table in ("merkle_nodes", "checkpoints"):
            _drop_triggers(db.session, table)
        db.session.execute(delete(BatchBalance))
        db.session.commit()
        assert _triggers(db.session, "merkle_nodes") == 0
        db.session.remove()
    result = cli("init")
    assert result.exit_code == 0, result.output
    assert "upgraded the database" in result.output
    with app.app_context():
        assert _triggers(db.session, "merkle_nodes") >= 1
        assert _triggers(db.session, "checkpoints") >= 1
        after = db.session.scalars(select(BatchBalance).order_by(BatchBalance.origin)).all()
        assert [(b.origin, b.declared, b.collected) for b in after] == before
        # The restored trigger works: editing a verified tree node sends the watermark to 0.
        db.session.merge(IntegrityWatermark(id=1, verified_size=5, frontier=b""))
        db.session.commit()
        db.session.execute(text("UPDATE merkle_nodes SET hash = hash"))
        db.session.commit()
        assert db.session.get(IntegrityWatermark, 1).verified_size == 0
        # Run again on a current database: nothing to do.
        done = upgrade_schema(db.session)
        assert done.triggers_added == () and done.balances_rebuilt is None
        assert db.session.scalar(select(func.count()).select_from(BatchBalance)) == len(before)
        db.session.remove()


def test_an_older_users_table_gets_the_active_column(app, cli):
    from ledger.custody import access
    from tests.api.lifecycle import GENERATORS as GENS

    build_region(app, generators=1)
    with app.app_context():
        access.add_user(db.session, "wang", "correct-horse", GENS[0], "王师傅")
        db.session.execute(text("ALTER TABLE users DROP COLUMN active"))  # as before
        db.session.commit()
        db.session.remove()
    result = cli("init")
    assert result.exit_code == 0 and "users.active" in result.output, result.output
    resp = app.test_client().post("/api/v1/auth/token", json={
        "username": "wang", "password": "correct-horse", "label": "x"})
    assert resp.status_code == 201  # the existing person is active
    with app.app_context():
        assert upgrade_schema(db.session).columns_added == ()
        db.session.remove()
