"""``subscription.trial_ending``: once per trial, at its own instant (3 days before the trial
ends, or the trial's start for a shorter trial), whenever the sweep happens to look."""

from __future__ import annotations

from datetime import timedelta

from notify_helpers import START

from creditkit import CreditKit, ManualClock
from creditkit.notify.schemas import EventType
from creditkit.subscriptions.state import TRIAL_ENDING_NOTICE_DAYS

TRIAL_ENDING = EventType.SUBSCRIPTION_TRIAL_ENDING


def _trial_endings(kit: CreditKit) -> list[tuple[str | None, object, dict[str, object]]]:
    return [
        (event.customer, event.created_at, event.data)
        for event in kit.events(limit=500)
        if event.type is TRIAL_ENDING
    ]


def test_fires_once_three_days_before_the_end_at_that_instant(
    kit: CreditKit, start_clock: ManualClock
) -> None:
    kit.create_customer("ada")
    kit.subscribe("ada", "pro", trial_days=14, collected_elsewhere=True)
    ends_at = START + timedelta(days=14)
    announced_at = ends_at - timedelta(days=TRIAL_ENDING_NOTICE_DAYS)

    start_clock.advance(days=11, seconds=-1)
    kit.tick()
    assert _trial_endings(kit) == []

    start_clock.advance(seconds=1)
    kit.tick()
    expected = [
        (
            "ada",
            announced_at,
            {
                "plan": "pro",
                "plan_version": 1,
                "interval": "month",
                "trial_ends_at": ends_at.isoformat(),
                "days_before": TRIAL_ENDING_NOTICE_DAYS,
            },
        )
    ]
    assert _trial_endings(kit) == expected
    start_clock.advance(days=1)
    kit.tick()
    kit.subscription("ada")
    start_clock.advance(days=30)
    kit.tick()
    assert _trial_endings(kit) == expected


def test_a_late_look_writes_it_at_its_own_instant_not_when_looked(
    kit: CreditKit, start_clock: ManualClock
) -> None:
    kit.create_customer("ada")
    kit.subscribe("ada", "pro", trial_days=14, collected_elsewhere=True)
    start_clock.advance(days=40)  # nobody looked until long after the trial ended
    subscription = kit.subscription("ada")
    assert subscription is not None and subscription.status.value == "active"
    [(_customer, created_at, data)] = _trial_endings(kit)
    assert created_at == START + timedelta(days=11)
    assert data["days_before"] == TRIAL_ENDING_NOTICE_DAYS


def test_a_trial_shorter_than_the_notice_is_announced_when_it_starts(
    kit: CreditKit, start_clock: ManualClock
) -> None:
    kit.create_customer("ada")
    kit.subscribe("ada", "pro", trial_days=2, collected_elsewhere=True)
    [(_customer, created_at, data)] = _trial_endings(kit)
    assert created_at == START
    assert data["days_before"] == 2
    start_clock.advance(days=3)
    kit.tick()
    assert len(_trial_endings(kit)) == 1


def test_a_trial_left_before_the_notice_is_not_announced(
    kit: CreditKit, start_clock: ManualClock
) -> None:
    kit.create_customer("ada")
    kit.subscribe("ada", "pro", trial_days=14, collected_elsewhere=True)
    start_clock.advance(days=5)
    kit.cancel("ada", at_period_end=False)
    start_clock.advance(days=20)
    kit.tick()
    assert _trial_endings(kit) == []
