"""Late usage: a charge or an ingested event may carry its own ``occurred_at`` within the kit's
late-usage window. It spends credits now (burn-down as of now) and counts in the usage of the
period it happened in (Stripe accepts meter events up to 35 days back; OpenMeter burns by event
time, creditkit burns now but counts the usage in its period)."""

from datetime import UTC, datetime, timedelta

import pytest

from creditkit import CreditKit, IdempotencyConflict, InvalidRequest
from creditkit.clock import ManualClock

MARCH = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
APRIL = (datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC))


def test_a_backdated_charge_spends_now_and_counts_in_its_period(
    ck: CreditKit, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 4, 1, 0, 20, tzinfo=UTC))
    grant = ck.grant("u1", 100, idempotency_key="g1")  # made after the usage happened
    occurred_at = datetime(2026, 3, 31, 23, 50, tzinfo=UTC)
    charge = ck.charge("u1", 30, idempotency_key="late-1", occurred_at=occurred_at)
    assert [draw.grant_id for draw in charge.draws] == [grant.id]  # burned as of now
    assert ck.balance("u1").available == 70
    assert ck.usage_summary("u1", period=MARCH).spent == 30
    assert ck.usage_summary("u1", period=APRIL).spent == 0
    # Partial hours read the ledger's rows: they count it at its own moment too.
    edge = (datetime(2026, 3, 31, 23, 45, tzinfo=UTC), datetime(2026, 3, 31, 23, 55, tzinfo=UTC))
    assert ck.usage_summary("u1", period=edge).spent == 30
    series = ck.usage_series("u1", start=MARCH[0], end=APRIL[1], granularity="day")
    spent = {point.start.date().isoformat(): point.spent for point in series.points if point.spent}
    assert spent == {"2026-03-31": 30}
    assert ck.audit().ok


def test_outside_the_window_or_in_the_future_is_refused_naming_occurred_at(
    ck: CreditKit,
) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    for moment, words in (
        (ck.now() - timedelta(hours=1, seconds=1), "window"),
        (ck.now() + timedelta(minutes=6), "future"),
    ):
        with pytest.raises(InvalidRequest) as refused:
            ck.charge("u1", 5, idempotency_key=f"c-{words}", occurred_at=moment)
        assert refused.value.field == "occurred_at" and words in str(refused.value)
    with pytest.raises(InvalidRequest) as naive:
        ck.charge("u1", 5, idempotency_key="c-naive", occurred_at=datetime(2026, 1, 1))
    assert naive.value.field == "occurred_at"
    # A moment a little ahead (clocks apart) counts as now.
    ck.charge("u1", 5, idempotency_key="c-skew", occurred_at=ck.now() + timedelta(minutes=1))
    assert ck.balance("u1").available == 95
    assert ck.audit().ok


def test_the_same_key_with_another_moment_is_a_conflict(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    moment = ck.now() - timedelta(minutes=10)
    once = ck.charge("u1", 5, idempotency_key="c1", occurred_at=moment)
    again = ck.charge("u1", 5, idempotency_key="c1", occurred_at=moment)
    assert (again.id, again.replayed) == (once.id, True)
    with pytest.raises(IdempotencyConflict) as conflict:
        ck.charge("u1", 5, idempotency_key="c1", occurred_at=moment - timedelta(minutes=1))
    assert conflict.value.field == "occurred_at"


def test_stripe_accepts_35_days_back_when_the_kit_allows_it(
    make_kit: object, clock: ManualClock
) -> None:
    kit = make_kit(late_usage_window=timedelta(days=35))  # type: ignore[operator]
    kit.create_customer("u1")
    kit.grant("u1", 100, idempotency_key="g1")
    kit.charge("u1", 5, idempotency_key="c1", occurred_at=kit.now() - timedelta(days=34))
    with pytest.raises(InvalidRequest) as refused:
        kit.charge("u1", 5, idempotency_key="c2", occurred_at=kit.now() - timedelta(days=36))
    assert refused.value.field == "occurred_at"
    with pytest.raises(InvalidRequest) as too_long:
        make_kit(late_usage_window=timedelta(days=36))  # type: ignore[operator]
    assert too_long.value.field == "late_usage_window"
