"""Usage dashboards and event ingestion over HTTP equal the embedded kit's."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from client_helpers import assert_same_error, raised

from creditkit import (
    Charge,
    CreditKit,
    GrantSource,
    InsufficientCredits,
    InvalidRequest,
    ManualClock,
)
from creditkit.catalog import UnknownAction
from creditkit.client import Client, PaymentRequired
from creditkit.usage.schemas import BreakdownBy, Granularity


def test_summary_breakdown_and_series_equal_the_kits(
    client: Client, kit: CreditKit, clock: ManualClock
) -> None:
    client.create_customer("ada")
    client.grant("ada", 30, idempotency_key="g1", source="promo")
    client.grant("ada", "2.50", unit="usd", idempotency_key="g2")
    start = clock()
    for day, action in enumerate(("chat_message", "image_generation", "chat_message")):
        client.charge("ada", action=action, idempotency_key=f"c{day}")
        clock.advance(hours=20)
    client.charge("ada", action="gpu_second", quantity=7, idempotency_key="gpu")
    end = start + timedelta(days=3)

    summary = client.usage_summary("ada")
    assert summary == kit.usage_summary("ada")
    assert (summary.spent, summary.charges, summary.available) == (12, 3, 118)
    granted = summary.granted_by_source
    assert (granted[GrantSource.ALLOWANCE], granted[GrantSource.PROMO]) == (100, 30)
    assert all(isinstance(source, GrantSource) for source in summary.granted_by_source)
    assert isinstance(summary.allowance_used, Decimal)
    within = client.usage_summary("ada", unit="usd", period=(start, end))
    assert within == kit.usage_summary("ada", unit="usd", period=(start, end))
    assert within.spent == Decimal("0.35")

    breakdown = client.usage_breakdown("ada", by="action", start=start, end=end, limit=1)
    assert breakdown == kit.usage_breakdown("ada", by="action", start=start, end=end, limit=1)
    assert breakdown.by is BreakdownBy.ACTION
    assert [(group.key, group.spent) for group in breakdown.groups] == [("image_generation", 10)]
    assert (breakdown.others_spent, breakdown.others_charges) == (2, 2)

    series = client.usage_series("ada", start=start, end=end, granularity="hour")
    assert series == kit.usage_series("ada", start=start, end=end, granularity="hour")
    assert series.granularity is Granularity.HOUR
    assert len(series.points) == 72 and series.spent == 12


def test_a_bad_range_is_the_kits_invalid_request(client: Client, kit: CreditKit) -> None:
    client.create_customer("ada")
    now = kit.now()
    backwards = raised(lambda: client.usage_series("ada", start=now, end=now - timedelta(days=1)))
    assert isinstance(backwards, InvalidRequest)
    assert_same_error(
        backwards, raised(lambda: kit.usage_series("ada", start=now, end=now - timedelta(days=1)))
    )
    naive = raised(lambda: client.usage_summary("ada", period=(now.replace(tzinfo=None), now)))
    assert isinstance(naive, InvalidRequest) and naive.field == "period"


def test_ingest_gives_one_outcome_per_event_as_the_kit_replays_them(
    client: Client, kit: CreditKit
) -> None:
    client.create_customer("ada")
    events = [
        {"customer": "ada", "action": "chat_message", "idempotency_key": "e1"},
        {"customer": "ada", "action": "image_generation", "quantity": 2, "idempotency_key": "e2"},
        {"customer": "ada", "action": "teleport", "idempotency_key": "e3"},
        {"customer": "ada", "action": "image_generation", "quantity": 9, "idempotency_key": "e4"},
        {"customer": "nobody", "action": "chat_message", "idempotency_key": "e5"},
    ]
    outcomes = client.ingest(events)
    replayed = kit.ingest(events)
    assert len(outcomes) == len(replayed) == len(events)
    assert outcomes[:2] == replayed[:2]
    assert all(isinstance(outcome, Charge) for outcome in outcomes[:2])
    for remote, embedded in zip(outcomes[2:], replayed[2:], strict=True):
        assert_same_error(remote, embedded)
    unknown, short = outcomes[2], outcomes[3]
    assert isinstance(unknown, UnknownAction) and unknown.field == "events[2].action"
    assert isinstance(short, PaymentRequired) and isinstance(short, InsufficientCredits)
    assert short.upgrade_to == "pro"
    again = client.ingest(events)  # replayed: charged once
    assert again[:2] == outcomes[:2]
    for replay, first in zip(again[2:], outcomes[2:], strict=True):
        assert_same_error(replay, first)
    assert kit.balance("ada").available == 100 - 21
    assert client.ingest([]) == []


def test_ingest_refuses_what_it_cannot_send(client: Client) -> None:
    with pytest.raises(InvalidRequest) as too_many:
        client.ingest([{"customer": "ada"}] * 1_001)
    assert too_many.value.field == "events"
    with pytest.raises(InvalidRequest) as not_a_mapping:
        client.ingest([{"customer": "ada"}, "chat_message"])  # type: ignore[list-item]
    assert not_a_mapping.value.field == "events[1]"
    with pytest.raises(InvalidRequest) as unreadable:
        client.ingest([{"customer": "ada", "action": "chat_message"}])
    assert unreadable.value.field == "events[0].idempotency_key"


def test_a_breakdown_by_a_metadata_key_equals_the_kits(
    client: Client, kit: CreditKit, clock: ManualClock
) -> None:
    client.create_customer("ada")
    start = clock()
    for index, agent in enumerate(["Einstein", "Newton", "Einstein", None]):
        metadata = {} if agent is None else {"agent": agent}
        client.charge("ada", action="chat_message", metadata=metadata, idempotency_key=f"c{index}")
    hold = client.reserve("ada", 20, metadata={"agent": "Curie"}, idempotency_key="r1")
    client.commit(hold.id, 12, idempotency_key="k1")
    end = start + timedelta(days=1)
    options = {"by": "dimension", "dimension": "agent", "start": start, "end": end}
    breakdown = client.usage_breakdown("ada", **options)  # type: ignore[arg-type]
    assert breakdown == kit.usage_breakdown("ada", **options)  # type: ignore[arg-type]
    assert breakdown.by is BreakdownBy.DIMENSION and breakdown.dimension == "agent"
    assert [(group.key, group.spent) for group in breakdown.groups] == [
        ("Curie", 12),
        ("Einstein", 2),
        ("Newton", 1),
        (None, 1),
    ]
    limited = client.usage_breakdown("ada", limit=1, **options)  # type: ignore[arg-type]
    assert limited == kit.usage_breakdown("ada", limit=1, **options)  # type: ignore[arg-type]
    assert (limited.others_spent, limited.others_charges) == (4, 4)


@pytest.mark.parametrize(
    ("by", "dimension"),
    [("dimension", None), ("dimension", "a-b"), ("dimension", "a" * 65), ("action", "agent")],
)
def test_a_bad_dimension_is_the_kits_invalid_request(
    client: Client, kit: CreditKit, by: str, dimension: str | None
) -> None:
    client.create_customer("ada")
    now = kit.now()
    options = {"by": by, "dimension": dimension, "start": now, "end": now + timedelta(days=1)}
    remote = raised(lambda: client.usage_breakdown("ada", **options))  # type: ignore[arg-type]
    assert isinstance(remote, InvalidRequest) and remote.field == "dimension"
    assert_same_error(remote, raised(lambda: kit.usage_breakdown("ada", **options)))  # type: ignore[arg-type]
