"""Index a customer's transactions by kind and time, for the usage views' period sums.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain CREATE INDEX on both databases: no table rebuild, so the table keeps its triggers.
    op.create_index(
        "ix_transactions_customer_usage",
        "transactions",
        ["customer_id", "unit", "kind", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_transactions_customer_usage", table_name="transactions")
