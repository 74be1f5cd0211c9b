"""Payments: checkouts of packs and plans, provider webhooks, refunds, renewals and their grace
period, auto top-ups, and numbered receipts. ``PaymentService`` puts together the parts, one
module each: checkout.py, webhooks.py, fulfilment.py, refunds.py, renewals.py, collections.py
(off-session collections) and top_ups.py; it reads payments and receipts itself.

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

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from creditkit.catalog import Catalog
from creditkit.clock import Clock
from creditkit.errors import InvalidRequest
from creditkit.keys.secrets import ServiceSecrets
from creditkit.ledger import repository as ledger_repository
from creditkit.ledger.checks import EXTERNAL_ID_LENGTH_MAX, check_text
from creditkit.ledger.service import LedgerService
from creditkit.payments import repository
from creditkit.payments.checkout import Checkouts, return_origins
from creditkit.payments.collections import COLLECTIONS_PER_RUN_MAX, OffSessionCollections
from creditkit.payments.context import PaymentContext, read_payment_row
from creditkit.payments.errors import (
    CheckoutClosed,
    CheckoutNotFound,
    ReceiptNotFound,
    UnknownProvider,
)
from creditkit.payments.fulfilment import Fulfilment
from creditkit.payments.providers import PaymentProvider
from creditkit.payments.receipts import payment_view, receipt_view
from creditkit.payments.refunds import Refunds
from creditkit.payments.renewals import Renewals
from creditkit.payments.sandbox import (
    CARD_SUCCEEDS,
    WEBHOOK_SECRET_NAME,
    SandboxProvider,
    new_webhook_secret,
)
from creditkit.payments.schemas import (
    ChargeRunReport,
    CheckoutState,
    Payment,
    PaymentKind,
    PaymentStatus,
    Receipt,
    ReceiptPage,
    WebhookOutcome,
)
from creditkit.payments.subscription_changes import SubscriptionChanges
from creditkit.payments.top_ups import TopUps
from creditkit.payments.webhooks import Webhooks
from creditkit.store.database import Database
from creditkit.store.unit_of_work import UnitOfWork
from creditkit.subscriptions.service import SubscriptionService

REFUND_WINDOW_DAYS_DEFAULT = 14
GRACE_PERIOD_DAYS_DEFAULT = 7
#: Bounds of the settings: a year is longer than any refund or grace policy of the seeds.
SETTING_DAYS_MAX = 365
RECEIPTS_PAGE_SIZE_MAX = 500


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
    to the catalog's default plan. A checkout's return URLs must be on one of
    ``return_origins`` (``https://app.example``) or paths on this site; with none (an embedded
    ledger, whose app chooses its own URLs) any http(s) origin passes."""

    provider: PaymentProvider = field(default_factory=SandboxProvider)
    refund_window_days: int = REFUND_WINDOW_DAYS_DEFAULT
    grace_period_days: int = GRACE_PERIOD_DAYS_DEFAULT
    return_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_days(self.refund_window_days, "refund_window_days")
        _check_days(self.grace_period_days, "grace_period_days")
        object.__setattr__(self, "return_origins", return_origins(self.return_origins))


class PaymentService:
    def __init__(
        self,
        ledger: LedgerService,
        database: Database,
        clock: Clock,
        catalog: Catalog,
        subscriptions: SubscriptionService,
        settings: PaymentSettings,
        shared: ServiceSecrets,
    ) -> None:
        self._ledger = ledger
        self._database = database
        self._now = clock
        self._shared = shared
        self._catalog = catalog
        self._provider = self._bound(settings.provider)
        self._register_coupons()
        context = PaymentContext(ledger, database, clock, catalog, subscriptions, self._provider)
        fulfilment = Fulfilment(context, timedelta(days=settings.grace_period_days))
        checkouts = Checkouts(context, settings.return_origins)
        renewals = Renewals(context)
        refunds = Refunds(context, timedelta(days=settings.refund_window_days))
        self._collections = OffSessionCollections(context, fulfilment)
        top_ups = TopUps(context)
        changes = SubscriptionChanges(context)
        webhooks = Webhooks(context, fulfilment, renewals, refunds, changes)
        # The operations, each of the part that does it.
        self.checkout = checkouts.checkout
        self.packs_for_sale = checkouts.packs_for_sale
        self.billing_portal = checkouts.billing_portal
        self.save_payment_method = checkouts.save_payment_method
        self.handle_webhook = webhooks.handle_webhook
        self.refund = refunds.refund
        self.due_work = renewals.due_work
        self.run_due_renewals = self._collections.run_due_renewals
        self.set_auto_top_up = top_ups.set_auto_top_up
        self.auto_top_up = top_ups.auto_top_up
        self.disable_auto_top_up = top_ups.disable_auto_top_up
        self.spent = top_ups.spent
        self.change_plan = changes.change_plan
        self.cancel = changes.cancel
        self.end_ended_subscriptions = changes.end_ended

    def _bound(self, provider: PaymentProvider) -> PaymentProvider:
        """The sandbox signs with its database's own random secret, by the kit's clock: a
        constant secret would let anyone who read the source forge a paid checkout."""
        if not isinstance(provider, SandboxProvider):
            return provider
        stored = self._shared.get(WEBHOOK_SECRET_NAME, new_webhook_secret).current
        return provider.for_database(stored, self._now)

    def _register_coupons(self) -> None:
        """One redemption counter per coupon and discount of the catalog."""
        wanted = [*self._catalog.coupons, *self._catalog.discounts]

        def register(context: UnitOfWork) -> None:
            for coupon_id in set(wanted) - repository.registered_coupons(context.connection):
                repository.register_coupon(context.connection, coupon_id)

        for attempt in (1, 2):
            try:
                self._database.unit_of_work(self._now, register)
                return
            except sa.exc.IntegrityError:
                # Another process registered them between our read and insert: read again.
                if attempt == 2:
                    raise

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

    def run_due_top_ups(self, limit: int = COLLECTIONS_PER_RUN_MAX) -> ChargeRunReport:
        """Charges the saved payment method for every pending auto top-up and grants each
        pack once. Safe to run from several workers at once."""
        return self._collections.run_due(PaymentKind.TOP_UP, limit)

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
        with self._database.read() as connection:
            holder = ledger_repository.read_customer(connection, customer)
            rows = repository.receipts_of(connection, holder.id, before_id, limit + 1)
        page = rows[:limit]
        next_cursor = f"r{page[-1].id}" if len(rows) > limit else None
        return ReceiptPage(tuple(receipt_view(row) for row in page), next_cursor)

    def receipt(self, receipt_id: int) -> Receipt:
        if isinstance(receipt_id, bool) or not isinstance(receipt_id, int):
            raise InvalidRequest("receipt_id", "must be an int")
        with self._database.read() as connection:
            row = repository.receipt_by_id(connection, receipt_id)
        if row is None:
            raise ReceiptNotFound(receipt_id)
        return receipt_view(row)

    def payment_row(self, payment_id: int) -> Any:
        return read_payment_row(self._database, payment_id)

    def payment(self, payment_id: int) -> Payment:
        return payment_view(self.payment_row(payment_id))

    def checkout_session(self, session_id: str) -> CheckoutState:
        """The checkout session the provider knows as ``session_id``: its payment and return
        addresses. Raises ``CheckoutNotFound``."""
        check_text(session_id, "session_id", EXTERNAL_ID_LENGTH_MAX)
        with self._database.read() as connection:
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
