"""Concurrency on PostgreSQL: real threads sharing one CreditKit, and separate processes each
with their own, racing on the same customers.

What must hold however the writers interleave: no grant or hold ever goes below zero, every
credit is accounted for exactly (spent + available + held + moved to someone else == granted),
each successful call is exactly one ledger transaction, a deadlock or serialization failure is
retried inside creditkit (a ``LedgerBusy`` reaching the caller fails the test), and ``audit()``
finds nothing wrong afterwards. One test fixes an interleaving instead of racing for it: a
write queued behind another writer's lock must see what that writer committed.

No test sleeps or measures time: threads and processes start together at a barrier, every loop
is bounded, and every wait has a generous timeout that only turns a hang into a failure.
"""

from __future__ import annotations

import multiprocessing
import queue
import random
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any

import psycopg
import pytest

from creditkit import (
    Charge,
    CreditKit,
    CreditKitError,
    InsufficientCredits,
    ManualClock,
)

pytestmark = pytest.mark.postgres

#: Generous bounds that only turn a hang into a failure; no assertion is about time.
WAIT_TIMEOUT_SECONDS = 120

# -- 16 threads, one CreditKit, a random mix of writes ------------------------------------------

THREADS = 16
OPERATIONS_PER_THREAD = 60
SEED = 20_261_121

#: u1's grants: transferable purchases and non-transferable allowances.
PURCHASES = (700, 700, 700)
ALLOWANCES = (500, 500)
GRANTED = sum(PURCHASES) + sum(ALLOWANCES)

#: (operation, weight): most of the traffic spends u1's credits; some moves credits both ways
#: between u1 and u2 (so that transfers lock the pair from both sides) and spends u2's gifts.
OPERATIONS = (
    ("charge_u1", 30),
    ("reserve_commit_u1", 20),
    ("reserve_release_u1", 15),
    ("transfer_u1_u2", 15),
    ("charge_u2", 10),
    ("transfer_u2_u1", 10),
)


@dataclass
class Tally:
    """What one thread saw succeed and be refused; merged after the run."""

    #: (customer, kind) -> successful calls; kinds as in ``transactions.kind``.
    applied: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: (customer, kind) -> calls refused with InsufficientCredits.
    refused: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: customer -> credits spent (amounts of the Charges returned by charge and commit).
    spent: Counter[str] = field(default_factory=Counter)
    #: (from, to) -> credits transferred.
    moved: Counter[tuple[str, str]] = field(default_factory=Counter)

    def merge(self, other: Tally) -> None:
        self.applied.update(other.applied)
        self.refused.update(other.refused)
        self.spent.update(other.spent)
        self.moved.update(other.moved)


def _check_charge(charge: Charge, customer: str, amount: int) -> None:
    assert charge.customer == customer
    assert charge.amount == amount
    assert sum(draw.amount for draw in charge.draws) == amount


def _hammer(
    ck: CreditKit,
    worker: int,
    start: threading.Barrier,
    allowance_ids: frozenset[int],
) -> Tally:
    """One thread's bounded run of random writes. Only InsufficientCredits is expected; any
    other exception (LedgerBusy included) propagates and fails the test."""
    rng = random.Random(SEED + worker)
    names = [name for name, _weight in OPERATIONS]
    weights = [weight for _name, weight in OPERATIONS]
    tally = Tally()
    start.wait(timeout=WAIT_TIMEOUT_SECONDS)
    for step in range(OPERATIONS_PER_THREAD):
        operation = rng.choices(names, weights)[0]
        key = f"w{worker}-op{step}-{operation}"
        try:
            if operation in ("charge_u1", "charge_u2"):
                customer = "u1" if operation == "charge_u1" else "u2"
                amount = rng.randint(1, 20)
                charge = ck.charge(customer, amount, idempotency_key=key)
                _check_charge(charge, customer, amount)
                tally.applied[(customer, "charge")] += 1
                tally.spent[customer] += amount
            elif operation in ("reserve_commit_u1", "reserve_release_u1"):
                amount = rng.randint(1, 30)
                try:
                    hold = ck.reserve("u1", amount, idempotency_key=f"{key}-reserve")
                except InsufficientCredits:
                    tally.refused[("u1", "reserve")] += 1
                    continue
                assert hold.amount == amount
                assert sum(draw.amount for draw in hold.draws) == amount
                tally.applied[("u1", "reserve")] += 1
                if operation == "reserve_commit_u1":
                    used = rng.randint(0, amount)
                    charge = ck.commit(hold.id, used, idempotency_key=f"{key}-commit")
                    _check_charge(charge, "u1", used)
                    assert charge.hold_id == hold.id
                    tally.applied[("u1", "commit")] += 1
                    tally.spent["u1"] += used
                else:
                    released = ck.release(hold.id, idempotency_key=f"{key}-release")
                    assert released.amount == amount
                    tally.applied[("u1", "release")] += 1
            else:
                sender, recipient = ("u1", "u2") if operation == "transfer_u1_u2" else ("u2", "u1")
                amount = rng.randint(1, 15)
                transfer = ck.transfer(sender, recipient, amount, idempotency_key=key)
                assert transfer.amount == amount
                assert sum(draw.amount for draw in transfer.draws) == amount
                # Allowances are not transferable, however the writers interleave.
                assert not {draw.grant_id for draw in transfer.draws} & allowance_ids
                tally.applied[(sender, "transfer")] += 1
                tally.moved[(sender, recipient)] += amount
        except InsufficientCredits as refusal:
            kind = "transfer" if operation.startswith("transfer") else "charge"
            tally.refused[(refusal.customer, kind)] += 1
    return tally


def _connect(url: str) -> psycopg.Connection[Any]:
    connection = psycopg.connect(url)
    connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    return connection


@contextmanager
def _snapshot(connection: psycopg.Connection[Any]) -> Iterator[psycopg.Cursor[Any]]:
    """A raw cursor on one REPEATABLE READ snapshot of the database."""
    try:
        with connection.cursor() as cursor:
            yield cursor
    finally:
        connection.rollback()


@contextmanager
def _snapshot_of(url: str) -> Iterator[psycopg.Cursor[Any]]:
    with _connect(url) as connection, _snapshot(connection) as cursor:
        yield cursor


def _customer_accounts_below_zero(cursor: psycopg.Cursor[Any]) -> list[tuple[Any, ...]]:
    cursor.execute(
        "SELECT id, kind, balance FROM accounts"
        " WHERE kind IN ('grant', 'hold') AND (balance IS NULL OR balance < 0)"
    )
    return cursor.fetchall()


def _scalar(cursor: psycopg.Cursor[Any], query: str, *params: object) -> Any:
    cursor.execute(query, params)
    row = cursor.fetchone()
    assert row is not None
    return row[0]


def _conserved_in_snapshot(cursor: psycopg.Cursor[Any]) -> int:
    """Credits still with customers (grants and holds, from the cached balances) plus credits
    consumed, in one snapshot. Nothing is granted or expires during the race, so this must
    equal GRANTED at every instant."""
    with_customers = _scalar(
        cursor,
        "SELECT COALESCE(SUM(balance), 0) FROM accounts WHERE kind IN ('grant', 'hold')",
    )
    consumed = _scalar(
        cursor,
        "SELECT COALESCE(SUM(e.amount), 0) FROM entries e JOIN accounts a ON a.id = e.account_id"
        " WHERE a.kind = 'consumption'",
    )
    return int(with_customers) + int(consumed)


def _watch(url: str, done: threading.Event, problems: list[str]) -> int:
    """Polls snapshots while the writers run (bounded); returns how many it checked."""
    polls = 0
    with _connect(url) as connection:
        while not done.is_set() and polls < 20_000:
            with _snapshot(connection) as cursor:
                negative = _customer_accounts_below_zero(cursor)
                total = _conserved_in_snapshot(cursor)
            if negative:
                problems.append(f"negative balances mid-race: {negative}")
            if total != GRANTED:
                problems.append(f"mid-race snapshot holds {total} credits, {GRANTED} granted")
            if problems:
                break
            polls += 1
    return polls


def test_threads_hammering_one_customer_keep_the_ledger_exact(postgres_url: str) -> None:
    ck = CreditKit(postgres_url, clock=ManualClock())
    try:
        ck.create_customer("u1")
        ck.create_customer("u2")
        for index, amount in enumerate(PURCHASES):
            ck.grant("u1", amount, idempotency_key=f"purchase-{index}", source="purchase")
        allowance_ids = frozenset(
            ck.grant("u1", amount, idempotency_key=f"allowance-{index}", source="allowance").id
            for index, amount in enumerate(ALLOWANCES)
        )
        assert ck.balance("u1").available == GRANTED

        start = threading.Barrier(THREADS)
        done = threading.Event()
        problems: list[str] = []
        with ThreadPoolExecutor(max_workers=THREADS + 1) as pool:
            watcher = pool.submit(_watch, postgres_url, done, problems)
            workers = [
                pool.submit(_hammer, ck, worker, start, allowance_ids) for worker in range(THREADS)
            ]
            try:
                tallies = [future.result(timeout=WAIT_TIMEOUT_SECONDS) for future in workers]
            finally:
                done.set()
                watcher.result(timeout=WAIT_TIMEOUT_SECONDS)
        assert problems == []

        tally = Tally()
        for one in tallies:
            tally.merge(one)
        calls = sum(tally.applied.values()) + sum(tally.refused.values())
        assert calls == THREADS * OPERATIONS_PER_THREAD + tally.applied[("u1", "reserve")]
        # The run both spent and ran dry, so both paths raced.
        assert tally.applied[("u1", "charge")] > 0
        assert tally.refused[("u1", "charge")] > 0

        u1, u2 = ck.balance("u1"), ck.balance("u2")
        assert u1.held == 0 and u2.held == 0  # every hold was committed or released
        # Every credit accounted for, per customer and in total.
        assert (
            tally.spent["u1"] + u1.available + u1.held + tally.moved[("u1", "u2")]
            == GRANTED + tally.moved[("u2", "u1")]
        )
        assert (
            tally.spent["u2"] + u2.available + u2.held + tally.moved[("u2", "u1")]
            == tally.moved[("u1", "u2")]
        )
        assert (
            sum(tally.spent.values()) + u1.available + u1.held + u2.available + u2.held == GRANTED
        )

        with _snapshot_of(postgres_url) as cursor:
            assert _customer_accounts_below_zero(cursor) == []
            assert _conserved_in_snapshot(cursor) == GRANTED
            # What the callers were told was spent is what the ledger consumed.
            assert sum(tally.spent.values()) == _scalar(
                cursor,
                "SELECT COALESCE(SUM(e.amount), 0) FROM entries e"
                " JOIN accounts a ON a.id = e.account_id WHERE a.kind = 'consumption'",
            )
            assert _scalar(cursor, "SELECT COUNT(*) FROM holds WHERE status = 'active'") == 0
            # Each successful call is exactly one applied transaction and each refusal one
            # refused transaction: no retry left a duplicate or lost a write behind.
            cursor.execute(
                "SELECT c.external_id, t.kind, COUNT(*) FROM transactions t"
                " JOIN customers c ON c.id = t.customer_id"
                " WHERE t.status = 'applied' GROUP BY c.external_id, t.kind"
            )
            applied = {(row[0], row[1]): row[2] for row in cursor.fetchall()}
            cursor.execute(
                "SELECT c.external_id, t.kind, COUNT(*) FROM transactions t"
                " JOIN customers c ON c.id = t.customer_id"
                " WHERE t.status = 'refused' GROUP BY c.external_id, t.kind"
            )
            refused = {(row[0], row[1]): row[2] for row in cursor.fetchall()}
        grants = {("u1", "grant"): len(PURCHASES) + len(ALLOWANCES)}
        assert applied == grants | {key: n for key, n in tally.applied.items() if n}
        assert refused == {key: n for key, n in tally.refused.items() if n}

        report = ck.audit()
        assert report.ok, report.problems
        # The writes shared transactions (group commit is on by default): 16 threads on one
        # customer queue behind each other, and the writer took them together.
        stats = ck.group_commit_stats()
        assert stats is not None and stats.operations_in_one_transaction_max > 1, stats
        assert stats.operations > stats.transactions, stats
    finally:
        ck.close()


# -- separate processes ---------------------------------------------------------------------

PROCESSES = 4
ATTEMPTS_PER_PROCESS = 60
CHARGE_AMOUNT = 7
#: u1's credits for the process race: a purchase, an allowance and a promotion, covering only
#: part of PROCESSES * ATTEMPTS_PER_PROCESS * CHARGE_AMOUNT (1,680).
PROCESS_GRANTS = (("purchase", 400), ("allowance", 350), ("promo", 250))
PROCESS_BALANCE = sum(amount for _source, amount in PROCESS_GRANTS)


def _charge_in_process(
    url: str, worker: int, start: Barrier, results: Queue[dict[str, Any]]
) -> None:
    """A spawned process: opens its own CreditKit on the database and charges u1 until its
    attempts run out. Reports what it saw (it cannot raise into the test)."""
    report: dict[str, Any] = {"worker": worker, "charged": 0, "refused": 0, "errors": []}
    try:
        with CreditKit(url) as ck:
            start.wait(timeout=WAIT_TIMEOUT_SECONDS)
            for attempt in range(ATTEMPTS_PER_PROCESS):
                try:
                    charge = ck.charge(
                        "u1", CHARGE_AMOUNT, idempotency_key=f"p{worker}-charge{attempt}"
                    )
                except InsufficientCredits:
                    report["refused"] += 1
                else:
                    assert charge.amount == CHARGE_AMOUNT
                    report["charged"] += 1
    except BaseException:  # reported to the test, which fails on it
        report["errors"].append(traceback.format_exc())
    results.put(report)


def test_processes_racing_for_one_balance_overdraw_nothing(postgres_url: str) -> None:
    with CreditKit(postgres_url) as ck:
        ck.create_customer("u1")
        for source, amount in PROCESS_GRANTS:
            ck.grant("u1", amount, idempotency_key=f"grant-{source}", source=source)
        assert ck.balance("u1").available == PROCESS_BALANCE

        context = multiprocessing.get_context("spawn")
        start = context.Barrier(PROCESSES)
        results: Queue[dict[str, Any]] = context.Queue()
        processes = [
            context.Process(target=_charge_in_process, args=(postgres_url, worker, start, results))
            for worker in range(PROCESSES)
        ]
        for process in processes:
            process.start()
        try:
            reports = [results.get(timeout=WAIT_TIMEOUT_SECONDS) for _ in processes]
        except queue.Empty:
            pytest.fail("a charging process neither reported nor finished")
        finally:
            for process in processes:
                process.join(timeout=WAIT_TIMEOUT_SECONDS)
                if process.is_alive():
                    process.kill()
                    process.join(timeout=WAIT_TIMEOUT_SECONDS)
        assert [error for report in reports for error in report["errors"]] == []
        assert all(process.exitcode == 0 for process in processes)

        charged = sum(report["charged"] for report in reports)
        refused = sum(report["refused"] for report in reports)
        assert charged == PROCESS_BALANCE // CHARGE_AMOUNT
        assert refused == PROCESSES * ATTEMPTS_PER_PROCESS - charged
        assert ck.balance("u1").available == PROCESS_BALANCE % CHARGE_AMOUNT
        with _snapshot_of(postgres_url) as cursor:
            assert _customer_accounts_below_zero(cursor) == []
            cursor.execute(
                "SELECT status, COUNT(*) FROM transactions WHERE kind = 'charge' GROUP BY status"
            )
            assert dict(cursor.fetchall()) == {"applied": charged, "refused": refused}
        report = ck.audit()
        assert report.ok, report.problems


# -- idempotency under concurrency --------------------------------------------------------------

SAME_KEY_THREADS = 8
SAME_KEY_ROUNDS = 5


def _all_at_once(call: Callable[[], object]) -> list[object]:
    """Runs ``call`` in SAME_KEY_THREADS threads released together; returns each thread's
    result or CreditKitError (anything else propagates and fails the test)."""
    start = threading.Barrier(SAME_KEY_THREADS)

    def one() -> object:
        start.wait(timeout=WAIT_TIMEOUT_SECONDS)
        try:
            return call()
        except CreditKitError as error:
            return error

    with ThreadPoolExecutor(max_workers=SAME_KEY_THREADS) as pool:
        futures = [pool.submit(one) for _ in range(SAME_KEY_THREADS)]
        return [future.result(timeout=WAIT_TIMEOUT_SECONDS) for future in futures]


def test_the_same_charge_sent_at_once_applies_exactly_once(postgres_url: str) -> None:
    with CreditKit(postgres_url, clock=ManualClock()) as ck:
        ck.create_customer("u1")
        ck.grant("u1", 60, idempotency_key="allowance", source="allowance")
        ck.grant("u1", 100, idempotency_key="purchase", source="purchase")
        for round_ in range(SAME_KEY_ROUNDS):
            key = f"same-charge-{round_}"
            outcomes = _all_at_once(
                partial(
                    ck.charge,
                    "u1",
                    25,
                    idempotency_key=key,
                    action="generate",
                    metadata={"round": round_},
                )
            )
            assert all(isinstance(outcome, Charge) for outcome in outcomes), outcomes
            assert all(outcome == outcomes[0] for outcome in outcomes)
            with _snapshot_of(postgres_url) as cursor:
                cursor.execute("SELECT status FROM transactions WHERE idempotency_key = %s", (key,))
                assert cursor.fetchall() == [("applied",)]
        assert ck.balance("u1").available == 160 - SAME_KEY_ROUNDS * 25
        with _snapshot_of(postgres_url) as cursor:
            assert (
                _scalar(cursor, "SELECT COUNT(*) FROM transactions WHERE kind = 'charge'")
                == SAME_KEY_ROUNDS
            )
        report = ck.audit()
        assert report.ok, report.problems


def test_the_same_refused_charge_sent_at_once_is_refused_alike(postgres_url: str) -> None:
    with CreditKit(postgres_url, clock=ManualClock()) as ck:
        ck.create_customer("u1")
        ck.grant("u1", 10, idempotency_key="purchase")
        outcomes = _all_at_once(lambda: ck.charge("u1", 11, idempotency_key="too-much"))
        refusals = [outcome for outcome in outcomes if isinstance(outcome, InsufficientCredits)]
        assert len(refusals) == SAME_KEY_THREADS, outcomes
        assert all(refusal.to_fields() == refusals[0].to_fields() for refusal in refusals)
        assert refusals[0].available == 10 and refusals[0].required == 11
        with _snapshot_of(postgres_url) as cursor:
            cursor.execute(
                "SELECT status FROM transactions WHERE idempotency_key = %s", ("too-much",)
            )
            assert cursor.fetchall() == [("refused",)]
        assert ck.balance("u1").available == 10
        report = ck.audit()
        assert report.ok, report.problems


@pytest.mark.parametrize("operation", ["reserve", "transfer"])
def test_a_refused_reserve_or_transfer_is_recorded_under_its_key(
    postgres_url: str, operation: str
) -> None:
    """The same over-large request sent at once by several threads is refused alike, recorded
    once, and a replay of its key gives the same refusal even after credits arrive."""
    with CreditKit(postgres_url, clock=ManualClock()) as ck:
        ck.create_customer("u1")
        ck.create_customer("u2")
        ck.grant("u1", 10, idempotency_key="purchase")

        def send() -> Any:
            if operation == "reserve":
                return ck.reserve("u1", 11, idempotency_key="too-much")
            return ck.transfer("u1", "u2", 11, idempotency_key="too-much")

        outcomes = _all_at_once(send)
        assert all(isinstance(outcome, InsufficientCredits) for outcome in outcomes), outcomes
        with _snapshot_of(postgres_url) as cursor:
            cursor.execute(
                "SELECT kind, status FROM transactions WHERE idempotency_key = %s", ("too-much",)
            )
            recorded = cursor.fetchall()
        ck.grant("u1", 5, idempotency_key="top-up")
        try:
            replayed: object = send()
        except InsufficientCredits as refusal:
            replayed = refusal
        assert recorded == [(operation, "refused")]
        assert isinstance(replayed, InsufficientCredits), replayed


# -- a writer that waited for the lock --------------------------------------------------------


def _wait_until_blocked_on_a_lock(url: str, holder: psycopg.Connection[Any]) -> bool:
    """Polls (bounded) until another backend of this database waits for a lock, which can only
    be the write queued behind ``holder``'s."""
    with psycopg.connect(url, autocommit=True) as watcher:
        for _ in range(100_000):
            row = watcher.execute(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND pid <> %s",
                (holder.info.backend_pid,),
            ).fetchone()
            if row is not None and row[0] > 0:
                return True
    return False


@pytest.mark.parametrize("operation", ["charge", "reserve", "transfer"])
def test_a_write_that_waited_for_the_lock_sees_what_the_holder_committed(
    postgres_url: str, operation: str
) -> None:
    """Deterministic interleaving: another writer holds u1's lock and spends credits; the write
    queued behind it must burn down against the balance as committed, not as it was when it
    started waiting (which would overdraw a grant, or refuse credits that are there)."""
    with CreditKit(postgres_url, clock=ManualClock()) as ck:
        ck.create_customer("u1")
        ck.create_customer("u2")
        grant = ck.grant("u1", 10, idempotency_key="purchase")
        ck.charge("u1", 1, idempotency_key="first")
        calls: dict[str, Callable[[], object]] = {
            "charge": lambda: ck.charge("u1", 5, idempotency_key="queued"),
            "reserve": lambda: ck.reserve("u1", 5, idempotency_key="queued"),
            "transfer": lambda: ck.transfer("u1", "u2", 5, idempotency_key="queued"),
        }
        with psycopg.connect(postgres_url) as holder:
            customer_id = _scalar(
                holder.cursor(),
                "SELECT id FROM customers WHERE external_id = 'u1' FOR NO KEY UPDATE",
            )
            with ThreadPoolExecutor(max_workers=1) as pool:
                queued = pool.submit(calls[operation])
                assert _wait_until_blocked_on_a_lock(postgres_url, holder)
                # The holder spends 6 of the 9 credits left, as a charge would, and commits.
                transaction_id = _scalar(
                    holder.cursor(),
                    "INSERT INTO transactions (idempotency_key, kind, status, customer_id, unit,"
                    " amount, request, metadata, created_at) VALUES ('raw-charge', 'charge',"
                    " 'applied', %s, 'credits', 6, '{}', '{}'::jsonb, now()) RETURNING id",
                    customer_id,
                )
                holder.execute(
                    "INSERT INTO entries (transaction_id, account_id, unit, amount)"
                    " SELECT %s, %s, 'credits', -6 UNION ALL SELECT %s, id, 'credits', 6"
                    " FROM accounts WHERE kind = 'consumption' AND unit = 'credits'",
                    (transaction_id, grant.id, transaction_id),
                )
                holder.commit()
                with pytest.raises(InsufficientCredits) as refusal:
                    queued.result(timeout=WAIT_TIMEOUT_SECONDS)
        assert (refusal.value.available, refusal.value.required) == (3, 5)
        assert ck.balance("u1").available == 3
        report = ck.audit()
        assert report.ok, report.problems


# -- 16 threads through a spender tree with budgets at three levels ------------------------------

#: The tree: the customer's own budget, a team's, and each agent's; sub-agents under agents.
TREE_BUDGETS = {"": 900, "team": 700, "agent_a": 300, "agent_b": 300}
TREE_SPENDERS = ("agent_a", "agent_b", "sub_a", "sub_b", "loose")
TREE_PATHS = {
    "agent_a": ("agent_a", "team", ""),
    "agent_b": ("agent_b", "team", ""),
    "sub_a": ("sub_a", "agent_a", "team", ""),
    "sub_b": ("sub_b", "agent_b", "team", ""),
    "loose": ("loose", ""),
}


def test_threads_spending_through_a_spender_tree_never_pass_a_budget(postgres_url: str) -> None:
    """16 threads charge and hold through sibling and nested spenders of one customer, each key
    sent twice: no level's budget is ever passed, each key applies exactly once, audit clean."""
    kit = CreditKit(postgres_url, clock=ManualClock())
    try:
        kit.create_customer("org")
        kit.grant("org", 5_000, idempotency_key="grant")
        kit.create_spender("org", "team", kind="project")
        kit.create_spender("org", "agent_a", kind="agent", parent="team")
        kit.create_spender("org", "agent_b", kind="agent", parent="team")
        kit.create_spender("org", "sub_a", kind="sub_agent", parent="agent_a")
        kit.create_spender("org", "sub_b", kind="sub_agent", parent="agent_b")
        kit.create_spender("org", "loose", kind="api_key")
        for spender, cap in TREE_BUDGETS.items():
            kit.set_budget("org", cap, spender=spender or None, idempotency_key=f"b-{spender}")
        barrier = threading.Barrier(THREADS)
        applied: dict[str, tuple[str, int]] = {}
        applied_lock = threading.Lock()
        errors: list[BaseException] = []

        def work(thread: int) -> None:
            chooser = random.Random(SEED + thread)
            barrier.wait(WAIT_TIMEOUT_SECONDS)
            for step in range(20):
                spender = chooser.choice(TREE_SPENDERS)
                amount = chooser.randint(2, 9)
                key = f"t{thread}-{step}"
                held = chooser.random() < 0.3
                for _attempt in range(2):  # each key twice: it applies once
                    try:
                        if held:
                            hold = kit.reserve("org", amount, spender=spender, idempotency_key=key)
                            kit.commit(hold.id, amount - 1, idempotency_key=f"{key}-c")
                        else:
                            kit.charge("org", amount, spender=spender, idempotency_key=key)
                    except CreditKitError as error:
                        if error.code != "budget_exceeded":
                            raise
                        break
                    with applied_lock:
                        applied[key] = (spender, amount - 1 if held else amount)

        def guarded(thread: int) -> None:
            try:
                work(thread)
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=guarded, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT_TIMEOUT_SECONDS)
        assert not errors, errors
        spent: Counter[str] = Counter()
        for spender, amount in applied.values():
            for level in TREE_PATHS[spender]:
                spent[level] += amount
        for level, cap in TREE_BUDGETS.items():
            assert spent[level] <= cap, (level, spent[level], cap)
            budgets = kit.budgets("org", spender=level or None)
            assert [budget.used for budget in budgets] == [spent[level]]
        # Every thread's keys are in the ledger once: spending equals what was applied.
        assert kit.balance("org").available == 5_000 - spent[""]
        assert spent[""] > 600  # the budgets, not the traffic, stopped the spending
        assert kit.audit().ok
    finally:
        kit.close()
