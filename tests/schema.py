"""Test helpers about the schema itself: which triggers a migrated database has."""

from __future__ import annotations

from sqlalchemy import Connection, text

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
