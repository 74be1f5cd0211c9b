"""Group commit: callers' writes that share one transaction each get their own outcome.

Each test puts its callers into one shared transaction in a known order (``OneTransaction``) and
checks what every caller got, what the ledger holds afterwards, and that the audit is clean. The
forced database errors are real: a trigger that refuses one caller's row, on SQLite and on
PostgreSQL, and on PostgreSQL a deferred trigger that fails the shared transaction's commit.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from group_commit_helpers import OneTransaction, writer_of

from creditkit import (
    Charge,
    CreditKit,
    Hold,
    IdempotencyConflict,
    InsufficientCredits,
    ManualClock,
)
from creditkit.ledger.coalescing import _Wake
from creditkit.store.database import DATABASE_ERRORS

POISON = "poison"


@pytest.fixture
def ck(make_kit: Any) -> CreditKit:
    """The suite's ``ck`` (units credits and usd; customers u1, u2, w1), with a writer of one
    lane, so that every caller of a test can share one transaction."""
    kit: CreditKit = make_kit(units={"credits": 0, "usd": 2}, writer_lanes=1)
    kit.create_customer("u1")
    kit.create_customer("u2")
    kit.create_customer("w1", kind="workspace")
    return kit


def stats_delta(ck: CreditKit, before: tuple[int, int]) -> tuple[int, int]:
    stats = ck.group_commit_stats()
    assert stats is not None
    return stats.transactions - before[0], stats.operations - before[1]


def stats_now(ck: CreditKit) -> tuple[int, int]:
    stats = ck.group_commit_stats()
    assert stats is not None
    return stats.transactions, stats.operations


def test_callers_in_one_transaction_each_get_their_own_outcome(ck: CreditKit) -> None:
    ck.grant("u1", 10, idempotency_key="g1")
    ck.grant("u2", 5, idempotency_key="g2")
    first = ck.charge("u1", 1, idempotency_key="c0")
    held = ck.reserve("u2", 2, idempotency_key="r0")
    before = stats_now(ck)
    with OneTransaction(ck) as batch:
        batch.add(lambda: ck.charge("u1", 3, idempotency_key="c1"))
        batch.add(lambda: ck.charge("u1", 1, idempotency_key="c0"))  # a replay
        batch.add(lambda: ck.charge("u1", 2, idempotency_key="c0"))  # a conflict
        batch.add(lambda: ck.reserve("u1", 4, idempotency_key="r1"))
        batch.add(lambda: ck.charge("u1", 5, idempotency_key="c2"))  # refused: 2 left
        batch.add(lambda: ck.commit(held.id, 2, idempotency_key="k1"))
        batch.add(lambda: ck.charge("u2", 3, idempotency_key="c3"))
        batch.add(lambda: ck.charge("u1", 2, idempotency_key="c4"))
    charged, replayed, conflict, reserved, refused, committed, other, last = batch.outcomes
    assert isinstance(charged, Charge) and charged.available_after == 6
    assert replayed == first
    assert isinstance(conflict, IdempotencyConflict) and conflict.field == "amount"
    assert isinstance(reserved, Hold) and reserved.amount == 4
    assert isinstance(refused, InsufficientCredits) and refused.available == 2
    assert isinstance(committed, Charge) and committed.hold_id == held.id
    assert isinstance(other, Charge) and other.available_after == 0
    assert isinstance(last, Charge) and last.available_after == 0
    # The hold's writer went first, then the eight callers, all in one transaction.
    assert stats_delta(ck, before) == (2, 9)
    assert ck.balance("u1").available == 0
    assert ck.balance("u2").available == 0
    # The refusal was recorded under its key: its retry answers the same refusal.
    with pytest.raises(InsufficientCredits):
        ck.charge("u1", 5, idempotency_key="c2")
    assert ck.audit().ok


def test_a_customers_writes_apply_in_the_order_they_arrived(ck: CreditKit) -> None:
    ck.grant("u1", 10, idempotency_key="g1")
    with OneTransaction(ck) as batch:
        for index in range(4):
            batch.add(lambda index=index: ck.charge("u1", 4, idempotency_key=f"c{index}"))
    kinds = [type(outcome).__name__ for outcome in batch.outcomes]
    assert kinds == ["Charge", "Charge", "InsufficientCredits", "InsufficientCredits"]
    assert [o.available_after for o in batch.outcomes[:2]] == [6, 2]


def install_poison(ck: CreditKit) -> None:
    """A trigger that refuses the row of any write whose key starts with ``poison``."""
    with ck.database.engine.begin() as connection:
        if ck.database.dialect == "sqlite":
            connection.execute(
                sa.text(
                    "CREATE TRIGGER poison BEFORE INSERT ON transactions"
                    f" WHEN NEW.idempotency_key LIKE '{POISON}%'"
                    " BEGIN SELECT RAISE(ABORT, 'poisoned by the test'); END"
                )
            )
        else:
            connection.execute(
                sa.text(
                    "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                    f" IF NEW.idempotency_key LIKE '{POISON}%' THEN"
                    " RAISE EXCEPTION 'poisoned by the test'; END IF; RETURN NEW; END $$"
                )
            )
            connection.execute(
                sa.text(
                    "CREATE TRIGGER poison BEFORE INSERT ON transactions"
                    " FOR EACH ROW EXECUTE FUNCTION poison()"
                )
            )


def test_a_database_error_mid_batch_fails_only_its_caller(ck: CreditKit) -> None:
    ck.grant("u1", 20, idempotency_key="g1")
    hold = ck.reserve("u1", 5, idempotency_key="r0")
    install_poison(ck)
    with OneTransaction(ck) as batch:
        batch.add(lambda: ck.charge("u1", 1, idempotency_key="c1"))
        batch.add(lambda: ck.charge("u1", 1, idempotency_key=f"{POISON}-charge"))
        batch.add(lambda: ck.charge("u1", 2, idempotency_key="c2"))
        batch.add(lambda: ck.reserve("u1", 3, idempotency_key=f"{POISON}-reserve"))
        batch.add(lambda: ck.commit(hold.id, 4, idempotency_key="k1"))
        batch.add(lambda: ck.charge("u1", 1, idempotency_key="c3"))
    first, poisoned_charge, second, poisoned_reserve, committed, third = batch.outcomes
    assert isinstance(poisoned_charge, DATABASE_ERRORS)
    assert isinstance(poisoned_reserve, DATABASE_ERRORS)
    assert [type(o) for o in (first, second, committed, third)] == [Charge] * 4
    assert [first.available_after, second.available_after, third.available_after] == [14, 12, 12]
    # What the callers were told is what the ledger holds: 20 - 1 - 2 - 4 - 1.
    assert ck.balance("u1").available == 12
    assert ck.balance("u1").held == 0
    # The poisoned keys stayed free: nothing of theirs was written.
    assert not ck.recorded(f"{POISON}-charge") and not ck.recorded(f"{POISON}-reserve")
    # Each successful caller's key replays its own outcome: exactly once.
    assert ck.charge("u1", 2, idempotency_key="c2") == second
    assert ck.audit().ok


def test_a_database_error_in_a_transaction_of_charges_alone_fails_only_its_caller(
    ck: CreditKit,
) -> None:
    """Charges alone share a transaction without savepoints: one that the database refuses
    rolls it back, and every caller is then run alone with the outcome it would have had."""
    ck.grant("u1", 10, idempotency_key="g1")
    install_poison(ck)
    with OneTransaction(ck) as batch:
        batch.add(lambda: ck.charge("u1", 1, idempotency_key="c1"))
        batch.add(lambda: ck.charge("u1", 1, idempotency_key=f"{POISON}-charge"))
        batch.add(lambda: ck.charge("u1", 2, idempotency_key="c2"))
    first, poisoned, second = batch.outcomes
    assert isinstance(poisoned, DATABASE_ERRORS)
    assert isinstance(first, Charge) and isinstance(second, Charge)
    assert [first.available_after, second.available_after] == [9, 7]
    assert ck.balance("u1").available == 7
    assert not ck.recorded(f"{POISON}-charge")
    assert ck.charge("u1", 2, idempotency_key="c2") == second
    assert ck.audit().ok


@pytest.mark.postgres
def test_a_failed_commit_runs_every_caller_alone(postgres_url: str) -> None:
    """A deferred trigger fails the shared transaction at COMMIT, after every caller's work ran:
    the writer then runs each caller in a transaction of its own, so the others still apply and
    the poisoned caller alone gets the error."""
    ck = CreditKit(postgres_url, clock=ManualClock(), writer_lanes=1)
    try:
        ck.create_customer("u1")
        ck.grant("u1", 10, idempotency_key="g1")
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "CREATE FUNCTION poison_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                f" IF NEW.idempotency_key LIKE '{POISON}%' THEN"
                " RAISE EXCEPTION 'poisoned at commit'; END IF; RETURN NEW; END $$"
            )
            admin.execute(
                "CREATE CONSTRAINT TRIGGER poison_at_commit AFTER INSERT ON transactions"
                " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION poison_at_commit()"
            )
        with OneTransaction(ck) as batch:
            batch.add(lambda: ck.charge("u1", 1, idempotency_key="c1"))
            batch.add(lambda: ck.charge("u1", 1, idempotency_key=f"{POISON}-1"))
            batch.add(lambda: ck.charge("u1", 2, idempotency_key="c2"))
        first, poisoned, second = batch.outcomes
        assert isinstance(poisoned, DATABASE_ERRORS)
        assert isinstance(first, Charge) and isinstance(second, Charge)
        assert ck.balance("u1").available == 7
        assert not ck.recorded(f"{POISON}-1")
        assert ck.audit().ok
    finally:
        ck.close()


def test_a_backlog_of_due_work_keeps_the_callers_order(ck: CreditKit, clock: ManualClock) -> None:
    """u1's 300 timed-out holds are more than one transaction catches up: the shared
    transaction stops at the backlog, commits, and the callers from there on run in the next,
    still in their order."""
    ck.grant("u1", 400, idempotency_key="g1")
    ck.grant("u2", 10, idempotency_key="g2")
    for index in range(300):
        ck.reserve("u1", 1, idempotency_key=f"r{index}", timeout_seconds=60)
    clock.advance(minutes=5)
    before = stats_now(ck)
    with OneTransaction(ck) as batch:
        batch.add(lambda: ck.charge("u2", 4, idempotency_key="c1"))
        batch.add(lambda: ck.charge("u1", 390, idempotency_key="c2"))
        batch.add(lambda: ck.charge("u1", 20, idempotency_key="c3"))
        batch.add(lambda: ck.charge("u2", 6, idempotency_key="c4"))
    first, big, refused, last = batch.outcomes
    assert isinstance(first, Charge) and first.available_after == 6
    # The backlog's holds gave their credits back before u1's charges ran.
    assert isinstance(big, Charge) and big.available_after == 10
    assert isinstance(refused, InsufficientCredits) and refused.available == 10
    assert isinstance(last, Charge) and last.available_after == 0
    transactions, operations = stats_delta(ck, before)
    assert transactions >= 3 and operations == 5, "the backlog split the shared transaction"
    assert ck.balance("u1").held == 0
    assert ck.audit().ok


def test_group_commit_can_be_turned_off(make_kit: object) -> None:
    kit = make_kit(group_commit=False)  # type: ignore[operator]
    kit.create_customer("u9")
    kit.grant("u9", 3, idempotency_key="g")
    assert kit.charge("u9", 1, idempotency_key="c").available_after == 2
    assert kit.group_commit_stats() is None


def test_the_writer_counts_what_it_batched(ck: CreditKit) -> None:
    writer = writer_of(ck)
    ck.grant("u1", 5, idempotency_key="g1")
    before = writer.stats()
    ck.charge("u1", 1, idempotency_key="c1")
    after = writer.stats()
    # An idle writer runs a lone caller at once, in a transaction of its own.
    assert (after.transactions - before.transactions, after.operations - before.operations) == (
        1,
        1,
    )


def test_a_wake_up_set_twice_is_taken_once_and_set_from_another_thread() -> None:
    """The caller's wake-up: unset until set; set twice before a wait is set once; a wait
    that returns True has taken it; and it may be set from a thread other than the waiter's
    (a leader wakes its callers)."""
    wake = _Wake()
    assert not wake.wait(0)
    wake.set()
    wake.set()
    assert wake.wait(0)
    assert not wake.wait(0)
    wake.set()
    wake.clear()
    assert not wake.wait(0)
    setter = threading.Thread(target=wake.set)
    setter.start()
    setter.join()
    assert wake.wait(0)
