"""A checkout's return addresses (``success_url``, ``cancel_url``), kept with its payment so the
sandbox's checkout page knows where to send the customer back.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable columns added in place on both databases (no table rebuild). Payments made
    # before this revision, renewals and top-ups have none.
    op.add_column("payments", sa.Column("success_url", sa.Text(), nullable=True))
    op.add_column("payments", sa.Column("cancel_url", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("cancel_url")
        batch.drop_column("success_url")
