"""Provider webhooks: verified, then applied exactly once per event id, in one transaction under
the lock of the customer they concern: a checkout paid or ended, a renewal invoice paid or
failed, the provider's subscription changed or ended, a refund made at the provider."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.engine import Connection

from creditkit.derived_keys import invoice_key
from creditkit.payments import repository
from creditkit.payments.context import PaymentContext
from creditkit.payments.errors import UnknownProvider, WebhookRejected
from creditkit.payments.fulfilment import Fulfilment
from creditkit.payments.providers import PaymentProvider, SubscriptionBilling
from creditkit.payments.refunds import Refunds
from creditkit.payments.renewals import Renewals
from creditkit.payments.schemas import (
    PaymentStatus,
    ProviderEvent,
    ProviderEventType,
    ProviderSubscription,
    WebhookOutcome,
)
from creditkit.payments.subscription_changes import SubscriptionChanges
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork
from creditkit.subscriptions.schemas import SubscriptionStatus

#: Stripe's webhook bodies are far smaller; a larger body is not a provider's.
WEBHOOK_PAYLOAD_BYTES_MAX = 1_048_576
#: Provider states of a subscription that end it (it will not be paid again).
ENDED_SUBSCRIPTION_STATES = frozenset({"canceled", "unpaid", "incomplete_expired"})

_CHECKOUT_PAID = (
    ProviderEventType.CHECKOUT_COMPLETED,
    ProviderEventType.CHECKOUT_PAYMENT_SUCCEEDED,
)
_CHECKOUT_ENDED = (ProviderEventType.CHECKOUT_EXPIRED, ProviderEventType.CHECKOUT_PAYMENT_FAILED)
_INVOICE_EVENTS = (ProviderEventType.INVOICE_PAID, ProviderEventType.INVOICE_PAYMENT_FAILED)
_SUBSCRIPTION_EVENTS = (
    ProviderEventType.SUBSCRIPTION_UPDATED,
    ProviderEventType.SUBSCRIPTION_DELETED,
)
#: Rounds of reading the provider's subscription again after applying an update (see
#: ``Webhooks._converge``): each round follows one change made while the round before ran.
CONVERGE_ROUNDS_MAX = 3


class Webhooks:
    def __init__(
        self,
        context: PaymentContext,
        fulfilment: Fulfilment,
        renewals: Renewals,
        refunds: Refunds,
        changes: SubscriptionChanges,
    ) -> None:
        self._ledger = context.ledger
        self._database = context.database
        self._subscriptions = context.subscriptions
        self._provider = context.provider
        self._fulfilment = fulfilment
        self._renewals = renewals
        self._refunds = refunds
        self._changes = changes

    def _provider_named(self, name: object) -> PaymentProvider:
        if name != self._provider.name:
            raise UnknownProvider(str(name))
        return self._provider

    def handle_webhook(
        self, provider: str, payload: bytes, headers: Mapping[str, str]
    ) -> WebhookOutcome:
        """Verifies and applies one provider event, exactly once per event id. Raises
        ``WebhookRejected`` (answer 400) for a bad signature or body; returns ``applied=False``
        for a replay or an event that is not about this app's payments (answer 2xx)."""
        source = self._provider_named(provider)
        if not isinstance(payload, bytes | bytearray):
            raise WebhookRejected(source.name, "the payload must be the raw body as bytes")
        if len(payload) > WEBHOOK_PAYLOAD_BYTES_MAX:
            raise WebhookRejected(source.name, f"larger than {WEBHOOK_PAYLOAD_BYTES_MAX} bytes")
        event = source.parse_event(bytes(payload), headers)
        subject = None if event.kind is None else self._subject(event)
        if subject is None:
            return WebhookOutcome(source.name, event.id, event.type, applied=False)
        customer, payment_id = subject

        def apply(context: UnitOfWork) -> bool:
            if not repository.record_event(
                context.connection, source.name, event.id, event.type, payment_id, context.now
            ):
                return False  # seen before: a replay, or a duplicate that waited for our lock
            # Recorded either way (it is not applied later); ``applied`` says whether it
            # changed anything, e.g. not a payment that had already failed.
            return self._apply(
                context.connection, context.customers[customer], event, payment_id, context.now
            )

        applied = self._ledger.locked_write([customer], apply)
        updated = event.kind is ProviderEventType.SUBSCRIPTION_UPDATED
        if updated and event.subscription is not None and isinstance(source, SubscriptionBilling):
            self._converge(source, customer, event.subscription)
        return WebhookOutcome(source.name, event.id, event.type, applied, payment_id)

    def _converge(
        self, source: SubscriptionBilling, customer: str, applied: ProviderSubscription
    ) -> None:
        """The provider's state was read before the customer's lock was taken, so two
        deliveries at once may commit in the other order, the older state last. Reading it
        again after the commit and applying it when it moved makes the last write the newest
        state: whoever commits last reads after it."""
        for _round in range(CONVERGE_ROUNDS_MAX):
            current = source.subscription_state(applied.id)
            if current == applied:
                return

            def follow(
                context: UnitOfWork,
                state: ProviderSubscription = current,
            ) -> None:
                holder = context.customers[customer]
                if state.status in ENDED_SUBSCRIPTION_STATES:
                    return  # its ``deleted`` event ends it, recorded as its own event
                self._changes.follow(context.connection, holder, state, context.now)

            self._ledger.locked_write([customer], follow)
            applied = current

    def _subject(self, event: ProviderEvent) -> tuple[str, int | None] | None:
        """Whose event it is: the customer (and payment) it concerns, or None when it is not
        about a payment of this app (another app may share the provider's account)."""
        provider = self._provider.name
        with self._database.read() as connection:
            if event.kind in _INVOICE_EVENTS or event.kind in _SUBSCRIPTION_EVENTS:
                if event.subscription_reference is None:
                    return None
                customer = repository.customer_by_subscription(
                    connection, provider, event.subscription_reference
                )
                return None if customer is None else (customer, None)
            if event.kind is ProviderEventType.CHARGE_REFUNDED:
                row = (
                    None
                    if event.payment_reference is None
                    else repository.payment_by_reference(
                        connection, provider, event.payment_reference
                    )
                )
            else:
                row = (
                    None
                    if event.session_id is None
                    else repository.payment_by_session(connection, provider, event.session_id)
                )
        return None if row is None else (row.external_id, row.id)

    def _apply(
        self,
        connection: Connection,
        holder: CustomerRow,
        event: ProviderEvent,
        payment_id: int | None,
        now: datetime,
    ) -> bool:
        """Applies the event; False when it changed nothing."""
        kind = event.kind
        if kind in _INVOICE_EVENTS:
            self._apply_invoice(connection, holder, event, now)
            return True
        if kind in _SUBSCRIPTION_EVENTS:
            self._apply_subscription(connection, holder, event, now)
            return True
        if payment_id is None:
            raise WebhookRejected(self._provider.name, f"event {event.id} names no payment")
        row = repository.read_payment(connection, payment_id)
        if kind is ProviderEventType.CHARGE_REFUNDED:
            self._refunds.refunded_at_provider(connection, holder, row, event, now)
            return True
        if kind in _CHECKOUT_PAID and event.paid:
            if PaymentStatus(row.status) is not PaymentStatus.PENDING:
                return False  # decided before: a paid event cannot revive a failed payment
            self._save_checkout_account(connection, holder, event, now)
            period_start = None if event.subscription is None else event.subscription.period_start
            return self._fulfilment.succeed(
                connection, holder, row, event.payment_reference, now, period_start=period_start
            )
        if kind in _CHECKOUT_ENDED:
            return self._fulfilment.fail(
                connection, holder, row, event.failure_reason or kind.value, now
            )
        return False

    def _save_checkout_account(
        self, connection: Connection, holder: CustomerRow, event: ProviderEvent, now: datetime
    ) -> None:
        values = {
            name: value
            for name, value in (
                ("payment_method", event.payment_method),
                ("provider_customer_id", event.customer_reference),
                ("provider_subscription_id", event.subscription_reference),
            )
            if value is not None
        }
        if values:
            repository.save_account(connection, holder.id, self._provider.name, values, now)

    def _apply_invoice(
        self, connection: Connection, holder: CustomerRow, event: ProviderEvent, now: datetime
    ) -> None:
        """A renewal the provider charged: one payment per invoice, failed (perhaps several
        times) and then paid, or paid. The first invoice is the checkout's, paid there."""
        if event.billing_reason == "subscription_create" or event.invoice_id is None:
            return
        if self._subscriptions.paid_period(connection, holder) is None:
            return  # not on a paid plan any more (its grace period ended): nothing to renew
        key = invoice_key(self._provider.name, event.invoice_id)
        period = None
        if event.period_start is not None and event.period_end is not None:
            period = (event.period_start, event.period_end)
        recorded = repository.payment_by_key(connection, key)
        paid_before = recorded is not None and recorded.status == PaymentStatus.SUCCEEDED
        if event.kind is ProviderEventType.INVOICE_PAID and not paid_before:
            # The invoice's period (the run's next one, for an invoice that names none) starts
            # now that it is paid, its allowance granted, before its payment is recorded: the
            # payment and receipt name that period.
            self._subscriptions.renew_collected(connection, holder, period, now)
        row = self._renewals.renewal(connection, holder, key, now, period=period)
        if row is None:
            return
        if event.kind is ProviderEventType.INVOICE_PAID:
            self._fulfilment.succeed(connection, holder, row, event.payment_reference, now)
        else:
            self._fulfilment.fail(
                connection, holder, row, event.failure_reason or "invoice_payment_failed", now
            )

    def _apply_subscription(
        self, connection: Connection, holder: CustomerRow, event: ProviderEvent, now: datetime
    ) -> None:
        ended = (
            event.kind is ProviderEventType.SUBSCRIPTION_DELETED
            or event.subscription_status in ENDED_SUBSCRIPTION_STATES
        )
        if ended:
            self._subscriptions.fall_back(connection, holder, now)
            values = {"provider_subscription_id": None}
            repository.save_account(connection, holder.id, self._provider.name, values, now)
            return
        if event.subscription is not None:
            # Plan, interval, period end and cancellation as the provider holds them now (the
            # billing portal's changes, or creditkit's own coming back).
            self._changes.follow(connection, holder, event.subscription, now)
        if event.subscription_status == "active":
            self._subscriptions.set_status(connection, holder, SubscriptionStatus.ACTIVE, now)
