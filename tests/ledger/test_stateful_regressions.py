"""Ledger bugs found by the stateful test (test_stateful.py), one minimal case each.

Each is marked ``xfail(strict=True)``: when the bug is fixed the test passes, strict xfail turns
that into a failure, and the marker comes off together with the matching ``KNOWN_BUG_*`` switch
in test_stateful.py (which keeps the state machine away from the bug until then).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from creditkit import (
    CreditKit,
    HoldAlreadyCommitted,
    HoldAmountExceeded,
    IdempotencyConflict,
    InsufficientCredits,
    ManualClock,
)

REFUSAL_NOT_RECORDED = (
    "a refusal of reserve/commit/release/transfer is rolled back with its write instead of "
    "being recorded under the idempotency key (only charge refusals are recorded), so a replay "
    "runs the write again"
)
GRANT_REPLAY_AFTER_EXPIRY = (
    "replaying a grant after its expires_at has passed re-checks expires_at against the time of "
    "the replay and raises InvalidRequest instead of returning the first outcome"
)


@pytest.mark.xfail(strict=True, reason=REFUSAL_NOT_RECORDED)
def test_a_refused_reserve_replays_as_the_same_refusal(ck: CreditKit) -> None:
    with pytest.raises(InsufficientCredits) as first:
        ck.reserve("u1", 5, idempotency_key="r1")
    ck.grant("u1", 100, idempotency_key="g1")
    with pytest.raises(InsufficientCredits) as again:
        ck.reserve("u1", 5, idempotency_key="r1")  # today: reserves 5
    assert again.value.to_fields() == first.value.to_fields()
    assert ck.balance("u1").held == 0


@pytest.mark.xfail(strict=True, reason=REFUSAL_NOT_RECORDED)
def test_a_refused_transfer_replays_as_the_same_refusal(ck: CreditKit) -> None:
    with pytest.raises(InsufficientCredits) as first:
        ck.transfer("u1", "u2", 5, idempotency_key="t1")
    ck.grant("u1", 100, idempotency_key="g1")
    with pytest.raises(InsufficientCredits) as again:
        ck.transfer("u1", "u2", 5, idempotency_key="t1")  # today: transfers 5
    assert again.value.to_fields() == first.value.to_fields()
    assert ck.balance("u2").available == 0


@pytest.mark.xfail(strict=True, reason=REFUSAL_NOT_RECORDED)
def test_the_key_of_a_refused_commit_is_spent(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    hold = ck.reserve("u1", 5, idempotency_key="r1")
    with pytest.raises(HoldAmountExceeded):
        ck.commit(hold.id, 6, idempotency_key="c1")
    with pytest.raises(IdempotencyConflict):
        ck.commit(hold.id, 3, idempotency_key="c1")  # today: commits 3
    assert ck.balance("u1").held == 5


@pytest.mark.xfail(strict=True, reason=REFUSAL_NOT_RECORDED)
def test_the_key_of_a_refused_release_is_spent(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    committed = ck.reserve("u1", 5, idempotency_key="r1")
    ck.commit(committed.id, 5, idempotency_key="c1")
    active = ck.reserve("u1", 7, idempotency_key="r2")
    with pytest.raises(HoldAlreadyCommitted):
        ck.release(committed.id, idempotency_key="x1")
    with pytest.raises(IdempotencyConflict):
        ck.release(active.id, idempotency_key="x1")  # today: releases the other hold
    assert ck.balance("u1").held == 7


@pytest.mark.xfail(strict=True, reason=GRANT_REPLAY_AFTER_EXPIRY)
def test_a_grant_replays_after_it_expired(ck: CreditKit, clock: ManualClock) -> None:
    expires_at = clock() + timedelta(hours=1)
    grant = ck.grant("u1", 10, expires_at=expires_at, idempotency_key="g1")
    clock.advance(hours=2)
    # today: InvalidRequest("expires_at: must be after the grant starts counting")
    assert ck.grant("u1", 10, expires_at=expires_at, idempotency_key="g1") == grant
