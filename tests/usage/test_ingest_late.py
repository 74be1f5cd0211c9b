"""ingest: an event may carry its own ``occurred_at`` (an ISO 8601 moment), within the kit's
late-usage window: it spends now and counts in the usage of the period it happened in."""

from datetime import UTC, datetime

from creditkit import CreditKit, InvalidRequest
from creditkit.clock import ManualClock

MARCH = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))


def test_ingested_events_carry_their_own_moment(kit: CreditKit, clock: ManualClock) -> None:
    clock.set(datetime(2026, 4, 1, 0, 20, tzinfo=UTC))
    kit.grant("u1", 100, idempotency_key="g1")
    outcomes = kit.ingest([
        {"customer": "u1", "action": "ask_anything", "quantity": 3, "idempotency_key": "e1",
         "occurred_at": "2026-03-31T23:40:00+00:00"},
        {"customer": "u1", "action": "ask_anything", "idempotency_key": "e2",
         "occurred_at": "2026-03-01T00:00:00+00:00"},
        {"customer": "u1", "action": "ask_anything", "idempotency_key": "e3",
         "occurred_at": "soon"},
    ])  # fmt: skip
    assert outcomes[0].amount == 3  # type: ignore[union-attr]
    assert isinstance(outcomes[1], InvalidRequest) and "occurred_at" in outcomes[1].field
    assert isinstance(outcomes[2], InvalidRequest) and outcomes[2].field == "events[2].occurred_at"
    assert kit.usage_summary("u1", period=MARCH).spent == 3
    assert kit.audit().ok
