"""Fulfilment: a payment decided once, under its customer's lock. A success grants the pack,
starts the plan or reactivates the subscription, then issues the receipt and writes
``payment.succeeded``; a failure gives a checkout's redemptions back, or puts a renewal's
subscription in ``past_due`` for its grace period, and writes ``payment.failed``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.derived_keys import payment_bonus_key, payment_key
from creditkit.errors import present
from creditkit.ledger import repository as ledger_repository
from creditkit.ledger.schemas import GrantSource, Money
from creditkit.outbox.types import EventType
from creditkit.outbox.writer import emit
from creditkit.payments import repository
from creditkit.payments.context import PaymentContext
from creditkit.payments.receipts import issue_receipt, receipt_lines
from creditkit.payments.schemas import PaymentKind, PaymentStatus, ReceiptKind
from creditkit.store.unit_of_work import CustomerRow
from creditkit.subscriptions.schemas import SubscriptionStatus

#: Off-session attempts of one payment, in all: a failing card is not charged forever.
CHARGE_ATTEMPTS_MAX = 4
#: A declined renewal is tried again a day later, while its grace period lasts.
RENEWAL_RETRY_SECONDS = 86_400
FAILURE_REASON_LENGTH_MAX = 255

_RECEIPT_KINDS = {
    PaymentKind.PACK: ReceiptKind.PURCHASE,
    PaymentKind.PLAN: ReceiptKind.SUBSCRIPTION,
    PaymentKind.RENEWAL: ReceiptKind.SUBSCRIPTION,
    PaymentKind.TOP_UP: ReceiptKind.TOP_UP,
}


class Fulfilment:
    def __init__(self, context: PaymentContext, grace_period: timedelta) -> None:
        self._ledger = context.ledger
        self._catalog = context.catalog
        self._subscriptions = context.subscriptions
        self._provider = context.provider
        self._grace_period = grace_period

    def succeed(
        self,
        connection: Connection,
        holder: CustomerRow,
        row: Any,
        payment_reference: str | None,
        now: datetime,
        period_start: datetime | None = None,
    ) -> bool:
        """Fulfils a payment once: grants the pack, starts the plan (its periods from
        ``period_start``, the provider's subscription's, when given), or reactivates the
        subscription; then its receipt and ``payment.succeeded``. False when already decided."""
        status, kind = PaymentStatus(row.status), PaymentKind(row.kind)
        if not (status is PaymentStatus.PENDING or self._in_grace(row, status)):
            return False
        grant_id = None
        if kind is PaymentKind.PACK:
            # Checked again here, under the lock: two checkouts opened before either was paid
            # both passed the check at opening. The second payment grants nothing and is
            # recorded failed, naming the limit (its money is the operator's to refund).
            offer = self._catalog.pack(row.pack_id)
            refusal = self._ledger.purchase_limit_refusal(
                connection, holder, offer.id, offer.purchase_limit
            )
            if refusal is not None:
                return self.fail(connection, holder, row, f"{refusal.code}: {refusal}", now)
        if kind in (PaymentKind.PACK, PaymentKind.TOP_UP):
            grant_id = self._grant_pack(connection, holder, row, now)
        elif kind is PaymentKind.PLAN:
            self._subscriptions.start_paid(
                connection, holder, row.plan_id, row.interval, now, period_start
            )
        else:
            self._subscriptions.set_status(connection, holder, SubscriptionStatus.ACTIVE, now)
        repository.update_payment(
            connection,
            row.id,
            status,
            {
                "status": PaymentStatus.SUCCEEDED.value,
                "succeeded_at": now,
                "updated_at": now,
                "provider_payment_id": payment_reference or row.provider_payment_id,
                "grant_id": grant_id,
                "next_attempt_at": None,
                "grace_ends_at": None,
                "failure_reason": None,
            },
        )
        number = self._receipt_for_payment(connection, holder, row, now)
        emit(
            connection,
            EventType.PAYMENT_SUCCEEDED,
            holder.id,
            {**self._event_data(row), "grant_id": grant_id, "receipt_number": number},
            now,
        )
        return True

    @staticmethod
    def _in_grace(row: Any, status: PaymentStatus) -> bool:
        """A failed renewal may still be paid until its grace period has ended."""
        return (
            status is PaymentStatus.FAILED
            and row.kind == PaymentKind.RENEWAL
            and row.grace_ends_at is not None
        )

    def _grant_pack(
        self, connection: Connection, holder: CustomerRow, row: Any, now: datetime
    ) -> int:
        """``CreditKit.grant_pack``'s grant, at the price actually paid as its cost basis,
        under a key derived from the payment."""
        offer = self._catalog.pack(row.pack_id)
        expires_at = None
        if offer.expires_after_days is not None:
            expires_at = now + timedelta(days=offer.expires_after_days)
        grant_id = self._ledger.post_grant(
            connection,
            holder,
            payment_key(row.id),
            self._ledger.unit(offer.unit).to_steps(offer.amount) * row.quantity,
            offer.unit,
            GrantSource.PURCHASE,
            expires_at,
            now,
            {"pack": offer.id, "payment_id": row.id},
            cost_basis=Money(row.amount_minor, row.currency),
            action=f"pack:{offer.id}",
            applies_to=offer.applies_to,
        )
        if offer.bonus:
            # The bonus is a promotion of its own: no cost basis, so the paid grant's basis is
            # the whole price (refunds and revenue read it), and a refund takes it back.
            self._ledger.post_grant(
                connection, holder, bonus_key(row.id),
                self._ledger.unit(offer.unit).to_steps(offer.bonus) * row.quantity, offer.unit,
                GrantSource.PROMO,
                expires_at, now, {"pack": offer.id, "payment_id": row.id, "bonus": True},
                applies_to=offer.applies_to,
            )  # fmt: skip
        # None when the grant's key is taken: this payment was fulfilled before it succeeded.
        return present(grant_id, "a payment is fulfilled once, when it succeeds")

    def fail(
        self, connection: Connection, holder: CustomerRow, row: Any, reason: str, now: datetime
    ) -> bool:
        """Records a failed payment and ``payment.failed``. A checkout gives its redemptions
        back; a renewal puts the subscription in ``past_due`` until its grace period ends."""
        status, kind = PaymentStatus(row.status), PaymentKind(row.kind)
        if not (status is PaymentStatus.PENDING or self._in_grace(row, status)):
            return False
        values: dict[str, Any] = {
            "status": PaymentStatus.FAILED.value,
            "failure_reason": reason[:FAILURE_REASON_LENGTH_MAX],
            "updated_at": now,
            "next_attempt_at": None,
        }
        if kind is PaymentKind.RENEWAL:
            grace_ends_at = row.grace_ends_at or now + self._grace_period
            values["grace_ends_at"] = grace_ends_at
            retry_at = now + timedelta(seconds=RENEWAL_RETRY_SECONDS)
            if (
                not self._provider.bills_subscriptions
                and row.attempts < CHARGE_ATTEMPTS_MAX
                and retry_at < grace_ends_at
            ):
                values["next_attempt_at"] = retry_at
            self._subscriptions.set_status(connection, holder, SubscriptionStatus.PAST_DUE, now)
            ledger_repository.lower_next_due_at(connection, holder.id, grace_ends_at)
        else:
            for used in (row.coupon_id, row.discount_id):
                if used is not None:
                    repository.release(connection, used)
        repository.update_payment(connection, row.id, status, values)
        data = {**self._event_data(row), "reason": values["failure_reason"]}
        if "grace_ends_at" in values:
            data["grace_ends_at"] = values["grace_ends_at"].isoformat()
        emit(connection, EventType.PAYMENT_FAILED, holder.id, data, now)
        return True

    @staticmethod
    def _event_data(row: Any) -> dict[str, Any]:
        return {
            "payment_id": row.id,
            "kind": row.kind,
            "pack": row.pack_id,
            "plan": row.plan_id,
            "amount_minor": row.amount_minor,
            "currency": row.currency,
        }

    def _receipt_for_payment(
        self, connection: Connection, holder: CustomerRow, row: Any, now: datetime
    ) -> int:
        return issue_receipt(
            connection, holder, f"payment:{row.id}", _RECEIPT_KINDS[PaymentKind(row.kind)],
            list(receipt_lines(row.lines)), row.subtotal_minor, row.discount_minor, row.currency,
            row.id, None, now,
        )  # fmt: skip


def bonus_key(payment_id: int) -> str:
    """The ledger key of the bonus grant of a pack's payment."""
    return payment_bonus_key(payment_id)
