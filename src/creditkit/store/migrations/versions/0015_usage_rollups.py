"""Usage rollups: spending summed per customer, unit, hour, action and member, kept in each
spending transaction from now on, and filled here from the spending already in the ledger; and
by the value of each usage dimension, filled by the kit (which knows the catalog's dimensions).

The fill is one ``INSERT … SELECT`` grouped by the same key the write path uses (see
``usage/rollups.py``): applied charges and hold commits, their steps, their count, their legs on
the issuance account (negated: steps issued beyond the grants) and on the expiry account.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from creditkit.store.tables import UtcDateTime

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

#: An hour in SQLite's time representation (integer microseconds since the epoch).
_HOUR_MICROSECONDS = 3_600 * 1_000_000


def _leg(kind: str) -> str:
    """The sum of the transaction's entries on its unit's system account of ``kind``."""
    return (
        "COALESCE((SELECT SUM(e.amount) FROM entries e JOIN accounts a ON a.id = e.account_id"
        f" WHERE e.transaction_id = t.id AND a.kind = '{kind}' AND a.customer_id IS NULL), 0)"
    )


def _fill() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        # Times after the epoch are positive: integer division floors them to the hour.
        bucket = f"(t.created_at / {_HOUR_MICROSECONDS}) * {_HOUR_MICROSECONDS}"
    else:
        bucket = "date_trunc('hour', t.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    op.execute(
        "INSERT INTO usage_rollups (customer_id, unit, bucket_start, action, member, steps,"
        " charges, issued, expired)"
        f" SELECT customer_id, unit, bucket, action, member, SUM(amount), COUNT(*),"
        " SUM(issued), SUM(expired) FROM ("
        f"SELECT t.customer_id, t.unit, {bucket} AS bucket, COALESCE(t.action, '') AS action,"
        " COALESCE(t.member, '') AS member, t.amount,"
        f" -{_leg('issuance')} AS issued, {_leg('expiry')} AS expired"
        " FROM transactions t"
        " WHERE t.kind IN ('charge', 'commit') AND t.status = 'applied') AS spending"
        " GROUP BY customer_id, unit, bucket, action, member"
    )


def upgrade() -> None:
    op.create_table(
        "usage_rollups",
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("bucket_start", UtcDateTime(), nullable=False),
        sa.Column("action", sa.String(length=128), nullable=False),
        sa.Column("member", sa.String(length=255), nullable=False),
        sa.Column("steps", sa.BigInteger(), nullable=False),
        sa.Column("charges", sa.BigInteger(), nullable=False),
        sa.Column("issued", sa.BigInteger(), nullable=False),
        sa.Column("expired", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "steps >= 0 AND charges > 0 AND expired >= 0",
            name=op.f("ck_usage_rollups_sums_shape"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_usage_rollups_customer_id")
        ),
        sa.ForeignKeyConstraint(["unit"], ["units.name"], name=op.f("fk_usage_rollups_unit")),
        sa.PrimaryKeyConstraint(
            "customer_id", "unit", "bucket_start", "action", "member", name=op.f("pk_usage_rollups")
        ),
    )
    _fill()
    # Filled by the kit, which knows the catalog's dimensions (usage/rollups.py).
    op.create_table(
        "usage_dimension_rollups",
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("bucket_start", UtcDateTime(), nullable=False),
        sa.Column("dimension", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("steps", sa.BigInteger(), nullable=False),
        sa.Column("charges", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "steps >= 0 AND charges > 0", name=op.f("ck_usage_dimension_rollups_sums_shape")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_usage_dimension_rollups_customer_id")
        ),
        sa.ForeignKeyConstraint(
            ["unit"], ["units.name"], name=op.f("fk_usage_dimension_rollups_unit")
        ),
        sa.PrimaryKeyConstraint(
            "customer_id",
            "unit",
            "bucket_start",
            "dimension",
            "value",
            name=op.f("pk_usage_dimension_rollups"),
        ),
    )
    op.create_table(
        "usage_dimensions",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("filled_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_usage_dimensions")),
    )


def downgrade() -> None:
    op.drop_table("usage_dimensions")
    op.drop_table("usage_dimension_rollups")
    op.drop_table("usage_rollups")
