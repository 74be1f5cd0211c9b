"""Payments' value types: what callers pass in and get back, and what providers exchange with
the payment service. Money is ``Money`` (integer minor units), never a float."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from creditkit.catalog import Interval
from creditkit.errors import Quantity
from creditkit.ledger.schemas import Money


class PaymentKind(StrEnum):
    #: A checkout of a pack: its credits are granted once paid.
    PACK = "pack"
    #: A checkout of a plan: the subscription starts once paid.
    PLAN = "plan"
    #: An auto top-up: the saved payment method charged for a pack.
    TOP_UP = "top_up"
    #: A subscription's renewal: a billing period after the first.
    RENEWAL = "renewal"


class PaymentStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    #: Final for a checkout or a top-up; a renewal may still succeed in its grace period.
    FAILED = "failed"
    #: The unused credits were taken back; the provider's refund is on its way.
    REFUNDING = "refunding"
    REFUNDED = "refunded"


class ReceiptKind(StrEnum):
    PURCHASE = "purchase"
    SUBSCRIPTION = "subscription"
    TOP_UP = "top_up"
    #: A statement of a period's overage (a billing line), not a payment.
    OVERAGE = "overage"


class ProviderEventType(StrEnum):
    """The provider events payments act on, by Stripe's names (the sandbox uses them too)."""

    CHECKOUT_COMPLETED = "checkout.session.completed"
    #: A checkout paid by a delayed method (a bank debit) after it completed unpaid.
    CHECKOUT_PAYMENT_SUCCEEDED = "checkout.session.async_payment_succeeded"
    CHECKOUT_EXPIRED = "checkout.session.expired"
    CHECKOUT_PAYMENT_FAILED = "checkout.session.async_payment_failed"
    INVOICE_PAID = "invoice.paid"
    INVOICE_PAYMENT_FAILED = "invoice.payment_failed"
    SUBSCRIPTION_UPDATED = "customer.subscription.updated"
    SUBSCRIPTION_DELETED = "customer.subscription.deleted"
    CHARGE_REFUNDED = "charge.refunded"


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    """One line of a payment or receipt: an item at its price, or a discount (negative)."""

    description: str
    amount_minor: int


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    """A checkout started: send the customer to ``url``. ``amount`` is what they will pay,
    ``subtotal`` less ``discount``."""

    payment_id: int
    provider: str
    session_id: str
    url: str
    subtotal: Money
    discount: Money
    amount: Money
    lines: tuple[ReceiptLine, ...]


@dataclass(frozen=True, slots=True)
class Payment:
    id: int
    customer: str
    provider: str
    kind: PaymentKind
    status: PaymentStatus
    pack: str | None
    plan: str | None
    interval: Interval | None
    coupon: str | None
    subtotal: Money
    discount: Money
    amount: Money
    lines: tuple[ReceiptLine, ...]
    grant_id: int | None
    #: The provider's id of the money movement (a PaymentIntent): what its dashboard shows.
    provider_payment_id: str | None
    created_at: datetime
    succeeded_at: datetime | None
    failure_reason: str | None
    #: A failed renewal: when the subscription falls back to the default plan unless paid.
    grace_ends_at: datetime | None
    refunded: Money | None


@dataclass(frozen=True, slots=True)
class CheckoutState:
    """A checkout session as recorded: its ``payment`` (what it sells, for how much, and how
    it stands: pending, succeeded or failed) and where the customer goes back to once it is
    paid (``success_url``) or given up (``cancel_url``)."""

    session_id: str
    url: str
    success_url: str | None
    cancel_url: str | None
    payment: Payment


@dataclass(frozen=True, slots=True)
class Refund:
    """A refund: ``credits`` of ``unit`` taken back (the purchase's unused part) and ``amount``
    of money returned (the price times unused over granted, rounded half up)."""

    payment_id: int
    status: PaymentStatus
    unit: str
    credits: Quantity
    amount: Money


@dataclass(frozen=True, slots=True)
class Receipt:
    id: int
    number: int
    customer: str
    kind: ReceiptKind
    lines: tuple[ReceiptLine, ...]
    subtotal: Money
    discount: Money
    total: Money
    payment_id: int | None
    billing_line_id: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ReceiptPage:
    items: tuple[Receipt, ...]
    #: Pass as ``cursor`` for the next (older) page; ``None`` on the last page.
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class TopUpSettings:
    """Buy ``pack`` when the available balance of its unit falls under ``threshold``, at most
    ``per_day_max`` times a UTC day: one pack, or with ``target`` as many packs as fill the
    balance to at least ``target``."""

    customer: str
    pack: str
    unit: str
    threshold: Quantity
    per_day_max: int
    target: Quantity | None = None


@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    """``applied`` is False for an event seen before (a replay), and for one payments does not
    act on; both are answered 2xx so the provider stops sending it."""

    provider: str
    event_id: str
    type: str
    applied: bool
    payment_id: int | None = None


@dataclass(frozen=True, slots=True)
class ChargeRunReport:
    """What one run of due off-session charges did."""

    attempted: int
    succeeded: int
    failed: int


# -- between the service and a provider --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanPrice:
    """A plan's price by one interval, at one version of its terms."""

    plan: str
    name: str
    version: int
    interval: Interval
    amount: Money

    @property
    def lookup_key(self) -> str:
        return f"creditkit_{self.plan}_v{self.version}_{self.interval.value}"

    @property
    def product_id(self) -> str:
        """The plan's Product: one per plan, whatever its versions and intervals."""
        return f"creditkit_{self.plan}"


@dataclass(frozen=True, slots=True)
class ProviderPlan:
    """A plan version by one interval, as a provider's Price names it (its metadata)."""

    plan: str
    version: int
    interval: Interval


@dataclass(frozen=True, slots=True)
class ProviderSubscription:
    """A provider's subscription as it stands now: the plan its price is (None for a price
    creditkit did not make), its current billing period, whether it ends at that period's end,
    and the plan a schedule moves it to at that end (None when nothing is scheduled)."""

    id: str
    status: str
    plan: ProviderPlan | None
    period_start: datetime
    period_end: datetime
    cancel_at_period_end: bool
    scheduled: ProviderPlan | None = None


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    payment_id: int
    customer: str
    provider_customer: str
    #: ``payment`` for a pack, ``subscription`` for a plan (renewed by the provider when it
    #: bills subscriptions itself).
    mode: str
    description: str
    subtotal: Money
    discount: Money
    interval: Interval | None
    success_url: str
    cancel_url: str
    idempotency_key: str
    #: A plan's Price at the provider, by its lookup key (plan, version, interval): what
    #: Stripe's checkout and billing portal sell. None for a pack (priced inline).
    plan_price: PlanPrice | None = None


@dataclass(frozen=True, slots=True)
class ProviderCheckout:
    session_id: str
    url: str


@dataclass(frozen=True, slots=True)
class OffSessionCharge:
    payment_id: int
    customer: str
    provider_customer: str
    payment_method: str
    amount: Money
    description: str
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class ChargeResult:
    succeeded: bool
    provider_payment_id: str | None
    #: Why it failed (``card_declined``); None when it succeeded.
    failure_reason: str | None


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """A verified provider event, reduced to what payments acts on. ``type`` is the provider's
    own name; ``kind`` is None for a type payments does not act on."""

    id: str
    type: str
    kind: ProviderEventType | None
    session_id: str | None = None
    #: A checkout: whether its payment is complete (``payment_status == "paid"``).
    paid: bool = False
    #: The money movement's id (a PaymentIntent): refunds name it.
    payment_reference: str | None = None
    customer_reference: str | None = None
    subscription_reference: str | None = None
    payment_method: str | None = None
    invoice_id: str | None = None
    #: ``subscription_create`` for an invoice a checkout paid; ``subscription_cycle`` for a
    #: renewal.
    billing_reason: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    subscription_status: str | None = None
    amount_refunded_minor: int | None = None
    failure_reason: str | None = None
    #: An invoice: the billing period its subscription line pays for (the provider's own
    #: period, which the subscription's period in creditkit follows).
    period_start: datetime | None = None
    period_end: datetime | None = None
    #: A subscription's event (or a plan's completed checkout): the subscription as the
    #: provider holds it when the event is read, not as the event's body was when sent, so
    #: that events applied late or out of order apply the newest state.
    subscription: ProviderSubscription | None = None
