"""Allowance periods reset by an operator: ``subscriptions`` gains ``allowance_anchor_at``, where
a subscription's allowance periods are counted from after ``reset_period`` (NULL: from the
run's anchor, as before).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from creditkit.store.tables import UtcDateTime

revision: str = "0025"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN on both: a batch rebuild of SQLite's table would drop a table that
    # billing lines point at.
    op.add_column("subscriptions", sa.Column("allowance_anchor_at", UtcDateTime, nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite has it since 3.35), for the same reason.
    op.drop_column("subscriptions", "allowance_anchor_at")
