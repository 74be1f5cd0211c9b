"""PostgreSQL: a charge no longer locks rows that every charge shares.

A foreign key check reads the row it points at ``FOR KEY SHARE``. That writes a lock on the
row (a WAL record and a dirtied page), and when several transactions hold it at once, the row's
lockers become a multixact that each new locker copies and extends. Every charge's entries
pointed at the unit's consumption account, and every transaction row at its unit's row in
``units``: one row shared by every customer's charges, locked by each of them.

The lock only keeps the row from being deleted (or its key changed) before the referencing
transaction commits. These rows can never be deleted or re-keyed now, so the check needs no
lock, only the read:

* ``accounts`` and ``units`` refuse DELETE and TRUNCATE, and an account its id (its kind, unit
  and customer were immutable already); ``units`` refuses a change of name;
* ``entries`` (account, unit) and (transaction) are checked by the entries' statement trigger,
  which already joined the inserted rows to their accounts to move the cached balances: one
  statement per INSERT, whatever its number of rows, instead of two foreign-key queries per
  entry, each locking a row. A missing account, an account of another unit or a missing
  transaction fails the INSERT with ``foreign_key_violation``, as the foreign keys did;
* ``transactions.unit`` is checked by the balanced-entries trigger, deferred to commit like the
  balance check it joins: an unknown unit fails the COMMIT, and nothing is written.

``transactions`` rows were immutable already (no UPDATE, DELETE or TRUNCATE), so an entry's
transaction cannot disappear either. The foreign keys to a customer stay: a writer holds its
customer's row locked already, and a lock it holds costs nothing more to take again.

``ix_transactions_customer_kind_history`` leaves charges out, as on SQLite since migration 0028
(``WHERE kind <> 'charge'``): history pages of the rarer kinds still read one index range per
kind, and a page of charges walks the history index (customer, unit, id), where nearly every row
is a charge. A charge writes four index entries on ``transactions`` instead of five: the key (the
idempotency check), the history (history pages), the usage index (usage sums of the partial
hours at a range's edges, and holds' reserves) and the primary key; the others are partial and
a plain charge skips them.

SQLite is untouched: its foreign keys take no locks.

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

_ENTRIES_APPLY = """CREATE OR REPLACE FUNCTION creditkit_entries_apply() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        orphan record;
    BEGIN
        -- The entries' references, read without locks: accounts and transactions are never
        -- deleted or re-keyed (migration 0029).
        SELECT i.transaction_id, i.account_id, i.unit, t.id IS NULL AS no_transaction
            INTO orphan
            FROM inserted i
            LEFT JOIN accounts a ON a.id = i.account_id AND a.unit = i.unit
            LEFT JOIN transactions t ON t.id = i.transaction_id
            WHERE a.id IS NULL OR t.id IS NULL
            LIMIT 1;
        IF FOUND AND orphan.no_transaction THEN
            RAISE EXCEPTION 'creditkit: an entry names transaction %, which does not exist',
                orphan.transaction_id
                USING ERRCODE = 'foreign_key_violation', TABLE = 'entries';
        ELSIF FOUND THEN
            RAISE EXCEPTION 'creditkit: an entry of transaction % names account % in unit %,'
                ' and there is no such account in that unit',
                orphan.transaction_id, orphan.account_id, orphan.unit
                USING ERRCODE = 'foreign_key_violation', TABLE = 'entries';
        END IF;
        UPDATE accounts a SET balance = a.balance + inserted_sum.amount
        FROM (SELECT account_id, sum(amount)::bigint AS amount FROM inserted
            GROUP BY account_id) inserted_sum
        WHERE a.id = inserted_sum.account_id AND a.balance IS NOT NULL;
        RETURN NULL;
    END $$"""

_ENTRIES_APPLY_BEFORE = """CREATE OR REPLACE FUNCTION creditkit_entries_apply()
    RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE accounts a SET balance = a.balance + inserted_sum.amount
        FROM (SELECT account_id, sum(amount)::bigint AS amount FROM inserted
            GROUP BY account_id) inserted_sum
        WHERE a.id = inserted_sum.account_id AND a.balance IS NOT NULL;
        RETURN NULL;
    END $$"""

_TRANSACTION_BALANCED = """CREATE OR REPLACE FUNCTION creditkit_transaction_balanced()
    RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        unbalanced record;
    BEGIN
        -- Units are never deleted or renamed (migration 0029): read without a lock.
        PERFORM FROM units u WHERE u.name = NEW.unit;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'creditkit: transaction % is in unit %, which does not exist',
                NEW.id, NEW.unit
                USING ERRCODE = 'foreign_key_violation', TABLE = 'transactions';
        END IF;
        SELECT e.unit, sum(e.amount) AS total INTO unbalanced FROM entries e
        WHERE e.transaction_id = NEW.id GROUP BY e.unit HAVING sum(e.amount) <> 0 LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'creditkit: transaction % is unbalanced in unit %: entries sum to %',
                NEW.id, unbalanced.unit, unbalanced.total
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END $$"""

_TRANSACTION_BALANCED_BEFORE = """CREATE OR REPLACE FUNCTION creditkit_transaction_balanced()
    RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        unbalanced record;
    BEGIN
        SELECT e.unit, sum(e.amount) AS total INTO unbalanced FROM entries e
        WHERE e.transaction_id = NEW.id GROUP BY e.unit HAVING sum(e.amount) <> 0 LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'creditkit: transaction % is unbalanced in unit %: entries sum to %',
                NEW.id, unbalanced.unit, unbalanced.total
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END $$"""

_PERMANENT_ROWS = [
    """CREATE FUNCTION creditkit_permanent() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'creditkit: % rows are permanent: they cannot be deleted or re-keyed',
            TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END $$""",
    """CREATE TRIGGER accounts_permanent BEFORE DELETE ON accounts
        FOR EACH ROW EXECUTE FUNCTION creditkit_permanent()""",
    """CREATE TRIGGER accounts_rekey BEFORE UPDATE OF id ON accounts
        FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id)
        EXECUTE FUNCTION creditkit_permanent()""",
    """CREATE TRIGGER accounts_no_truncate BEFORE TRUNCATE ON accounts
        FOR EACH STATEMENT EXECUTE FUNCTION creditkit_permanent()""",
    """CREATE TRIGGER units_permanent BEFORE DELETE ON units
        FOR EACH ROW EXECUTE FUNCTION creditkit_permanent()""",
    """CREATE TRIGGER units_rekey BEFORE UPDATE OF name ON units
        FOR EACH ROW WHEN (NEW.name IS DISTINCT FROM OLD.name)
        EXECUTE FUNCTION creditkit_permanent()""",
    """CREATE TRIGGER units_no_truncate BEFORE TRUNCATE ON units
        FOR EACH STATEMENT EXECUTE FUNCTION creditkit_permanent()""",
]

_PERMANENT_ROWS_DROP = [
    "DROP TRIGGER accounts_permanent ON accounts",
    "DROP TRIGGER accounts_rekey ON accounts",
    "DROP TRIGGER accounts_no_truncate ON accounts",
    "DROP TRIGGER units_permanent ON units",
    "DROP TRIGGER units_rekey ON units",
    "DROP TRIGGER units_no_truncate ON units",
    "DROP FUNCTION creditkit_permanent()",
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _PERMANENT_ROWS:
        op.execute(statement)
    op.execute(_ENTRIES_APPLY)
    op.execute(_TRANSACTION_BALANCED)
    op.drop_constraint("fk_entries_account_id_unit", "entries", type_="foreignkey")
    op.drop_constraint("fk_entries_transaction_id", "entries", type_="foreignkey")
    op.drop_constraint("fk_transactions_unit", "transactions", type_="foreignkey")
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
    op.create_foreign_key("fk_transactions_unit", "transactions", "units", ["unit"], ["name"])
    op.create_foreign_key(
        "fk_entries_transaction_id", "entries", "transactions", ["transaction_id"], ["id"]
    )
    op.create_foreign_key(
        "fk_entries_account_id_unit", "entries", "accounts", ["account_id", "unit"], ["id", "unit"]
    )
    op.execute(_TRANSACTION_BALANCED_BEFORE)
    op.execute(_ENTRIES_APPLY_BEFORE)
    for statement in _PERMANENT_ROWS_DROP:
        op.execute(statement)
