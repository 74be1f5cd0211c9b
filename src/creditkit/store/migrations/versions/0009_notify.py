"""Webhook endpoints and deliveries, alert thresholds and firings, grant expiry notices; the
outbox's fan-out mark.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from creditkit.store.tables import UtcDateTime

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # A plain ADD COLUMN on both databases (no table rebuild).
    op.add_column("outbox_events", sa.Column("fanned_out_at", UtcDateTime(), nullable=True))
    op.create_index(
        "ix_outbox_events_pending",
        "outbox_events",
        ["id"],
        unique=False,
        sqlite_where=sa.text("fanned_out_at IS NULL"),
        postgresql_where=sa.text("fanned_out_at IS NULL"),
    )
    op.create_index(
        "ix_grants_expires_at",
        "grants",
        ["expires_at"],
        unique=False,
        sqlite_where=sa.text("expires_at IS NOT NULL"),
        postgresql_where=sa.text("expires_at IS NOT NULL"),
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", _ID, nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("secret", sa.String(length=80), nullable=False),
        sa.Column("event_types", _JSON, nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("deleted_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_webhook_endpoints_idempotency_key")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", _ID, nullable=False),
        sa.Column("event_id", _ID, nullable=False),
        sa.Column("endpoint_id", _ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
        sa.Column("last_error", sa.String(length=1024), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("delivered_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')",
            name=op.f("ck_webhook_deliveries_status_known"),
        ),
        sa.CheckConstraint(
            "attempts >= 0", name=op.f("ck_webhook_deliveries_attempts_not_negative")
        ),
        sa.CheckConstraint(
            "(status = 'delivered') = (delivered_at IS NOT NULL)",
            name=op.f("ck_webhook_deliveries_delivered_shape"),
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_deliveries_endpoint_id"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["outbox_events.id"], name=op.f("fk_webhook_deliveries_event_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint(
            "event_id", "endpoint_id", name=op.f("uq_webhook_deliveries_event_id_endpoint_id")
        ),
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        unique=False,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint_id",
        "webhook_deliveries",
        ["endpoint_id", "id"],
        unique=False,
    )
    op.create_table(
        "customer_alerts",
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("credits_left", sa.BigInteger(), nullable=True),
        sa.Column("percent_used", _JSON, nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(
            "credits_left IS NULL OR credits_left > 0",
            name=op.f("ck_customer_alerts_credits_left_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_customer_alerts_customer_id")
        ),
        sa.ForeignKeyConstraint(["unit"], ["units.name"], name=op.f("fk_customer_alerts_unit")),
        sa.PrimaryKeyConstraint("customer_id", "unit", name=op.f("pk_customer_alerts")),
    )
    op.create_table(
        "alert_firings",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("alert", sa.String(length=64), nullable=False),
        sa.Column("period_start", UtcDateTime(), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_alert_firings_customer_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_firings")),
        sa.UniqueConstraint(
            "customer_id",
            "unit",
            "alert",
            "period_start",
            name=op.f("uq_alert_firings_customer_id_unit_alert_period_start"),
        ),
    )
    op.create_table(
        "grant_expiry_notices",
        sa.Column("grant_id", _ID, nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["grants.account_id"], name=op.f("fk_grant_expiry_notices_grant_id")
        ),
        sa.PrimaryKeyConstraint("grant_id", name=op.f("pk_grant_expiry_notices")),
    )


def downgrade() -> None:
    op.drop_table("grant_expiry_notices")
    op.drop_table("alert_firings")
    op.drop_table("customer_alerts")
    op.drop_index("ix_webhook_deliveries_endpoint_id", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
    op.drop_index("ix_grants_expires_at", table_name="grants")
    op.drop_index("ix_outbox_events_pending", table_name="outbox_events")
    # Not a batch rebuild: on SQLite that would recreate the table without what it has.
    op.execute("ALTER TABLE outbox_events DROP COLUMN fanned_out_at")
