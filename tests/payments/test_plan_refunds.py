"""Seed 004's money-back guarantee: a first PRO or BUSINESS purchase is refunded in full within
14 days (the plan's ``refund`` in the catalog): the money goes back through the provider, the
unused allowance of the paid period is taken back, the customer is on the default plan, and a
receipt says so. Outside the window, or for a later purchase, the refusal names the reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from payments_support import URLS

from creditkit import CreditKit, ManualClock, Money
from creditkit.payments import PaymentStatus, RefundRefused

SEED_004 = Path(__file__).parents[2] / "examples" / "seed_004_orbit_workspaces" / "catalog.yaml"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 1, tzinfo=UTC))


@pytest.fixture
def orbit(make_kit: Callable[..., CreditKit]) -> CreditKit:
    kit = make_kit(catalog=SEED_004)
    kit.create_customer("team", kind="workspace")
    return kit


def buy_pro(kit: CreditKit, key: str = "k1") -> int:
    session = kit.checkout("team", plan="pro", idempotency_key=key, **URLS)
    kit.complete_sandbox_checkout(session.session_id)
    return session.payment_id


def test_a_first_plan_purchase_is_refunded_on_day_10(orbit: CreditKit, clock: ManualClock) -> None:
    payment_id = buy_pro(orbit)
    orbit.charge("team", 300, idempotency_key="use")  # from the FREE month's 100 first, then PRO's
    clock.advance(days=10)
    refund = orbit.refund(payment_id)
    assert (refund.status, refund.amount) == (PaymentStatus.REFUNDED, Money(2900, "USD"))
    assert refund.credits == 800  # PRO's 1,000 less the 200 used from it
    assert orbit.plan_of("team").id == "free"
    assert orbit.payment(payment_id).status is PaymentStatus.REFUNDED
    receipt = orbit.receipts("team").items[0]
    assert (receipt.total, receipt.payment_id) == (Money(-2900, "USD"), payment_id)
    assert orbit.refund(payment_id) == refund  # once
    assert orbit.audit().ok


def test_a_refund_on_day_15_is_refused_with_the_window(
    orbit: CreditKit, clock: ManualClock
) -> None:
    payment_id = buy_pro(orbit)
    clock.advance(days=15)
    with pytest.raises(RefundRefused) as refused:
        orbit.refund(payment_id)
    assert "the refund window ended at 2026-03-15T00:00:00+00:00" in str(refused.value)
    assert orbit.plan_of("team").id == "pro"
    assert orbit.payment(payment_id).status is PaymentStatus.SUCCEEDED


def test_only_the_first_plan_purchase_is_guaranteed(orbit: CreditKit, clock: ManualClock) -> None:
    first = buy_pro(orbit)
    orbit.refund(first)
    clock.advance(days=1)
    second = buy_pro(orbit, key="k2")
    with pytest.raises(RefundRefused) as refused:
        orbit.refund(second)
    assert f"only a first plan purchase is refunded, and payment {first} came first" in str(
        refused.value
    )
    assert orbit.plan_of("team").id == "pro"
