"""Entitlements: live resources of count limits, events of per-period limits, workspace members.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from creditkit.store.tables import UtcDateTime

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "limit_resources",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("limit_name", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=255), nullable=False),
        sa.Column("acquired_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_limit_resources_customer_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_limit_resources")),
        sa.UniqueConstraint(
            "customer_id",
            "limit_name",
            "resource_id",
            name=op.f("uq_limit_resources_customer_id_limit_name_resource_id"),
        ),
    )
    op.create_table(
        "limit_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("limit_name", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.Column("limit_value", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("upgrade_to", sa.String(length=64), nullable=True),
        sa.Column("period_start", UtcDateTime(), nullable=False),
        sa.Column("period_end", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("period_end > period_start", name=op.f("ck_limit_events_period_shape")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_limit_events_quantity_positive")),
        sa.CheckConstraint("used >= 0", name=op.f("ck_limit_events_used_not_negative")),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_limit_events_customer_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_limit_events")),
        sa.UniqueConstraint(
            "customer_id",
            "idempotency_key",
            name=op.f("uq_limit_events_customer_id_idempotency_key"),
        ),
    )
    with op.batch_alter_table("limit_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_limit_events_period", ["customer_id", "limit_name", "period_start"], unique=False
        )
    op.create_table(
        "workspace_members",
        sa.Column("workspace_id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("added_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(
            "role IN ('owner', 'admin', 'editor', 'viewer')",
            name=op.f("ck_workspace_members_role_known"),
        ),
        sa.CheckConstraint("workspace_id <> user_id", name=op.f("ck_workspace_members_not_itself")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["customers.id"], name=op.f("fk_workspace_members_user_id")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["customers.id"], name=op.f("fk_workspace_members_workspace_id")
        ),
        sa.PrimaryKeyConstraint("workspace_id", "user_id", name=op.f("pk_workspace_members")),
    )
    with op.batch_alter_table("workspace_members", schema=None) as batch_op:
        batch_op.create_index(
            "ix_workspace_members_one_owner",
            ["workspace_id"],
            unique=True,
            sqlite_where=sa.text("role = 'owner'"),
            postgresql_where=sa.text("role = 'owner'"),
        )
        batch_op.create_index("ix_workspace_members_user_id", ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("workspace_members", schema=None) as batch_op:
        batch_op.drop_index("ix_workspace_members_user_id")
        batch_op.drop_index(
            "ix_workspace_members_one_owner",
            sqlite_where=sa.text("role = 'owner'"),
            postgresql_where=sa.text("role = 'owner'"),
        )
    op.drop_table("workspace_members")
    with op.batch_alter_table("limit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_limit_events_period")
    op.drop_table("limit_events")
    op.drop_table("limit_resources")
