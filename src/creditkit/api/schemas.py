"""Request bodies. Amounts are JSON integers or decimal strings in the unit's terms ("12.50"),
never floats: a float cannot say 0.1 exactly, so the API refuses one (422, naming the field)."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)

from creditkit.keys.schemas import SessionPermission
from creditkit.usage.checks import INGEST_REQUEST_EVENTS_MAX

#: Text that every database stores: PostgreSQL refuses NUL (U+0000) in text and in JSON, so the
#: API refuses it up front (422, naming the field) instead of failing at the database (500).
#: Path and query parameters carry this pattern; every body field is checked by ``Body``.
TEXT_PATTERN = "^[^\\x00]*$"


def storable(field_value: Any) -> Any:
    """Refuses what a text or JSON column cannot hold, at any depth (walked without recursion):
    NUL in a key or a string, and the non-numbers Python's JSON parser lets through (NaN,
    Infinity, and 1e400, which it reads as infinity)."""
    pending: list[Any] = [field_value]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise ValueError("must not contain NUL (U+0000)")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError(f"must hold finite numbers only, not {value}")
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return field_value


#: An amount written as a string: digits, optionally a point and more digits ("12.50"); no
#: exponent, no spaces. A sign passes, so that the ledger says why it refuses "-5".
DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
#: A decimal string is at most this long (a unit's largest amount, with its places, fits well).
DECIMAL_STRING_LENGTH_MAX = 64
_DECIMAL = re.compile(DECIMAL_PATTERN)


def _exact(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be an integer or a decimal string (a float is not exact)")
    if isinstance(value, str) and (
        len(value) > DECIMAL_STRING_LENGTH_MAX or _DECIMAL.fullmatch(value) is None
    ):
        raise ValueError(
            f'must be an integer or a decimal string such as "12.50" (at most '
            f"{DECIMAL_STRING_LENGTH_MAX} characters)"
        )
    return value


Amount = Annotated[
    int | str,
    BeforeValidator(_exact),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer"},
                {
                    "type": "string",
                    "pattern": DECIMAL_PATTERN,
                    "maxLength": DECIMAL_STRING_LENGTH_MAX,
                },
            ],
            "description": "An exact amount in the unit's terms: an integer, or a decimal "
            'string ("12.50").',
        }
    ),
]
CustomerId = Annotated[str, Field(min_length=1, max_length=255)]
Name = Annotated[str, Field(min_length=1, max_length=255)]
Metadata = Annotated[dict[str, Any], Field(default_factory=dict)]
_TOKEN_COUNT_SCHEMA: dict[str, Any] = {"type": "integer", "minimum": 0}
#: A model call's usage, as creditkit's own shape or an OpenAI- or Anthropic-style usage
#: object as it comes (the engine reads it; docs/tokens.md).
Usage = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "description": "A model call's usage: creditkit's own counts, or an OpenAI-"
            " (prompt_tokens, completion_tokens, prompt_tokens_details) or Anthropic-style"
            " (cache_read_input_tokens, cache_creation_input_tokens) usage object as it comes.",
            "properties": {
                "model": {"type": "string", "minLength": 1, "maxLength": 255},
                "provider": {"type": ["string", "null"], "maxLength": 64},
                "input_tokens": _TOKEN_COUNT_SCHEMA,
                "output_tokens": _TOKEN_COUNT_SCHEMA,
                "cache_read_tokens": _TOKEN_COUNT_SCHEMA,
                "cache_write_tokens": _TOKEN_COUNT_SCHEMA,
            },
            "additionalProperties": True,
        }
    ),
]
#: Request enums are enums in the document (not patterns), so that a typo does not compile.
Interval = Literal["month", "year"]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        """Each field once validated (a nested body checks its own fields, so the refusal
        names the innermost one: ``events[3].action``)."""
        return storable(value)


#: An IANA time zone name (checked against the zone database by the kit).
TimeZone = Annotated[str, Field(min_length=1, max_length=64)]


class CustomerCreate(Body):
    id: CustomerId
    kind: Literal["user", "workspace"] = "user"
    subscribe: bool = True
    metadata: Metadata
    #: The zone its calendar-anchored periods follow instead of the plan's.
    time_zone: TimeZone | None = None


class TimeZonePut(Body):
    #: An IANA name (``Asia/Tokyo``); null clears it, and the plan's zone applies again.
    time_zone: TimeZone | None


class MemberPut(Body):
    role: Literal["owner", "admin", "editor", "viewer"]


class OwnerPut(Body):
    user: CustomerId


class SpendCapPut(Body):
    amount: Amount | None
    unit: Name = "credits"


class SessionTokenCreate(Body):
    user: CustomerId | None = None
    permissions: list[SessionPermission] = Field(default_factory=lambda: list(SessionPermission))
    ttl_seconds: Annotated[int, Field(ge=1, le=3_600)] = 900


class SessionCodeCreate(SessionTokenCreate):
    #: How long the link opens, once: minutes, not the token's hour.
    code_ttl_seconds: Annotated[int, Field(ge=1, le=3_600)] = 300


class CostBasis(Body):
    """Money paid for a grant: integer minor units (cents), never a float."""

    amount_minor: Annotated[int, Field(strict=True, ge=0, le=2**63 - 1)]
    currency: Annotated[str, Field(min_length=3, max_length=3)]


class GrantCreate(Body):
    amount: Amount | None = None
    pack: Name | None = None
    unit: Name = "credits"
    source: Annotated[str, Field(max_length=32)] = "purchase"
    priority: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    effective_at: datetime | None = None
    expires_at: datetime | None = None
    transferable: bool | None = None
    cost_basis: CostBasis | None = None
    metadata: Metadata
    #: The actions or categories the credits may pay for (absent: any spending).
    applies_to: Annotated[list[Name], Field(min_length=1, max_length=64)] | None = None


class ChargeCreate(Body):
    customer: CustomerId
    amount: Amount | None = None
    unit: Name | None = None
    action: Name | None = None
    quantity: Annotated[int, Field(ge=1, le=1_000_000_000)] = 1
    member: CustomerId | None = None
    metadata: Metadata
    #: Who spent (a spender of the customer); every budget on its path must leave room.
    spender: CustomerId | None = None
    #: What the credits leave short may be owed, within the debt limit.
    allow_debt: bool = False
    #: A model call's usage, priced by the token-priced ``action`` (instead of an amount).
    usage: Usage | None = None
    #: When the usage happened, if earlier (within the service's late-usage window).
    occurred_at: datetime | None = None


class QuoteCreate(Body):
    """What a usage would cost under a token-priced action, at ``at`` (default now)."""

    action: Name
    usage: Usage
    at: datetime | None = None


class ReversalCreate(Body):
    #: The idempotency key the charge was made with.
    charge_key: Annotated[str, Field(min_length=1, max_length=255)]
    #: How much of the charge to give back; all that is not reversed yet when absent.
    amount: Amount | None = None
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class HoldCreate(Body):
    customer: CustomerId
    amount: Amount
    unit: Name = "credits"
    timeout_seconds: Annotated[int, Field(ge=1, le=7 * 86_400)] = 300
    action: Name | None = None
    metadata: Metadata
    #: Who holds; the hold counts against the budgets on its path while open (a child, against
    #: its own spender's levels its parent's path does not have; none: its parent's spender).
    spender: CustomerId | None = None
    #: A hold of the same customer and unit to draw from instead of the grants.
    parent: Annotated[int, Field(ge=1)] | None = None


class HoldCommit(Body):
    #: Required unless ``usage`` prices the commit.
    amount: Amount | None = None
    metadata: Metadata
    #: False: spend ``amount`` and keep the rest of the hold open (several captures).
    final: bool = True
    #: Above what the hold has left, the excess is spent as a charge would be, debt within the
    #: limit.
    allow_debt: bool = False
    #: A model call's usage, priced by the hold's token-priced action (instead of an amount).
    usage: Usage | None = None


class SpenderCreate(Body):
    id: CustomerId
    kind: Annotated[str, Field(min_length=1, max_length=32, pattern=TEXT_PATTERN)]
    parent: CustomerId | None = None


class BudgetPut(Body):
    #: The cap per period; null removes the budget.
    amount: Amount | None
    spender: CustomerId | None = None
    unit: Name = "credits"
    period: Literal["hour", "day", "week", "month", "lifetime"] = "month"


class DebtLimitPut(Body):
    amount: Amount
    unit: Name = "credits"


class HoldExtend(Body):
    """Raise the hold by ``amount`` and/or push its timeout to ``timeout_seconds`` from now."""

    amount: Amount | None = None
    timeout_seconds: Annotated[int, Field(ge=1, le=7 * 86_400)] | None = None


class GrantVoid(Body):
    #: How much of the grant to void; all that is left of it when absent.
    amount: Amount | None = None
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class GrantExpiryChange(Body):
    #: The new expiry, in the future; null: never.
    expires_at: datetime | None
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class TransferCreate(Body):
    from_customer: CustomerId
    to_customer: CustomerId
    amount: Amount
    unit: Name = "credits"
    metadata: Metadata


class SubscriptionCreate(Body):
    plan: Name
    interval: Interval = "month"
    trial_days: Annotated[int, Field(ge=0, le=365)] = 0
    pay_with: Literal["money", "credits"] = "money"
    #: True when the app's own billing collects the plan's price: then the billing line is
    #: recorded for it to collect. Otherwise a priced plan is refused: pay through checkout.
    collected_elsewhere: bool = False


class PlanChange(Body):
    plan: Name
    interval: Interval | None = None
    allowance_on_upgrade: Literal["difference", "full", "none"] = "difference"


class Cancellation(Body):
    at_period_end: bool = True


class PeriodReset(Body):
    #: Why the operator reset the period: kept in the customer's history.
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class ResourceAcquire(Body):
    resource_id: Annotated[str, Field(min_length=1, max_length=255)]


class LimitTrack(Body):
    quantity: Annotated[int, Field(ge=1, le=1_000_000_000)] = 1


class UsageEvent(Body):
    customer: CustomerId
    action: Name
    quantity: Annotated[int, Field(ge=1, le=1_000_000_000)] = 1
    idempotency_key: Annotated[str, Field(min_length=1, max_length=255)]
    member: CustomerId | None = None
    metadata: Metadata
    #: When the usage happened, if earlier (within the service's late-usage window).
    occurred_at: datetime | None = None


class EventsIngest(Body):
    #: At most 1,000 events a request (fewer than ingest takes: the body one request parses and
    #: answers stays small); one database transaction holds them all.
    events: Annotated[list[UsageEvent], Field(min_length=1, max_length=INGEST_REQUEST_EVENTS_MAX)]


class WebhookEndpointCreate(Body):
    url: Annotated[str, Field(min_length=1, max_length=2_048)]
    event_types: list[str] | None = None


class AlertsPut(Body):
    unit: Name = "credits"
    credits_left: Amount | None = None
    percent_used: Annotated[list[int], Field(max_length=10)] = Field(default_factory=list)


class CheckoutCreate(Body):
    pack: Name | None = None
    plan: Name | None = None
    interval: Interval = "month"
    coupon: Name | None = None
    success_url: Annotated[str, Field(min_length=1, max_length=2_048)]
    cancel_url: Annotated[str, Field(min_length=1, max_length=2_048)]


class BillingPortalCreate(Body):
    return_url: Annotated[str, Field(min_length=1, max_length=2_048)]


class SandboxPayment(Body):
    card: Annotated[str, Field(min_length=12, max_length=19, pattern="^[0-9]+$")] = (
        "4242424242424242"
    )


class PaymentMethodPut(Body):
    payment_method: Annotated[str, Field(min_length=1, max_length=255)]


class AutoTopUpPut(Body):
    pack: Name
    threshold: Amount
    per_day_max: Annotated[int, Field(ge=1, le=100)] = 1
    #: Fill the balance to at least this, buying as many packs as that takes; one pack if absent.
    target: Amount | None = None
