"""Events written in the transaction of the change they report: subscriptions renewed, changed
and canceled; holds expired; grants about to expire (the worker's scan)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from creditkit import CreditKit, ManualClock
from creditkit.notify import EventType


def events_of(kit: CreditKit, customer: str, *types: EventType) -> list[dict[str, Any]]:
    return [
        {"type": event.type.value, **event.data}
        for event in kit.events(customer=customer, limit=500)
        if event.type in types
    ]


SUBSCRIPTION = (
    EventType.SUBSCRIPTION_RENEWED,
    EventType.SUBSCRIPTION_CHANGED,
    EventType.SUBSCRIPTION_CANCELED,
)


def test_an_upgrade_a_scheduled_downgrade_and_its_taking_effect(
    kit: CreditKit, start_clock: ManualClock
) -> None:
    kit.create_customer("ada")  # a new subscription to the default plan: no event
    kit.change_plan("ada", "quiet")
    kit.change_plan("ada", "quiet")  # nothing changes: no event
    kit.change_plan("ada", "pro")  # a downgrade, at the period's end
    start_clock.advance(days=31)
    kit.balance("ada")  # any read renews
    told = events_of(kit, "ada", *SUBSCRIPTION)
    assert [(e["type"], e["reason"], e["previous_plan"], e["plan"]) for e in told] == [
        ("subscription.changed", "upgrade", "free", "quiet"),
        ("subscription.changed", "scheduled", "quiet", "quiet"),
        ("subscription.changed", "scheduled_change", "quiet", "pro"),
    ]
    assert told[1]["scheduled_plan"] == "pro"
    assert told[2]["current_period_start"] == "2026-02-15T10:00:00+00:00"


def test_renewals_one_per_period_and_a_cancellation(
    kit: CreditKit, start_clock: ManualClock
) -> None:
    kit.create_customer("ada")
    kit.subscribe("ada", "pro", collected_elsewhere=True)
    start_clock.advance(days=62)  # two periods pass untouched
    kit.tick()
    kit.cancel("ada")
    kit.cancel("ada")  # already canceled: no event
    start_clock.advance(days=31)
    kit.tick()
    told = events_of(kit, "ada", *SUBSCRIPTION)
    assert [(e["type"], e["reason"], e["plan"]) for e in told] == [
        ("subscription.changed", "upgrade", "pro"),
        ("subscription.renewed", "renewal", "pro"),
        ("subscription.renewed", "renewal", "pro"),
        ("subscription.canceled", "period_end", "pro"),
        ("subscription.changed", "canceled", "free"),
    ]
    assert told[3]["cancel_at_period_end"] is True
    assert told[1]["current_period_end"] == "2026-03-15T10:00:00+00:00"


def test_an_immediate_cancellation(kit: CreditKit) -> None:
    kit.create_customer("ada")
    kit.subscribe("ada", "pro", collected_elsewhere=True)
    kit.cancel("ada", at_period_end=False)
    [canceled] = events_of(kit, "ada", EventType.SUBSCRIPTION_CANCELED)
    assert (canceled["reason"], canceled["previous_plan"], canceled["plan"]) == (
        "now",
        "pro",
        "free",
    )


def test_an_expired_hold_is_told_once(kit: CreditKit, start_clock: ManualClock) -> None:
    kit.create_customer("ada")
    hold = kit.reserve("ada", 3, idempotency_key="h1", timeout_seconds=60, action="agent")
    kit.reserve("ada", 2, idempotency_key="h2", timeout_seconds=600)
    start_clock.advance(seconds=61)
    assert kit.tick().holds_expired == 1
    kit.tick()
    [expired] = events_of(kit, "ada", EventType.HOLD_EXPIRED)
    assert expired == {
        "type": "hold.expired",
        "hold_id": hold.id,
        "unit": "credits",
        "amount": 3,
        "action": "agent",
        "expired_at": "2026-01-15T10:01:00+00:00",
    }


def test_a_grant_about_to_expire_is_announced_once(
    kit: CreditKit, start_clock: ManualClock
) -> None:
    kit.create_customer("ada")
    kit.subscribe("ada", "quiet", collected_elsewhere=True)
    now = start_clock()
    soon = kit.grant("ada", 7, idempotency_key="g1", expires_at=now + timedelta(days=5))
    kit.grant("ada", 9, idempotency_key="g2", expires_at=now + timedelta(days=40))
    kit.grant("ada", 1, idempotency_key="g3")  # never expires
    worker = kit.worker()
    assert worker.run_once().grants_expiring_announced == 0
    start_clock.advance(days=2, hours=1)  # soon: in 2 days 23 hours
    assert worker.run_once().grants_expiring_announced == 1
    assert worker.run_once().grants_expiring_announced == 0
    [announced] = events_of(kit, "ada", EventType.GRANT_EXPIRING)
    assert announced["grant_id"] == soon.id and announced["remaining"] == 7
    assert announced["source"] == "purchase"
    start_clock.advance(days=26)  # Feb 12: the allowance ends Feb 15, within 3 days...
    kit.charge("ada", 1000, idempotency_key="c1")  # ...but it is all spent: nothing to expire
    assert worker.run_once().grants_expiring_announced == 0
    start_clock.advance(days=10)  # Feb 22: g2 expires Feb 24; the new allowance Mar 15
    assert worker.run_once().grants_expiring_announced == 1
    sources = [e["source"] for e in events_of(kit, "ada", EventType.GRANT_EXPIRING)]
    assert sources == ["purchase", "purchase"]
    worker.close()
