"""Baseline: the schema of the release before migrations (commit 660c4f9), on both databases.

Every statement creates only what is missing (``IF NOT EXISTS``), so the same revision builds an
empty database and adopts one that release made with ``create_all`` -- including one from before
the integrity triggers -- without touching a row. The triggers are written out here, frozen, not
taken from the models: a later revision that changes them must not change what this one made.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

def upgrade() -> None:
    op.create_table(
        "checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.LargeBinary(), nullable=False),
        sa.Column("issued_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_checkpoints")),
        if_not_exists=True,
    )
    op.create_table(
        "code_reservations",
        sa.Column("code", sa.String(length=37), nullable=False),
        sa.Column("org", sa.String(length=18), nullable=False),
        sa.Column("reserved_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_code_reservations")),
        if_not_exists=True,
    )
    op.create_table(
        "integrity_findings",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.Column("t_ms", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_integrity_findings")),
        if_not_exists=True,
    )
    op.create_table(
        "integrity_watermark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("verified_size", sa.BigInteger(), nullable=False),
        sa.Column("frontier", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrity_watermark")),
        if_not_exists=True,
    )
    op.create_table(
        "log_entries",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("stream", sa.String(length=128), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("org", sa.String(length=18), nullable=False),
        sa.Column("key_fp", sa.String(length=64), nullable=False),
        sa.Column("t_ms", sa.BigInteger(), nullable=False),
        sa.Column("received_ms", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("idx", name=op.f("pk_log_entries")),
        sa.UniqueConstraint("leaf_hash", name=op.f("uq_log_entries_leaf_hash")),
        sa.UniqueConstraint("stream", "seq", name=op.f("uq_log_entries_stream_seq")),
        if_not_exists=True,
    )
    op.create_index(op.f("ix_log_entries_kind"), "log_entries", ["kind"], if_not_exists=True)
    op.create_index(op.f("ix_log_entries_org"), "log_entries", ["org"], if_not_exists=True)

    op.create_table(
        "log_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("frontier", sa.LargeBinary(), nullable=False),
        sa.Column("operator_vkey", sa.String(length=300), nullable=False),
        sa.Column("operator_org", sa.String(length=18), nullable=True),
        sa.Column("checkpoint_size", sa.BigInteger(), nullable=True),
        sa.Column("checkpoint_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_head")),
        if_not_exists=True,
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
        if_not_exists=True,
    )
    op.create_index(
        op.f("ix_login_failures_username"), "login_failures", ["username"], if_not_exists=True
    )

    op.create_table(
        "merkle_nodes",
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_merkle_nodes")),
        if_not_exists=True,
    )
    op.create_table(
        "pickup_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("generator", sa.String(length=18), nullable=False),
        sa.Column("collector", sa.String(length=18), nullable=False),
        sa.Column("manifest", sa.String(length=14), nullable=False),
        sa.Column("wanted_on", sa.String(length=10), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pickup_requests")),
        sa.UniqueConstraint("manifest", name=op.f("uq_pickup_requests_manifest")),
        if_not_exists=True,
    )
    op.create_index(
        op.f("ix_pickup_requests_collector"), "pickup_requests", ["collector"], if_not_exists=True
    )
    op.create_index(
        op.f("ix_pickup_requests_generator"), "pickup_requests", ["generator"], if_not_exists=True
    )
    op.create_index(
        op.f("ix_pickup_requests_status"), "pickup_requests", ["status"], if_not_exists=True
    )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("org", sa.String(length=18), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
        if_not_exists=True,
    )
    op.create_index(op.f("ix_users_org"), "users", ["org"], if_not_exists=True)

    op.create_table(
        "api_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("org", sa.String(length=18), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_api_tokens")),
        if_not_exists=True,
    )
    op.create_index(op.f("ix_api_tokens_org"), "api_tokens", ["org"], if_not_exists=True)

    op.create_table(
        "batches",
        sa.Column("code", sa.String(length=37), nullable=False),
        sa.Column("generator", sa.String(length=18), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("waste_code", sa.String(length=10), nullable=False),
        sa.Column("category", sa.String(length=4), nullable=False),
        sa.Column("hazardous", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("declared_mass_g", sa.BigInteger(), nullable=False),
        sa.Column("mass_g", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(length=18), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("generated_on", sa.String(length=10), nullable=False),
        sa.Column("declared_t_ms", sa.BigInteger(), nullable=False),
        sa.Column("declared_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("consolidated", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["declared_at"], ["log_entries.idx"], name=op.f("fk_batches_declared_at_log_entries")
        ),
        sa.ForeignKeyConstraint(
            ["updated_at"], ["log_entries.idx"], name=op.f("fk_batches_updated_at_log_entries")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_batches")),
        if_not_exists=True,
    )
    op.create_index(
        "ix_batches_generator_declared",
        "batches",
        ["generator", "declared_t_ms"],
        if_not_exists=True,
    )
    op.create_index("ix_batches_holder_state", "batches", ["holder", "state"], if_not_exists=True)
    op.create_index(op.f("ix_batches_region"), "batches", ["region"], if_not_exists=True)
    op.create_index(op.f("ix_batches_state"), "batches", ["state"], if_not_exists=True)
    op.create_index(op.f("ix_batches_waste_code"), "batches", ["waste_code"], if_not_exists=True)

    op.create_table(
        "manifests",
        sa.Column("number", sa.String(length=14), nullable=False),
        sa.Column("origin", sa.String(length=18), nullable=False),
        sa.Column("destination", sa.String(length=18), nullable=False),
        sa.Column("vehicle", sa.String(length=20), nullable=True),
        sa.Column("carrier", sa.String(length=18), nullable=True),
        sa.Column("opened_at", sa.BigInteger(), nullable=False),
        sa.Column("opened_t_ms", sa.BigInteger(), nullable=False),
        sa.Column("closed_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["closed_at"], ["log_entries.idx"], name=op.f("fk_manifests_closed_at_log_entries")
        ),
        sa.ForeignKeyConstraint(
            ["opened_at"], ["log_entries.idx"], name=op.f("fk_manifests_opened_at_log_entries")
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_manifests")),
        if_not_exists=True,
    )
    op.create_index(
        op.f("ix_manifests_destination"), "manifests", ["destination"], if_not_exists=True
    )
    op.create_index(op.f("ix_manifests_origin"), "manifests", ["origin"], if_not_exists=True)

    op.create_table(
        "organisations",
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("roles", sa.String(length=200), nullable=False),
        sa.Column("contact", sa.String(length=100), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("registered_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["registered_at"],
            ["log_entries.idx"],
            name=op.f("fk_organisations_registered_at_log_entries"),
        ),
        sa.PrimaryKeyConstraint("uscc", name=op.f("pk_organisations")),
        if_not_exists=True,
    )
    op.create_index(
        op.f("ix_organisations_region"), "organisations", ["region"], if_not_exists=True
    )

    op.create_table(
        "pickup_items",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("batch", sa.String(length=37), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["pickup_requests.id"],
            name=op.f("fk_pickup_items_request_id_pickup_requests"),
        ),
        sa.PrimaryKeyConstraint("request_id", "batch", name=op.f("pk_pickup_items")),
        if_not_exists=True,
    )
    op.create_index(op.f("ix_pickup_items_batch"), "pickup_items", ["batch"], if_not_exists=True)

    op.create_table(
        "signing_keys",
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("org", sa.String(length=18), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("key_id", sa.LargeBinary(length=4), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("registered_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["registered_at"],
            ["log_entries.idx"],
            name=op.f("fk_signing_keys_registered_at_log_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["revoked_at"], ["log_entries.idx"], name=op.f("fk_signing_keys_revoked_at_log_entries")
        ),
        sa.PrimaryKeyConstraint("fingerprint", name=op.f("pk_signing_keys")),
        if_not_exists=True,
    )
    op.create_index(
        "ix_signing_keys_name_key_id", "signing_keys", ["name", "key_id"], if_not_exists=True
    )
    op.create_index(op.f("ix_signing_keys_org"), "signing_keys", ["org"], if_not_exists=True)

    op.create_table(
        "batch_balances",
        sa.Column("origin", sa.String(length=37), nullable=False),
        sa.Column("generator", sa.String(length=18), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("waste_code", sa.String(length=10), nullable=False),
        sa.Column("category", sa.String(length=4), nullable=False),
        sa.Column("declared_t_ms", sa.BigInteger(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("declared", sa.BigInteger(), nullable=False),
        sa.Column("collected", sa.BigInteger(), nullable=False),
        sa.Column("at_generator", sa.BigInteger(), nullable=False),
        sa.Column("returned", sa.BigInteger(), nullable=False),
        sa.Column("in_transit", sa.BigInteger(), nullable=False),
        sa.Column("in_storage", sa.BigInteger(), nullable=False),
        sa.Column("received_at_disposers", sa.BigInteger(), nullable=False),
        sa.Column("disposed_utilisation", sa.BigInteger(), nullable=False),
        sa.Column("disposed_disposal", sa.BigInteger(), nullable=False),
        sa.Column("refused", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["origin"], ["batches.code"], name=op.f("fk_batch_balances_origin_batches")
        ),
        sa.PrimaryKeyConstraint("origin", name=op.f("pk_batch_balances")),
        if_not_exists=True,
    )
    op.create_index(
        "ix_batch_balances_generator_declared",
        "batch_balances",
        ["generator", "declared_t_ms"],
        if_not_exists=True,
    )
    op.create_index(
        "ix_batch_balances_region_declared",
        "batch_balances",
        ["region", "declared_t_ms"],
        if_not_exists=True,
    )
    op.create_index(
        "ix_batch_balances_waste_code_declared",
        "batch_balances",
        ["waste_code", "declared_t_ms"],
        if_not_exists=True,
    )

    op.create_table(
        "disposals",
        sa.Column("batch", sa.String(length=37), nullable=False),
        sa.Column("disposer", sa.String(length=18), nullable=False),
        sa.Column("method", sa.String(length=12), nullable=False),
        sa.Column("method_code", sa.String(length=8), nullable=False),
        sa.Column("permit", sa.String(length=64), nullable=False),
        sa.Column("mass_g", sa.BigInteger(), nullable=False),
        sa.Column("entry", sa.BigInteger(), nullable=False),
        sa.Column("t_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch"], ["batches.code"], name=op.f("fk_disposals_batch_batches")
        ),
        sa.ForeignKeyConstraint(
            ["entry"], ["log_entries.idx"], name=op.f("fk_disposals_entry_log_entries")
        ),
        sa.PrimaryKeyConstraint("batch", name=op.f("pk_disposals")),
        if_not_exists=True,
    )
    op.create_index(op.f("ix_disposals_disposer"), "disposals", ["disposer"], if_not_exists=True)

    op.create_table(
        "handovers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch", sa.String(length=37), nullable=False),
        sa.Column("from_org", sa.String(length=18), nullable=False),
        sa.Column("to_org", sa.String(length=18), nullable=False),
        sa.Column("manifest", sa.String(length=14), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("released_mass_g", sa.BigInteger(), nullable=True),
        sa.Column("accepted_mass_g", sa.BigInteger(), nullable=True),
        sa.Column("refused_mass_g", sa.BigInteger(), nullable=True),
        sa.Column("refusal_reason", sa.String(length=500), nullable=True),
        sa.Column("discrepancy", sa.Boolean(), nullable=False),
        sa.Column("permit_flagged", sa.Boolean(), nullable=False),
        sa.Column("released_at", sa.BigInteger(), nullable=True),
        sa.Column("answered_at", sa.BigInteger(), nullable=True),
        sa.Column("released_t_ms", sa.BigInteger(), nullable=True),
        sa.Column("answered_t_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["answered_at"], ["log_entries.idx"], name=op.f("fk_handovers_answered_at_log_entries")
        ),
        sa.ForeignKeyConstraint(
            ["batch"], ["batches.code"], name=op.f("fk_handovers_batch_batches")
        ),
        sa.ForeignKeyConstraint(
            ["released_at"], ["log_entries.idx"], name=op.f("fk_handovers_released_at_log_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handovers")),
        if_not_exists=True,
    )
    op.create_index(op.f("ix_handovers_batch"), "handovers", ["batch"], if_not_exists=True)
    op.create_index(
        "ix_handovers_batch_confirmed",
        "handovers",
        [
            "batch",
            "answered_at",
            "from_org",
            "to_org",
            "released_at",
            "released_t_ms",
            "answered_t_ms",
        ],
        if_not_exists=True,
        postgresql_where=sa.text("status = 'confirmed'"),
        sqlite_where=sa.text("status = 'confirmed'"),
    )
    op.create_index(
        "ix_handovers_flagged",
        "handovers",
        ["batch"],
        if_not_exists=True,
        postgresql_where=sa.text("discrepancy OR permit_flagged"),
        sqlite_where=sa.text("discrepancy OR permit_flagged"),
    )
    op.create_index(op.f("ix_handovers_from_org"), "handovers", ["from_org"], if_not_exists=True)
    op.create_index(op.f("ix_handovers_manifest"), "handovers", ["manifest"], if_not_exists=True)
    op.create_index(
        "ix_handovers_refused",
        "handovers",
        ["batch"],
        if_not_exists=True,
        postgresql_where=sa.text("status = 'refused'"),
        sqlite_where=sa.text("status = 'refused'"),
    )
    op.create_index(op.f("ix_handovers_to_org"), "handovers", ["to_org"], if_not_exists=True)

    op.create_table(
        "lineage",
        sa.Column("parent", sa.String(length=37), nullable=False),
        sa.Column("child", sa.String(length=37), nullable=False),
        sa.Column("mass_g", sa.BigInteger(), nullable=False),
        sa.Column("parent_entry", sa.BigInteger(), nullable=False),
        sa.Column("child_entry", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["child_entry"], ["log_entries.idx"], name=op.f("fk_lineage_child_entry_log_entries")
        ),
        sa.ForeignKeyConstraint(
            ["parent"], ["batches.code"], name=op.f("fk_lineage_parent_batches")
        ),
        sa.ForeignKeyConstraint(
            ["parent_entry"], ["log_entries.idx"], name=op.f("fk_lineage_parent_entry_log_entries")
        ),
        sa.PrimaryKeyConstraint("parent", "child", name=op.f("pk_lineage")),
        sa.UniqueConstraint("parent_entry", name=op.f("uq_lineage_parent_entry")),
        if_not_exists=True,
    )
    op.create_index(op.f("ix_lineage_child"), "lineage", ["child"], if_not_exists=True)
    op.create_index(
        "ix_lineage_unlinked",
        "lineage",
        ["parent"],
        if_not_exists=True,
        postgresql_where=sa.text("child_entry IS NULL"),
        sqlite_where=sa.text("child_entry IS NULL"),
    )

    op.create_table(
        "permits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org", sa.String(length=18), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.String(length=10), nullable=False),
        sa.Column("valid_to", sa.String(length=10), nullable=False),
        sa.Column("codes", sa.Text(), nullable=False),
        sa.Column("activities", sa.String(length=100), nullable=False),
        sa.Column("capacity_t", sa.BigInteger(), nullable=False),
        sa.Column("granted_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["granted_at"], ["log_entries.idx"], name=op.f("fk_permits_granted_at_log_entries")
        ),
        sa.ForeignKeyConstraint(
            ["org"], ["organisations.uscc"], name=op.f("fk_permits_org_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permits")),
        sa.UniqueConstraint("org", "number", name=op.f("uq_permits_org_number")),
        if_not_exists=True,
    )
    op.create_index(op.f("ix_permits_org"), "permits", ["org"], if_not_exists=True)

    op.create_table(
        "vehicles",
        sa.Column("plate", sa.String(length=20), nullable=False),
        sa.Column("org", sa.String(length=18), nullable=False),
        sa.Column("transport_permit", sa.String(length=64), nullable=False),
        sa.Column("registered_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org"], ["organisations.uscc"], name=op.f("fk_vehicles_org_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["registered_at"],
            ["log_entries.idx"],
            name=op.f("fk_vehicles_registered_at_log_entries"),
        ),
        sa.PrimaryKeyConstraint("plate", name=op.f("pk_vehicles")),
        if_not_exists=True,
    )
    op.create_index(op.f("ix_vehicles_org"), "vehicles", ["org"], if_not_exists=True)
    _create_triggers()


# log_entries refuses UPDATE and DELETE in the database too, not only in our code. Changing or
# deleting verified material (tree nodes, published checkpoints) sends the gap scan's integrity
# watermark back to 0 (docs/gaps.md, "integrity"); log_entries needs no such trigger.
_SQLITE_TRIGGERS = [
    "CREATE TRIGGER IF NOT EXISTS log_entries_no_update BEFORE UPDATE ON log_entries "
    "BEGIN SELECT RAISE(ABORT, 'log_entries is append-only (UPDATE refused)'); END",
    "CREATE TRIGGER IF NOT EXISTS log_entries_no_delete BEFORE DELETE ON log_entries "
    "BEGIN SELECT RAISE(ABORT, 'log_entries is append-only (DELETE refused)'); END",
    *(
        f"CREATE TRIGGER IF NOT EXISTS {table}_integrity_reset_{event.lower()} AFTER {event} "
        f"ON {table} BEGIN UPDATE integrity_watermark SET verified_size = 0, frontier = X''; END"
        for table in ("merkle_nodes", "checkpoints")
        for event in ("UPDATE", "DELETE")
    ),
]
_PG_FUNCTIONS = [
    """CREATE OR REPLACE FUNCTION waste_ledger_refuse_edit() RETURNS trigger AS $$
    BEGIN
      RAISE EXCEPTION USING MESSAGE = 'log_entries is append-only (' || TG_OP || ' refused)';
    END $$ LANGUAGE plpgsql""",
    """CREATE OR REPLACE FUNCTION waste_ledger_integrity_reset() RETURNS trigger AS $$
    BEGIN
      UPDATE integrity_watermark SET verified_size = 0, frontier = ''::bytea;
      RETURN NULL;
    END $$ LANGUAGE plpgsql""",
]
# (name, table, definition); dropped first if present, as CREATE OR REPLACE TRIGGER needs 14.
_PG_TRIGGERS = [
    ("log_entries_append_only", "log_entries",
     "BEFORE UPDATE OR DELETE ON log_entries "
     "FOR EACH ROW EXECUTE FUNCTION waste_ledger_refuse_edit()"),
    *(
        (f"{table}_integrity_reset", table,
         f"AFTER UPDATE OR DELETE ON {table} "
         "FOR EACH STATEMENT EXECUTE FUNCTION waste_ledger_integrity_reset()")
        for table in ("merkle_nodes", "checkpoints")
    ),
]


def _create_triggers() -> None:
    # The message is built with || rather than RAISE's % placeholder: a % would be read as a
    # bind parameter by the driver (same message as the release before migrations).
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        for statement in _SQLITE_TRIGGERS:
            conn.exec_driver_sql(statement)
        return
    for statement in _PG_FUNCTIONS:
        conn.exec_driver_sql(statement)
    for name, table, definition in _PG_TRIGGERS:
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        conn.exec_driver_sql(f"CREATE TRIGGER {name} {definition}")


def downgrade() -> None:
    # Dropping a table drops its triggers and indexes; children before parents.
    for table in _TABLES[::-1]:
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS waste_ledger_refuse_edit()")
        op.execute("DROP FUNCTION IF EXISTS waste_ledger_integrity_reset()")


_TABLES = [
    "checkpoints",
    "code_reservations",
    "integrity_findings",
    "integrity_watermark",
    "log_entries",
    "log_head",
    "login_failures",
    "merkle_nodes",
    "pickup_requests",
    "users",
    "api_tokens",
    "batches",
    "manifests",
    "organisations",
    "pickup_items",
    "signing_keys",
    "batch_balances",
    "disposals",
    "handovers",
    "lineage",
    "permits",
    "vehicles",
]
