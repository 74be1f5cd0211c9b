"""``holds``: a customer's holds by status, newest first, with timed-out holds expired first."""

from __future__ import annotations

import pytest

from creditkit import CreditKit, HoldStatus, InvalidRequest, ManualClock, UnknownCustomer


def test_active_holds_newest_first_with_their_draws(ck: CreditKit) -> None:
    grant = ck.grant("u1", 100, idempotency_key="g")
    first = ck.reserve("u1", 10, action="ask", idempotency_key="r1")
    second = ck.reserve("u1", 20, idempotency_key="r2")
    ck.grant("u2", 10, idempotency_key="g-u2")
    ck.reserve("u2", 5, idempotency_key="r-u2")  # another customer's
    listed = ck.holds("u1")
    assert [(hold.id, hold.amount, hold.status) for hold in listed] == [
        (second.id, 20, HoldStatus.ACTIVE),
        (first.id, 10, HoldStatus.ACTIVE),
    ]
    assert listed[1] == ck.hold(first.id)
    assert [(draw.grant_id, draw.amount) for draw in listed[1].draws] == [(grant.id, 10)]
    assert [hold.id for hold in ck.holds("u1", limit=1)] == [second.id]


def test_closed_holds_by_status(ck: CreditKit, clock: ManualClock) -> None:
    ck.grant("u1", 100, idempotency_key="g")
    committed = ck.reserve("u1", 10, idempotency_key="r1")
    released = ck.reserve("u1", 10, idempotency_key="r2")
    timed_out = ck.reserve("u1", 10, idempotency_key="r3", timeout_seconds=60)
    ck.commit(committed.id, 7, idempotency_key="c1")
    ck.release(released.id, idempotency_key="x2")
    ck.grant("u2", 10, idempotency_key="g-u2")
    other = ck.reserve("u2", 5, idempotency_key="r-u2")
    ck.commit(other.id, 5, idempotency_key="c-u2")
    assert [hold.id for hold in ck.holds("u1")] == [timed_out.id]
    clock.advance(seconds=61)
    # The timed-out hold is expired by the read itself, not left listed as active.
    assert ck.holds("u1") == ()
    assert [hold.id for hold in ck.holds("u1", status="expired")] == [timed_out.id]
    [done] = ck.holds("u1", status="committed")
    assert (done.id, done.amount_committed) == (committed.id, 7)
    assert [hold.id for hold in ck.holds("u1", status="released")] == [released.id]
    assert ck.balance("u1").available == 93
    assert ck.audit().ok


def test_bad_requests_name_their_field(ck: CreditKit) -> None:
    with pytest.raises(InvalidRequest) as status:
        ck.holds("u1", status="open")
    assert status.value.field == "status"
    for limit in (0, 501, True):
        with pytest.raises(InvalidRequest) as bad:
            ck.holds("u1", limit=limit)
        assert bad.value.field == "limit"
    with pytest.raises(UnknownCustomer):
        ck.holds("nobody")
