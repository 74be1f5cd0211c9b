"""Auto top-up to a target balance: when a charge takes the balance under the threshold, one
payment buys as many packs as fill it to at least the target."""

from __future__ import annotations

import pytest
from payments_support import URLS

from creditkit import CreditKit, InvalidRequest, Money
from creditkit.payments import CARD_SUCCEEDS, ChargeRunReport, PaymentKind, ReceiptKind


@pytest.fixture
def topped(kit: CreditKit) -> CreditKit:
    """Alice has 310 credits and fills to 1,000 with 300-credit packs when she falls under 50."""
    session = kit.checkout("alice", pack="small", idempotency_key="first", **URLS)
    kit.complete_sandbox_checkout(session.session_id, card=CARD_SUCCEEDS)
    settings = kit.set_auto_top_up("alice", "small", threshold=50, target=1000)
    assert (settings.target, kit.auto_top_up("alice")) == (1000, settings)
    return kit


def test_a_top_up_fills_the_balance_to_the_target(topped: CreditKit) -> None:
    topped.charge("alice", 280, idempotency_key="c1")  # 30 left: 970 short, so 4 packs
    assert topped.run_due_top_ups() == ChargeRunReport(1, 1, 0)
    assert topped.balance("alice").available == 30 + 4 * 300
    receipt = topped.receipts("alice").items[0]
    assert (receipt.kind, receipt.total) == (ReceiptKind.TOP_UP, Money(4 * 1000, "USD"))
    assert receipt.lines[0].description == "4 x 300 credits"
    payment = topped.payment(receipt.payment_id or 0)
    assert (payment.kind, payment.amount) == (PaymentKind.TOP_UP, Money(4000, "USD"))
    refund = topped.refund(payment.id)  # the whole purchase is priced as one
    assert (refund.credits, refund.amount) == (1200, Money(4000, "USD"))
    assert topped.audit().ok


def test_a_target_is_checked(kit: CreditKit) -> None:
    kit.save_payment_method("alice", CARD_SUCCEEDS)
    with pytest.raises(InvalidRequest) as raised:
        kit.set_auto_top_up("alice", "small", threshold=50, target=50)
    assert (raised.value.field, raised.value.reason) == ("target", "must be above the threshold")
    with pytest.raises(InvalidRequest) as raised:
        kit.set_auto_top_up("alice", "small", threshold=50, target=300 * 100 + 1)
    assert raised.value.field == "target"
    assert kit.set_auto_top_up("alice", "small", threshold=50).target is None
