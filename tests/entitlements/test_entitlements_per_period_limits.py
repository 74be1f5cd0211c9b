"""Per-period limits (counters): track counts per period anchored on the subscription, exactly
once per key (refusals too), resets at the period's end, and follows plan changes."""

from datetime import UTC, datetime, timedelta

import pytest

from creditkit import CreditKit, IdempotencyConflict, InvalidRequest, ManualClock
from creditkit.catalog import UNLIMITED, LimitKind
from creditkit.entitlements import Decision, LimitUsage, Reason

START = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)  # the kit's customers subscribe at this time
FEBRUARY = datetime(2026, 2, 15, 10, 0, tzinfo=UTC)


def usage(kit: CreditKit, customer: str, name: str) -> LimitUsage:
    found = [item for item in kit.usage_of_limits(customer) if item.name == name]
    assert len(found) == 1
    return found[0]


def test_track_counts_up_to_the_cap_then_refuses_with_an_upgrade(kit: CreditKit) -> None:
    for number in range(1, 4):
        decision = kit.track("u1", "posts", idempotency_key=f"post-{number}")
        assert decision == Decision(True, Reason.WITHIN_LIMIT, None, number, 3)
    assert kit.track("u1", "posts", idempotency_key="post-4") == Decision(
        False, Reason.LIMIT_REACHED, "plus", 3, 3
    )
    assert usage(kit, "u1", "posts") == LimitUsage(
        "posts", LimitKind.PER_PERIOD, 3, 3, START, FEBRUARY
    )


def test_a_quantity_counts_whole_or_not_at_all(kit: CreditKit) -> None:
    assert kit.track("u1", "posts", 2, idempotency_key="a").used == 2
    refused = kit.track("u1", "posts", 2, idempotency_key="b")
    assert (refused.allowed, refused.used) == (False, 2)
    assert kit.track("u1", "posts", 1, idempotency_key="c").used == 3


def test_a_key_counts_once_and_replays_its_first_outcome(kit: CreditKit) -> None:
    first = kit.track("u1", "posts", idempotency_key="post-1")
    assert kit.track("u1", "posts", idempotency_key="post-1") == first
    assert usage(kit, "u1", "posts").used == 1
    kit.track("u1", "posts", 2, idempotency_key="post-2")
    refused = kit.track("u1", "posts", idempotency_key="post-3")
    assert not refused.allowed
    kit.change_plan("u1", "plus")  # room now, but the key was answered already
    assert kit.track("u1", "posts", idempotency_key="post-3") == refused
    assert kit.track("u1", "posts", idempotency_key="post-4").allowed


def test_a_key_reused_for_another_request_is_a_conflict(kit: CreditKit) -> None:
    kit.track("u1", "posts", idempotency_key="k")
    with pytest.raises(IdempotencyConflict) as raised:
        kit.track("u1", "posts", 2, idempotency_key="k")
    assert (raised.value.field, raised.value.first, raised.value.second) == ("quantity", 1, 2)
    with pytest.raises(IdempotencyConflict) as raised:
        kit.track("u1", "exports", idempotency_key="k")
    assert (raised.value.field, raised.value.first, raised.value.second) == (
        "limit",
        "posts",
        "exports",
    )


def test_keys_belong_to_one_customer(kit: CreditKit) -> None:
    assert kit.track("u1", "posts", 3, idempotency_key="k").allowed
    assert kit.track("u2", "posts", 3, idempotency_key="k").allowed


def test_the_counter_resets_at_the_subscriptions_anniversary(
    kit: CreditKit, clock: ManualClock
) -> None:
    kit.track("u1", "posts", 3, idempotency_key="january")
    clock.set(FEBRUARY - timedelta(microseconds=1))
    assert not kit.track("u1", "posts", idempotency_key="late-january").allowed
    clock.set(FEBRUARY)
    assert kit.track("u1", "posts", idempotency_key="february") == Decision(
        True, Reason.WITHIN_LIMIT, None, 1, 3
    )
    february = usage(kit, "u1", "posts")
    assert (february.period_start, february.period_end) == (
        FEBRUARY,
        datetime(2026, 3, 15, 10, 0, tzinfo=UTC),
    )


def test_a_yearly_counter_spans_the_subscriptions_year(kit: CreditKit, clock: ManualClock) -> None:
    kit.track("u1", "exports", 2, idempotency_key="e1")
    clock.set(START + timedelta(days=200))
    refused = kit.track("u1", "exports", idempotency_key="e2")
    # No plan above Free names exports: Plus (the lowest) allows it.
    assert (refused.allowed, refused.upgrade_to) == (False, "plus")
    clock.set(datetime(2027, 1, 15, 10, 0, tzinfo=UTC))
    assert kit.track("u1", "exports", idempotency_key="e3").used == 1


def test_an_upgrade_lifts_the_cap_now_and_keeps_the_periods_count(kit: CreditKit) -> None:
    kit.track("u1", "posts", 3, idempotency_key="a")
    kit.change_plan("u1", "plus")
    assert kit.track("u1", "posts", idempotency_key="b") == Decision(
        True, Reason.WITHIN_LIMIT, None, 4, 100
    )
    kit.change_plan("u1", "max")
    assert kit.track("u1", "posts", 50, idempotency_key="c") == Decision(
        True, Reason.UNLIMITED, None, 54, UNLIMITED
    )


def test_a_downgrade_applies_from_the_next_period(kit: CreditKit, clock: ManualClock) -> None:
    kit.change_plan("u1", "plus")
    kit.track("u1", "posts", 10, idempotency_key="a")
    kit.change_plan("u1", "free")
    assert kit.track("u1", "posts", 10, idempotency_key="b").allowed  # Plus until the end
    clock.set(FEBRUARY)
    assert kit.track("u1", "posts", 3, idempotency_key="c").allowed
    assert kit.track("u1", "posts", idempotency_key="d").upgrade_to == "plus"


def test_track_checks_its_request(kit: CreditKit) -> None:
    cases: list[tuple[object, object, str, str]] = [
        ("posts", 0, "k", "quantity"),
        ("posts", -1, "k", "quantity"),
        ("posts", True, "k", "quantity"),
        ("posts", 1.0, "k", "quantity"),
        ("posts", 10**16, "k", "quantity"),
        ("posts", 1, "", "idempotency_key"),
        ("posts", 1, "k" * 256, "idempotency_key"),
        ("tasks", 1, "k", "limit"),
        ("teleports", 1, "k", "limit"),
    ]
    for limit, quantity, key, field in cases:
        with pytest.raises(InvalidRequest) as raised:
            kit.track("u1", limit, quantity, idempotency_key=key)  # type: ignore[arg-type]
        assert raised.value.field == field
    assert usage(kit, "u1", "posts").used == 0
