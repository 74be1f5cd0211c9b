"""Each event type's ``data`` is what ``notify.schemas.EVENT_DATA`` (and so the OpenAPI
document's ``Event`` union) says it is: every member the type declares without a default is
there, nothing else is, and each value reads as its declared type."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from notify_helpers import START
from pydantic import TypeAdapter

from creditkit import CreditKit, ManualClock
from creditkit.catalog import parse_catalog
from creditkit.events.repository import ParkedEvent, park
from creditkit.notify.schemas import EVENT_DATA, EventType
from creditkit.payments import CARD_DECLINED, CARD_SUCCEEDS

CATALOG = """
units:
  credits: {scale: 0}
plans:
  free:
    name: Free
    default: true
    rank: 0
    allowance: {amount: 20, unit: credits}
    alerts: {credits_left: 5}
    limits: {seats: {count: 1}}
  pro:
    name: Pro
    rank: 1
    prices: {month: {amount: 0, currency: USD}}
    allowance: {amount: 100, unit: credits}
    alerts: {percent_used: [50]}
  team:
    name: Team
    rank: 2
    prices: {month: {amount: 1000, currency: USD}}
packs:
  small: {name: "300 credits", amount: 300, unit: credits, price: {amount: 1000, currency: USD}}
"""
URLS = {"success_url": "https://app.test/paid", "cancel_url": "https://app.test/cancel"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def kit(database_url: str, clock: ManualClock) -> Iterator[CreditKit]:
    catalog = parse_catalog(CATALOG, "events.yaml")
    with CreditKit(database_url, catalog=catalog, clock=clock) as opened:
        yield opened


def test_every_event_type_sends_the_data_its_schema_declares(
    kit: CreditKit, clock: ManualClock
) -> None:
    kit.create_customer("ada")
    kit.charge("ada", 15, idempotency_key="low")  # credits.low at 5 left
    kit.charge("ada", 5, idempotency_key="depleted")
    kit.subscribe("ada", "pro", collected_elsewhere=True)  # subscription.changed (an upgrade)
    kit.create_customer("cy")
    # subscription.trial_ending on day 11
    kit.subscribe("cy", "team", trial_days=14, collected_elsewhere=True)
    kit.charge("ada", 50, idempotency_key="half")  # alert.triggered at 50% used
    kit.reserve("ada", 1, idempotency_key="hold", timeout_seconds=60)
    kit.grant("ada", 7, idempotency_key="soon", expires_at=clock() + timedelta(days=2))
    paid = kit.checkout("ada", pack="small", idempotency_key="paid", **URLS)
    kit.complete_sandbox_checkout(paid.session_id)
    declined = kit.checkout("ada", pack="small", idempotency_key="declined", **URLS)
    kit.complete_sandbox_checkout(declined.session_id, card=CARD_DECLINED)
    clock.advance(seconds=61)
    with kit.worker() as worker:
        worker.run_once()  # hold.expired, grant.expiring
    clock.advance(days=31)
    with kit.worker() as worker:
        worker.run_once()  # subscription.renewed, credits.expired
    kit.cancel("ada", at_period_end=False)  # subscription.canceled
    kit.acquire("ada", "seats", "s1")
    kit.acquire("ada", "seats", "s2")  # limit.reached
    kit.create_customer("bo")  # customer.created
    kit.transfer("ada", "bo", 10, idempotency_key="gift")  # credits.gifted, credits.received
    grant = kit.grant("bo", 5, idempotency_key="oops")  # credits.granted
    kit.void_grant(grant.id, reason="granted twice", idempotency_key="void")  # credits.voided
    bought = kit.checkout("bo", pack="small", idempotency_key="bo-pack", **URLS)
    kit.complete_sandbox_checkout(bought.session_id)
    kit.refund(bought.payment_id)  # credits.refunded, payment.refunded
    team = kit.checkout("bo", plan="team", idempotency_key="bo-team", **URLS)
    kit.complete_sandbox_checkout(team.session_id, card=CARD_SUCCEEDS)
    kit.save_payment_method("bo", CARD_DECLINED)
    clock.advance(days=32)
    kit.tick()
    kit.run_due_renewals()  # payment.failed, subscription.past_due
    # event.refused: what the ingest worker parks for an event it could not charge.
    refusal = {"customer": "bo", "action": "chat", "idempotency_key": "late", "quantity": 999}
    refused = ParkedEvent("late", "bo", refusal, "insufficient_credits", "not enough credits")
    park(kit.database, [refused], kit.now())

    events = kit.events(limit=500)
    assert {event.type for event in events} == set(EventType)
    for event in events:
        data_type = EVENT_DATA[event.type]
        members = dataclasses.fields(data_type)
        required = {
            member.name
            for member in members
            if member.default is dataclasses.MISSING
            and member.default_factory is dataclasses.MISSING
        }
        assert required <= set(event.data) <= {member.name for member in members}, event.type
        # As a receiver reads it: the JSON, strictly (an id sent as a string is refused).
        TypeAdapter(data_type).validate_json(json.dumps(event.data), strict=True)
