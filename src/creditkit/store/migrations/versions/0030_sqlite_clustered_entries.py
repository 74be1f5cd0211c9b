"""SQLite: ``entries`` clustered by transaction, so that a charge's entries and the way to find
them are one b-tree page instead of two.

Before, ``entries`` was a rowid table (its rows appended in id order) with
``ix_entries_transaction_id`` beside it: every charge's commit wrote a page of each. Now it is a
``WITHOUT ROWID`` table whose primary key is ``(transaction_id, id)``: a transaction's entries
are found by the key's first column, and the index is gone. A lone charge's commit writes 7 WAL
frames instead of 8.

A ``WITHOUT ROWID`` table gives no automatic id, so an entry's id is given by its writer:
``transaction_id * ENTRY_IDS_PER_TRANSACTION + leg`` (``store/flavor.py``). The CHECK
``id_of_transaction`` makes the database refuse any other id, which with the primary key keeps
ids unique across the table and in insert order (transaction ids grow with every insert on
SQLite's single writer, and legs within one), as the rowid did. The rows already there are
renumbered the same way, in their order; nothing refers to an entry's id. Foreign keys, the
CHECK on the amount and the triggers (the balance kept by ``entries_apply``, no update, no
delete) are the same as before. PostgreSQL is not changed.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0030"
down_revision: str | Sequence[str] | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Entries one transaction may have; ``store.flavor.ENTRY_IDS_PER_TRANSACTION`` (a migration
#: keeps its own copy: the constant may change for later rows, never for these).
_PER_TRANSACTION = 1 << 20

_TRIGGERS = [
    """CREATE TRIGGER entries_apply AFTER INSERT ON entries BEGIN
        UPDATE accounts SET balance = balance + NEW.amount
        WHERE id = NEW.account_id AND balance IS NOT NULL;
    END""",
    """CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries BEGIN
        SELECT RAISE(ABORT, 'creditkit: ledger entries are immutable');
    END""",
    """CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries BEGIN
        SELECT RAISE(ABORT, 'creditkit: ledger entries are immutable');
    END""",
]

_CONSTRAINTS = (
    " CONSTRAINT ck_entries_amount_not_zero CHECK (amount <> 0),"
    " CONSTRAINT fk_entries_account_id_unit FOREIGN KEY(account_id, unit)"
    " REFERENCES accounts (id, unit),"
    " CONSTRAINT fk_entries_transaction_id FOREIGN KEY(transaction_id)"
    " REFERENCES transactions (id)"
)

_CLUSTERED = (
    "CREATE TABLE entries_new (id INTEGER NOT NULL, transaction_id INTEGER NOT NULL,"
    " account_id INTEGER NOT NULL, unit VARCHAR(64) NOT NULL, amount BIGINT NOT NULL,"
    " CONSTRAINT pk_entries PRIMARY KEY (transaction_id, id),"
    f" CONSTRAINT ck_entries_id_of_transaction CHECK (id >= transaction_id * {_PER_TRANSACTION}"
    f" AND id < (transaction_id + 1) * {_PER_TRANSACTION}),"
    f"{_CONSTRAINTS}) WITHOUT ROWID"
)

_ROWID = (
    "CREATE TABLE entries_new (id INTEGER NOT NULL, transaction_id INTEGER NOT NULL,"
    " account_id INTEGER NOT NULL, unit VARCHAR(64) NOT NULL, amount BIGINT NOT NULL,"
    f" CONSTRAINT pk_entries PRIMARY KEY (id),{_CONSTRAINTS})"
)


def _rebuild(create: str, ids: str) -> None:
    """``entries`` replaced by the table ``create`` makes, its rows copied with the ids
    ``ids`` gives; the triggers are made after the copy, which must not add to any balance."""
    op.execute(create)
    op.execute(
        f"INSERT INTO entries_new (id, transaction_id, account_id, unit, amount)"
        f" SELECT {ids}, transaction_id, account_id, unit, amount FROM entries ORDER BY id"
    )
    # DROP TABLE drops the table's triggers and index; its implicit delete fires no trigger.
    op.execute("DROP TABLE entries")
    op.execute("ALTER TABLE entries_new RENAME TO entries")
    for statement in _TRIGGERS:
        op.execute(statement)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _rebuild(
        _CLUSTERED,
        f"transaction_id * {_PER_TRANSACTION}"
        " + ROW_NUMBER() OVER (PARTITION BY transaction_id ORDER BY id) - 1",
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _rebuild(_ROWID, "id")
    op.execute("CREATE INDEX ix_entries_transaction_id ON entries (transaction_id)")
