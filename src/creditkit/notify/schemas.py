"""Outbound events: what creditkit tells the app about, through the outbox."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from creditkit.catalog import Interval
from creditkit.errors import Quantity
from creditkit.ledger.schemas import Charge, GrantSource
from creditkit.outbox.types import Event as Event
from creditkit.outbox.types import EventType as EventType
from creditkit.payments.schemas import PaymentKind
from creditkit.subscriptions.schemas import SubscriptionStatus


class DeliveryStatus(StrEnum):
    #: Not yet answered with a 2xx; tried again at ``next_attempt_at``.
    PENDING = "pending"
    DELIVERED = "delivered"
    #: Given up after the last attempt.
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """Where events are posted. ``event_types`` None receives every type. After a secret
    rotation, deliveries are signed with the previous secret too until
    ``previous_secret_expires_at``."""

    id: int
    url: str
    event_types: tuple[EventType, ...] | None
    enabled: bool
    created_at: datetime
    previous_secret_expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RegisteredWebhookEndpoint:
    """An endpoint with its signing ``secret`` in clear: the answer of its registration and of
    each rotation of its secret, the only answers that show it."""

    endpoint: WebhookEndpoint
    secret: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event posted to one endpoint, and how that went."""

    id: int
    event_id: str
    endpoint_id: int
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    last_status_code: int | None
    delivered_at: datetime | None
    created_at: datetime


class AlertSource(StrEnum):
    #: The customer's plan declares them (catalog ``alerts:``).
    PLAN = "plan"
    #: Set for the customer (``CreditKit.set_alerts``), in place of the plan's.
    CUSTOMER = "customer"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Alerts:
    """The alert thresholds in force for a customer and unit. ``credits_left`` is a quantity of
    the unit; ``percent_used`` are percentages of the period's allowance."""

    customer: str
    unit: str
    credits_left: Quantity | None
    percent_used: tuple[int, ...]
    source: AlertSource


@dataclass(frozen=True, slots=True)
class WorkerReport:
    """What one round of the worker did."""

    grants_expired: int
    holds_expired: int
    grants_expiring_announced: int
    events_fanned_out: int
    deliveries_delivered: int
    deliveries_retried: int
    deliveries_failed: int
    #: Renewals and auto top-ups collected through the payment provider (payments/).
    payments_succeeded: int
    payments_failed: int
    #: Some step stopped at its batch size with work left: the CLI runs the next round at once
    #: instead of sleeping.
    work_left: bool


@dataclass(frozen=True, slots=True, eq=False)
class ChargeAnswer(Charge):
    """A charge as the HTTP API answers it: the ledger's ``Charge`` (with ``available_after``,
    the balance left), and ``alert_crossed``: whether this charge took the balance across an
    alert threshold in force for the customer (``credits_left`` or a ``percent_used`` share; its
    own thresholds, else its plan's), so that an app can warn without reading its alerts. None
    on the answer to a retry (``replayed``): its first answer said it."""

    alert_crossed: bool | None = field(default=None, compare=False)

    # Equal to the kit's own ``Charge`` of the same charge, as ``Client`` answers equal the
    # kit's: ``alert_crossed``, like ``available_after``, is not part of a charge's identity.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Charge):
            return NotImplemented
        return all(
            getattr(self, item.name) == getattr(other, item.name)
            for item in fields(Charge)
            if item.compare
        )

    __hash__ = Charge.__hash__

    @classmethod
    def of(cls, charge: Charge, alert_crossed: bool | None) -> ChargeAnswer:
        # Every charge's answer is built here: the field names are listed once, not per answer.
        values = {name: getattr(charge, name) for name in _CHARGE_FIELD_NAMES}
        return cls(**values, alert_crossed=alert_crossed)


_CHARGE_FIELD_NAMES = tuple(item.name for item in fields(Charge))


# Each event type's ``data``, as the emitters write it (times ISO 8601 with their offset, amounts
# as ``creditkit.amounts.wire_amount`` spells them). ``Event.data`` stays a plain mapping, read as
# it was written; these types document it: the OpenAPI document's ``Event`` is their union by
# ``type`` (api/contract.py), and tests/notify/test_event_data.py holds each emitter to its own.


@dataclass(frozen=True, slots=True)
class CreditsDepletedData:
    """The available balance of ``unit`` reached 0 in the alert period [start, end)."""

    unit: str
    available: Quantity
    period_start: datetime
    period_end: datetime


@dataclass(frozen=True, slots=True)
class CreditsLowData:
    """The available balance fell to ``credits_left`` (the customer's threshold, or its
    plan's: ``source``) or below."""

    unit: str
    available: Quantity
    credits_left: Quantity
    source: AlertSource
    period_start: datetime
    period_end: datetime


@dataclass(frozen=True, slots=True)
class AlertTriggeredData:
    """``percent_used`` percent of the period's ``allowance`` is used."""

    alert: Literal["percent_used"]
    percent_used: int
    allowance: Quantity
    source: AlertSource
    unit: str
    available: Quantity
    period_start: datetime
    period_end: datetime


@dataclass(frozen=True, slots=True)
class GrantExpiringData:
    """A grant with ``remaining`` credits left expires at ``expires_at`` (within 3 days)."""

    grant_id: int
    unit: str
    remaining: Quantity
    source: GrantSource
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class HoldExpiredData:
    """A hold timed out: its ``amount`` went back to the balance."""

    hold_id: int
    unit: str
    amount: Quantity
    action: str | None
    expired_at: datetime


@dataclass(frozen=True, slots=True)
class SubscriptionData:
    """The subscription as it now stands, the plan before it (``previous_plan``), and why."""

    plan: str
    plan_version: int
    previous_plan: str
    interval: Interval
    status: SubscriptionStatus
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    scheduled_plan: str | None
    pay_with: Literal["money", "credits"]
    reason: Literal[
        "upgrade",
        "scheduled",
        "restart",
        "renewal",
        "scheduled_change",
        "canceled",
        "unpaid",
        "period_end",
        "renewal_failed",
        "now",
    ]


@dataclass(frozen=True, slots=True)
class PaymentSucceededData:
    """A payment went through: a pack's credits granted (``grant_id``), a plan started or
    renewed; ``receipt_number`` is its receipt's."""

    payment_id: int
    kind: PaymentKind
    pack: str | None
    plan: str | None
    amount_minor: int
    currency: str
    grant_id: int | None
    receipt_number: int


@dataclass(frozen=True, slots=True)
class PaymentFailedData:
    """A payment failed, and why. A renewal's carries ``grace_ends_at``: the subscription is
    ``past_due`` until then."""

    payment_id: int
    kind: PaymentKind
    pack: str | None
    plan: str | None
    amount_minor: int
    currency: str
    reason: str
    grace_ends_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CustomerCreatedData:
    """A customer was created (a user or a workspace)."""

    kind: str


@dataclass(frozen=True, slots=True)
class CreditsGrantedData:
    """A grant was made: a grant, a pack bought, a plan's allowance, a bonus."""

    grant_id: int
    unit: str
    amount: Quantity
    source: GrantSource
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class CreditsGiftedData:
    """The customer gave ``amount`` credits to ``to_customer`` (a transfer)."""

    transfer_id: int
    unit: str
    amount: Quantity
    to_customer: str


@dataclass(frozen=True, slots=True)
class CreditsReceivedData:
    """The customer received ``amount`` credits from ``from_customer``, as the gift grant
    ``grant_id``."""

    transfer_id: int
    grant_id: int
    unit: str
    amount: Quantity
    from_customer: str


@dataclass(frozen=True, slots=True)
class CreditsExpiredData:
    """What was left of a grant, ``amount``, expired at ``expired_at``."""

    grant_id: int
    unit: str
    amount: Quantity
    expired_at: datetime


@dataclass(frozen=True, slots=True)
class CreditsVoidedData:
    """``amount`` of one grant was voided by an operator, for ``reason``."""

    grant_id: int
    unit: str
    amount: Quantity
    reason: str


@dataclass(frozen=True, slots=True)
class CreditsRefundedData:
    """A refund of ``payment_id`` took ``amount`` unused credits back."""

    payment_id: int
    unit: str
    amount: Quantity


@dataclass(frozen=True, slots=True)
class LimitReachedData:
    """An ``acquire`` or ``track`` was refused at the plan's cap: ``used`` of ``limit_value``;
    ``upgrade_to`` is the cheapest plan that allows it."""

    limit: str
    used: int
    limit_value: int
    upgrade_to: str | None


@dataclass(frozen=True, slots=True)
class EventRefusedData:
    """A usage event accepted through the events stream (202) could not be charged and was
    parked: ``reason`` is a stable code (``insufficient_credits``, ``unknown_customer``,
    ``malformed_event``, ...), ``detail`` says what was wrong. ``customer`` and ``action`` are
    None when the event named none that could be read."""

    idempotency_key: str
    customer: str | None
    action: str | None
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class PaymentRefundedData:
    """A payment was refunded: ``refunded_minor`` went back to the customer (made here, or in
    the provider's dashboard)."""

    payment_id: int
    kind: PaymentKind
    pack: str | None
    plan: str | None
    amount_minor: int
    refunded_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class SubscriptionTrialEndingData:
    """The trial on ``plan`` ends at ``trial_ends_at``, ``days_before`` days after this event
    (fewer for a trial shorter than that: then it fires when the trial starts)."""

    plan: str
    plan_version: int
    interval: Interval
    trial_ends_at: datetime
    days_before: int


#: The type of each event type's ``data``.
EVENT_DATA: Mapping[EventType, type] = MappingProxyType(
    {
        EventType.CREDITS_LOW: CreditsLowData,
        EventType.CREDITS_DEPLETED: CreditsDepletedData,
        EventType.GRANT_EXPIRING: GrantExpiringData,
        EventType.HOLD_EXPIRED: HoldExpiredData,
        EventType.SUBSCRIPTION_RENEWED: SubscriptionData,
        EventType.SUBSCRIPTION_CHANGED: SubscriptionData,
        EventType.SUBSCRIPTION_CANCELED: SubscriptionData,
        EventType.PAYMENT_SUCCEEDED: PaymentSucceededData,
        EventType.PAYMENT_FAILED: PaymentFailedData,
        EventType.ALERT_TRIGGERED: AlertTriggeredData,
        EventType.CUSTOMER_CREATED: CustomerCreatedData,
        EventType.CREDITS_GRANTED: CreditsGrantedData,
        EventType.CREDITS_GIFTED: CreditsGiftedData,
        EventType.CREDITS_RECEIVED: CreditsReceivedData,
        EventType.CREDITS_EXPIRED: CreditsExpiredData,
        EventType.CREDITS_VOIDED: CreditsVoidedData,
        EventType.CREDITS_REFUNDED: CreditsRefundedData,
        EventType.LIMIT_REACHED: LimitReachedData,
        EventType.SUBSCRIPTION_PAST_DUE: SubscriptionData,
        EventType.PAYMENT_REFUNDED: PaymentRefundedData,
        EventType.SUBSCRIPTION_TRIAL_ENDING: SubscriptionTrialEndingData,
        EventType.EVENT_REFUSED: EventRefusedData,
    }
)
