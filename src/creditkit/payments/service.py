"""Payments: checkouts of packs and plans, provider webhooks, refunds, renewals and their grace
period, auto top-ups, and numbered receipts.

Two rules shape everything here:

- **No provider call inside a database transaction.** A write that needs the provider is split:
  a transaction records what is to happen (a pending payment, a refund's credits taken back),
  the provider is called with an idempotency key derived from that record, and a second
  transaction records the answer. A crash between them leaves a record that the same call
  (or the next worker run) resumes, and the provider's idempotency key makes the retried call
  the same money movement.
- **Exactly-once fulfilment.** A payment's status moves by guarded updates under its customer's
  lock (``LedgerService.locked_write``); each provider event id is recorded once in that same
  transaction; the credits it grants are posted under a key derived from the payment. A
  replayed or concurrent duplicate webhook therefore grants nothing twice, and the
  ``payment.succeeded`` / ``payment.failed`` event is written in the transaction of the change
  it reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from creditkit.catalog import Catalog, Discount, DiscountKind, Interval, Pack
from creditkit.errors import IdempotencyConflict, InvalidRequest
from creditkit.keys import repository as keys_repository
from creditkit.ledger import repository as ledger_repository
from creditkit.ledger.checks import EXTERNAL_ID_LENGTH_MAX, IDEMPOTENCY_KEY_LENGTH_MAX, check_text
from creditkit.ledger.repository import CustomerRow
from creditkit.ledger.schemas import CustomerKind, GrantSource, Money
from creditkit.ledger.service import LedgerService
from creditkit.notify.outbox import emit
from creditkit.notify.schemas import EventType
from creditkit.payments import pricing, repository
from creditkit.payments.errors import (
    CheckoutClosed,
    CheckoutNotFound,
    CouponNotApplicable,
    PaymentNotFound,
    ProviderError,
    ReceiptNotFound,
    RefundRefused,
    UnknownProvider,
    WebhookRejected,
)
from creditkit.payments.providers import PaymentProvider
from creditkit.payments.receipts import (
    issue_receipt,
    payment_view,
    receipt_lines,
    receipt_view,
)
from creditkit.payments.sandbox import (
    CARD_SUCCEEDS,
    WEBHOOK_SECRET_NAME,
    SandboxProvider,
    new_webhook_secret,
)
from creditkit.payments.schemas import (
    ChargeResult,
    ChargeRunReport,
    CheckoutRequest,
    CheckoutSession,
    CheckoutState,
    OffSessionCharge,
    Payment,
    PaymentKind,
    PaymentStatus,
    ProviderEvent,
    ProviderEventType,
    Receipt,
    ReceiptKind,
    ReceiptLine,
    ReceiptPage,
    Refund,
    TopUpSettings,
    WebhookOutcome,
)
from creditkit.store.configured import ConfiguredCustomers
from creditkit.store.tables import to_epoch_microseconds
from creditkit.subscriptions.schemas import SubscriptionStatus
from creditkit.subscriptions.service import SubscriptionService, prorate

REFUND_WINDOW_DAYS_DEFAULT = 14
GRACE_PERIOD_DAYS_DEFAULT = 7
#: Bounds of the settings: a year is longer than any refund or grace policy of the seeds.
SETTING_DAYS_MAX = 365
URL_LENGTH_MAX = 2048
#: Stripe's webhook bodies are far smaller; a larger body is not a provider's.
WEBHOOK_PAYLOAD_BYTES_MAX = 1_048_576
RECEIPTS_PAGE_SIZE_MAX = 500
#: One worker run charges at most this many due payments of a kind.
CHARGES_PER_RUN_MAX = 500
#: A worker holds a due charge this long; one that dies mid-charge leaves it to the next run.
CHARGE_LEASE_SECONDS = 300
#: Off-session attempts of one payment, in all: a failing card is not charged forever.
CHARGE_ATTEMPTS_MAX = 4
#: A declined renewal is tried again a day later, while its grace period lasts.
RENEWAL_RETRY_SECONDS = 86_400
TOP_UPS_PER_DAY_MAX = 100
FAILURE_REASON_LENGTH_MAX = 255
#: Provider states of a subscription that end it (it will not be paid again).
ENDED_SUBSCRIPTION_STATES = frozenset({"canceled", "unpaid", "incomplete_expired"})

_RECEIPT_KINDS = {
    PaymentKind.PACK: ReceiptKind.PURCHASE,
    PaymentKind.PLAN: ReceiptKind.SUBSCRIPTION,
    PaymentKind.RENEWAL: ReceiptKind.SUBSCRIPTION,
    PaymentKind.TOP_UP: ReceiptKind.TOP_UP,
}
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


def _check_days(value: object, field_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(field_name, "must be an int")
    if not 0 <= value <= SETTING_DAYS_MAX:
        raise InvalidRequest(field_name, f"must be from 0 to {SETTING_DAYS_MAX}")
    return value


@dataclass(frozen=True, slots=True)
class PaymentSettings:
    """``provider`` takes checkouts and charges (the offline sandbox by default). Refunds are
    allowed for ``refund_window_days`` after a payment succeeds (seed 004: 14); a failed
    renewal leaves the subscription ``past_due`` for ``grace_period_days`` before it falls back
    to the catalog's default plan."""

    provider: PaymentProvider = field(default_factory=SandboxProvider)
    refund_window_days: int = REFUND_WINDOW_DAYS_DEFAULT
    grace_period_days: int = GRACE_PERIOD_DAYS_DEFAULT

    def __post_init__(self) -> None:
        _check_days(self.refund_window_days, "refund_window_days")
        _check_days(self.grace_period_days, "grace_period_days")


@dataclass(frozen=True, slots=True)
class _Item:
    """What a checkout sells."""

    kind: PaymentKind
    pack: str | None
    plan: str | None
    interval: Interval | None
    description: str
    price: Money


class PaymentService:
    def __init__(
        self,
        ledger: LedgerService,
        catalog: Catalog,
        subscriptions: SubscriptionService,
        settings: PaymentSettings,
    ) -> None:
        self._ledger = ledger
        self._catalog = catalog
        self._subscriptions = subscriptions
        self._provider = self._bound(settings.provider)
        self._refund_window = timedelta(days=settings.refund_window_days)
        self._grace_period = timedelta(days=settings.grace_period_days)
        self._register_coupons()
        if self._provider.bills_subscriptions:
            subscriptions.collect_renewals_with(self._renewals_collected)
        # Most customers have no auto top-up: known in memory, so their charges ask nothing more.
        self._with_top_up = ConfiguredCustomers(repository.customers_with_top_ups)

    def _bound(self, provider: PaymentProvider) -> PaymentProvider:
        """The sandbox signs with its database's own random secret, by the kit's clock: a
        constant secret would let anyone who read the source forge a paid checkout."""
        if not isinstance(provider, SandboxProvider):
            return provider
        ledger = self._ledger
        stored = ledger.database.write(
            lambda connection: keys_repository.shared_secret(
                connection, WEBHOOK_SECRET_NAME, new_webhook_secret(), ledger.now()
            )
        )
        return provider.for_database(stored, ledger.now)

    def _register_coupons(self) -> None:
        """One redemption counter per coupon and discount of the catalog."""
        wanted = [*self._catalog.coupons, *self._catalog.discounts]

        def register(connection: Connection) -> None:
            for coupon_id in set(wanted) - repository.registered_coupons(connection):
                repository.register_coupon(connection, coupon_id)

        for attempt in (1, 2):
            try:
                self._ledger.database.write(register)
                return
            except sa.exc.IntegrityError:
                # Another process registered them between our read and insert: read again.
                if attempt == 2:
                    raise

    def _renewals_collected(self, connection: Connection, holder: CustomerRow) -> bool:
        """Whether the provider holds a live subscription of the customer (a plan's checkout
        made it; its end clears it): then the provider collects the renewals."""
        account = repository.account(connection, holder.id, self._provider.name)
        return account is not None and account.provider_subscription_id is not None

    def _provider_named(self, name: object) -> PaymentProvider:
        if name != self._provider.name:
            raise UnknownProvider(str(name))
        return self._provider

    # -- checkout -----------------------------------------------------------------------------

    def checkout(
        self,
        customer: str,
        *,
        pack: str | None,
        plan: str | None,
        interval: str,
        coupon: str | None,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> CheckoutSession:
        check_text(idempotency_key, "idempotency_key", IDEMPOTENCY_KEY_LENGTH_MAX)
        check_text(success_url, "success_url", URL_LENGTH_MAX)
        check_text(cancel_url, "cancel_url", URL_LENGTH_MAX)
        item = self._item(pack, plan, interval)
        offer = None
        if coupon is not None:
            offer = self._catalog.coupon(check_text(coupon, "coupon", EXTERNAL_ID_LENGTH_MAX))

        def start(connection: Connection, locked: dict[str, CustomerRow], now: datetime) -> Any:
            holder = locked[customer]
            existing = repository.payment_by_key(connection, idempotency_key)
            if existing is not None:
                self._check_same(idempotency_key, existing, holder, item, coupon)
                return existing
            self._check_purchasable(connection, holder, item)
            priced = self._price(connection, holder, item, offer, now)
            values = self._payment_values(holder, item, priced, idempotency_key, now)
            values.update(success_url=success_url, cancel_url=cancel_url)
            payment_id = repository.insert_payment(connection, values)
            return repository.read_payment(connection, payment_id)

        row = self._ledger.locked_write([customer], start)
        if row.provider_session_id is None:
            row = self._open_session(row, item, success_url, cancel_url)
        return CheckoutSession(
            payment_id=row.id,
            provider=row.provider,
            session_id=row.provider_session_id,
            url=row.checkout_url,
            subtotal=Money(row.subtotal_minor, row.currency),
            discount=Money(row.discount_minor, row.currency),
            amount=Money(row.amount_minor, row.currency),
            lines=receipt_lines(row.lines),
        )

    def _item(self, pack: str | None, plan: str | None, interval: str) -> _Item:
        if (pack is None) == (plan is None):
            raise InvalidRequest("pack", "name a pack or a plan (one of them)")
        if pack is not None:
            offer = self._catalog.pack(pack)
            if offer.price.amount_minor == 0:
                raise InvalidRequest("pack", f"pack {pack!r} is free: grant it with grant_pack")
            return _Item(PaymentKind.PACK, pack, None, None, offer.name, offer.price)
        assert plan is not None
        tier = self._catalog.plan(plan)
        try:
            interval_ = Interval(interval)
        except ValueError:
            raise InvalidRequest("interval", "must be 'month' or 'year'") from None
        price = tier.prices.get(interval_)
        if price is None or price.amount_minor == 0:
            raise InvalidRequest(
                "interval", f"plan {plan!r} has no {interval_.value}ly price to pay"
            )
        description = f"{tier.name}, {interval_.value}ly"
        return _Item(PaymentKind.PLAN, None, plan, interval_, description, price)

    @staticmethod
    def _check_same(
        key: str, existing: Any, holder: CustomerRow, item: _Item, coupon: str | None
    ) -> None:
        """A key used again must name the same checkout (the rule "exactly once", docs/rules.md)."""
        interval = None if item.interval is None else item.interval.value
        recorded = {
            "customer": existing.external_id,
            "pack": existing.pack_id,
            "plan": existing.plan_id,
            "interval": existing.interval,
            "coupon": existing.coupon_id,
        }
        asked = {
            "customer": holder.external_id,
            "pack": item.pack,
            "plan": item.plan,
            "interval": interval,
            "coupon": coupon,
        }
        for name, first in recorded.items():
            if asked[name] != first:
                raise IdempotencyConflict(key, name, first, asked[name])

    def _limit_reached(self, connection: Connection, holder: CustomerRow, offer: Pack) -> bool:
        refusal = self._ledger.purchase_limit_refusal(
            connection, holder, offer.id, offer.purchase_limit
        )
        return refusal is not None

    def packs_for_sale(self, customer: str) -> list[Pack]:
        """The packs ``customer`` can buy through checkout now: priced, and under their
        ``purchase_limit`` (a 402 offers only these)."""
        with self._ledger.database.read() as connection:
            holder = ledger_repository.read_customer(connection, customer)
            return [
                offer
                for offer in self._catalog.packs.values()
                if offer.price.amount_minor > 0
                and not self._limit_reached(connection, holder, offer)
            ]

    def _check_purchasable(self, connection: Connection, holder: CustomerRow, item: _Item) -> None:
        if item.pack is not None:
            offer = self._catalog.pack(item.pack)
            refusal = self._ledger.purchase_limit_refusal(
                connection, holder, offer.id, offer.purchase_limit
            )
            if refusal is not None:
                raise refusal
            return
        period = self._subscriptions.paid_period(connection, holder)
        if (
            period is not None
            and (period.plan, period.interval) == (item.plan, item.interval)
            and period.status is SubscriptionStatus.ACTIVE
        ):
            raise InvalidRequest("plan", f"plan {item.plan!r} is the plan in force")

    def _price(
        self,
        connection: Connection,
        holder: CustomerRow,
        item: _Item,
        coupon: Discount | None,
        now: datetime,
    ) -> pricing.Priced:
        """Prices the item and counts the redemptions it uses, in the checkout's transaction
        (so a checkout that fails to be recorded redeems nothing)."""
        volume = pricing.best(
            [
                discount
                for discount in self._catalog.discounts.values()
                if self._eligible(connection, holder, discount, item, now)
            ],
            item.price,
        )
        if coupon is not None:
            reason = self._coupon_refusal(connection, coupon, item, now)
            if reason is not None:
                raise CouponNotApplicable(coupon.id, reason)
        priced = pricing.price(item.description, item.price, volume, coupon)
        if priced.amount.amount_minor == 0:
            raise InvalidRequest("coupon", "the discounts leave nothing to pay")
        for used in (volume, coupon):
            if used is not None and not repository.redeem(
                connection, used.id, used.max_redemptions
            ):
                raise CouponNotApplicable(used.id, "is fully redeemed")
        return priced

    def _eligible(
        self,
        connection: Connection,
        holder: CustomerRow,
        discount: Discount,
        item: _Item,
        now: datetime,
    ) -> bool:
        assert discount.kind is DiscountKind.VOLUME and discount.min_owner_workspaces is not None
        if self._coupon_refusal(connection, discount, item, now) is not None:
            return False
        if holder.kind != CustomerKind.WORKSPACE:
            return False
        owned = repository.owned_workspaces(connection, holder.id)
        return owned >= discount.min_owner_workspaces

    @staticmethod
    def _coupon_refusal(
        connection: Connection, discount: Discount, item: _Item, now: datetime
    ) -> str | None:
        if not discount.applies_to(item.plan, item.pack, item.interval):
            return "does not apply to this purchase"
        if discount.amount_off is not None and discount.amount_off.currency != item.price.currency:
            return f"is in {discount.amount_off.currency}, the price in {item.price.currency}"
        if discount.expires_at is not None and now > discount.expires_at:
            return f"expired at {discount.expires_at.isoformat()}"
        limit = discount.max_redemptions
        if limit is not None and repository.redeemed(connection, discount.id) >= limit:
            return "is fully redeemed"
        return None

    def _payment_values(
        self,
        holder: CustomerRow,
        item: _Item,
        priced: pricing.Priced,
        key: str,
        now: datetime,
        *,
        period_start: datetime | None = None,
        next_attempt_at: datetime | None = None,
    ) -> dict[str, Any]:
        return {
            "idempotency_key": key,
            "customer_id": holder.id,
            "provider": self._provider.name,
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

    def _open_session(self, row: Any, item: _Item, success_url: str, cancel_url: str) -> Any:
        """Asks the provider for the checkout page (outside any transaction), then records it.
        A call that fails leaves the payment pending: the same checkout call resumes here."""
        customer = row.external_id
        session = self._provider.create_checkout(
            CheckoutRequest(
                payment_id=row.id,
                customer=customer,
                provider_customer=self._provider_customer(customer),
                mode="subscription" if item.kind is PaymentKind.PLAN else "payment",
                description=item.description,
                subtotal=Money(row.subtotal_minor, row.currency),
                discount=Money(row.discount_minor, row.currency),
                interval=item.interval,
                success_url=success_url,
                cancel_url=cancel_url,
                idempotency_key=f"creditkit-checkout-{row.id}",
            )
        )

        def attach(connection: Connection, _locked: dict[str, CustomerRow], _now: datetime) -> Any:
            repository.set_session(connection, row.id, session.session_id, session.url)
            return repository.read_payment(connection, row.id)

        return self._ledger.locked_write([customer], attach)

    def _provider_customer(self, customer: str) -> str:
        """The customer's id at the provider, created there once."""
        with self._ledger.database.read() as connection:
            holder = ledger_repository.read_customer(connection, customer)
            found = repository.account(connection, holder.id, self._provider.name)
        if found is not None and found.provider_customer_id is not None:
            return str(found.provider_customer_id)
        created = self._provider.create_customer(customer)

        def save(connection: Connection, locked: dict[str, CustomerRow], now: datetime) -> str:
            holder = locked[customer]
            stored = repository.account(connection, holder.id, self._provider.name)
            if stored is not None and stored.provider_customer_id is not None:
                return str(stored.provider_customer_id)  # a concurrent call stored one first
            values = {"provider_customer_id": created}
            repository.save_account(connection, holder.id, self._provider.name, values, now)
            return created

        return self._ledger.locked_write([customer], save)

    def complete_sandbox_checkout(
        self, session_id: str, card: str = CARD_SUCCEEDS
    ) -> WebhookOutcome:
        """Pays a sandbox checkout with ``card`` (``4242…`` succeeds; see
        ``sandbox.DECLINED_CARDS``), through the same webhook path a real provider uses."""
        if not isinstance(self._provider, SandboxProvider):
            raise UnknownProvider("sandbox")
        check_text(session_id, "session_id", EXTERNAL_ID_LENGTH_MAX)
        check_text(card, "card", EXTERNAL_ID_LENGTH_MAX)
        state = self.checkout_session(session_id)
        if state.payment.status not in (PaymentStatus.PENDING, PaymentStatus.SUCCEEDED):
            # A paid session answers as a replay; any other ended one took no money.
            raise CheckoutClosed(session_id, state.payment.status, state.payment.failure_reason)
        payload, headers = self._provider.completion(session_id, card)
        return self.handle_webhook(self._provider.name, payload, headers)

    def billing_portal(self, customer: str, return_url: str) -> str:
        """The provider's page where ``customer`` changes their card or cancels, returning to
        ``return_url``."""
        check_text(return_url, "return_url", URL_LENGTH_MAX)
        return self._provider.portal(self._provider_customer(customer), return_url)

    def save_payment_method(self, customer: str, payment_method: str) -> None:
        """Records the payment method off-session charges use (a card the host app saved with
        the provider, e.g. through a Stripe SetupIntent); a checkout saves its own."""
        check_text(payment_method, "payment_method", EXTERNAL_ID_LENGTH_MAX)
        self._provider_customer(customer)

        def save(connection: Connection, locked: dict[str, CustomerRow], now: datetime) -> None:
            values = {"payment_method": payment_method}
            repository.save_account(
                connection, locked[customer].id, self._provider.name, values, now
            )

        self._ledger.locked_write([customer], save)

    # -- webhooks -----------------------------------------------------------------------------

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

        def apply(connection: Connection, locked: dict[str, CustomerRow], now: datetime) -> bool:
            if not repository.record_event(
                connection, source.name, event.id, event.type, payment_id, now
            ):
                return False  # seen before: a replay, or a duplicate that waited for our lock
            # Recorded either way (it is not applied later); ``applied`` says whether it
            # changed anything, e.g. not a payment that had already failed.
            return self._apply(connection, locked[customer], event, payment_id, now)

        applied = self._ledger.locked_write([customer], apply)
        return WebhookOutcome(source.name, event.id, event.type, applied, payment_id)

    def _subject(self, event: ProviderEvent) -> tuple[str, int | None] | None:
        """Whose event it is: the customer (and payment) it concerns, or None when it is not
        about a payment of this app (another app may share the provider's account)."""
        provider = self._provider.name
        with self._ledger.database.read() as connection:
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
            self._refunded_at_provider(connection, holder, row, event, now)
            return True
        if kind in _CHECKOUT_PAID and event.paid:
            if PaymentStatus(row.status) is not PaymentStatus.PENDING:
                return False  # decided before: a paid event cannot revive a failed payment
            self._save_checkout_account(connection, holder, event, now)
            return self._succeed(connection, holder, row, event.payment_reference, now)
        if kind in _CHECKOUT_ENDED:
            return self._fail(connection, holder, row, event.failure_reason or kind.value, now)
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
        key = f"creditkit:invoice:{self._provider.name}:{event.invoice_id}"
        period = None
        if event.period_start is not None and event.period_end is not None:
            period = (event.period_start, event.period_end)
        recorded = repository.payment_by_key(connection, key)
        paid_before = recorded is not None and recorded.status == PaymentStatus.SUCCEEDED
        if event.kind is ProviderEventType.INVOICE_PAID and period is not None and not paid_before:
            # The invoice's period starts now that it is paid (its allowance granted), before
            # its payment is recorded: the payment and receipt name that period.
            self._subscriptions.renew_collected(connection, holder, *period, now)
        row = self._renewal(connection, holder, key, now, period=period)
        if row is None:
            return
        if event.kind is ProviderEventType.INVOICE_PAID:
            self._succeed(connection, holder, row, event.payment_reference, now)
        else:
            self._fail(
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
        elif event.subscription_status == "active":
            self._subscriptions.set_status(connection, holder, SubscriptionStatus.ACTIVE, now)

    # -- fulfilment ---------------------------------------------------------------------------

    def _succeed(
        self,
        connection: Connection,
        holder: CustomerRow,
        row: Any,
        payment_reference: str | None,
        now: datetime,
    ) -> bool:
        """Fulfils a payment once: grants the pack, starts the plan, or reactivates the
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
                return self._fail(connection, holder, row, f"{refusal.code}: {refusal}", now)
        if kind in (PaymentKind.PACK, PaymentKind.TOP_UP):
            grant_id = self._grant_pack(connection, holder, row, now)
        elif kind is PaymentKind.PLAN:
            self._subscriptions.start_paid(connection, holder, row.plan_id, row.interval, now)
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
            f"creditkit:payment:{row.id}",
            self._ledger.unit(offer.unit).to_steps(offer.amount),
            offer.unit,
            GrantSource.PURCHASE,
            expires_at,
            now,
            {"pack": offer.id, "payment_id": row.id},
            cost_basis=Money(row.amount_minor, row.currency),
            action=f"pack:{offer.id}",
        )
        assert grant_id is not None, f"payment {row.id} was fulfilled before it succeeded"
        return grant_id

    def _fail(
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

    # -- renewals and grace ---------------------------------------------------------------------

    def due_work(
        self, connection: Connection, holder: CustomerRow, now: datetime
    ) -> datetime | None:
        """The ledger's due hook, after the subscription's: receipts for new overage
        statements, the renewal payment a new period owes, and grace periods that ended.
        Returns the end of the next grace period."""
        for line in repository.overage_lines_without_receipt(connection, holder.id):
            issue_receipt(
                connection, holder, f"overage:{line.id}", ReceiptKind.OVERAGE,
                [ReceiptLine(line.description, line.amount_minor)], line.amount_minor, 0,
                line.currency, None, line.id, now,
            )  # fmt: skip
        if not self._provider.bills_subscriptions:
            self._open_renewal(connection, holder, now)
        return self._end_graces(connection, holder, now)

    def _open_renewal(self, connection: Connection, holder: CustomerRow, now: datetime) -> None:
        """A billing period after the first of a run a checkout started owes a renewal
        payment, charged off-session by ``run_due_renewals``."""
        period = self._subscriptions.paid_period(connection, holder)
        if period is None or period.start == period.anchor_at:
            return
        started = repository.latest_plan_payment(connection, holder.id)
        if started is None or started.succeeded_at != period.anchor_at:
            return  # this run of periods was not bought through a checkout
        key = f"creditkit:renewal:{period.subscription_id}:{to_epoch_microseconds(period.start)}"
        self._renewal(connection, holder, key, now, next_attempt_at=now)

    def _renewal(
        self,
        connection: Connection,
        holder: CustomerRow,
        key: str,
        now: datetime,
        next_attempt_at: datetime | None = None,
        period: tuple[datetime, datetime] | None = None,
    ) -> Any:
        """The renewal payment under ``key``, recorded pending if it is not yet: for
        ``period`` (a provider's invoice's), or else the billing period in force; None when no
        paid period is in force."""
        existing = repository.payment_by_key(connection, key)
        if existing is not None:
            return existing
        paid = self._subscriptions.paid_period(connection, holder)
        if paid is None:
            return None
        start, end = (paid.start, paid.end) if period is None else period
        tier = self._catalog.plans.get(paid.plan)
        name = paid.plan if tier is None else tier.name
        item = _Item(
            PaymentKind.RENEWAL, None, paid.plan, paid.interval,
            f"{name}, {paid.interval.value}ly, {start:%Y-%m-%d} to {end:%Y-%m-%d}", paid.price,
        )  # fmt: skip
        priced = pricing.price(item.description, item.price, None, None)
        values = self._payment_values(
            holder, item, priced, key, now, period_start=start, next_attempt_at=next_attempt_at,
        )  # fmt: skip
        return repository.read_payment(connection, repository.insert_payment(connection, values))

    def _end_graces(
        self, connection: Connection, holder: CustomerRow, now: datetime
    ) -> datetime | None:
        """Falls back to the default plan when a failed renewal's grace period has ended."""
        upcoming: list[datetime] = []
        for row in repository.renewals_in_grace(connection, holder.id):
            if row.grace_ends_at > now:
                upcoming.append(row.grace_ends_at)
                continue
            period = self._subscriptions.paid_period(connection, holder)
            if period is not None and period.status is SubscriptionStatus.PAST_DUE:
                self._subscriptions.fall_back(connection, holder, now)
            values = {"grace_ends_at": None, "next_attempt_at": None, "updated_at": now}
            repository.update_payment(connection, row.id, PaymentStatus.FAILED.value, values)
        return min(upcoming) if upcoming else None

    # -- off-session charges: auto top-ups and renewals -----------------------------------------

    def run_due_top_ups(self, limit: int = CHARGES_PER_RUN_MAX) -> ChargeRunReport:
        """Charges the saved payment method for every pending auto top-up and grants each
        pack once. Safe to run from several workers at once."""
        return self._run_due(PaymentKind.TOP_UP, limit)

    def run_due_renewals(self, limit: int = CHARGES_PER_RUN_MAX) -> ChargeRunReport:
        """Charges the renewals creditkit bills itself (the sandbox's; Stripe bills its own),
        and retries declined ones once a day in their grace period. Sweeps the customers with
        due work first, so that a period that began for a customer nobody has touched since
        owes its payment now."""
        self._ledger.expire()
        return self._run_due(PaymentKind.RENEWAL, limit)

    def _run_due(self, kind: PaymentKind, limit: int) -> ChargeRunReport:
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise InvalidRequest("limit", "must be an int")
        if not 1 <= limit <= CHARGES_PER_RUN_MAX:
            raise InvalidRequest("limit", f"must be from 1 to {CHARGES_PER_RUN_MAX}")
        with self._ledger.database.read() as connection:
            due = repository.due_payments(connection, kind.value, self._ledger.now(), limit)
        outcomes = [self._charge_due(payment_id) for payment_id in due]
        decided = [outcome for outcome in outcomes if outcome is not None]
        return ChargeRunReport(len(decided), sum(decided), len(decided) - sum(decided))

    def _charge_due(self, payment_id: int) -> bool | None:
        """One due charge: claimed (so one worker makes it), charged, recorded. True or False
        for what it did; None when another worker has it or the provider could not be asked."""
        now = self._ledger.now()
        lease_until = now + timedelta(seconds=CHARGE_LEASE_SECONDS)

        def take(connection: Connection) -> tuple[Any, Any] | None:
            if not repository.claim(connection, payment_id, now, lease_until):
                return None
            row = repository.read_payment(connection, payment_id)
            return row, repository.account(connection, row.customer_id, row.provider)

        claimed = self._ledger.database.write(take)
        if claimed is None:
            return None
        row, account = claimed
        try:
            result = self._charge(row, account)
        except ProviderError:
            if row.attempts < CHARGE_ATTEMPTS_MAX:
                return None  # the lease runs out and the next run asks again
            result = ChargeResult(False, None, "provider_error")

        def record(connection: Connection, locked: dict[str, CustomerRow], now: datetime) -> bool:
            """Whether this run decided the payment (a concurrent one may have first)."""
            current = repository.read_payment(connection, payment_id)
            holder = locked[row.external_id]
            if result.succeeded:
                return self._succeed(connection, holder, current, result.provider_payment_id, now)
            reason = result.failure_reason or "declined"
            return self._fail(connection, holder, current, reason, now)

        decided = self._ledger.locked_write([row.external_id], record)
        return result.succeeded if decided else None

    def _charge(self, row: Any, account: Any) -> ChargeResult:
        if account is None or account.payment_method is None:
            return ChargeResult(False, None, "no_payment_method")
        return self._provider.charge(
            OffSessionCharge(
                payment_id=row.id,
                customer=row.external_id,
                provider_customer=account.provider_customer_id or "",
                payment_method=account.payment_method,
                amount=Money(row.amount_minor, row.currency),
                description=receipt_lines(row.lines)[0].description,
                idempotency_key=f"creditkit-charge-{row.id}-{row.attempts}",
            )
        )

    # -- auto top-up ----------------------------------------------------------------------------

    def set_auto_top_up(
        self, customer: str, pack: str, threshold: object, per_day_max: int
    ) -> TopUpSettings:
        offer = self._catalog.pack(pack)
        if offer.price.amount_minor == 0:
            raise InvalidRequest("pack", f"pack {pack!r} is free: there is nothing to charge")
        unit = self._ledger.unit(offer.unit)
        steps = unit.to_steps(threshold, "threshold")
        if isinstance(per_day_max, bool) or not isinstance(per_day_max, int):
            raise InvalidRequest("per_day_max", "must be an int")
        if not 1 <= per_day_max <= TOP_UPS_PER_DAY_MAX:
            raise InvalidRequest("per_day_max", f"must be from 1 to {TOP_UPS_PER_DAY_MAX}")

        def save(connection: Connection, locked: dict[str, CustomerRow], now: datetime) -> None:
            holder = locked[customer]
            account = repository.account(connection, holder.id, self._provider.name)
            if account is None or account.payment_method is None:
                raise InvalidRequest(
                    "customer",
                    "has no saved payment method: pay a checkout first, or save_payment_method",
                )
            values = {
                "pack_id": offer.id,
                "unit": unit.name,
                "threshold": steps,
                "per_day_max": per_day_max,
                "updated_at": now,
            }
            repository.save_top_up(connection, holder.id, values)

        self._ledger.locked_write([customer], save)
        self._with_top_up.forget()
        return TopUpSettings(customer, offer.id, unit.name, unit.to_quantity(steps), per_day_max)

    def auto_top_up(self, customer: str) -> TopUpSettings | None:
        with self._ledger.database.read() as connection:
            holder = ledger_repository.read_customer(connection, customer)
            row = repository.top_up(connection, holder.id)
        if row is None:
            return None
        unit = self._ledger.unit(row.unit)
        return TopUpSettings(
            customer, row.pack_id, row.unit, unit.to_quantity(row.threshold), row.per_day_max
        )

    def disable_auto_top_up(self, customer: str) -> bool:
        def delete(connection: Connection, locked: dict[str, CustomerRow], _now: datetime) -> bool:
            return repository.delete_top_up(connection, locked[customer].id)

        removed = self._ledger.locked_write([customer], delete)
        self._with_top_up.forget()
        return removed

    def spent(
        self,
        connection: Connection,
        holder: CustomerRow,
        unit: str,
        before: int,
        after: int,
        now: datetime,
    ) -> None:
        """The ledger's spend hook, inside the charge's transaction: when the balance falls
        under the customer's threshold, a pending top-up is recorded (never charged here: no
        provider call inside a transaction), at most ``per_day_max`` a UTC day."""
        if not self._with_top_up.may_include(connection, holder.id, now):
            return
        settings = repository.top_up(connection, holder.id)
        if settings is None or settings.unit != unit or not after < settings.threshold <= before:
            return
        offer = self._catalog.packs.get(settings.pack_id)
        if offer is None or repository.has_pending(connection, holder.id, PaymentKind.TOP_UP):
            return
        account = repository.account(connection, holder.id, self._provider.name)
        if account is None or account.payment_method is None:
            return
        day = datetime(now.year, now.month, now.day, tzinfo=UTC)
        made = repository.count_payments(
            connection, holder.id, PaymentKind.TOP_UP.value, day, day + timedelta(days=1)
        )
        if made >= settings.per_day_max:
            return
        item = _Item(PaymentKind.TOP_UP, offer.id, None, None, offer.name, offer.price)
        priced = pricing.price(item.description, item.price, None, None)
        key = f"creditkit:top-up:{holder.id}:{day:%Y-%m-%d}:{made + 1}"
        repository.insert_payment(
            connection, self._payment_values(holder, item, priced, key, now, next_attempt_at=now)
        )

    # -- refunds --------------------------------------------------------------------------------

    def refund(self, payment_id: int) -> Refund:
        """Refunds a pack or top-up within the refund window: takes back the purchase's unused
        credits (what was spent stays spent) and returns the price times unused over granted,
        rounded half up to the minor unit (see docs/payments.md). Once per payment: calling it
        again returns the same refund, and finishes one whose provider call failed."""
        row = self.payment_row(payment_id)
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
            granted = ledger_repository.grant_holding(connection, current.grant_id)
            assert granted is not None
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
        assert row.grant_id is not None, f"payment {row.id} succeeded without its grant"
        window_end = row.succeeded_at + self._refund_window
        if now > window_end:
            raise RefundRefused(row.id, f"the refund window ended at {window_end.isoformat()}")

    def _return_money(self, row: Any) -> Any:
        """The provider's part of a refund, outside any transaction, then recorded."""
        refund_id = None
        if row.refunded_minor > 0:
            assert row.provider_payment_id is not None, f"payment {row.id} has no provider id"
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

    def _refunded_at_provider(
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
            holding = ledger_repository.grant_holding(connection, row.grant_id)
        assert holding is not None
        unit = self._ledger.unit(holding.unit)
        credits = unit.to_quantity(0 if taken is None else taken.amount)
        return Refund(
            row.id,
            PaymentStatus(row.status),
            unit.name,
            credits,
            Money(row.refunded_minor or 0, row.currency),
        )

    # -- receipts -------------------------------------------------------------------------------

    def _receipt_for_payment(
        self, connection: Connection, holder: CustomerRow, row: Any, now: datetime
    ) -> int:
        return issue_receipt(
            connection, holder, f"payment:{row.id}", _RECEIPT_KINDS[PaymentKind(row.kind)],
            list(receipt_lines(row.lines)), row.subtotal_minor, row.discount_minor, row.currency,
            row.id, None, now,
        )  # fmt: skip

    def receipts(self, customer: str, limit: int, cursor: str | None) -> ReceiptPage:
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise InvalidRequest("limit", "must be an int")
        if not 1 <= limit <= RECEIPTS_PAGE_SIZE_MAX:
            raise InvalidRequest("limit", f"must be from 1 to {RECEIPTS_PAGE_SIZE_MAX}")
        before_id = None
        if cursor is not None:
            if (
                not isinstance(cursor, str)
                or not cursor.startswith("r")
                or not cursor[1:].isdigit()
            ):
                raise InvalidRequest("cursor", "is not a cursor receipts() returned")
            before_id = int(cursor[1:])
        # Due work first: an overage statement a renewal is owed shows at once.
        self._ledger.sweep_if_due(customer)
        with self._ledger.database.read() as connection:
            holder = ledger_repository.read_customer(connection, customer)
            rows = repository.receipts_of(connection, holder.id, before_id, limit + 1)
        page = rows[:limit]
        next_cursor = f"r{page[-1].id}" if len(rows) > limit else None
        return ReceiptPage(tuple(receipt_view(row) for row in page), next_cursor)

    def receipt(self, receipt_id: int) -> Receipt:
        if isinstance(receipt_id, bool) or not isinstance(receipt_id, int):
            raise InvalidRequest("receipt_id", "must be an int")
        with self._ledger.database.read() as connection:
            row = repository.receipt_by_id(connection, receipt_id)
        if row is None:
            raise ReceiptNotFound(receipt_id)
        return receipt_view(row)

    # -- reads ----------------------------------------------------------------------------------

    def payment_row(self, payment_id: int) -> Any:
        if isinstance(payment_id, bool) or not isinstance(payment_id, int):
            raise InvalidRequest("payment_id", "must be an int")
        with self._ledger.database.read() as connection:
            row = repository.payment_by_id(connection, payment_id)
        if row is None:
            raise PaymentNotFound(payment_id)
        return row

    def payment(self, payment_id: int) -> Payment:
        return payment_view(self.payment_row(payment_id))

    def checkout_session(self, session_id: str) -> CheckoutState:
        """The checkout session the provider knows as ``session_id``: its payment and return
        addresses. Raises ``CheckoutNotFound``."""
        check_text(session_id, "session_id", EXTERNAL_ID_LENGTH_MAX)
        with self._ledger.database.read() as connection:
            row = repository.payment_by_session(connection, self._provider.name, session_id)
        if row is None:
            raise CheckoutNotFound(session_id)
        return CheckoutState(
            session_id=session_id,
            url=row.checkout_url,
            success_url=row.success_url,
            cancel_url=row.cancel_url,
            payment=payment_view(row),
        )
