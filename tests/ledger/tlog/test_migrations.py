"""Alembic owns the schema: the migrations build what the models describe, triggers included."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from ledger import migrations
from tests.schema import TRIGGERS, triggers


def test_there_is_one_head():
    assert len(migrations.heads()) == 1, "two heads: re-point your revision's down_revision"


def test_revisions_are_numbered_in_one_line():
    """Each file NNNN_*.py holds revision NNNN revising NNNN-1: two helpers taking the same
    number at once (it happened) fail here, not at a customer's upgrade."""
    import ast
    from pathlib import Path

    versions = sorted((Path(migrations.__file__).parent / "versions").glob("[0-9]*.py"))
    numbers = [p.name[:4] for p in versions]
    assert len(numbers) == len(set(numbers)), numbers
    for path in versions:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assigned = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                    for t in n.targets if isinstance(t, ast.Name)
                    and isinstance(n.value, ast.Constant)}
        number = int(path.name[:4])
        assert assigned["revision"] == f"{number:04d}", path.name
        expected = None if number == 1 else f"{number - 1:04d}"
        assert assigned.get("down_revision") == expected, path.name


def test_the_migrations_build_what_the_models_describe(database):
    engine = database.engine()
    done = migrations.upgrade(engine)
    assert (done.before, done.after, done.adopted) == (None, migrations.heads()[0], False)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, migrations.metadata()) == []
        assert triggers(conn) == TRIGGERS[database.kind]
    assert migrations.current(engine) == migrations.heads()[0]
    again = migrations.upgrade(engine)  # at head: nothing to do
    assert not again.changed and not again.adopted
    engine.dispose()


def test_the_triggers_work(database):
    engine = database.engine()
    migrations.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO log_entries VALUES "
                          "(0, :h, 's', 0, 'k', 'o', 'f', 1, 1, :n)"), {"h": b"h" * 32, "n": b"n"})
        conn.execute(text("INSERT INTO merkle_nodes VALUES (1, 0, :h)"), {"h": b"h" * 32})
        conn.execute(text("INSERT INTO integrity_watermark VALUES (1, 7, :f)"), {"f": b"f"})
    for statement in ("UPDATE log_entries SET note = :n", "DELETE FROM log_entries"):
        refused = rf"log_entries is append-only \({statement.split()[0]} refused\)"
        with pytest.raises(DBAPIError, match=refused), engine.begin() as conn:
            conn.execute(text(statement), {"n": b"x"})
    with engine.begin() as conn:
        assert conn.execute(text("SELECT note FROM log_entries")).scalar_one() == b"n"
        conn.execute(text("UPDATE merkle_nodes SET hash = hash"))
        assert conn.execute(text("SELECT verified_size FROM integrity_watermark")).scalar() == 0
    engine.dispose()


def test_downgrade_to_base_and_back(database):
    engine = database.engine()
    migrations.upgrade(engine)
    with engine.begin() as conn:
        command.downgrade(migrations.config(conn), "base")
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        assert triggers(conn) == set()
    assert migrations.upgrade(engine).after == migrations.heads()[0]
    engine.dispose()
