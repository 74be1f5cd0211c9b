"""SQLite enforces what it can of the ledger's rules, even against raw SQL.

Each test writes a small ledger through a CreditKit on a SQLite file, then talks to the file
directly with the standard ``sqlite3`` module. SQLite refuses to update or delete entries and
transactions, refuses an entry that would take a grant or hold below zero, and keeps cached
balances from the entries. What SQLite cannot refuse (an unbalanced transaction, a cached
balance set by hand: it has no deferred constraints and no trigger depth) ``audit()`` reports.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from creditkit import CreditKit, ManualClock
from creditkit.store.flavor import ENTRY_IDS_PER_TRANSACTION

GRANTED = 100
HELD = 30
CHARGED = 5


@dataclass(frozen=True)
class Ledger:
    ck: CreditKit
    path: Path
    customer_id: int
    grant_id: int
    hold_id: int
    issuance_id: int
    usd_issuance_id: int


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    path = tmp_path / "ledger.db"
    ck = CreditKit(f"sqlite:///{path}", clock=ManualClock(), units={"credits": 0, "usd": 2})
    try:
        ck.create_customer("u1")
        grant = ck.grant("u1", GRANTED, idempotency_key="purchase")
        hold = ck.reserve("u1", HELD, idempotency_key="reserve")
        ck.charge("u1", CHARGED, idempotency_key="charge")
        with _connect(path) as connection:
            customer = connection.execute("SELECT id FROM customers WHERE external_id = 'u1'")
            issuance: dict[str, int] = dict(
                connection.execute("SELECT unit, id FROM accounts WHERE kind = 'issuance'")
            )
            customer_id: int = customer.fetchone()[0]
        yield Ledger(
            ck=ck,
            path=path,
            customer_id=customer_id,
            grant_id=grant.id,
            hold_id=hold.id,
            issuance_id=issuance["credits"],
            usd_issuance_id=issuance["usd"],
        )
    finally:
        ck.close()


class _Connection:
    """A raw sqlite3 connection in explicit-transaction mode, with foreign keys on (SQLite
    enforces them only on connections that ask, as creditkit's own do)."""

    def __init__(self, path: Path) -> None:
        self.raw = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.raw.execute("PRAGMA foreign_keys=ON")
        self.raw.execute("BEGIN IMMEDIATE")

    def __enter__(self) -> sqlite3.Connection:
        return self.raw

    def __exit__(self, *exc: object) -> None:
        if self.raw.in_transaction:
            self.raw.execute("ROLLBACK")
        self.raw.close()


def _connect(path: Path) -> _Connection:
    return _Connection(path)


def _state(path: Path) -> tuple[Any, ...]:
    with _connect(path) as connection:
        counts = connection.execute(
            "SELECT (SELECT COUNT(*) FROM transactions), (SELECT COUNT(*) FROM entries),"
            " (SELECT COUNT(*) FROM accounts), (SELECT COALESCE(SUM(amount), 0) FROM entries)"
        ).fetchone()
        balances = connection.execute("SELECT id, balance FROM accounts ORDER BY id").fetchall()
    return (counts, tuple(balances))


def _balance(path: Path, account: int) -> int:
    with _connect(path) as connection:
        balance: int = connection.execute(
            "SELECT balance FROM accounts WHERE id = ?", (account,)
        ).fetchone()[0]
    return balance


def _insert_transaction(
    connection: sqlite3.Connection, ledger: Ledger, key: str, amount: int
) -> int:
    cursor = connection.execute(
        "INSERT INTO transactions (idempotency_key, kind, status, customer_id, unit, amount,"
        " request, metadata, created_at)"
        " VALUES (?, 'grant', 'applied', ?, 'credits', ?, '{}', '{}', 0)",
        (key, ledger.customer_id, amount),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _insert_entry(
    connection: sqlite3.Connection,
    transaction_id: int,
    account: int,
    unit: str,
    amount: int,
    entry_id: int | None = None,
) -> None:
    """An entry; its id the next of its transaction's unless ``entry_id`` says (SQLite's
    entries are clustered by transaction and give no id of their own)."""
    if entry_id is None:
        entry_id = connection.execute(
            "SELECT COALESCE(MAX(id) + 1, ?1 * ?2) FROM entries WHERE transaction_id = ?1",
            (transaction_id, ENTRY_IDS_PER_TRANSACTION),
        ).fetchone()[0]
    connection.execute(
        "INSERT INTO entries (id, transaction_id, account_id, unit, amount) VALUES (?, ?, ?, ?, ?)",
        (entry_id, transaction_id, account, unit, amount),
    )


def test_the_fixture_ledger_is_sound(ledger: Ledger) -> None:
    assert _balance(ledger.path, ledger.grant_id) == GRANTED - HELD - CHARGED
    assert _balance(ledger.path, ledger.hold_id) == HELD
    assert ledger.ck.audit().ok


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE entries SET amount = amount WHERE id = (SELECT MIN(id) FROM entries)",
        "UPDATE entries SET amount = -amount WHERE id = (SELECT MIN(id) FROM entries)",
        "DELETE FROM entries WHERE id = (SELECT MAX(id) FROM entries)",
        # SQLite's TRUNCATE: a DELETE without WHERE (its truncate shortcut skips no trigger).
        "DELETE FROM entries",
        "UPDATE transactions SET amount = 0 WHERE id = (SELECT MIN(id) FROM transactions)",
        "UPDATE transactions SET idempotency_key = 'other' WHERE idempotency_key = 'charge'",
        "DELETE FROM transactions WHERE idempotency_key = 'charge'",
        "DELETE FROM transactions",
    ],
)
def test_entries_and_transactions_cannot_be_rewritten(ledger: Ledger, statement: str) -> None:
    before = _state(ledger.path)
    with _connect(ledger.path) as connection:
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            connection.execute(statement)
        connection.execute("COMMIT")
    assert _state(ledger.path) == before
    assert ledger.ck.audit().ok


@pytest.mark.parametrize("account", ["grant", "hold"])
def test_a_raw_entry_cannot_overdraw_an_account(ledger: Ledger, account: str) -> None:
    before = _state(ledger.path)
    account_id = ledger.grant_id if account == "grant" else ledger.hold_id
    overdraft = _balance(ledger.path, account_id) + 1
    with _connect(ledger.path) as connection:
        transaction_id = _insert_transaction(connection, ledger, "raw-overdraft", overdraft)
        _insert_entry(connection, transaction_id, ledger.issuance_id, "credits", overdraft)
        with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
            _insert_entry(connection, transaction_id, account_id, "credits", -overdraft)
        # SQLite undoes the failed statement (the entry and the trigger's balance update) but
        # keeps the transaction open: the client must roll back, as creditkit does.
        assert connection.in_transaction
        assert connection.execute(
            "SELECT balance FROM accounts WHERE id = ?", (account_id,)
        ).fetchone() == (overdraft - 1,)
        connection.execute("ROLLBACK")
    assert _state(ledger.path) == before
    assert ledger.ck.audit().ok


def test_an_entry_in_another_unit_than_its_account_is_refused(ledger: Ledger) -> None:
    before = _state(ledger.path)
    with _connect(ledger.path) as connection:
        transaction_id = _insert_transaction(connection, ledger, "raw-wrong-unit", 5)
        _insert_entry(connection, transaction_id, ledger.usd_issuance_id, "usd", -5)
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY constraint failed"):
            _insert_entry(connection, transaction_id, ledger.grant_id, "usd", 5)
    assert _state(ledger.path) == before
    assert ledger.ck.audit().ok


def test_a_balanced_raw_transaction_moves_the_cached_balance(ledger: Ledger) -> None:
    grant_before = _balance(ledger.path, ledger.grant_id)
    available_before = ledger.ck.balance("u1").available
    with _connect(ledger.path) as connection:
        transaction_id = _insert_transaction(connection, ledger, "raw-top-up", 10)
        _insert_entry(connection, transaction_id, ledger.issuance_id, "credits", -10)
        _insert_entry(connection, transaction_id, ledger.grant_id, "credits", 10)
        connection.execute("COMMIT")
    assert _balance(ledger.path, ledger.grant_id) == grant_before + 10
    assert ledger.ck.balance("u1").available == available_before + 10
    assert ledger.ck.audit().ok


@pytest.mark.parametrize(
    "entry_id",
    [
        pytest.param(lambda t: (t + 1) * ENTRY_IDS_PER_TRANSACTION, id="another transaction's"),
        pytest.param(lambda t: t * ENTRY_IDS_PER_TRANSACTION - 1, id="below its transaction's"),
        pytest.param(lambda t: t, id="a rowid"),
    ],
)
def test_an_entry_id_not_of_its_transaction_is_refused(
    ledger: Ledger, entry_id: Callable[[int], int]
) -> None:
    # Entries are clustered by (transaction_id, id): the CHECK keeps each id within its
    # transaction's range, so ids stay unique across the table and in insert order.
    before = _state(ledger.path)
    with _connect(ledger.path) as connection:
        transaction_id = _insert_transaction(connection, ledger, "raw-wrong-id", 5)
        with pytest.raises(sqlite3.IntegrityError, match="id_of_transaction"):
            _insert_entry(
                connection, transaction_id, ledger.grant_id, "credits", 5,
                entry_id(transaction_id),
            )  # fmt: skip
        connection.execute("ROLLBACK")
    assert _state(ledger.path) == before
    assert ledger.ck.audit().ok


def test_an_entry_id_given_twice_is_refused(ledger: Ledger) -> None:
    before = _state(ledger.path)
    with _connect(ledger.path) as connection:
        transaction_id = _insert_transaction(connection, ledger, "raw-twice", 5)
        first = transaction_id * ENTRY_IDS_PER_TRANSACTION
        _insert_entry(connection, transaction_id, ledger.issuance_id, "credits", -5, first)
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint failed"):
            _insert_entry(connection, transaction_id, ledger.grant_id, "credits", 5, first)
        connection.execute("ROLLBACK")
    assert _state(ledger.path) == before


def test_entries_are_clustered_by_transaction(ledger: Ledger) -> None:
    # A transaction's entries are read by its primary key (no index of their own), in id
    # order, which is the order they were written in.
    with _connect(ledger.path) as connection:
        plan = connection.execute(
            "EXPLAIN QUERY PLAN SELECT id, amount FROM entries WHERE transaction_id = ?"
            " ORDER BY id",
            (1,),
        ).fetchall()
        ids = [row[0] for row in connection.execute("SELECT id FROM entries ORDER BY id")]
        by_transaction = [
            row[0] for row in connection.execute("SELECT id FROM entries ORDER BY transaction_id")
        ]
        connection.execute("ROLLBACK")
    assert "USING PRIMARY KEY (transaction_id=?)" in plan[0][3]
    assert ids == by_transaction
    assert len(ids) > 2


# -- what SQLite cannot refuse, audit() reports --------------------------------------------------


def test_audit_reports_an_unbalanced_raw_transaction(ledger: Ledger) -> None:
    with _connect(ledger.path) as connection:
        transaction_id = _insert_transaction(connection, ledger, "raw-unbalanced", 5)
        _insert_entry(connection, transaction_id, ledger.grant_id, "credits", 5)
        connection.execute("COMMIT")
    report = ledger.ck.audit()
    assert not report.ok
    assert {problem.rule for problem in report.problems} >= {"balanced", "unit_totals"}


def test_audit_reports_a_cached_balance_set_by_hand(ledger: Ledger) -> None:
    with _connect(ledger.path) as connection:
        connection.execute(
            "UPDATE accounts SET balance = balance + 100 WHERE id = ?", (ledger.grant_id,)
        )
        connection.execute("COMMIT")
    report = ledger.ck.audit()
    assert {problem.rule for problem in report.problems} == {"cached_balance"}
