"""PostgreSQL: the cached balances are kept once per entry statement instead of once per entry.

The trigger ``entries_apply`` added each entry to its account in a row trigger: a plpgsql call
per entry (two per charge), and, for a batch charging one customer many times, an update of the
same account row per entry, each one walking past the row versions the earlier ones left in
the transaction (quadratic in the batch). It is now a statement trigger over the statement's
inserted rows: every account the statement touches is updated once, by the sum of its entries.
What it guarantees is unchanged: the balance is the sum of the entries (the guard
``accounts_guard`` still refuses any other change, and the update still runs at trigger depth
2), and an overdraft fails the statement that inserted it (``CHECK (balance >= 0)``).
SQLite has row triggers only; it keeps its own.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PER_STATEMENT = [
    "DROP TRIGGER entries_apply ON entries",
    "DROP FUNCTION creditkit_entries_apply()",
    """CREATE FUNCTION creditkit_entries_apply() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE accounts a SET balance = a.balance + inserted_sum.amount
        FROM (SELECT account_id, sum(amount)::bigint AS amount FROM inserted
            GROUP BY account_id) inserted_sum
        WHERE a.id = inserted_sum.account_id AND a.balance IS NOT NULL;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER entries_apply AFTER INSERT ON entries
        REFERENCING NEW TABLE AS inserted
        FOR EACH STATEMENT EXECUTE FUNCTION creditkit_entries_apply()""",
]

# The trigger of migration 0001, as it was.
_PER_ROW = [
    "DROP TRIGGER entries_apply ON entries",
    "DROP FUNCTION creditkit_entries_apply()",
    """CREATE FUNCTION creditkit_entries_apply() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE accounts SET balance = balance + NEW.amount
        WHERE id = NEW.account_id AND balance IS NOT NULL;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER entries_apply AFTER INSERT ON entries
        FOR EACH ROW EXECUTE FUNCTION creditkit_entries_apply()""",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PER_STATEMENT:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PER_ROW:
            op.execute(statement)
