"""Numbered receipts: one per succeeded payment and per overage statement, numbered without
gaps across customers, paged newest first."""

from __future__ import annotations

import pytest
from payments_support import URLS

from creditkit import CreditKit, InvalidRequest, ManualClock, Money
from creditkit.payments import CARD_DECLINED, ReceiptKind, ReceiptLine, ReceiptNotFound


def _buy(kit: CreditKit, customer: str, key: str, card: str = "4242424242424242") -> None:
    session = kit.checkout(customer, pack="small", idempotency_key=key, **URLS)
    kit.complete_sandbox_checkout(session.session_id, card=card)


def test_numbers_follow_each_other_across_customers_without_gaps(kit: CreditKit) -> None:
    _buy(kit, "alice", "a1")
    _buy(kit, "bob", "b1", card=CARD_DECLINED)  # no payment, no receipt, no number
    _buy(kit, "bob", "b2")
    _buy(kit, "alice", "a2")
    numbers = [receipt.number for name in ("alice", "bob") for receipt in kit.receipts(name).items]
    assert sorted(numbers) == [1, 2, 3]
    assert [receipt.number for receipt in kit.receipts("alice").items] == [3, 1]


def test_pages_newest_first(kit: CreditKit) -> None:
    for number in range(3):
        _buy(kit, "alice", f"k{number}")
    first = kit.receipts("alice", limit=2)
    assert [receipt.number for receipt in first.items] == [3, 2]
    assert first.next_cursor is not None
    rest = kit.receipts("alice", limit=2, cursor=first.next_cursor)
    assert ([receipt.number for receipt in rest.items], rest.next_cursor) == ([1], None)
    assert kit.receipt(rest.items[0].id) == rest.items[0]


def test_bad_reads_name_their_field(kit: CreditKit) -> None:
    with pytest.raises(InvalidRequest) as raised:
        kit.receipts("alice", limit=0)
    assert raised.value.field == "limit"
    with pytest.raises(InvalidRequest) as raised:
        kit.receipts("alice", cursor="t5")
    assert raised.value.field == "cursor"
    with pytest.raises(ReceiptNotFound):
        kit.receipt(404)


def test_an_overage_statement_gets_its_receipt_at_the_period_close(
    kit: CreditKit, clock: ManualClock
) -> None:
    session = kit.checkout("alice", plan="pro", idempotency_key="k1", **URLS)
    kit.complete_sandbox_checkout(session.session_id)
    kit.charge("alice", 1010 + 2000, idempotency_key="big")  # 2,000 credits of overage
    subscription = kit.subscription("alice")
    assert subscription is not None
    clock.set(subscription.current_period_end)
    statement = kit.receipts("alice").items[0]
    assert statement.kind is ReceiptKind.OVERAGE
    assert statement.total == Money(1000, "USD")  # $5 per 1,000
    assert statement.lines == (ReceiptLine("2000 credits of overage on Pro", 1000),)
    assert statement.billing_line_id is not None
    # Read again: the statement is not issued twice.
    assert [r.kind for r in kit.receipts("alice").items].count(ReceiptKind.OVERAGE) == 1
