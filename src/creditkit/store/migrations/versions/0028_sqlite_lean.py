"""SQLite: a charge no longer writes ``ix_transactions_customer_kind_history``. The index becomes
partial there (``WHERE kind <> 'charge'``): history pages filtered to the rarer kinds (grants,
transfers, holds) still read one index range per kind, and a page of charges walks the history
index, where nearly every row is a charge. Every charge on SQLite writes one index page fewer
(about 1.2 WAL pages per lone charge's commit). PostgreSQL keeps the full index.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | Sequence[str] | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "ix_transactions_customer_kind_history"
_COLUMNS = ["customer_id", "unit", "kind", "id"]


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # A plain DROP and CREATE INDEX: no table rebuild, so the table keeps its triggers.
    op.drop_index(_NAME, table_name="transactions")
    op.create_index(
        _NAME, "transactions", _COLUMNS, unique=False, sqlite_where=sa.text("kind <> 'charge'")
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.drop_index(_NAME, table_name="transactions")
    op.create_index(_NAME, "transactions", _COLUMNS, unique=False)
