"""Refunds: a pack or top-up refunded within the refund window takes back the purchase's unused
credits and returns their share of the price through the provider; a refund made at the
provider (its dashboard) takes them back the same way, once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.errors import present, require
from creditkit.ledger import repository as ledger_repository
from creditkit.ledger.repository import CustomerRow
from creditkit.ledger.schemas import Money
from creditkit.payments import repository
from creditkit.payments.context import PaymentContext, read_payment_row
from creditkit.payments.errors import RefundRefused
from creditkit.payments.schemas import PaymentKind, PaymentStatus, ProviderEvent, Refund
from creditkit.subscriptions.service import prorate


class Refunds:
    def __init__(self, context: PaymentContext, refund_window: timedelta) -> None:
        self._ledger = context.ledger
        self._provider = context.provider
        self._refund_window = refund_window

    def refund(self, payment_id: int) -> Refund:
        """Refunds a pack or top-up within the refund window: takes back the purchase's unused
        credits (what was spent stays spent) and returns the price times unused over granted,
        rounded half up to the minor unit (see docs/payments.md). Once per payment: calling it
        again returns the same refund, and finishes one whose provider call failed."""
        row = read_payment_row(self._ledger, payment_id)
        customer = row.external_id

        def take_back(connection: Connection, locked: dict[str, CustomerRow], now: datetime) -> Any:
            current = repository.read_payment(connection, payment_id)
            status = PaymentStatus(current.status)
            if status in (PaymentStatus.REFUNDING, PaymentStatus.REFUNDED):
                return current
            self._check_refundable(current, status, now)
            taken = self._ledger.post_refund(
                connection, locked[customer], f"creditkit:refund:{payment_id}", current.grant_id,
                now, {"payment_id": payment_id},
            )  # fmt: skip
            if taken == 0:
                raise RefundRefused(payment_id, "every credit of the purchase is spent")
            granted = present(
                ledger_repository.grant_holding(connection, current.grant_id),
                "a succeeded purchase's grant is held",
            )
            money = prorate(current.amount_minor, taken, granted.amount_granted)
            values = {
                "status": PaymentStatus.REFUNDING.value,
                "refunded_minor": money,
                "updated_at": now,
            }
            repository.update_payment(connection, payment_id, status.value, values)
            return repository.read_payment(connection, payment_id)

        row = self._ledger.locked_write([customer], take_back)
        if row.status == PaymentStatus.REFUNDING:
            row = self._return_money(row)
        return self._refund_view(row)

    def _check_refundable(self, row: Any, status: PaymentStatus, now: datetime) -> None:
        if PaymentKind(row.kind) not in (PaymentKind.PACK, PaymentKind.TOP_UP):
            raise RefundRefused(row.id, "only credit purchases (packs, top-ups) are refunded")
        if status is not PaymentStatus.SUCCEEDED:
            reason = "" if row.failure_reason is None else f" ({row.failure_reason})"
            raise RefundRefused(
                row.id, f"the payment is {status.value}{reason}: nothing was paid to refund"
            )
        require(row.grant_id is not None, "a succeeded purchase has its grant", f"payment {row.id}")
        window_end = row.succeeded_at + self._refund_window
        if now > window_end:
            raise RefundRefused(row.id, f"the refund window ended at {window_end.isoformat()}")

    def _return_money(self, row: Any) -> Any:
        """The provider's part of a refund, outside any transaction, then recorded."""
        refund_id = None
        if row.refunded_minor > 0:
            require(
                row.provider_payment_id is not None,
                "a payment refunded at its provider has the provider's id",
                f"payment {row.id}",
            )
            refund_id = self._provider.refund(
                row.provider_payment_id,
                Money(row.refunded_minor, row.currency),
                f"creditkit-refund-{row.id}",
            )

        def record(connection: Connection, _locked: dict[str, CustomerRow], now: datetime) -> Any:
            current = repository.read_payment(connection, row.id)
            if current.status == PaymentStatus.REFUNDING:
                values = {
                    "status": PaymentStatus.REFUNDED.value,
                    "provider_refund_id": refund_id,
                    "updated_at": now,
                }
                repository.update_payment(connection, row.id, PaymentStatus.REFUNDING.value, values)
            return repository.read_payment(connection, row.id)

        return self._ledger.locked_write([row.external_id], record)

    def refunded_at_provider(
        self,
        connection: Connection,
        holder: CustomerRow,
        row: Any,
        event: ProviderEvent,
        now: datetime,
    ) -> None:
        """A refund made at the provider (Stripe's dashboard): the purchase's unused credits
        are taken back once, under the same key as a refund made here; one made here and
        echoed back by the provider takes nothing more."""
        status = PaymentStatus(row.status)
        values: dict[str, Any] = {"status": PaymentStatus.REFUNDED.value, "updated_at": now}
        if status is PaymentStatus.REFUNDING:
            repository.update_payment(connection, row.id, status.value, values)
            return
        if status is not PaymentStatus.SUCCEEDED:
            return
        if row.grant_id is not None:
            self._ledger.post_refund(
                connection, holder, f"creditkit:refund:{row.id}", row.grant_id, now,
                {"payment_id": row.id, "refunded_at_provider": True},
            )  # fmt: skip
        refunded = event.amount_refunded_minor
        values["refunded_minor"] = (
            row.amount_minor if refunded is None else min(refunded, row.amount_minor)
        )
        repository.update_payment(connection, row.id, status.value, values)

    def _refund_view(self, row: Any) -> Refund:
        with self._ledger.database.read() as connection:
            taken = ledger_repository.find_transaction(connection, f"creditkit:refund:{row.id}")
            holding = present(
                ledger_repository.grant_holding(connection, row.grant_id),
                "a refunded purchase's grant is held",
            )
        unit = self._ledger.unit(holding.unit)
        credits = unit.to_quantity(0 if taken is None else taken.amount)
        return Refund(
            row.id,
            PaymentStatus(row.status),
            unit.name,
            credits,
            Money(row.refunded_minor or 0, row.currency),
        )
