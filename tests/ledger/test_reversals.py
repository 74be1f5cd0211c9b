"""Reversing a recorded charge wholly or in part, by its idempotency key: the credits go back
to the grants that paid, in the reverse of the burn-down (breakage for those expired since),
usage and budgets follow, and the peers' corrections are expressible (Stripe's meter-event
cancel, Orb's amendment, Autumn's negative track)."""

from datetime import UTC, datetime, timedelta

import pytest

from creditkit import (
    BudgetExceeded,
    CreditKit,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidRequest,
)
from creditkit.clock import ManualClock

HOUR = timedelta(hours=1)


def _remaining(ck: CreditKit) -> dict[int, object]:
    return {grant.grant_id: grant.remaining for grant in ck.balance("u1").grants}


def _hour(ck: CreditKit) -> tuple[datetime, datetime]:
    start = ck.now().replace(minute=0, second=0, microsecond=0)
    return start, start + HOUR


def test_stripe_cancel_reverses_a_whole_charge(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    ck.charge("u1", 30, idempotency_key="event-1")
    period = _hour(ck)
    reversal = ck.reverse_charge("event-1", reason="cancelled", idempotency_key="r1")
    assert (reversal.amount, reversal.remaining, reversal.expired) == (30, 0, 0)
    assert ck.balance("u1").available == 100
    summary = ck.usage_summary("u1", period=period)
    assert (summary.spent, summary.charges) == (0, 1)
    item = ck.history("u1").items[0]
    assert (item.kind, item.amount, item.metadata["charge_key"]) == ("reversal", 30, "event-1")
    assert item.metadata["reason"] == "cancelled"
    with pytest.raises(InvalidRequest) as nothing_left:
        ck.reverse_charge("event-1", reason="again", idempotency_key="r2")
    assert nothing_left.value.field == "amount"
    assert ck.audit().ok


def test_orb_amendment_reverses_part_then_charges_the_corrected_amount(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    ck.charge("u1", 40, idempotency_key="usage-1")
    period = _hour(ck)
    # The usage was 25, not 40: all of it is reversed, and the corrected amount charged anew.
    ck.reverse_charge("usage-1", reason="amended", idempotency_key="amend-1")
    ck.charge("u1", 25, idempotency_key="usage-1:amended")
    summary = ck.usage_summary("u1", period=period)
    assert (summary.spent, ck.balance("u1").available) == (25, 75)
    assert ck.audit().ok


def test_autumn_negative_track_is_a_partial_reversal(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    ck.charge("u1", 10, idempotency_key="track-1")
    # A negative charge stays refused: a correction down goes through reverse_charge.
    with pytest.raises(InvalidRequest):
        ck.charge("u1", -3, idempotency_key="track-2")
    first = ck.reverse_charge("track-1", 3, reason="over-counted", idempotency_key="neg-1")
    second = ck.reverse_charge("track-1", 2, reason="over-counted", idempotency_key="neg-2")
    assert (first.remaining, second.remaining, ck.balance("u1").available) == (7, 5, 95)
    with pytest.raises(InvalidRequest) as too_much:
        ck.reverse_charge("track-1", 6, reason="r", idempotency_key="neg-3")
    assert too_much.value.field == "amount" and "5" in str(too_much.value)
    rest = ck.reverse_charge("track-1", reason="r", idempotency_key="neg-4")
    assert (rest.amount, ck.balance("u1").available) == (5, 100)
    assert ck.audit().ok


def test_credits_go_back_in_the_reverse_of_the_burn_down(ck: CreditKit) -> None:
    soon = ck.grant("u1", 10, idempotency_key="g1", expires_at=ck.now() + timedelta(days=5))
    later = ck.grant("u1", 10, idempotency_key="g2", expires_at=ck.now() + timedelta(days=50))
    never = ck.grant("u1", 10, idempotency_key="g3")
    charge = ck.charge("u1", 25, idempotency_key="c1")
    assert [draw.grant_id for draw in charge.draws] == [soon.id, later.id, never.id]
    first = ck.reverse_charge("c1", 7, reason="r", idempotency_key="r1")
    assert [(d.grant_id, d.amount) for d in first.returned] == [(never.id, 5), (later.id, 2)]
    second = ck.reverse_charge("c1", 12, reason="r", idempotency_key="r2")
    assert [(d.grant_id, d.amount) for d in second.returned] == [(later.id, 8), (soon.id, 4)]
    assert _remaining(ck) == {soon.id: 4, later.id: 10, never.id: 10}
    assert ck.audit().ok


def test_a_grant_expired_since_the_charge_gets_nothing_back_its_part_is_breakage(
    ck: CreditKit, clock: ManualClock
) -> None:
    short = ck.grant("u1", 10, idempotency_key="g1", expires_at=ck.now() + timedelta(days=2))
    lasting = ck.grant("u1", 10, idempotency_key="g2")
    ck.charge("u1", 15, idempotency_key="c1")
    clock.advance(timedelta(days=3))
    reversal = ck.reverse_charge("c1", reason="r", idempotency_key="r1")
    assert reversal.expired == 10
    assert [(d.grant_id, d.amount) for d in reversal.returned] == [(lasting.id, 5)]
    assert short.id not in _remaining(ck)
    assert ck.balance("u1").available == 10
    assert ck.audit().ok


def test_overage_reversed_goes_back_to_issuance(ck: CreditKit) -> None:
    ck.set_debt_limit("u1", 50, idempotency_key="limit")
    ck.grant("u1", 10, idempotency_key="g1")
    ck.charge("u1", 30, idempotency_key="c1", allow_debt=True)
    assert ck.balance("u1").debt == 20
    ck.reverse_charge("c1", 25, reason="r", idempotency_key="r1")
    # The debt first (the last resort of the burn-down), then the grant.
    assert (ck.balance("u1").debt, ck.balance("u1").available) == (0, 5)
    assert ck.audit().ok


def test_debt_repaid_since_comes_back_as_a_grant(ck: CreditKit) -> None:
    ck.set_debt_limit("u1", 50, idempotency_key="limit")
    ck.charge("u1", 20, idempotency_key="c1", allow_debt=True)
    ck.grant("u1", 30, idempotency_key="g1")  # repays the 20 owed first
    assert (ck.balance("u1").debt, ck.balance("u1").available) == (0, 10)
    reversal = ck.reverse_charge("c1", reason="r", idempotency_key="r1")
    assert sum(draw.amount for draw in reversal.returned) == 20
    assert ck.balance("u1").available == 30
    assert ck.audit().ok


def test_a_reversal_is_idempotent(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    ck.charge("u1", 30, idempotency_key="c1")
    once = ck.reverse_charge("c1", 10, reason="r", idempotency_key="r1")
    again = ck.reverse_charge("c1", 10, reason="r", idempotency_key="r1")
    assert (again.id, again.amount, again.replayed) == (once.id, 10, True)
    assert ck.balance("u1").available == 80
    with pytest.raises(IdempotencyConflict) as conflict:
        ck.reverse_charge("c1", 11, reason="r", idempotency_key="r1")
    assert conflict.value.field == "amount"
    assert ck.audit().ok


def test_what_cannot_be_reversed_is_refused_naming_the_field(
    ck: CreditKit, clock: ManualClock
) -> None:
    ck.grant("u1", 10, idempotency_key="g1")
    with pytest.raises(InsufficientCredits):
        ck.charge("u1", 50, idempotency_key="refused")
    cases = {"refused": "refused", "g1": "grant", "nothing": "no charge"}
    for key, words in cases.items():
        with pytest.raises(InvalidRequest) as refused:
            ck.reverse_charge(key, reason="r", idempotency_key=f"r-{key}")
        assert refused.value.field == "charge_key" and words in str(refused.value)
    ck.charge("u1", 5, idempotency_key="old")
    clock.advance(timedelta(days=35, seconds=1))
    with pytest.raises(InvalidRequest) as late:
        ck.reverse_charge("old", reason="r", idempotency_key="r-old")
    assert late.value.field == "charge_key" and "window" in str(late.value)
    assert ck.balance("u1").available == 5
    assert ck.audit().ok


def test_the_window_is_the_kit_s_setting(make_kit: object, clock: ManualClock) -> None:
    kit = make_kit(reversal_window=timedelta(days=1))  # type: ignore[operator]
    kit.create_customer("u1")
    kit.grant("u1", 10, idempotency_key="g1")
    kit.charge("u1", 5, idempotency_key="c1")
    clock.advance(timedelta(days=1, seconds=1))
    with pytest.raises(InvalidRequest):
        kit.reverse_charge("c1", reason="r", idempotency_key="r1")
    with pytest.raises(InvalidRequest) as bad:
        make_kit(reversal_window=timedelta(days=400))  # type: ignore[operator]
    assert bad.value.field == "reversal_window"


def test_usage_and_budgets_follow_in_the_charge_s_period(ck: CreditKit, clock: ManualClock) -> None:
    clock.set(datetime(2026, 3, 31, 23, 30, tzinfo=UTC))
    ck.grant("u1", 1000, idempotency_key="g1")
    ck.create_spender("u1", "agent", kind="agent")
    ck.set_budget("u1", 100, spender="agent", period="month", idempotency_key="b1")
    ck.charge("u1", 80, idempotency_key="c1", spender="agent", action="chat")
    clock.advance(HOUR)  # April now
    ck.reverse_charge("c1", 30, reason="r", idempotency_key="r1")
    march = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    april = (datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC))
    assert ck.usage_summary("u1", period=march).spent == 50
    assert ck.usage_summary("u1", period=april).spent == 0
    # A partial edge reads the ledger's rows: it agrees with the rollups.
    edge = (datetime(2026, 3, 31, 23, 15, tzinfo=UTC), datetime(2026, 4, 1, 0, 45, tzinfo=UTC))
    assert ck.usage_summary("u1", period=edge).spent == 50
    by_action = ck.usage_breakdown("u1", by="action", start=march[0], end=march[1])
    assert [(group.key, group.spent) for group in by_action.groups] == [("chat", 50)]
    assert ck.audit().ok


def test_the_budget_that_counted_the_charge_gets_it_back(ck: CreditKit) -> None:
    ck.grant("u1", 1000, idempotency_key="g1")
    ck.create_spender("u1", "agent", kind="agent")
    ck.set_budget("u1", 100, spender="agent", period="month", idempotency_key="b1")
    ck.charge("u1", 80, idempotency_key="c1", spender="agent")
    ck.reverse_charge("c1", 30, reason="r", idempotency_key="r1")
    with pytest.raises(BudgetExceeded):
        ck.charge("u1", 51, idempotency_key="c2", spender="agent")
    ck.charge("u1", 50, idempotency_key="c3", spender="agent")
    assert ck.audit().ok
