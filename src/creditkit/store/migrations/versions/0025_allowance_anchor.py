"""Allowance periods reset by an operator: ``subscriptions`` gains ``allowance_anchor_at``, where
a subscription's allowance periods are counted from after ``reset_period`` (NULL: from the
run's anchor, as before).

Revision ID: 0025
Revises: 0022
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from creditkit.store.tables import UtcDateTime

revision: str = "0025"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("allowance_anchor_at", UtcDateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("allowance_anchor_at")
