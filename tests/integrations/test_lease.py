"""A lease: a hold a worker spends against locally, reporting in batches through partial
commits, extending when it runs short, never counting past what it holds; the same on
``CreditKit`` and on ``Client``."""

from __future__ import annotations

from typing import Any

import pytest

from creditkit import (
    BudgetExceeded,
    CreditKit,
    HoldStatus,
    InsufficientCredits,
    Lease,
    TransactionKind,
)


class WorkFailed(Exception):
    pass


def _commits(kit: CreditKit, hold_id: int) -> list[int]:
    """The lease's hold's commits, oldest first: the parts of the hold's one history line."""
    items = kit.history("ada", limit=100).items
    (line,) = [item.hold for item in items if item.hold_id == hold_id and item.hold is not None]
    return [int(part.amount) for part in line.parts if part.kind == TransactionKind.COMMIT]


def test_spending_is_counted_locally_and_reported_in_batches(ledger: Any, kit: CreditKit) -> None:
    with ledger.lease("ada", 40, batch=10, idempotency_key="job-1") as lease:
        assert isinstance(lease, Lease)
        assert kit.balance("ada").available == 60
        for _ in range(9):
            lease.spend(1)
        assert _commits(kit, lease.hold.id) == []  # 9 counted, nothing reported yet
        lease.spend(3)  # 12 counted: one report
        assert _commits(kit, lease.hold.id) == [12]
        assert kit.hold(lease.hold.id).remaining == 28
        lease.spend(4)
    # Leaving the block reports what is counted and gives the rest back.
    assert _commits(kit, lease.hold.id) == [12, 4]
    assert kit.hold(lease.hold.id).status is HoldStatus.COMMITTED
    assert kit.balance("ada").available == 84
    assert kit.audit().ok


def test_a_lease_extends_when_it_runs_short(ledger: Any, kit: CreditKit) -> None:
    lease = ledger.lease("ada", 10, batch=100, extend_by=15, idempotency_key="job-2")
    lease.spend(8)
    lease.spend(5)  # 13 > 10: the hold is raised by 15 first
    assert kit.hold(lease.hold.id).amount == 25
    assert kit.balance("ada").available == 75
    lease.close()
    assert kit.balance("ada").available == 87
    assert kit.audit().ok


def test_overspend_is_bounded_by_what_the_lease_holds(ledger: Any, kit: CreditKit) -> None:
    lease = ledger.lease("ada", 90, batch=50, idempotency_key="job-3")
    lease.spend(60)  # reported
    lease.spend(25)  # counted, not reported: the worker could die now
    with pytest.raises(InsufficientCredits):
        lease.spend(20)  # needs 15 more than the hold, the customer has 10 left
    # Nothing was counted past the hold: what is unreported is set aside in it.
    assert lease.counted == 25
    assert kit.hold(lease.hold.id).remaining == 30
    assert kit.balance("ada").available == 10
    lease.spend(5)
    lease.close()
    assert kit.balance("ada").available == 10
    assert kit.audit().ok


def test_a_failed_job_still_reports_what_it_spent(ledger: Any, kit: CreditKit) -> None:
    with pytest.raises(WorkFailed), ledger.lease("ada", 30, idempotency_key="job-4") as lease:
        lease.spend(2)
        raise WorkFailed
    assert kit.balance("ada").available == 98
    assert kit.hold(lease.hold.id).status is HoldStatus.COMMITTED


def test_running_a_lease_again_with_its_key_reports_nothing_twice(
    ledger: Any, kit: CreditKit
) -> None:
    for _run in range(2):
        with ledger.lease("ada", 30, batch=5, idempotency_key="job-5") as lease:
            for _ in range(3):
                lease.spend(4)
    assert kit.balance("ada").available == 88
    assert _commits(kit, lease.hold.id) == [8, 4]
    assert kit.audit().ok


def test_a_lease_keeps_its_hold_alive(ledger: Any, kit: CreditKit, clock: Any) -> None:
    lease = ledger.lease("ada", 30, timeout_seconds=60, idempotency_key="job-6")
    clock.advance(seconds=50)
    lease.keep_alive()
    clock.advance(seconds=50)
    lease.spend(2)  # the hold would have timed out at 60 s
    assert lease.close().amount == 2
    assert kit.balance("ada").available == 98


def test_a_lease_spends_for_its_spender(ledger: Any, kit: CreditKit) -> None:
    """A lease for a spender holds against the budgets on its path (its reserve and its
    extends alike), and its reports are that spender's spending."""
    kit.create_spender("ada", "bot", kind="agent")
    kit.set_budget("ada", 30, spender="bot", period="day", idempotency_key="b1")
    with pytest.raises(BudgetExceeded) as refused:
        ledger.lease("ada", 40, spender="bot", idempotency_key="job-too-big")
    assert (refused.value.spender, refused.value.cap) == ("bot", 30)
    lease = ledger.lease("ada", 20, batch=10, extend_by=10, spender="bot", idempotency_key="job")
    assert lease.hold.spender == "bot"
    lease.spend(12)
    lease.spend(13)  # past the 20 held: the hold extends to 30, the budget's whole day
    assert [int(budget.used) for budget in kit.budgets("ada", spender="bot")] == [30]
    with pytest.raises(BudgetExceeded) as refused:
        lease.spend(6)  # a second extend would pass the budget
    assert refused.value.spender == "bot"
    charge = lease.close()
    assert charge.spender == "bot"
    assert [int(budget.used) for budget in kit.budgets("ada", spender="bot")] == [25]
    lines = kit.history("ada", spender="bot", limit=10).items
    assert [item.hold_id for item in lines] == [lease.hold.id]
    assert kit.audit().ok
