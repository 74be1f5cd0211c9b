"""Late usage and reversals: ``transactions`` gains ``occurred_at`` (when the usage a charge or
a reversal counts for happened, when not at ``created_at``) and ``reverses_id`` (the charge a
reversal gives back), each with a partial index: few rows carry them.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from creditkit.store.tables import UtcDateTime

revision: str = "0024"
down_revision: str | Sequence[str] | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain column additions, no foreign key: SQLite would rebuild the ledger's largest table
    # for one. The write path reads the charge a reversal names under the customer's lock.
    op.add_column("transactions", sa.Column("occurred_at", UtcDateTime(), nullable=True))
    op.add_column("transactions", sa.Column("reverses_id", _ID, nullable=True))
    op.create_index(
        "ix_transactions_occurred",
        "transactions",
        ["customer_id", "unit", "occurred_at"],
        sqlite_where=sa.text("occurred_at IS NOT NULL"),
        postgresql_where=sa.text("occurred_at IS NOT NULL"),
    )
    op.create_index(
        "ix_transactions_reversals",
        "transactions",
        ["reverses_id"],
        sqlite_where=sa.text("reverses_id IS NOT NULL"),
        postgresql_where=sa.text("reverses_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_transactions_reversals", table_name="transactions")
    op.drop_index("ix_transactions_occurred", table_name="transactions")
    # DROP COLUMN in place (SQLite 3.35 and later): no rebuild of the table.
    op.execute("ALTER TABLE transactions DROP COLUMN reverses_id")
    op.execute("ALTER TABLE transactions DROP COLUMN occurred_at")
