"""Helpers of the payments tests: Stripe-signed webhooks, the outbox, row counts."""

from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa

from creditkit import CreditKit
from creditkit.notify.schemas import Event, EventType
from creditkit.outbox.writer import events_after
from creditkit.payments.providers import SIGNATURE_HEADER, signature_header

STRIPE_SECRET = "whsec_test_secret"
#: Packs, two paid plans, coupons and a volume discount (the payments tests' catalog).
CATALOG = """\
units:
  credits: {scale: 0}
plans:
  free:
    name: Free
    default: true
    rank: 0
    prices: {month: {amount: 0, currency: USD}}
    allowance: {amount: 10, unit: credits}
  pro:
    name: Pro
    rank: 1
    prices:
      month: {amount: 2900, currency: USD}
      year: {amount: 27800, currency: USD}
    allowance: {amount: 1000, unit: credits}
    overage:
      unit: credits
      price: {amount: 500, currency: USD, per: 1000}
      spend_limit: 5000
packs:
  small: {name: "300 credits", amount: 300, unit: credits, price: {amount: 1000, currency: USD}}
  once: {name: "Starter", amount: 50, unit: credits, price: {amount: 100, currency: USD},
    purchase_limit: 1}
  free_trial: {name: "Trial", amount: 5, unit: credits, price: {amount: 0, currency: USD},
    purchase_limit: 1}
coupons:
  annual: {name: "Annual launch", percent_off: 20, intervals: [year], max_redemptions: 1}
  dollar: {name: "A dollar off", amount_off: {amount: 100, currency: USD}, packs: [small]}
  lapsed: {percent_off: 10, expires_at: "2025-12-31T23:59:59Z"}
discounts:
  agency: {name: "Agency", percent_off: 15, min_owner_workspaces: 3}
"""

URLS = {"success_url": "https://app.test/paid", "cancel_url": "https://app.test/cancel"}


def stripe_event(
    event_type: str, item: dict[str, Any], event_id: str, secret: str = STRIPE_SECRET
) -> tuple[bytes, dict[str, str]]:
    """A webhook as Stripe sends it: the event's JSON, signed with the endpoint secret. The
    timestamp is the wall clock's: the SDK checks it against the wall clock (a webhook signed
    more than five minutes ago is refused), not against creditkit's clock."""
    body = {"id": event_id, "object": "event", "type": event_type, "data": {"object": item}}
    payload = json.dumps(body).encode()
    return payload, {SIGNATURE_HEADER: signature_header(payload, secret, int(time.time()))}


def outbox(ck: CreditKit, type: EventType | None = None) -> list[Event]:
    with ck._database.read() as connection:
        return events_after(connection, 0, type=type)


def count_rows(ck: CreditKit, table: str) -> int:
    with ck._database.read() as connection:
        return int(connection.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())
