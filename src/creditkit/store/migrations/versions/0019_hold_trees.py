"""Holds nest, stretch and settle in parts: a hold may be taken under a parent hold (its tree's
root and its depth kept beside it, at most four levels), and a hold still active may have
committed part of what it holds.

The database enforces the tree's shape (a root has no parent, a child names its parent and its
root, depth 0 to 3) and that what a hold committed is within what it holds. A child never draws
past its parent: the child's credits move out of the parent's hold account, whose balance the
database keeps at or above zero (``CHECK (balance >= 0)`` on accounts).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_COMMITTED_SHAPE_BEFORE = (
    "(status = 'committed') = (amount_committed IS NOT NULL)"
    " AND (amount_committed IS NULL OR amount_committed BETWEEN 0 AND amount_held)"
)
_COMMITTED_SHAPE_AFTER = (
    "(status <> 'committed' OR amount_committed IS NOT NULL)"
    " AND (amount_committed IS NULL OR amount_committed BETWEEN 0 AND amount_held)"
)
_TREE_SHAPE = (
    "depth BETWEEN 0 AND 3 AND (parent_id IS NULL) = (depth = 0)"
    " AND (parent_id IS NULL) = (root_id IS NULL)"
    " AND (parent_id IS NULL OR parent_id <> account_id)"
)


def upgrade() -> None:
    # The holds table has no triggers, so SQLite's batch rebuild loses nothing.
    with op.batch_alter_table("holds") as batch:
        batch.add_column(sa.Column("parent_id", _ID, nullable=True))
        batch.add_column(sa.Column("root_id", _ID, nullable=True))
        batch.add_column(sa.Column("depth", sa.SmallInteger(), nullable=False, server_default="0"))
        batch.create_foreign_key(op.f("fk_holds_parent_id"), "holds", ["parent_id"], ["account_id"])
        batch.create_foreign_key(op.f("fk_holds_root_id"), "holds", ["root_id"], ["account_id"])
        batch.drop_constraint(op.f("ck_holds_committed_shape"), type_="check")
        batch.create_check_constraint(op.f("ck_holds_committed_shape"), _COMMITTED_SHAPE_AFTER)
        batch.create_check_constraint(op.f("ck_holds_tree_shape"), _TREE_SHAPE)
    for name, column in (
        ("ix_holds_parent_active", "parent_id"),
        ("ix_holds_root_active", "root_id"),
    ):
        where = sa.text(f"status = 'active' AND {column} IS NOT NULL")
        op.create_index(
            name, "holds", [column], unique=False, sqlite_where=where, postgresql_where=where
        )
    extend = sa.text("kind IN ('extend', 'commit')")
    op.create_index(
        "ix_transactions_hold_writes",
        "transactions",
        ["hold_id"],
        unique=False,
        sqlite_where=extend,
        postgresql_where=extend,
    )


def downgrade() -> None:
    op.drop_index("ix_transactions_hold_writes", table_name="transactions")
    op.drop_index("ix_holds_root_active", table_name="holds")
    op.drop_index("ix_holds_parent_active", table_name="holds")
    with op.batch_alter_table("holds") as batch:
        batch.drop_constraint(op.f("ck_holds_tree_shape"), type_="check")
        batch.drop_constraint(op.f("ck_holds_committed_shape"), type_="check")
        batch.create_check_constraint(op.f("ck_holds_committed_shape"), _COMMITTED_SHAPE_BEFORE)
        batch.drop_constraint(op.f("fk_holds_root_id"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_holds_parent_id"), type_="foreignkey")
        batch.drop_column("depth")
        batch.drop_column("root_id")
        batch.drop_column("parent_id")
