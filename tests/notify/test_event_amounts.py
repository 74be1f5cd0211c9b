"""Event and webhook ``data`` spell amounts as the REST answers do (docs/api.md, "Amounts and
money"): a JSON integer in a unit without decimal places, an exact decimal string at the unit's
places in one with them; never a float, and never the string of a whole number."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from notify_helpers import RECEIVERS_ON_THIS_MACHINE, START, Receiver
from pydantic import TypeAdapter

from creditkit import CreditKit, ManualClock
from creditkit.catalog import parse_catalog
from creditkit.ledger.schemas import Balance

#: credits are whole; tokens have two decimal places. Free warns at 5 credits left.
CATALOG = """
units:
  credits: {scale: 0}
  tokens: {scale: 2}
plans:
  free:
    name: Free
    default: true
    rank: 0
    allowance: {amount: 20, unit: credits}
    alerts: {credits_left: 5}
"""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def kit(database_url: str, clock: ManualClock) -> Iterator[CreditKit]:
    catalog = parse_catalog(CATALOG, "amounts.yaml")
    with CreditKit(
        database_url, catalog=catalog, clock=clock, webhook_policy=RECEIVERS_ON_THIS_MACHINE
    ) as opened:
        yield opened


def rest_available(kit: CreditKit, customer: str, unit: str) -> Any:
    """``available`` as ``GET /v1/customers/{customer}/balance`` writes it (its response model)."""
    return TypeAdapter(Balance).dump_python(kit.balance(customer, unit=unit), mode="json")[
        "available"
    ]


def data_of(kit: CreditKit, event_type: str, unit: str) -> dict[str, Any]:
    [event] = [event for event in kit.events(type=event_type) if event.data["unit"] == unit]
    return event.data


def test_a_whole_amount_is_an_integer_and_a_fractional_one_a_decimal_string(
    kit: CreditKit, clock: ManualClock, receiver: Receiver
) -> None:
    kit.register_webhook_endpoint(receiver.url, idempotency_key="hooks")
    kit.create_customer("ada")  # 20 credits
    kit.set_alerts("ada", unit="tokens", credits_left="2.50")
    kit.grant("ada", "10.00", unit="tokens", idempotency_key="tokens")
    kit.charge("ada", 15, idempotency_key="credits-low")  # 5 credits left: crossed
    kit.charge("ada", "7.75", unit="tokens", idempotency_key="tokens-low")  # 2.25 left

    whole = data_of(kit, "credits.low", "credits")
    assert (whole["available"], whole["credits_left"]) == (5, 5)
    assert whole["available"] == rest_available(kit, "ada", "credits")
    fractional = data_of(kit, "credits.low", "tokens")
    assert (fractional["available"], fractional["credits_left"]) == ("2.25", "2.50")
    assert fractional["available"] == rest_available(kit, "ada", "tokens")

    kit.reserve("ada", 3, idempotency_key="h1", timeout_seconds=60)
    kit.reserve("ada", "1.50", unit="tokens", idempotency_key="h2", timeout_seconds=60)
    clock.advance(seconds=61)
    assert kit.tick().holds_expired == 2
    assert data_of(kit, "hold.expired", "credits")["amount"] == 3
    assert data_of(kit, "hold.expired", "tokens")["amount"] == "1.50"

    with kit.worker() as worker:
        worker.run_once()
    delivered = {
        (body["type"], body["data"].get("unit")): body["data"]
        for body in (json.loads(request.body) for request in receiver.received)
    }
    assert delivered[("credits.low", "credits")]["available"] == 5
    assert delivered[("credits.low", "tokens")]["available"] == "2.25"
    assert delivered[("hold.expired", "tokens")]["amount"] == "1.50"
