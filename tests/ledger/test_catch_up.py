"""A charge that finds a backlog of timed-out holds larger than what it sweeps itself
(``CHARGE_SWEEP_ITEMS_MAX``) runs ahead of it, or waits for it, and either way writes the ledger
of a customer swept on time.

Each test runs one schedule for two customers at the same instants: ``ontime`` is caught up by a
read before its charges, ``late`` is not. Their charges must answer the same, and once ``late``
is caught up too, their ledgers must be the same (history instants, grants, holds, budgets).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from creditkit import CreditKit, ManualClock
from creditkit.ledger.timeline import CHARGE_SWEEP_ITEMS_MAX, SWEEP_ITEMS_PER_TRANSACTION_MAX
from creditkit.store import tables

CUSTOMERS = ("ontime", "late")
HOLDS = 3 * CHARGE_SWEEP_ITEMS_MAX


def _both(action: Any) -> None:
    for customer in CUSTOMERS:
        action(customer)


def _build(
    ck: CreditKit, clock: ManualClock, soon_amount: int, keep_amount: int, holds: int = HOLDS
) -> None:
    """Grants ``soon`` (expires in 90 s, spent first) and ``keep``, a spender with a budget, and
    ``holds`` holds timing out from 20 s on: roots, trees with a partly committed child,
    extended spender holds. Then the clock passes every timeout and the expiry of ``soon``."""
    start = clock()
    _both(lambda c: ck.create_customer(c))
    _both(
        lambda c: ck.grant(
            c, soon_amount, expires_at=start + timedelta(seconds=90), idempotency_key=f"{c}-soon"
        )
    )
    if keep_amount:
        _both(lambda c: ck.grant(c, keep_amount, idempotency_key=f"{c}-keep"))
    _both(lambda c: ck.create_spender(c, "agent", kind="agent"))
    _both(
        lambda c: ck.set_budget(
            c, 10_000, spender="agent", period="day", idempotency_key=f"{c}-budget"
        )
    )
    for index in range(holds):
        clock.advance(timedelta(milliseconds=200))
        timeout = 20 + index % 97
        if index % 15 == 0:

            def tree(c: str, index: int = index, timeout: int = timeout) -> None:
                parent = ck.reserve(c, 6, timeout_seconds=timeout, idempotency_key=f"{c}-p{index}")
                child = ck.reserve(
                    c, 2, parent=parent.id, timeout_seconds=timeout, idempotency_key=f"{c}-c{index}"
                )
                ck.commit(child.id, 1, final=False, idempotency_key=f"{c}-cc{index}")

            _both(tree)
        elif index % 7 == 0:

            def extended(c: str, index: int = index, timeout: int = timeout) -> None:
                hold = ck.reserve(
                    c, 3, spender="agent", timeout_seconds=timeout, idempotency_key=f"{c}-s{index}"
                )
                ck.extend(hold.id, 2, idempotency_key=f"{c}-e{index}")

            _both(extended)
        else:
            _both(
                lambda c, index=index, timeout=timeout: ck.reserve(
                    c, 1 + index % 2, timeout_seconds=timeout, idempotency_key=f"{c}-h{index}"
                )
            )
    clock.set(start + timedelta(seconds=200))
    ck.balance("ontime")  # catches ``ontime`` up; ``late`` is left behind


def _timed_out_left(ck: CreditKit, customer: str, now: Any) -> int:
    with ck._database.read() as connection:
        return int(
            connection.execute(
                sa.select(sa.func.count())
                .select_from(
                    tables.holds.join(
                        tables.customers, tables.customers.c.id == tables.holds.c.customer_id
                    )
                )
                .where(
                    tables.customers.c.external_id == customer,
                    tables.holds.c.status == "active",
                    tables.holds.c.expires_at <= now,
                )
            ).scalar_one()
        )


def _charge_both(ck: CreditKit, key: str, amount: int, **options: Any) -> list[tuple[Any, ...]]:
    """Each customer's charge as it answered; a draw named by its grant's expiry (grant ids
    differ between the customers), read without sweeping the customer."""
    answers = []
    for customer in CUSTOMERS:
        charge = ck.charge(customer, amount, idempotency_key=f"{customer}-{key}", **options)
        with ck._database.read() as connection:
            expiries = dict(
                connection.execute(
                    sa.select(tables.grants.c.account_id, tables.grants.c.expires_at)
                ).all()
            )
        draws = tuple((expiries[draw.grant_id], draw.amount) for draw in charge.draws)
        answers.append((charge.available_after, charge.debt, draws))
    return answers


def _ledger(ck: CreditKit, customer: str) -> dict[str, Any]:
    balance = ck.balance(customer)
    with ck._database.read() as connection:
        customer_id = connection.execute(
            sa.select(tables.customers.c.id).where(tables.customers.c.external_id == customer)
        ).scalar_one()
        history = sorted(
            (row.created_at, row.kind, row.status, row.amount, row.spender or "")
            for row in connection.execute(
                sa.select(tables.transactions).where(
                    tables.transactions.c.customer_id == customer_id
                )
            )
        )
        holds = sorted(
            (row.created_at, row.depth, row.status, row.amount_committed or 0, row.expires_at)
            for row in connection.execute(
                sa.select(tables.holds).where(tables.holds.c.customer_id == customer_id)
            )
        )
        grants = sorted(
            (str(row.expires_at), row.balance)
            for row in connection.execute(
                sa.select(tables.grants.c.expires_at, tables.accounts.c.balance)
                .join(tables.accounts, tables.accounts.c.id == tables.grants.c.account_id)
                .where(tables.accounts.c.customer_id == customer_id)
            )
        )
        usage = sorted(
            (row.spender, row.period, row.period_start, row.used)
            for row in connection.execute(
                sa.select(tables.budget_usage).where(
                    tables.budget_usage.c.customer_id == customer_id
                )
            )
        )
    return {
        "available": balance.available,
        "held": balance.held,
        "history": history,
        "holds": holds,
        "grants": grants,
        "usage": usage,
    }


def test_a_charge_runs_ahead_of_a_large_backlog_and_writes_the_on_time_ledger(
    ck: CreditKit, clock: ManualClock
) -> None:
    _build(ck, clock, soon_amount=150, keep_amount=10_000)
    assert _timed_out_left(ck, "late", clock()) > CHARGE_SWEEP_ITEMS_MAX
    ontime, late = _charge_both(ck, "charge", 5)
    assert late == ontime
    # The charge swept its share and left the rest: it did not wait on the whole backlog.
    left = _timed_out_left(ck, "late", clock())
    assert 0 < left <= HOLDS + HOLDS // 15 - CHARGE_SWEEP_ITEMS_MAX
    # A spender's charge, while the backlog holds spender holds: it waits for the backlog.
    ontime, late = _charge_both(ck, "spent", 3, spender="agent")
    assert late == ontime
    assert _timed_out_left(ck, "late", clock()) == 0
    assert _ledger(ck, "late") == _ledger(ck, "ontime")
    assert ck.audit().ok


def test_a_charge_whose_credits_are_still_in_the_backlog_waits_for_them(
    ck: CreditKit, clock: ManualClock
) -> None:
    # Every credit is held, and ``soon`` expired: what the charge spends comes back from
    # holds beyond the first chunks only.
    _build(ck, clock, soon_amount=60, keep_amount=400)
    ontime, late = _charge_both(ck, "charge", 300)
    assert late == ontime
    assert _ledger(ck, "late") == _ledger(ck, "ontime")
    assert ck.audit().ok


def test_the_worker_catches_a_backlog_up_in_bounded_runs(ck: CreditKit, clock: ManualClock) -> None:
    holds = 2 * SWEEP_ITEMS_PER_TRANSACTION_MAX + 50
    _build(ck, clock, soon_amount=150, keep_amount=10_000, holds=holds)
    # What the worker's round does, one transaction per customer per round here.
    report = ck._ledger.tick(transactions_per_customer_max=1)
    assert 0 < report.holds_expired <= SWEEP_ITEMS_PER_TRANSACTION_MAX
    assert _timed_out_left(ck, "late", clock()) > 0
    for _run in range(holds):
        if ck._ledger.tick(transactions_per_customer_max=1).holds_expired == 0:
            break
    assert _timed_out_left(ck, "late", clock()) == 0
    assert _ledger(ck, "late") == _ledger(ck, "ontime")
    with ck.worker() as worker:
        assert worker.run_once().holds_expired == 0
    assert ck.audit().ok
