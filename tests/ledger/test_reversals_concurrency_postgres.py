"""Reversals racing on PostgreSQL: real threads reversing parts of one charge under different
keys never give back more than the charge took (what is left is read under the customer's lock,
in the reversal's own transaction), and a budget gets back exactly what was reversed."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from creditkit import BudgetExceeded, CreditKit, CreditKitError, InvalidRequest, ManualClock

pytestmark = pytest.mark.postgres

THREADS = 8
#: Every wait ends: a hang becomes a failure, never a stuck run.
WAIT_SECONDS_MAX = 60


def test_threads_reversing_one_charge_never_give_back_more_than_it_took(
    postgres_url: str,
) -> None:
    with CreditKit(postgres_url, clock=ManualClock()) as ck:
        ck.create_customer("u1")
        ck.create_spender("u1", "agent", kind="agent")
        ck.set_budget("u1", 200, spender="agent", period="month", idempotency_key="b1")
        ck.grant("u1", 500, idempotency_key="g1")
        ck.charge("u1", 100, idempotency_key="c1", spender="agent")
        start = threading.Barrier(THREADS, timeout=WAIT_SECONDS_MAX)

        def reverse(index: int) -> str:
            start.wait()
            try:
                ck.reverse_charge("c1", 30, reason="r", idempotency_key=f"r{index}")
            except CreditKitError as error:
                if not isinstance(error, InvalidRequest) or error.field != "amount":
                    raise
                return "refused"
            return "reversed"

        with ThreadPoolExecutor(THREADS) as pool:
            outcomes = [
                future.result(timeout=WAIT_SECONDS_MAX)
                for future in [pool.submit(reverse, index) for index in range(THREADS)]
            ]
        assert outcomes.count("reversed") == 3  # 3 x 30 of 100; a fourth would overdraw it
        assert ck.balance("u1").available == 490
        # The budget saw 100 spent and 90 given back: 190 of its 200 are left.
        with pytest.raises(BudgetExceeded):
            ck.charge("u1", 191, idempotency_key="c2", spender="agent")
        ck.charge("u1", 190, idempotency_key="c3", spender="agent")
        assert ck.audit().ok
