"""Numbered receipts, and the read views of payments and receipts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.catalog import Interval
from creditkit.errors import require
from creditkit.ledger.schemas import Money
from creditkit.payments import repository
from creditkit.payments.schemas import (
    Payment,
    PaymentKind,
    PaymentStatus,
    Receipt,
    ReceiptKind,
    ReceiptLine,
)
from creditkit.store.unit_of_work import CustomerRow


def issue_receipt(
    connection: Connection,
    holder: CustomerRow,
    source_key: str,
    kind: ReceiptKind,
    lines: Sequence[ReceiptLine],
    subtotal_minor: int,
    discount_minor: int,
    currency: str,
    payment_id: int | None,
    billing_line_id: int | None,
    now: datetime,
) -> int:
    """Issues the next numbered receipt, once per ``source_key``; returns its number."""
    lines_minor = sum(line.amount_minor for line in lines)
    require(
        lines_minor == subtotal_minor - discount_minor,
        "a receipt's lines add up to its subtotal less its discount",
        f"lines {lines_minor}, subtotal {subtotal_minor}, discount {discount_minor}",
    )
    number = repository.next_receipt_number(connection)
    repository.insert_receipt(
        connection,
        {
            "number": number,
            "source_key": source_key,
            "customer_id": holder.id,
            "kind": kind.value,
            "payment_id": payment_id,
            "billing_line_id": billing_line_id,
            "lines": [
                {"description": line.description, "amount_minor": line.amount_minor}
                for line in lines
            ],
            "subtotal_minor": subtotal_minor,
            "discount_minor": discount_minor,
            "total_minor": subtotal_minor - discount_minor,
            "currency": currency,
            "created_at": now,
        },
    )
    return number


def payment_view(row: Any) -> Payment:
    return Payment(
        id=row.id,
        customer=row.external_id,
        provider=row.provider,
        kind=PaymentKind(row.kind),
        status=PaymentStatus(row.status),
        pack=row.pack_id,
        plan=row.plan_id,
        interval=None if row.interval is None else Interval(row.interval),
        coupon=row.coupon_id,
        subtotal=Money(row.subtotal_minor, row.currency),
        discount=Money(row.discount_minor, row.currency),
        amount=Money(row.amount_minor, row.currency),
        lines=receipt_lines(row.lines),
        grant_id=row.grant_id,
        provider_payment_id=row.provider_payment_id,
        created_at=row.created_at,
        succeeded_at=row.succeeded_at,
        failure_reason=row.failure_reason,
        grace_ends_at=row.grace_ends_at,
        refunded=None if row.refunded_minor is None else Money(row.refunded_minor, row.currency),
    )


def receipt_lines(stored: Sequence[dict[str, Any]]) -> tuple[ReceiptLine, ...]:
    return tuple(ReceiptLine(line["description"], line["amount_minor"]) for line in stored)


def receipt_view(row: Any) -> Receipt:
    return Receipt(
        id=row.id,
        number=row.number,
        customer=row.external_id,
        kind=ReceiptKind(row.kind),
        lines=receipt_lines(row.lines),
        subtotal=Money(row.subtotal_minor, row.currency),
        discount=Money(row.discount_minor, row.currency),
        total=Money(row.total_minor, row.currency),
        payment_id=row.payment_id,
        billing_line_id=row.billing_line_id,
        created_at=row.created_at,
    )
