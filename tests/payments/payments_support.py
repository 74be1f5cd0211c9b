"""Helpers of the payments tests: Stripe-signed webhooks, the outbox, row counts."""

from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa

from creditkit import CreditKit
from creditkit.notify.outbox import events_after
from creditkit.notify.schemas import Event, EventType
from creditkit.payments.providers import SIGNATURE_HEADER, signature_header

STRIPE_SECRET = "whsec_test_secret"
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
    with ck._ledger.database.read() as connection:
        return events_after(connection, 0, type=type)


def count_rows(ck: CreditKit, table: str) -> int:
    with ck._ledger.database.read() as connection:
        return int(connection.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())
