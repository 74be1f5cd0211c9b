"""A workspace charge may name its member; a workspace may cap each member's spend.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from creditkit.store.tables import UtcDateTime

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases: no table rebuild, so the transactions table keeps
    # its triggers.
    op.add_column("transactions", sa.Column("member", sa.String(length=255), nullable=True))
    op.create_index(
        "ix_transactions_member_spend",
        "transactions",
        ["customer_id", "member", "id"],
        unique=False,
        sqlite_where=sa.text("member IS NOT NULL"),
        postgresql_where=sa.text("member IS NOT NULL"),
    )
    op.create_table(
        "member_spend_caps",
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("cap", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("cap >= 0", name=op.f("ck_member_spend_caps_cap_not_negative")),
        sa.ForeignKeyConstraint(["unit"], ["units.name"], name=op.f("fk_member_spend_caps_unit")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["customers.id"], name=op.f("fk_member_spend_caps_user_id")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["customers.id"], name=op.f("fk_member_spend_caps_workspace_id")
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "user_id", "unit", name=op.f("pk_member_spend_caps")
        ),
    )


def downgrade() -> None:
    op.drop_table("member_spend_caps")
    op.drop_index("ix_transactions_member_spend", table_name="transactions")
    # Not a batch rebuild: on SQLite that would recreate the table without its triggers.
    op.execute("ALTER TABLE transactions DROP COLUMN member")
