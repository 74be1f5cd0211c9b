"""Usage rollups by spender: ``usage_rollups`` gains ``spender`` ('' for the customer itself) in
its key, so that usage reads break spending down by spender and by subtree from the rollups.

The table is rebuilt with the new key and filled again from the ledger's rows, grouped as the
write path groups them (``usage/rollups.py``): applied charges and hold commits, their steps,
count, legs on the issuance account (negated) and on the expiry account, now per spender too.
A rebuild rather than an ALTER: SQLite cannot change a primary key in place, and every row of
the old table would have to be split by spender anyway.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from creditkit.store.tables import UtcDateTime

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
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


def _create(with_spender: bool) -> None:
    key = ["customer_id", "unit", "bucket_start", "action", "member"]
    spender = []
    if with_spender:
        key.append("spender")
        spender = [sa.Column("spender", sa.String(length=255), nullable=False)]
    op.create_table(
        "usage_rollups",
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("bucket_start", UtcDateTime(), nullable=False),
        sa.Column("action", sa.String(length=128), nullable=False),
        sa.Column("member", sa.String(length=255), nullable=False),
        *spender,
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
        sa.PrimaryKeyConstraint(*key, name=op.f("pk_usage_rollups")),
    )


def _fill(with_spender: bool) -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        # Times after the epoch are positive: integer division floors them to the hour.
        bucket = f"(t.created_at / {_HOUR_MICROSECONDS}) * {_HOUR_MICROSECONDS}"
    else:
        bucket = "date_trunc('hour', t.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    spender_column = ", spender" if with_spender else ""
    spender_value = ", COALESCE(t.spender, '') AS spender" if with_spender else ""
    op.execute(
        "INSERT INTO usage_rollups (customer_id, unit, bucket_start, action, member"
        f"{spender_column}, steps, charges, issued, expired)"
        f" SELECT customer_id, unit, bucket, action, member{spender_column}, SUM(amount),"
        " COUNT(*), SUM(issued), SUM(expired) FROM ("
        f"SELECT t.customer_id, t.unit, {bucket} AS bucket, COALESCE(t.action, '') AS action,"
        f" COALESCE(t.member, '') AS member{spender_value}, t.amount,"
        f" -{_leg('issuance')} AS issued, {_leg('expiry')} AS expired"
        " FROM transactions t"
        " WHERE t.kind IN ('charge', 'commit') AND t.status = 'applied') AS spending"
        f" GROUP BY customer_id, unit, bucket, action, member{spender_column}"
    )


def upgrade() -> None:
    op.drop_table("usage_rollups")
    _create(with_spender=True)
    _fill(with_spender=True)


def downgrade() -> None:
    op.drop_table("usage_rollups")
    _create(with_spender=False)
    _fill(with_spender=False)
