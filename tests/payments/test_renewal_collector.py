"""Subscriptions renews and collects through its ``Collector`` port, which payments implements
(``RenewalCollector``) and the kit wires in: each period a renewal starts owes one payment,
recorded by the sweep that renews it, however late that sweep runs; a run the app collects
itself is left to its billing lines."""

from __future__ import annotations

from datetime import timedelta

import pytest
from payments_support import URLS

from creditkit import BillingLineKind, CreditKit, ManualClock
from creditkit.payments import ChargeRunReport, ReceiptKind


def test_each_period_caught_up_owes_its_payment_once(kit: CreditKit, clock: ManualClock) -> None:
    session = kit.checkout("alice", plan="pro", idempotency_key="k1", **URLS)
    kit.complete_sandbox_checkout(session.session_id)
    first = kit.subscription("alice")
    assert first is not None
    # Nobody touches the customer for three billing periods.
    clock.set(first.current_period_end + timedelta(days=62))
    renewed = kit.subscription("alice")  # the read sweeps, catching up
    assert renewed is not None
    assert renewed.current_period_start > first.current_period_end
    # The sweep ran each boundary in turn: three periods started, three payments owed.
    assert kit.run_due_renewals() == ChargeRunReport(3, 3, 0)
    assert kit.run_due_renewals() == ChargeRunReport(0, 0, 0)
    kit.subscription("alice")  # a sweep again owes nothing more
    assert kit.run_due_renewals() == ChargeRunReport(0, 0, 0)
    kinds = [receipt.kind for receipt in kit.receipts("alice").items]
    assert kinds == [ReceiptKind.SUBSCRIPTION] * 4


@pytest.mark.parametrize("months", [1, 3])
def test_a_plan_the_app_collects_itself_owes_no_payment_here(
    kit: CreditKit, clock: ManualClock, months: int
) -> None:
    kit.create_customer("bob")
    kit.subscribe("bob", "pro", collected_elsewhere=True)
    first = kit.subscription("bob")
    assert first is not None
    clock.set(first.current_period_end + timedelta(days=31 * (months - 1)))
    assert kit.subscription("bob") != first  # renewed
    assert kit.run_due_renewals() == ChargeRunReport(0, 0, 0)
    assert kit.receipts("bob").items == ()
    # Its billing lines say what the app collects: a period fee for each renewal (the upgrade
    # from the default plan billed a proration).
    lines = kit.billing_lines("bob", limit=50)
    fees = [line for line in lines if line.kind is BillingLineKind.SUBSCRIPTION]
    assert len(fees) == months
