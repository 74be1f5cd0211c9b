"""An auto top-up may fill the balance to a target, buying as many packs as that takes.

``auto_top_ups.target``: the balance to fill to (NULL: one pack, as before). ``payments.quantity``:
how many of the pack a payment buys (1 for every checkout; a top-up to a target may buy more).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("auto_top_ups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("target", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quantity", sa.Integer(), server_default="1", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("quantity")
    with op.batch_alter_table("auto_top_ups", schema=None) as batch_op:
        batch_op.drop_column("target")
