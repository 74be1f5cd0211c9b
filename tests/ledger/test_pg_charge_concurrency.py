"""PostgreSQL's charge function under real threads on one hot customer: nothing overshoots.

Threads charge one customer at once, alone or in batches, so that the writer coalesces their
charges into batches the database function decides together (each customer's grants read once,
burnt down in memory). Demand is about twice what the customer's grants and its budget allow,
so batches run into the budget and the balance mid-way. What must hold however they interleave:
no grant below zero, no budget past its cap, what the callers were told was spent is what the
ledger consumed and what the budget counted, every call one transaction (applied or refused),
and ``audit()`` clean. A spy checks that the function did decide batches, so that the test is
not of the Python path alone.

No test sleeps or measures time: threads start together at a barrier, loops are bounded, and
every wait has a generous timeout that only turns a hang into a failure.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from creditkit import (
    BudgetExceeded,
    ChargeRequest,
    CreditKit,
    CreditKitError,
    InsufficientCredits,
    ManualClock,
)
from creditkit.ledger import pg_charge

pytestmark = pytest.mark.postgres

WAIT_TIMEOUT_SECONDS = 120
THREADS = 12
CHARGES_PER_THREAD = 48
#: The hot customer's grants: an allowance, a purchase, and credits only "text" may spend.
GRANTS = ((300, None), (400, None), (150, ["text"]))
BUDGET_CAP = 700
ACTIONS = (None, "text")


def _charges(worker: int) -> list[ChargeRequest]:
    rng = random.Random(worker)
    return [
        ChargeRequest(
            customer="hot",
            amount=rng.randint(1, 5),
            action=rng.choice(ACTIONS),
            idempotency_key=f"w{worker}-c{n}",
        )
        for n in range(CHARGES_PER_THREAD)
    ]


def _work(ck: CreditKit, worker: int, per_call: int, start: threading.Barrier) -> list[Any]:
    """Charges the worker's requests, ``per_call`` at a time; each one's outcome in order."""
    requests = _charges(worker)
    start.wait(timeout=WAIT_TIMEOUT_SECONDS)
    outcomes: list[Any] = []
    for at in range(0, len(requests), per_call):
        chunk = requests[at : at + per_call]
        if per_call == 1:
            (request,) = chunk
            try:
                outcomes.append(
                    ck.charge(
                        "hot",
                        request.amount,
                        idempotency_key=request.idempotency_key,
                        action=request.action,
                    )
                )
            except CreditKitError as error:
                outcomes.append(error)
        else:
            outcomes.extend(ck.charge_many(chunk))
    return outcomes


@pytest.mark.parametrize("per_call", [1, 16])
def test_a_hot_customer_charged_from_threads_overshoots_nothing(
    postgres_url: str, per_call: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    decided: list[int] = []
    real: Callable[..., Any] = pg_charge.charge_in_database

    def spy(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        if found is not None:
            decided.append(len(found[0]))  # list.append is atomic under threads
        return found

    monkeypatch.setattr(pg_charge, "charge_in_database", spy)
    # Past the function's bound, so that it decides whole coalesced batches under contention.
    monkeypatch.setattr(pg_charge, "CHARGES_MAX", 256)
    ck = CreditKit(postgres_url, clock=ManualClock())
    try:
        ck.create_customer("hot")
        for n, (amount, scope) in enumerate(GRANTS):
            ck.grant("hot", amount, idempotency_key=f"grant-{n}", priority=n, applies_to=scope)
        ck.set_budget("hot", BUDGET_CAP, idempotency_key="budget", period="lifetime")
        start = threading.Barrier(THREADS)
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            futures = [pool.submit(_work, ck, worker, per_call, start) for worker in range(THREADS)]
            results = [future.result(timeout=WAIT_TIMEOUT_SECONDS) for future in futures]
        outcomes = [outcome for result in results for outcome in result]
        assert len(outcomes) == THREADS * CHARGES_PER_THREAD
        unexpected = [
            o
            for o in outcomes
            if isinstance(o, CreditKitError)
            and not isinstance(o, InsufficientCredits | BudgetExceeded)
        ]
        assert unexpected == []
        applied = [o for o in outcomes if not isinstance(o, CreditKitError)]
        refused = len(outcomes) - len(applied)
        spent = sum(int(o.amount) for o in applied)
        # Demand was about twice the budget: both sides of the line were met.
        assert applied and refused > 0
        assert spent <= BUDGET_CAP
        assert sum(decided) > 0, "the function decided charges"
        if per_call > 1:
            assert max(decided) >= per_call, "the function decided a whole batch"

        balance = ck.balance("hot")
        assert balance.available + spent == sum(amount for amount, _scope in GRANTS)
        with psycopg.connect(postgres_url) as connection:
            below_zero = connection.execute(
                "SELECT count(*) FROM accounts WHERE balance < 0"
            ).fetchone()
            consumed = connection.execute(
                "SELECT coalesce(sum(e.amount), 0) FROM entries e"
                " JOIN accounts a ON a.id = e.account_id WHERE a.kind = 'consumption'"
            ).fetchone()
            used = connection.execute(
                "SELECT coalesce(max(used), 0) FROM budget_usage WHERE spender = ''"
            ).fetchone()
            counted = connection.execute(
                "SELECT status, count(*) FROM transactions WHERE kind = 'charge' GROUP BY status"
            ).fetchall()
            rolled_up = connection.execute(
                "SELECT coalesce(sum(steps), 0), coalesce(sum(charges), 0) FROM usage_rollups"
            ).fetchone()
        assert below_zero == (0,)
        assert consumed == (spent,)
        assert used == (spent,)
        assert dict(counted) == {"applied": len(applied), "refused": refused}
        assert rolled_up == (spent, len(applied))
        report = ck.audit()
        assert report.ok, report.problems
    finally:
        ck.close()
