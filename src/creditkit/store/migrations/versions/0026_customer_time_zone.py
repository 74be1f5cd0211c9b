"""Customers' own time zones: ``customers`` gains ``time_zone`` (an IANA name, NULL: none
stated), and ``subscriptions`` gains ``allowance_time_zone``, the customer's zone its current
run of allowance periods is counted in (NULL: the plan's).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | Sequence[str] | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMNs on both: a batch rebuild of SQLite's tables would drop tables that
    # other tables point at.
    op.add_column("customers", sa.Column("time_zone", sa.String(64), nullable=True))
    op.add_column("subscriptions", sa.Column("allowance_time_zone", sa.String(64), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMNs (SQLite has them since 3.35), for the same reason.
    op.drop_column("subscriptions", "allowance_time_zone")
    op.drop_column("customers", "time_zone")
