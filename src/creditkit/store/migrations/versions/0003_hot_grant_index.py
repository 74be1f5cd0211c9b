"""Index a customer's grants without ``balance`` in the predicate, so that PostgreSQL updates
balances in place (HOT) instead of adding an index entry per update.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_accounts_live_grants",
            sqlite_where=sa.text("kind = 'grant' AND balance > 0"),
            postgresql_where=sa.text("kind = 'grant' AND balance > 0"),
        )
        batch_op.create_index(
            "ix_accounts_customer_grants",
            ["customer_id", "unit"],
            unique=False,
            sqlite_where=sa.text("kind = 'grant'"),
            postgresql_where=sa.text("kind = 'grant'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_accounts_customer_grants")
        batch_op.create_index(
            "ix_accounts_live_grants",
            ["customer_id", "unit"],
            unique=False,
            sqlite_where=sa.text("kind = 'grant' AND balance > 0"),
            postgresql_where=sa.text("kind = 'grant' AND balance > 0"),
        )
