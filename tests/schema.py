"""Test helpers about the schema itself: its triggers, its shape, the frozen older schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, inspect, text

# The triggers the baseline revision creates, by database (names as the release before
# migrations made them, so an adopted database ends with the same set).
TRIGGERS = {
    "sqlite": {"log_entries_no_update", "log_entries_no_delete",
               "merkle_nodes_integrity_reset_update", "merkle_nodes_integrity_reset_delete",
               "checkpoints_integrity_reset_update", "checkpoints_integrity_reset_delete"},
    "postgresql": {"log_entries_append_only", "merkle_nodes_integrity_reset",
                   "checkpoints_integrity_reset"},
}


def triggers(conn: Connection) -> set[str]:
    """The names of the triggers on the tables this connection sees."""
    if conn.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    else:
        query = ("SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                 "WHERE NOT t.tgisinternal AND pg_table_is_visible(c.oid)")
    return set(conn.execute(text(query)).scalars())


FROZEN = Path(__file__).resolve().parent / "data" / "schema-660c4f9"


def load_frozen_schema(engine: Engine) -> None:
    """Build, on an empty database, the schema the release before migrations made
    (tests/data/schema-660c4f9: its create_all, dumped), run as the script it is."""
    script = (FROZEN / f"{engine.dialect.name}.sql").read_text(encoding="utf-8")
    raw = engine.raw_connection()
    try:
        if engine.dialect.name == "sqlite":
            raw.driver_connection.executescript(script)  # type: ignore[union-attr]
        else:
            raw.cursor().execute(script)  # no parameters: psycopg runs several statements
        raw.commit()
    finally:
        raw.close()


def shape(conn: Connection) -> dict[str, Any]:
    """What a schema is, as reflection sees it: per table the columns (type, nullability,
    default), keys, unique constraints and indexes (with a partial index's condition); and the
    triggers. Comparable across two databases of the same kind."""
    inspector = inspect(conn)
    tables: dict[str, Any] = {}
    for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
        indexes = []
        for ix in inspector.get_indexes(table):
            where = {k: str(v) for k, v in ix.get("dialect_options", {}).items()
                     if k.endswith("_where")}
            indexes.append((ix["name"], tuple(ix["column_names"]), ix["unique"],
                            sorted(where.items())))
        tables[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"], c.get("default"))
                        for c in inspector.get_columns(table)],
            "primary_key": inspector.get_pk_constraint(table),
            "foreign_keys": sorted((fk["name"] or "", tuple(fk["constrained_columns"]),
                                    fk["referred_table"], tuple(fk["referred_columns"]))
                                   for fk in inspector.get_foreign_keys(table)),
            "unique": sorted((u["name"] or "", tuple(u["column_names"]))
                             for u in inspector.get_unique_constraints(table)),
            "indexes": sorted(indexes),
        }
    return {"tables": tables, "triggers": triggers(conn)}
