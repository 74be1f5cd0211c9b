"""PostgreSQL: ``ix_transactions_customer_kind_history`` leaves charges out.

As on SQLite since migration 0028 (``WHERE kind <> 'charge'``): history pages of the rarer kinds
still read one index range per kind, and a page of charges walks the history index (customer,
unit, id), where nearly every row is a charge. A charge writes four index entries on
``transactions`` instead of five: the key (the idempotency check), the history (history pages),
the usage index (usage sums of the partial hours at a range's edges, and holds' reserves) and
the primary key; the others are partial and a plain charge skips them.

(Replacing the foreign keys to shared rows by lock-free checks in the entries' trigger was
measured too: it cut the WAL a charge writes, but the trigger's extra reads cost a hot customer's
charges a fifth of their rate, so the foreign keys stay.)

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | Sequence[str] | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KIND_INDEX = "ix_transactions_customer_kind_history"
_KIND_INDEX_COLUMNS = ["customer_id", "unit", "kind", "id"]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(_KIND_INDEX, table_name="transactions")
    op.create_index(
        _KIND_INDEX,
        "transactions",
        _KIND_INDEX_COLUMNS,
        unique=False,
        postgresql_where=sa.text("kind <> 'charge'"),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(_KIND_INDEX, table_name="transactions")
    op.create_index(_KIND_INDEX, "transactions", _KIND_INDEX_COLUMNS, unique=False)
