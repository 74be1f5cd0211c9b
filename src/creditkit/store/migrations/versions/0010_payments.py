"""Payments: provider accounts, payments, processed provider events, coupon counters, auto
top-ups, and numbered receipts.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from creditkit.store.tables import UtcDateTime

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The one row of ``receipt_numbers``: receipts are numbered from 1.
RECEIPTS = "receipts"


def upgrade() -> None:
    op.create_table(
        "coupon_counters",
        sa.Column("coupon_id", sa.String(length=64), nullable=False),
        sa.Column("redeemed", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("redeemed >= 0", name=op.f("ck_coupon_counters_redeemed_not_negative")),
        sa.PrimaryKeyConstraint("coupon_id", name=op.f("pk_coupon_counters")),
    )
    op.create_table(
        "receipt_numbers",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_receipt_numbers")),
    )
    op.create_table(
        "auto_top_ups",
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("pack_id", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("threshold", sa.BigInteger(), nullable=False),
        sa.Column("per_day_max", sa.Integer(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("per_day_max >= 1", name=op.f("ck_auto_top_ups_per_day_max_positive")),
        sa.CheckConstraint("threshold > 0", name=op.f("ck_auto_top_ups_threshold_positive")),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_auto_top_ups_customer_id")
        ),
        sa.ForeignKeyConstraint(["unit"], ["units.name"], name=op.f("fk_auto_top_ups_unit")),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_auto_top_ups")),
    )
    op.create_table(
        "payment_accounts",
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_customer_id", sa.String(length=255), nullable=True),
        sa.Column("payment_method", sa.String(length=255), nullable=True),
        sa.Column("provider_subscription_id", sa.String(length=255), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_payment_accounts_customer_id")
        ),
        sa.PrimaryKeyConstraint("customer_id", "provider", name=op.f("pk_payment_accounts")),
    )
    op.create_index(
        "ix_payment_accounts_subscription",
        "payment_accounts",
        ["provider", "provider_subscription_id"],
        unique=True,
        sqlite_where=sa.text("provider_subscription_id IS NOT NULL"),
        postgresql_where=sa.text("provider_subscription_id IS NOT NULL"),
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("pack_id", sa.String(length=64), nullable=True),
        sa.Column("plan_id", sa.String(length=64), nullable=True),
        sa.Column("interval", sa.String(length=8), nullable=True),
        sa.Column("coupon_id", sa.String(length=64), nullable=True),
        sa.Column("discount_id", sa.String(length=64), nullable=True),
        sa.Column("subtotal_minor", sa.BigInteger(), nullable=False),
        sa.Column("discount_minor", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "lines", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("provider_session_id", sa.String(length=255), nullable=True),
        sa.Column("checkout_url", sa.Text(), nullable=True),
        sa.Column("provider_payment_id", sa.String(length=255), nullable=True),
        sa.Column("grant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("period_start", UtcDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
        sa.Column("grace_ends_at", UtcDateTime(), nullable=True),
        sa.Column("failure_reason", sa.String(length=255), nullable=True),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=True),
        sa.Column("provider_refund_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("succeeded_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint(
            "(kind IN ('pack', 'top_up')) = (pack_id IS NOT NULL) AND (kind IN ('plan', 'renewal')) = (plan_id IS NOT NULL)",
            name=op.f("ck_payments_item_shape"),
        ),
        sa.CheckConstraint(
            "kind IN ('pack', 'plan', 'top_up', 'renewal')", name=op.f("ck_payments_kind_known")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed', 'refunding', 'refunded')",
            name=op.f("ck_payments_status_known"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_payments_attempts_not_negative")),
        sa.CheckConstraint(
            "refunded_minor IS NULL OR refunded_minor BETWEEN 0 AND amount_minor",
            name=op.f("ck_payments_refund_shape"),
        ),
        sa.CheckConstraint(
            "subtotal_minor >= 0 AND discount_minor BETWEEN 0 AND subtotal_minor AND amount_minor = subtotal_minor - discount_minor",
            name=op.f("ck_payments_amounts_shape"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_payments_customer_id")
        ),
        sa.ForeignKeyConstraint(["grant_id"], ["accounts.id"], name=op.f("fk_payments_grant_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_payments_idempotency_key")),
    )
    op.create_index(
        "ix_payments_customer_kind", "payments", ["customer_id", "kind", "created_at"], unique=False
    )
    op.create_index(
        "ix_payments_due",
        "payments",
        ["next_attempt_at"],
        unique=False,
        sqlite_where=sa.text("next_attempt_at IS NOT NULL"),
        postgresql_where=sa.text("next_attempt_at IS NOT NULL"),
    )
    op.create_index(
        "ix_payments_provider_payment",
        "payments",
        ["provider", "provider_payment_id"],
        unique=False,
        sqlite_where=sa.text("provider_payment_id IS NOT NULL"),
        postgresql_where=sa.text("provider_payment_id IS NOT NULL"),
    )
    op.create_index(
        "ix_payments_session",
        "payments",
        ["provider", "provider_session_id"],
        unique=True,
        sqlite_where=sa.text("provider_session_id IS NOT NULL"),
        postgresql_where=sa.text("provider_session_id IS NOT NULL"),
    )
    op.create_table(
        "provider_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column(
            "payment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_provider_events_payment_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_events")),
        sa.UniqueConstraint(
            "provider", "event_id", name=op.f("uq_provider_events_provider_event_id")
        ),
    )
    op.create_table(
        "receipts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("source_key", sa.String(length=255), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "payment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "billing_line_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "lines", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("subtotal_minor", sa.BigInteger(), nullable=False),
        sa.Column("discount_minor", sa.BigInteger(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('purchase', 'subscription', 'top_up', 'overage')",
            name=op.f("ck_receipts_kind_known"),
        ),
        sa.CheckConstraint(
            "discount_minor >= 0 AND total_minor = subtotal_minor - discount_minor",
            name=op.f("ck_receipts_amounts_shape"),
        ),
        sa.ForeignKeyConstraint(
            ["billing_line_id"], ["billing_lines.id"], name=op.f("fk_receipts_billing_line_id")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_receipts_customer_id")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_receipts_payment_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipts")),
        sa.UniqueConstraint("number", name=op.f("uq_receipts_number")),
        sa.UniqueConstraint("source_key", name=op.f("uq_receipts_source_key")),
    )
    op.create_index("ix_receipts_customer", "receipts", ["customer_id", "id"], unique=False)
    op.create_index(
        "ix_receipts_billing_line",
        "receipts",
        ["billing_line_id"],
        unique=True,
        sqlite_where=sa.text("billing_line_id IS NOT NULL"),
        postgresql_where=sa.text("billing_line_id IS NOT NULL"),
    )

    op.bulk_insert(
        sa.table(
            "receipt_numbers", sa.column("name", sa.String), sa.column("last_number", sa.BigInteger)
        ),
        [{"name": RECEIPTS, "last_number": 0}],
    )


def downgrade() -> None:
    op.drop_index("ix_receipts_billing_line", table_name="receipts")
    op.drop_index("ix_receipts_customer", table_name="receipts")
    op.drop_table("receipts")
    op.drop_table("provider_events")
    op.drop_index("ix_payments_session", table_name="payments")
    op.drop_index("ix_payments_provider_payment", table_name="payments")
    op.drop_index("ix_payments_due", table_name="payments")
    op.drop_index("ix_payments_customer_kind", table_name="payments")
    op.drop_table("payments")
    op.drop_index("ix_payment_accounts_subscription", table_name="payment_accounts")
    op.drop_table("payment_accounts")
    op.drop_table("auto_top_ups")
    op.drop_table("receipt_numbers")
    op.drop_table("coupon_counters")
