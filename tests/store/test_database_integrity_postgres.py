"""PostgreSQL itself enforces the ledger's rules, even against raw SQL that bypasses creditkit.

Each test opens a CreditKit (which migrates the database and writes a few grants through the
public API), then talks to the database directly with psycopg, as a careless script or a
compromised service would, and checks that the database refuses to break the double entry:

* a transaction whose entries do not sum to zero per unit fails at COMMIT (deferred trigger);
* an entry that would take a grant or hold below zero fails (accounts' CHECK), writing nothing;
* entries and transactions cannot be updated, deleted or truncated;
* a cached balance cannot be set directly, only moved by entries;
* an entry in a unit other than its account's is refused (composite foreign key);
* a balanced raw transaction is accepted and moves the cached balance, and ``audit()`` agrees;
* the balance trigger runs once per statement: many entries in one INSERT move each account by
  their sum, and an overdraft among them fails the whole statement.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import errors

from creditkit import CreditKit, ManualClock

pytestmark = pytest.mark.postgres

GRANTED = 100
HELD = 30


@dataclass(frozen=True)
class Ledger:
    """A small ledger written through the API, and the ids raw SQL needs."""

    ck: CreditKit
    url: str
    customer_id: int
    other_customer_id: int
    grant_id: int
    hold_id: int
    issuance_id: int
    usd_issuance_id: int


@pytest.fixture
def ledger(postgres_url: str) -> Iterator[Ledger]:
    ck = CreditKit(postgres_url, clock=ManualClock(), units={"credits": 0, "usd": 2})
    try:
        ck.create_customer("u1")
        ck.create_customer("u2")
        grant = ck.grant("u1", GRANTED, idempotency_key="purchase")
        hold = ck.reserve("u1", HELD, idempotency_key="reserve")
        ck.charge("u1", 5, idempotency_key="charge")
        with psycopg.connect(postgres_url) as connection:
            ids: dict[str, int] = dict(
                connection.execute(
                    "SELECT external_id, id FROM customers WHERE external_id IN ('u1', 'u2')"
                ).fetchall()
            )
            system: dict[str, int] = dict(
                connection.execute(
                    "SELECT unit, id FROM accounts WHERE kind = 'issuance'"
                ).fetchall()
            )
        yield Ledger(
            ck=ck,
            url=postgres_url,
            customer_id=ids["u1"],
            other_customer_id=ids["u2"],
            grant_id=grant.id,
            hold_id=hold.id,
            issuance_id=system["credits"],
            usd_issuance_id=system["usd"],
        )
    finally:
        ck.close()


def _state(url: str) -> tuple[Any, ...]:
    """Everything a raw write could change: row counts and every cached balance."""
    with psycopg.connect(url) as connection:
        counts = connection.execute(
            "SELECT (SELECT COUNT(*) FROM transactions), (SELECT COUNT(*) FROM entries),"
            " (SELECT COUNT(*) FROM accounts), (SELECT COALESCE(SUM(amount), 0) FROM entries)"
        ).fetchone()
        balances = connection.execute("SELECT id, balance FROM accounts ORDER BY id").fetchall()
    return (counts, tuple(balances))


def _insert_transaction(
    connection: psycopg.Connection[Any], ledger: Ledger, key: str, amount: int
) -> int:
    row = connection.execute(
        "INSERT INTO transactions (idempotency_key, kind, status, customer_id, unit, amount,"
        " request, metadata, created_at)"
        " VALUES (%s, 'grant', 'applied', %s, 'credits', %s, '{}', '{}'::jsonb, now())"
        " RETURNING id",
        (key, ledger.customer_id, amount),
    ).fetchone()
    assert row is not None
    transaction_id: int = row[0]
    return transaction_id


def _insert_entry(
    connection: psycopg.Connection[Any], transaction_id: int, account: int, unit: str, amount: int
) -> None:
    connection.execute(
        "INSERT INTO entries (transaction_id, account_id, unit, amount) VALUES (%s, %s, %s, %s)",
        (transaction_id, account, unit, amount),
    )


def _balance(url: str, account: int) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT balance FROM accounts WHERE id = %s", (account,)
        ).fetchone()
    assert row is not None
    balance: int = row[0]
    return balance


def _assert_audit_ok(ledger: Ledger) -> None:
    report = ledger.ck.audit()
    assert report.ok, report.problems


def test_the_fixture_ledger_is_sound(ledger: Ledger) -> None:
    assert _balance(ledger.url, ledger.grant_id) == GRANTED - HELD - 5
    assert _balance(ledger.url, ledger.hold_id) == HELD
    _assert_audit_ok(ledger)


@pytest.mark.parametrize("shape", ["one_entry", "balanced_across_units_only"])
def test_an_unbalanced_transaction_fails_at_commit(ledger: Ledger, shape: str) -> None:
    before = _state(ledger.url)
    with psycopg.connect(ledger.url) as connection:
        transaction_id = _insert_transaction(connection, ledger, "raw-unbalanced", 5)
        # Accepted for now: the balance check is deferred to COMMIT, so that a transaction may
        # write its entries one at a time.
        _insert_entry(connection, transaction_id, ledger.grant_id, "credits", 5)
        if shape == "balanced_across_units_only":
            # Sums to zero overall, but +5 credits and -5 usd are not the same thing.
            _insert_entry(connection, transaction_id, ledger.usd_issuance_id, "usd", -5)
        with pytest.raises(errors.CheckViolation, match="unbalanced"):
            connection.commit()
    assert _state(ledger.url) == before
    _assert_audit_ok(ledger)


@pytest.mark.parametrize("account", ["grant", "hold"])
def test_a_raw_entry_cannot_overdraw_an_account(ledger: Ledger, account: str) -> None:
    before = _state(ledger.url)
    account_id = ledger.grant_id if account == "grant" else ledger.hold_id
    overdraft = _balance(ledger.url, account_id) + 1
    with psycopg.connect(ledger.url) as connection:
        transaction_id = _insert_transaction(connection, ledger, "raw-overdraft", overdraft)
        # Balanced (the issuance account takes the other side), so only the CHECK refuses it.
        with pytest.raises(errors.CheckViolation, match="ck_accounts_kind_shape"):
            _insert_entry(connection, transaction_id, account_id, "credits", -overdraft)
        # Even a client that insists on committing what it has gets nothing half-written.
        connection.commit()
    assert _state(ledger.url) == before
    _assert_audit_ok(ledger)


IMMUTABLE_STATEMENTS = [
    "UPDATE entries SET amount = amount WHERE id = (SELECT MIN(id) FROM entries)",
    "UPDATE entries SET amount = -amount WHERE id = (SELECT MIN(id) FROM entries)",
    "UPDATE entries SET account_id = account_id WHERE id = (SELECT MAX(id) FROM entries)",
    "DELETE FROM entries WHERE id = (SELECT MAX(id) FROM entries)",
    "DELETE FROM entries",
    "TRUNCATE entries",
    "UPDATE transactions SET amount = 0 WHERE id = (SELECT MIN(id) FROM transactions)",
    "UPDATE transactions SET idempotency_key = 'other' WHERE idempotency_key = 'charge'",
    "DELETE FROM transactions WHERE idempotency_key = 'charge'",
    "TRUNCATE transactions CASCADE",
]


@pytest.mark.parametrize("statement", IMMUTABLE_STATEMENTS)
def test_entries_and_transactions_cannot_be_rewritten(ledger: Ledger, statement: str) -> None:
    before = _state(ledger.url)
    with psycopg.connect(ledger.url) as connection:
        with pytest.raises(errors.RestrictViolation, match="immutable"):
            connection.execute(statement)
        connection.rollback()
    assert _state(ledger.url) == before
    _assert_audit_ok(ledger)


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("balance = balance + 100", "balance changes only through entries"),
        ("balance = 0", "balance changes only through entries"),
        ("kind = 'hold'", "identity is immutable"),
        ("unit = 'usd'", "identity is immutable"),
        ("customer_id = %(other)s", "identity is immutable"),
    ],
)
def test_an_account_cannot_be_edited_directly(
    ledger: Ledger, assignment: str, message: str
) -> None:
    before = _state(ledger.url)
    with psycopg.connect(ledger.url) as connection:
        with pytest.raises(errors.RestrictViolation, match=message):
            connection.execute(
                f"UPDATE accounts SET {assignment} WHERE id = %(grant)s",
                {"grant": ledger.grant_id, "other": ledger.other_customer_id},
            )
        connection.rollback()
    assert _state(ledger.url) == before
    _assert_audit_ok(ledger)


def test_an_entry_in_another_unit_than_its_account_is_refused(ledger: Ledger) -> None:
    before = _state(ledger.url)
    with psycopg.connect(ledger.url) as connection:
        transaction_id = _insert_transaction(connection, ledger, "raw-wrong-unit", 5)
        # Balanced in usd, so only the (account, unit) foreign key refuses it: the grant holds
        # credits, not dollars.
        _insert_entry(connection, transaction_id, ledger.usd_issuance_id, "usd", -5)
        with pytest.raises(errors.ForeignKeyViolation, match="fk_entries_account_id_unit"):
            _insert_entry(connection, transaction_id, ledger.grant_id, "usd", 5)
        connection.rollback()
    assert _state(ledger.url) == before
    _assert_audit_ok(ledger)


def test_a_balanced_raw_transaction_moves_the_cached_balance(ledger: Ledger) -> None:
    grant_before = _balance(ledger.url, ledger.grant_id)
    available_before = ledger.ck.balance("u1").available
    with psycopg.connect(ledger.url) as connection:
        transaction_id = _insert_transaction(connection, ledger, "raw-top-up", 10)
        _insert_entry(connection, transaction_id, ledger.issuance_id, "credits", -10)
        _insert_entry(connection, transaction_id, ledger.grant_id, "credits", 10)
        # The trigger moved the cached balance at once, inside the transaction.
        row = connection.execute(
            "SELECT balance FROM accounts WHERE id = %s", (ledger.grant_id,)
        ).fetchone()
        assert row == (grant_before + 10,)
        connection.commit()
    assert _balance(ledger.url, ledger.grant_id) == grant_before + 10
    assert ledger.ck.balance("u1").available == available_before + 10
    with psycopg.connect(ledger.url) as connection:
        row = connection.execute(
            "SELECT COALESCE(SUM(amount), 0) FROM entries WHERE account_id = %s",
            (ledger.grant_id,),
        ).fetchone()
    assert row == (grant_before + 10,)
    _assert_audit_ok(ledger)


def _insert_entries(connection: psycopg.Connection[Any], rows: list[tuple[int, int, int]]) -> None:
    """(transaction id, account, amount) rows in credits, in one INSERT statement."""
    connection.execute(
        "INSERT INTO entries (transaction_id, account_id, unit, amount) VALUES "
        + ", ".join(["(%s, %s, 'credits', %s)"] * len(rows)),
        tuple(value for row in rows for value in row),
    )


def test_one_statement_of_many_entries_moves_each_account_by_its_sum(ledger: Ledger) -> None:
    """The balance trigger runs once per statement: two transactions, three entries on the
    grant among them, written in one INSERT, move the grant by their sum."""
    grant_before = _balance(ledger.url, ledger.grant_id)
    with psycopg.connect(ledger.url) as connection:
        first = _insert_transaction(connection, ledger, "raw-many-1", 10)
        second = _insert_transaction(connection, ledger, "raw-many-2", 3)
        _insert_entries(
            connection,
            [
                (first, ledger.issuance_id, -10),
                (first, ledger.grant_id, 4),
                (first, ledger.grant_id, 6),
                (second, ledger.grant_id, -3),
                (second, ledger.issuance_id, 3),
            ],
        )
        connection.commit()
    assert _balance(ledger.url, ledger.grant_id) == grant_before + 7
    _assert_audit_ok(ledger)


def test_an_overdraft_among_many_entries_fails_the_whole_statement(ledger: Ledger) -> None:
    """Several entries on the grant in one statement that together take it below zero are
    refused, and nothing of the statement is kept."""
    before = _state(ledger.url)
    grant_balance = _balance(ledger.url, ledger.grant_id)
    with psycopg.connect(ledger.url) as connection:
        first = _insert_transaction(connection, ledger, "raw-many-over-1", grant_balance)
        second = _insert_transaction(connection, ledger, "raw-many-over-2", 1)
        with pytest.raises(errors.CheckViolation, match="ck_accounts_kind_shape"):
            _insert_entries(
                connection,
                [
                    (first, ledger.grant_id, -grant_balance),
                    (first, ledger.issuance_id, grant_balance),
                    (second, ledger.grant_id, -1),
                    (second, ledger.issuance_id, 1),
                ],
            )
        connection.rollback()
    assert _state(ledger.url) == before
    _assert_audit_ok(ledger)
