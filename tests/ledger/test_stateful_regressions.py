"""Ledger bugs found while writing the stateful test (test_stateful.py), one minimal case each.

A bug still open is marked ``xfail(strict=True)``, so that its fix turns the test into a failure
(XPASS) and the marker comes off. Fixed bugs stay here as plain regression tests.
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
    SweepReport,
)

# Fixed in bf4451a: a refusal of reserve, commit, release or transfer was rolled back with its
# write instead of being recorded under the idempotency key, so a replay ran the write again.


def test_a_refused_reserve_replays_as_the_same_refusal(ck: CreditKit) -> None:
    with pytest.raises(InsufficientCredits) as first:
        ck.reserve("u1", 5, idempotency_key="r1")
    ck.grant("u1", 100, idempotency_key="g1")
    with pytest.raises(InsufficientCredits) as again:
        ck.reserve("u1", 5, idempotency_key="r1")
    assert again.value.to_fields() == first.value.to_fields()
    assert ck.balance("u1").held == 0


def test_a_refused_transfer_replays_as_the_same_refusal(ck: CreditKit) -> None:
    with pytest.raises(InsufficientCredits) as first:
        ck.transfer("u1", "u2", 5, idempotency_key="t1")
    ck.grant("u1", 100, idempotency_key="g1")
    with pytest.raises(InsufficientCredits) as again:
        ck.transfer("u1", "u2", 5, idempotency_key="t1")
    assert again.value.to_fields() == first.value.to_fields()
    assert ck.balance("u2").available == 0


def test_the_key_of_a_refused_commit_is_spent(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    hold = ck.reserve("u1", 5, idempotency_key="r1")
    with pytest.raises(HoldAmountExceeded):
        ck.commit(hold.id, 6, idempotency_key="c1")
    with pytest.raises(IdempotencyConflict):
        ck.commit(hold.id, 3, idempotency_key="c1")
    assert ck.balance("u1").held == 5


def test_the_key_of_a_refused_release_is_spent(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    committed = ck.reserve("u1", 5, idempotency_key="r1")
    ck.commit(committed.id, 5, idempotency_key="c1")
    active = ck.reserve("u1", 7, idempotency_key="r2")
    with pytest.raises(HoldAlreadyCommitted):
        ck.release(committed.id, idempotency_key="x1")
    with pytest.raises(IdempotencyConflict):
        ck.release(active.id, idempotency_key="x1")
    assert ck.balance("u1").held == 7


# Fixed in 2a7b085: replaying a grant made without effective_at after its expires_at had passed
# re-checked expires_at against the time of the replay and raised InvalidRequest, instead of
# returning the first outcome (or IdempotencyConflict for a different request).


def test_a_grant_replays_after_it_expired(ck: CreditKit, clock: ManualClock) -> None:
    expires_at = clock() + timedelta(hours=1)
    grant = ck.grant("u1", 10, expires_at=expires_at, idempotency_key="g1")
    clock.advance(hours=2)
    assert ck.grant("u1", 10, expires_at=expires_at, idempotency_key="g1") == grant
    with pytest.raises(IdempotencyConflict):
        ck.grant("u1", 11, expires_at=expires_at, idempotency_key="g1")


# Fixed in 2a7b085: a sweep set next_due_at from the grants with credits left; a grant emptied by
# a hold and refilled by the hold's release (or commit) after that sweep was not in it, so its
# breakage went unrecorded by expire() and by the sweeps of reads and writes until the stale
# next_due_at passed.


def test_expire_records_a_grant_refilled_by_a_release(ck: CreditKit, clock: ManualClock) -> None:
    ck.grant("u1", 1, source="promo", expires_at=clock() + timedelta(hours=1), idempotency_key="p")
    ck.grant(
        "u1", 10, source="allowance", expires_at=clock() + timedelta(hours=5), idempotency_key="a"
    )
    hold = ck.reserve("u1", 11, timeout_seconds=10 * 3600, idempotency_key="r")  # empties both
    clock.advance(hours=2)
    ck.tick()  # the promo is due: the sweep recomputes next_due_at while the allowance is empty
    ck.release(hold.id, idempotency_key="x")  # the allowance has 10 again, expiring at 5h
    clock.advance(hours=4)
    assert ck.tick() == SweepReport(grants_expired=1, holds_expired=0)
