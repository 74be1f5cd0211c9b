from datetime import timedelta

import pytest

from creditkit import (
    CreditKit,
    HoldAlreadyCommitted,
    HoldAlreadyReleased,
    HoldAmountExceeded,
    HoldExpired,
    HoldNotFound,
    HoldStatus,
    InsufficientCredits,
    InvalidRequest,
    ManualClock,
)


def test_reserve_then_commit_less_returns_the_rest(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    hold = ck.reserve("u1", 50, action="agent_message", idempotency_key="r1")
    balance = ck.balance("u1")
    assert (balance.available, balance.held) == (50, 50)
    charge = ck.commit(hold.id, 37, idempotency_key="r1-commit")
    assert (charge.amount, charge.hold_id, charge.action) == (37, hold.id, "agent_message")
    balance = ck.balance("u1")
    assert (balance.available, balance.held) == (63, 0)
    assert ck.hold(hold.id).status is HoldStatus.COMMITTED
    assert ck.hold(hold.id).amount_committed == 37
    assert ck.audit().ok


def test_holds_reserve_in_burn_down_order_and_commit_from_the_first(ck: CreditKit) -> None:
    allowance = ck.grant("u1", 10, source="allowance", idempotency_key="g1")
    purchase = ck.grant("u1", 100, idempotency_key="g2")
    hold = ck.reserve("u1", 30, idempotency_key="r1")
    assert [(d.grant_id, d.amount) for d in hold.draws] == [(allowance.id, 10), (purchase.id, 20)]
    charge = ck.commit(hold.id, 12, idempotency_key="c1")
    assert [(d.grant_id, d.amount) for d in charge.draws] == [(allowance.id, 10), (purchase.id, 2)]
    assert [(g.grant_id, g.remaining) for g in ck.balance("u1").grants] == [(purchase.id, 98)]


def test_commit_above_the_hold_is_refused(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    hold = ck.reserve("u1", 10, idempotency_key="r1")
    with pytest.raises(HoldAmountExceeded) as refused:
        ck.commit(hold.id, 11, idempotency_key="c1")
    assert (refused.value.held, refused.value.requested) == (10, 11)
    assert ck.hold(hold.id).status is HoldStatus.ACTIVE
    assert ck.commit(hold.id, 10, idempotency_key="c2").amount == 10


def test_commit_zero_and_release(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    first = ck.reserve("u1", 10, idempotency_key="r1")
    assert ck.commit(first.id, 0, idempotency_key="c1").amount == 0
    second = ck.reserve("u1", 20, idempotency_key="r2")
    released = ck.release(second.id, idempotency_key="x2")
    assert released.status is HoldStatus.RELEASED
    balance = ck.balance("u1")
    assert (balance.available, balance.held) == (100, 0)
    assert ck.audit().ok


def test_a_closed_hold_cannot_be_closed_again(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    committed = ck.reserve("u1", 10, idempotency_key="r1")
    ck.commit(committed.id, 5, idempotency_key="c1")
    with pytest.raises(HoldAlreadyCommitted):
        ck.commit(committed.id, 5, idempotency_key="c1-again")
    with pytest.raises(HoldAlreadyCommitted):
        ck.release(committed.id, idempotency_key="x1")
    released = ck.reserve("u1", 10, idempotency_key="r2")
    ck.release(released.id, idempotency_key="x2")
    with pytest.raises(HoldAlreadyReleased):
        ck.commit(released.id, 1, idempotency_key="c2")
    with pytest.raises(HoldAlreadyReleased):
        ck.release(released.id, idempotency_key="x2-again")
    with pytest.raises(HoldNotFound):
        ck.commit(10**9, 1, idempotency_key="c3")
    assert ck.balance("u1").available == 95


def test_an_expired_hold_releases_itself_and_cannot_be_committed(
    ck: CreditKit, clock: ManualClock
) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    hold = ck.reserve("u1", 60, timeout_seconds=300, idempotency_key="r1")
    clock.advance(seconds=299)
    assert ck.balance("u1").held == 60
    clock.advance(seconds=1)  # exactly at expires_at
    balance = ck.balance("u1")
    assert (balance.available, balance.held) == (100, 0)
    assert ck.hold(hold.id).status is HoldStatus.EXPIRED
    with pytest.raises(HoldExpired) as refused:
        ck.commit(hold.id, 10, idempotency_key="c1")
    assert refused.value.expires_at == hold.expires_at
    item = ck.history("u1").items[0]
    # One line for the hold: its expiry gave the 60 back, so together they moved nothing.
    assert (item.kind, item.available_change, item.amount) == ("hold_expiry", 0, 0)
    assert item.hold is not None and item.hold.outcome == "expired"
    assert [(p.kind, p.available_change) for p in item.hold.parts] == [
        ("reserve", -60),
        ("hold_expiry", 60),
    ]
    assert ck.audit().ok


def test_expired_hold_is_released_by_the_next_write_without_a_read(
    ck: CreditKit, clock: ManualClock
) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    ck.reserve("u1", 100, timeout_seconds=60, idempotency_key="r1")
    clock.advance(minutes=2)
    assert ck.charge("u1", 100, idempotency_key="c1").amount == 100


def test_hold_credits_of_a_grant_that_expired_meanwhile_go_to_breakage(
    ck: CreditKit, clock: ManualClock
) -> None:
    ck.grant("u1", 10, expires_at=clock() + timedelta(seconds=30), idempotency_key="g1")
    ck.grant("u1", 10, priority=60, idempotency_key="g2")
    hold = ck.reserve("u1", 15, timeout_seconds=600, idempotency_key="r1")
    clock.advance(seconds=31)
    ck.release(hold.id, idempotency_key="x1")
    # The 10 from the expired grant are gone; the 5 from the lasting grant came back.
    assert ck.balance("u1").available == 10
    assert ck.audit().ok


def test_reserve_refusals(ck: CreditKit) -> None:
    ck.grant("u1", 5, idempotency_key="g1")
    with pytest.raises(InsufficientCredits):
        ck.reserve("u1", 6, idempotency_key="r1")
    with pytest.raises(InvalidRequest) as refused:
        ck.reserve("u1", 1, timeout_seconds=0, idempotency_key="r2")
    assert refused.value.field == "timeout_seconds"
    with pytest.raises(InvalidRequest):
        ck.reserve("u1", 1, timeout_seconds=10**8, idempotency_key="r3")


def test_a_hold_made_in_the_write_that_swept_still_expires_on_its_own(
    ck: CreditKit, clock: ManualClock
) -> None:
    """The sweep at the start of a write moves next_due_at; the write's new hold must still
    lower it (a stale comparison once left the hold unswept, held forever)."""
    ck.grant("u1", 100, idempotency_key="g1")
    ck.reserve("u1", 10, timeout_seconds=60, idempotency_key="r1")
    clock.advance(seconds=60)  # r1 is due: the next write sweeps it first
    ck.reserve("u1", 30, timeout_seconds=60, idempotency_key="r2")
    clock.advance(seconds=60)
    balance = ck.balance("u1")
    assert (balance.available, balance.held) == (100, 0)
