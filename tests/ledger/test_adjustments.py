"""``remove_credits``: an operator's correction down takes live credits back to issuance, in
burn-down order, once per key, balanced, and is neither spending nor breakage."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from creditkit import (
    CreditKit,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidAmount,
    InvalidRequest,
    ManualClock,
    TransactionKind,
    UnknownCustomer,
)
from creditkit.catalog import parse_catalog

REASON = {"reason": "granted twice by mistake", "operator_key": "key_1"}


def test_removal_takes_live_credits_in_burn_down_order_back_to_issuance(ck: CreditKit) -> None:
    promo = ck.grant("u1", 10, source="promo", idempotency_key="promo")
    purchase = ck.grant("u1", 100, idempotency_key="purchase")
    removed = ck.remove_credits("u1", 25, idempotency_key="fix-1", metadata=REASON)
    assert (removed.amount, removed.customer, removed.metadata) == (25, "u1", REASON)
    assert [(draw.grant_id, draw.amount) for draw in removed.draws] == [
        (promo.id, 10),
        (purchase.id, 15),
    ]
    balance = ck.balance("u1")
    assert balance.available == 85
    assert [(grant.grant_id, grant.remaining) for grant in balance.grants] == [(purchase.id, 85)]
    item = ck.history("u1", limit=1).items[0]
    assert (item.kind, item.amount, item.available_change) == (TransactionKind.ADJUSTMENT, 25, -25)
    assert item.metadata == REASON
    report = ck.audit()
    assert report.ok, report.problems


def test_a_removal_is_neither_spending_nor_breakage(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g")
    ck.charge("u1", 10, action="ask", idempotency_key="c")
    ck.remove_credits("u1", 40, idempotency_key="fix")
    summary = ck.usage_summary("u1")
    assert (summary.spent, summary.charges, summary.expired, summary.available) == (10, 1, 0, 50)
    breakdown = ck.usage_breakdown(
        "u1", by="action", start=summary.period_start, end=summary.period_end
    )
    assert [(group.key, group.spent) for group in breakdown.groups] == [("ask", 10)]


def test_a_removal_is_exactly_once_per_key(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g")
    first = ck.remove_credits("u1", 30, idempotency_key="fix", metadata=REASON)
    again = ck.remove_credits("u1", 30, idempotency_key="fix", metadata=REASON)
    assert again == first
    assert ck.balance("u1").available == 70
    with pytest.raises(IdempotencyConflict) as conflict:
        ck.remove_credits("u1", 31, idempotency_key="fix", metadata=REASON)
    assert conflict.value.field == "amount"
    assert ck.audit().ok


def test_more_than_the_live_grants_hold_is_refused_and_the_refusal_recorded(
    ck: CreditKit,
) -> None:
    ck.grant("u1", 50, idempotency_key="g")
    ck.reserve("u1", 20, idempotency_key="hold")  # held credits are in use, not removable
    with pytest.raises(InsufficientCredits) as short:
        ck.remove_credits("u1", 31, idempotency_key="too-much")
    assert (short.value.available, short.value.required) == (30, 31)
    assert ck.recorded("too-much")
    with pytest.raises(InsufficientCredits):  # the replay gives the same refusal
        ck.remove_credits("u1", 31, idempotency_key="too-much")
    balance = ck.balance("u1")
    assert (balance.available, balance.held) == (30, 20)
    assert ck.audit().ok


def test_expired_credits_are_not_there_to_remove(ck: CreditKit, clock: ManualClock) -> None:
    ck.grant("u1", 40, idempotency_key="g", expires_at=ck.now() + timedelta(days=1))
    ck.grant("u1", 5, idempotency_key="g2")
    clock.advance(days=2)
    with pytest.raises(InsufficientCredits) as short:
        ck.remove_credits("u1", 6, idempotency_key="fix")
    assert short.value.available == 5
    assert ck.remove_credits("u1", 5, idempotency_key="fix-2").amount == 5
    assert ck.audit().ok


def test_bad_requests_name_their_field(ck: CreditKit) -> None:
    ck.grant("u1", 10, idempotency_key="g")
    with pytest.raises(InvalidAmount) as zero:
        ck.remove_credits("u1", 0, idempotency_key="k1")
    assert zero.value.field == "amount"
    with pytest.raises(InvalidRequest) as metadata:
        ck.remove_credits("u1", 1, idempotency_key="k2", metadata={"when": object()})
    assert metadata.value.field == "metadata"
    with pytest.raises(InvalidRequest) as key:
        ck.remove_credits("u1", 1, idempotency_key="")
    assert key.value.field == "idempotency_key"
    with pytest.raises(UnknownCustomer):
        ck.remove_credits("nobody", 1, idempotency_key="k3")
    assert ck.balance("u1").available == 10


OVERAGE = """
units: {credits: {scale: 0}}
plans:
  free: {name: Free, default: true, rank: 0, prices: {month: {amount: 0, currency: USD}},
         allowance: {amount: 5, unit: credits}}
  metered:
    name: Metered
    rank: 1
    prices: {month: {amount: 1000, currency: USD}}
    allowance: {amount: 20, unit: credits}
    overage: {unit: credits, price: {amount: 500, currency: USD, per: 1000}, spend_limit: 100}
"""


def test_overage_is_not_there_to_remove_and_a_removal_leaves_it_as_it_was(
    make_kit: Callable[..., CreditKit],
) -> None:
    kit = make_kit(catalog=parse_catalog(OVERAGE))
    kit.create_customer("m")
    kit.subscribe("m", "metered", collected_elsewhere=True)
    kit.charge("m", kit.balance("m").available + 30, idempotency_key="into-overage")
    assert kit.balance("m").overage_available == 70
    with pytest.raises(InsufficientCredits) as short:
        kit.remove_credits("m", 1, idempotency_key="nothing-held")
    assert short.value.available == 0
    kit.grant("m", 50, source="adjustment", idempotency_key="bonus")
    kit.remove_credits("m", 50, idempotency_key="bonus-back")
    # Credits back to issuance from a grant are not overage given back.
    balance = kit.balance("m")
    assert (balance.available, balance.overage_available) == (0, 70)
    assert kit.audit().ok


def test_a_removal_sets_off_no_low_balance_alert(ck: CreditKit) -> None:
    for customer in ("u1", "u2"):
        ck.set_alerts(customer, credits_left=50)
        ck.grant(customer, 100, idempotency_key=f"g-{customer}")
    ck.remove_credits("u1", 60, idempotency_key="fix")
    ck.charge("u2", 60, idempotency_key="spend")  # the same fall by spending crosses it
    assert ck.events(customer="u1", type="credits.low") == []
    assert len(ck.events(customer="u2", type="credits.low")) == 1
