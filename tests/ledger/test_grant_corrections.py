"""Correcting one chosen grant: voiding it wholly or in part, and changing its expiry. Each is
idempotent, in the history with its reason, and proven by ``audit()``."""

from datetime import UTC, datetime, timedelta

import pytest

from creditkit import CreditKit, IdempotencyConflict, InsufficientCredits, InvalidRequest
from creditkit.clock import ManualClock


@pytest.fixture
def two_grants(ck: CreditKit) -> tuple[int, int]:
    first = ck.grant("u1", 50, idempotency_key="g1", expires_at=ck.now() + timedelta(days=30))
    second = ck.grant("u1", 30, idempotency_key="g2", expires_at=ck.now() + timedelta(days=60))
    return first.id, second.id


def test_a_void_takes_from_the_chosen_grant_only(
    ck: CreditKit, two_grants: tuple[int, int]
) -> None:
    first, second = two_grants
    voided = ck.void_grant(second, 10, reason="granted twice", idempotency_key="v1")
    assert (voided.amount, [draw.grant_id for draw in voided.draws]) == (10, [second])
    remaining = {grant.grant_id: grant.remaining for grant in ck.balance("u1").grants}
    assert remaining == {first: 50, second: 20}
    everything = ck.void_grant(second, reason="promotion withdrawn", idempotency_key="v2")
    assert everything.amount == 20
    assert ck.balance("u1").available == 50
    item = ck.history("u1").items[0]
    assert (item.kind, item.metadata["reason"], item.amount) == ("void", "promotion withdrawn", 20)
    assert ck.audit().ok


def test_a_void_is_idempotent_and_refuses_more_than_is_left(
    ck: CreditKit, two_grants: tuple[int, int]
) -> None:
    _first, second = two_grants
    once = ck.void_grant(second, 10, reason="r", idempotency_key="v1")
    again = ck.void_grant(second, 10, reason="r", idempotency_key="v1")
    assert (again.id, ck.balance("u1").available) == (once.id, 70)
    with pytest.raises(IdempotencyConflict) as conflict:
        ck.void_grant(second, 11, reason="r", idempotency_key="v1")
    assert conflict.value.field == "amount"
    with pytest.raises(InsufficientCredits) as short:
        ck.void_grant(second, 21, reason="r", idempotency_key="v3")
    assert (short.value.available, short.value.required) == (20, 21)
    with pytest.raises(InsufficientCredits):  # the refusal is the key's first outcome
        ck.void_grant(second, 21, reason="r", idempotency_key="v3")
    assert ck.balance("u1").available == 70
    with pytest.raises(InvalidRequest) as unknown:
        ck.void_grant(99999, reason="r", idempotency_key="v4")
    assert unknown.value.field == "grant_id"
    with pytest.raises(InvalidRequest) as no_reason:
        ck.void_grant(second, reason="", idempotency_key="v5")
    assert no_reason.value.field == "reason"
    assert ck.audit().ok


def test_an_expiry_change_moves_what_is_left_to_a_grant_with_the_new_expiry(
    ck: CreditKit, clock: ManualClock, two_grants: tuple[int, int]
) -> None:
    first, _second = two_grants
    ck.charge("u1", 20, idempotency_key="c1")  # from the first grant: it expires sooner
    later = ck.now() + timedelta(days=90)
    moved = ck.change_grant_expiry(first, later, reason="goodwill", idempotency_key="e1")
    assert (moved.amount, moved.expires_at, moved.metadata["replaces"]) == (30, later, first)
    assert ck.change_grant_expiry(first, later, reason="goodwill", idempotency_key="e1") == moved
    clock.advance(days=61)  # past both original expiries
    assert ck.balance("u1").available == 30
    item = ck.history("u1", kinds=["expiry_change"]).items[0]
    assert item.metadata["reason"] == "goodwill"
    never = ck.change_grant_expiry(moved.id, None, reason="forever", idempotency_key="e2")
    clock.advance(days=365)
    assert (never.expires_at, ck.balance("u1").available) == (None, 30)
    assert ck.audit().ok


def test_an_expiry_is_never_moved_into_the_past(
    ck: CreditKit, clock: ManualClock, two_grants: tuple[int, int]
) -> None:
    first, _second = two_grants
    with pytest.raises(InvalidRequest) as past:
        ck.change_grant_expiry(first, ck.now() - timedelta(seconds=1), reason="r",
                               idempotency_key="e1")  # fmt: skip
    assert past.value.field == "expires_at"
    clock.advance(days=31)  # the first grant has expired
    with pytest.raises(InvalidRequest) as expired:
        ck.change_grant_expiry(first, datetime(2100, 1, 1, tzinfo=UTC), reason="r",
                               idempotency_key="e2")  # fmt: skip
    assert expired.value.field == "grant_id"
    assert ck.audit().ok
