"""What the parts of payments share: the services they work on and the provider, the item a
payment sells, a payment's row as first recorded, and a payment read by id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from creditkit.catalog import Catalog, Interval
from creditkit.clock import Clock
from creditkit.errors import InvalidRequest
from creditkit.ledger.schemas import Money
from creditkit.ledger.service import LedgerService
from creditkit.payments import pricing, repository
from creditkit.payments.errors import PaymentNotFound
from creditkit.payments.providers import PaymentProvider
from creditkit.payments.schemas import PaymentKind, PaymentStatus
from creditkit.store.database import Database
from creditkit.store.unit_of_work import CustomerRow
from creditkit.subscriptions.service import SubscriptionService


@dataclass(frozen=True, slots=True)
class PaymentContext:
    ledger: LedgerService
    database: Database
    clock: Clock
    catalog: Catalog
    subscriptions: SubscriptionService
    provider: PaymentProvider


@dataclass(frozen=True, slots=True)
class Item:
    """What a payment sells."""

    kind: PaymentKind
    pack: str | None
    plan: str | None
    interval: Interval | None
    description: str
    price: Money


def payment_values(
    provider_name: str,
    holder: CustomerRow,
    item: Item,
    priced: pricing.Priced,
    key: str,
    now: datetime,
    *,
    period_start: datetime | None = None,
    next_attempt_at: datetime | None = None,
) -> dict[str, Any]:
    """A pending payment's row, as ``repository.insert_payment`` records it."""
    return {
        "idempotency_key": key,
        "customer_id": holder.id,
        "provider": provider_name,
        "kind": item.kind.value,
        "status": PaymentStatus.PENDING.value,
        "pack_id": item.pack,
        "plan_id": item.plan,
        "interval": None if item.interval is None else item.interval.value,
        "coupon_id": priced.coupon_id,
        "discount_id": priced.discount_id,
        "subtotal_minor": priced.subtotal.amount_minor,
        "discount_minor": priced.discount_minor,
        "amount_minor": priced.amount.amount_minor,
        "currency": priced.subtotal.currency,
        "lines": [
            {"description": line.description, "amount_minor": line.amount_minor}
            for line in priced.lines
        ],
        "period_start": period_start,
        "attempts": 0,
        "next_attempt_at": next_attempt_at,
        "created_at": now,
        "updated_at": now,
    }


def read_payment_row(database: Database, payment_id: int) -> Any:
    """The payment's row; raises ``PaymentNotFound``, or ``InvalidRequest`` for an id that is
    not an int."""
    if isinstance(payment_id, bool) or not isinstance(payment_id, int):
        raise InvalidRequest("payment_id", "must be an int")
    with database.read() as connection:
        row = repository.payment_by_id(connection, payment_id)
    if row is None:
        raise PaymentNotFound(payment_id)
    return row
