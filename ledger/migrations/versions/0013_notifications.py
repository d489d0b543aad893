"""Notifications (提醒), their deliveries, Web Push and webhook subscriptions, job runs.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("next_due_ms", sa.BigInteger(), nullable=False),
        sa.Column("lease_until_ms", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=True),
        sa.Column("last_started_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_finished_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_result", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_runs")),
        if_not_exists=True,
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("org", sa.String(length=18), nullable=False),
        sa.Column("user", sa.String(length=64), nullable=True),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("read_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("key", name=op.f("uq_notifications_key")),
        if_not_exists=True,
    )
    op.create_index("ix_notifications_org_read", "notifications", ["org", "read_ms"],
                    if_not_exists=True)
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("endpoint", sa.String(length=1000), nullable=False),
        sa.Column("p256dh", sa.String(length=200), nullable=False),
        sa.Column("auth", sa.String(length=100), nullable=False),
        sa.Column("org", sa.String(length=18), nullable=False),
        sa.Column("user", sa.String(length=64), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_subscriptions")),
        sa.UniqueConstraint("endpoint", name=op.f("uq_push_subscriptions_endpoint")),
        if_not_exists=True,
    )
    op.create_index(op.f("ix_push_subscriptions_org"), "push_subscriptions", ["org"],
                    if_not_exists=True)
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org", sa.String(length=18), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("events", sa.String(length=400), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
        if_not_exists=True,
    )
    op.create_index(op.f("ix_webhook_subscriptions_org"), "webhook_subscriptions", ["org"],
                    if_not_exists=True)
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(length=36), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("target", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_ms", sa.BigInteger(), nullable=False),
        sa.Column("lease_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("done_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["notification_id"], ["notifications.id"],
            name=op.f("fk_notification_deliveries_notification_id_notifications")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deliveries")),
        sa.UniqueConstraint("delivery_id", name=op.f("uq_notification_deliveries_delivery_id")),
        if_not_exists=True,
    )
    for name, columns in (("ix_notification_deliveries_due", ["status", "next_ms"]),
                          ("ix_notification_deliveries_notification_id", ["notification_id"]),
                          ("ix_notification_deliveries_target", ["target"])):
        op.create_index(name, "notification_deliveries", columns, if_not_exists=True)


def downgrade() -> None:
    op.drop_table("notification_deliveries")
    op.drop_table("webhook_subscriptions")
    op.drop_table("push_subscriptions")
    op.drop_table("notifications")
    op.drop_table("job_runs")
