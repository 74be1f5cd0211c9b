"""Index a customer's transactions by kind in id order, for history pages filtered by kind.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain CREATE INDEX on both databases: no table rebuild, so the table keeps its triggers.
    op.create_index(
        "ix_transactions_customer_kind_history",
        "transactions",
        ["customer_id", "unit", "kind", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_transactions_customer_kind_history", table_name="transactions")
