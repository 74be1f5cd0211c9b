"""The ledger's value types: what callers pass in and get back.

Amounts here are *quantities* of a unit as a person reads them: ``int`` for a unit of scale 0
(whole credits), ``Decimal`` for a unit with decimal places. The ledger stores every amount as an
integer count of the unit's smallest step; ``Unit`` converts between the two exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from creditkit.errors import InvalidAmount, Quantity
from creditkit.pricing.schemas import TokenPrice

#: Why there is an upper bound: amounts are stored as signed 64-bit integers, and sums of many
#: of them must not overflow either. 10^15 steps leaves room for 9,000 such sums.
AMOUNT_STEPS_MAX = 10**15
SCALE_MAX = 6


class CustomerKind(StrEnum):
    USER = "user"
    WORKSPACE = "workspace"


class GrantSource(StrEnum):
    ALLOWANCE = "allowance"
    PURCHASE = "purchase"
    PROMO = "promo"
    EARNED = "earned"
    GIFT = "gift"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"
    MIGRATION = "migration"


#: Burn-down priority by source when the caller names none (lower burns first). Credits that
#: are free or expire soon go before credits the customer paid for, so allowances burn before
#: purchased packs (the burn-down order, docs/rules.md).
PRIORITY_DEFAULT_BY_SOURCE: dict[GrantSource, int] = {
    GrantSource.ALLOWANCE: 10,
    GrantSource.PROMO: 20,
    GrantSource.EARNED: 30,
    GrantSource.GIFT: 40,
    GrantSource.MIGRATION: 50,
    GrantSource.ADJUSTMENT: 50,
    GrantSource.REFUND: 50,
    GrantSource.PURCHASE: 50,
}

#: Which sources may be transferred when the caller does not say: credits someone paid for or was
#: given. Allowances and promotions belong to the account they were granted to.
TRANSFERABLE_DEFAULT_SOURCES = frozenset({GrantSource.PURCHASE, GrantSource.GIFT})


class HoldStatus(StrEnum):
    ACTIVE = "active"
    COMMITTED = "committed"
    RELEASED = "released"
    EXPIRED = "expired"


class TransactionKind(StrEnum):
    GRANT = "grant"
    CHARGE = "charge"
    RESERVE = "reserve"
    COMMIT = "commit"
    RELEASE = "release"
    #: A hold raised (credits moved into it) and/or its timeout pushed.
    EXTEND = "extend"
    HOLD_EXPIRY = "hold_expiry"
    TRANSFER = "transfer"
    EXPIRY = "expiry"
    ROLLOVER = "rollover"
    #: What is left of a grant, taken back to issuance (a purchase refunded): the credits are
    #: un-issued, not spent and not expired.
    REFUND = "refund"
    #: Credits an operator took back from a customer's grants to issuance (``remove_credits``:
    #: an adjustment down): un-issued like a refund, so not counted as spent, consumed or
    #: expired.
    ADJUSTMENT = "adjustment"
    #: Debt repaid from a new grant, in the grant's own database transaction: the grant pays
    #: the customer's debt account back first.
    DEBT_REPAYMENT = "debt_repayment"
    #: Settings kept under an idempotency key (in ``setting_writes``, never as ledger rows).
    BUDGET = "budget"
    DEBT_LIMIT = "debt_limit"
    TIME_ZONE = "time_zone"
    #: Part or all of one chosen grant taken back to issuance (``void_grant``), with a reason:
    #: un-issued like an adjustment.
    VOID = "void"
    #: What is left of a grant moved into a new grant with another expiry
    #: (``change_grant_expiry``).
    EXPIRY_CHANGE = "expiry_change"
    #: Part or all of a recorded charge given back (``reverse_charge``), with a reason: the
    #: credits go back to the grants that paid (to breakage for those expired since).
    REVERSAL = "reversal"
    #: A period's overage owed into the next period (a plan's ``overage: {carry: debt}``): the
    #: credits issued on demand become debt, which the next allowance repays first.
    OVERAGE_CARRY = "overage_carry"
    #: An operator ended a customer's allowance period early (``reset_period``), with a
    #: reason: what the rollover did not carry expired then.
    PERIOD_RESET = "period_reset"


#: Bounds checked before an amount's arithmetic: its text's length and its decimal exponent
#: (any amount within AMOUNT_STEPS_MAX has fewer digits than this).
QUANTITY_TEXT_LENGTH_MAX = 64
AMOUNT_DIGITS_MAX = 40


@dataclass(frozen=True, slots=True)
class Unit:
    """A kind of credit. ``scale`` is its number of decimal places (0 for whole credits)."""

    name: str
    scale: int = 0

    def to_steps(self, quantity: object, field_name: str = "amount") -> int:
        """The exact count of smallest steps in a positive ``quantity``; refuses anything that is
        not exact (floats), not positive, finer than the scale, or too large."""
        if isinstance(quantity, bool) or not isinstance(quantity, int | Decimal | str):
            raise InvalidAmount(
                field_name,
                f"must be an int, Decimal or decimal string, not {type(quantity).__name__}"
                " (floats are not exact)",
            )
        if isinstance(quantity, str) and len(quantity) > QUANTITY_TEXT_LENGTH_MAX:
            raise InvalidAmount(
                field_name, f"must be written in at most {QUANTITY_TEXT_LENGTH_MAX} characters"
            )
        if isinstance(quantity, int):
            steps = quantity * int(10**self.scale)
        else:
            try:
                exact = Decimal(quantity)
            except ArithmeticError:
                raise InvalidAmount(field_name, f"{quantity!r} is not a number") from None
            if not exact.is_finite():
                raise InvalidAmount(field_name, "must be finite")
            # Refused by magnitude before any arithmetic: scaling 1e1000000 would overflow
            # the decimal context (decimal.Overflow) instead of being this amount's own error.
            if exact and exact.adjusted() > AMOUNT_DIGITS_MAX:
                raise InvalidAmount(
                    field_name, f"must be at most {self.to_quantity(AMOUNT_STEPS_MAX)}"
                )
            if exact and exact.adjusted() < -AMOUNT_DIGITS_MAX:
                raise InvalidAmount(
                    field_name,
                    f"{quantity} has more decimal places than unit {self.name!r} allows "
                    f"({self.scale})",
                )
            scaled = exact.scaleb(self.scale)
            if scaled != scaled.to_integral_value():
                raise InvalidAmount(
                    field_name,
                    f"{quantity} has more decimal places than unit {self.name!r} allows "
                    f"({self.scale})",
                )
            steps = int(scaled)
        if steps <= 0:
            raise InvalidAmount(field_name, f"must be positive, got {quantity}")
        if steps > AMOUNT_STEPS_MAX:
            raise InvalidAmount(field_name, f"must be at most {self.to_quantity(AMOUNT_STEPS_MAX)}")
        return steps

    def to_quantity(self, steps: int) -> Quantity:
        """The quantity a person reads for ``steps``: an int for scale 0, else a Decimal."""
        if self.scale == 0:
            return steps
        return Decimal(steps).scaleb(-self.scale)


@dataclass(frozen=True, slots=True)
class Money:
    """A price or cost: integer minor units (cents) of an ISO 4217 currency."""

    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    kind: CustomerKind
    created_at: datetime
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The IANA zone the customer states (None: none): its calendar-anchored allowance and
    #: counter periods follow it rather than the plan's.
    time_zone: str | None = None


@dataclass(frozen=True, slots=True)
class Grant:
    """A block of credits given to a customer, as it was granted."""

    id: int
    customer: str
    unit: str
    amount: Quantity
    source: GrantSource
    priority: int
    effective_at: datetime
    expires_at: datetime | None
    transferable: bool
    cost_basis: Money | None
    transaction_id: int
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The actions or categories it pays for (None: any spending).
    applies_to: tuple[str, ...] | None = None
    #: Debt this grant repaid first, in its own transaction.
    debt_repaid: Quantity = 0


@dataclass(frozen=True, slots=True)
class GrantBalance:
    """What is left of one grant that counts towards the balance now."""

    grant_id: int
    source: GrantSource
    priority: int
    remaining: Quantity
    effective_at: datetime
    expires_at: datetime | None
    transferable: bool
    applies_to: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Expiry:
    """The next moment some credits stop counting, and how many."""

    expires_at: datetime
    amount: Quantity


@dataclass(frozen=True, slots=True)
class Balance:
    """A customer's credits in one unit, consistent as of ``as_of``.

    ``available`` is what a charge or hold may take now; ``held`` is reserved by active holds
    (already out of ``available``); ``grants`` lists every grant with credits left, in burn-down
    order; ``upcoming`` lists grants that start counting later.
    """

    customer: str
    unit: str
    available: Quantity
    held: Quantity
    grants: tuple[GrantBalance, ...]
    upcoming: tuple[GrantBalance, ...]
    next_expiry: Expiry | None
    as_of: datetime
    #: The customer's plan lifts the cap: spending beyond ``available`` is issued as it is spent.
    unlimited: bool = False
    #: What pay-as-you-go overage still allows beyond ``available`` this period (billed at the
    #: period's close).
    overage_available: Quantity = 0
    #: What the customer owes: debt taken on purpose (``allow_debt``), repaid first by the next
    #: grant.
    debt: Quantity = 0
    #: The action asked about (``balance(action=…)``): ``available`` counts only the credits
    #: that may pay for it.
    action: str | None = None
    #: The spender asked about (``balance(spender=…)``): ``available`` is capped by what the
    #: budgets on its path leave. Without one, ``available`` is the customer's credits, and
    #: ``budget_left`` what its own budgets leave.
    spender: str | None = None
    #: What the budgets on the path leave, when one applies (None: no budget).
    budget_left: Quantity | None = None


@dataclass(frozen=True, slots=True)
class Draw:
    """The part of a movement one grant paid for."""

    grant_id: int
    amount: Quantity


@dataclass(frozen=True, slots=True)
class Charge:
    """Credits spent: by ``charge`` directly, or by ``commit`` of a hold (``hold_id`` set).

    ``available_after`` is what the customer had left in the unit right after this charge (its
    grants; overage beyond them is not counted), so that an app can warn at a low balance
    without a second request. The answer to a retry of a recorded charge is rebuilt from the
    ledger's rows and says what is left at the retry (later writes may have moved it); it is
    therefore not part of the charge's equality."""

    id: int
    customer: str
    unit: str
    amount: Quantity
    action: str | None
    draws: tuple[Draw, ...]
    created_at: datetime
    hold_id: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    member: str | None = None
    #: Not part of the charge's identity: a replay equals the first answer without it.
    available_after: Quantity | None = field(default=None, compare=False)
    #: Who spent (None: the customer itself).
    spender: str | None = None
    #: The part of ``amount`` taken as debt (``allow_debt``).
    debt: Quantity = 0
    #: True on the answer to a retry of a recorded charge (rebuilt from the ledger's rows).
    replayed: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class Hold:
    """Credits set aside before work whose final cost is not known yet."""

    id: int
    customer: str
    unit: str
    amount: Quantity
    status: HoldStatus
    expires_at: datetime
    created_at: datetime
    draws: tuple[Draw, ...]
    action: str | None = None
    #: What the hold has committed so far (a hold settled in parts commits while still active).
    amount_committed: Quantity | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Who holds it (None: the customer itself).
    spender: str | None = None
    #: The hold it was taken under (None: a root hold). A child draws from its parent only:
    #: its ``draws`` are empty (its credits came from the parent's draws).
    parent_id: int | None = None
    #: What the hold may still commit: its amount less what it committed and what its open
    #: children took from it. None once closed.
    remaining: Quantity | None = None


@dataclass(frozen=True, slots=True)
class Transfer:
    """Transferable credits moved from one customer to another as one new ``gift`` grant that
    expires no later than the soonest-expiring credit it came from."""

    id: int
    from_customer: str
    to_customer: str
    unit: str
    amount: Quantity
    draws: tuple[Draw, ...]
    grant_id: int
    expires_at: datetime | None
    created_at: datetime
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Adjustment:
    """Credits taken back from a customer by ``remove_credits``: ``draws`` are the grants they
    came from, in burn-down order."""

    id: int
    customer: str
    unit: str
    amount: Quantity
    draws: tuple[Draw, ...]
    created_at: datetime
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reversal:
    """Part or all of a charge given back by ``reverse_charge``. ``returned``: the grants the
    credits went back to, in the order they went (the reverse of the burn-down); ``expired``:
    what went to breakage instead (grants that expired since the charge). The rest went back
    where the charge took it beyond the grants: to issuance (overage, an unlimited plan) and to
    the debt still owed."""

    id: int
    charge_id: int
    charge_key: str
    customer: str
    unit: str
    amount: Quantity
    reason: str
    returned: tuple[Draw, ...]
    expired: Quantity
    #: What the charge has left to reverse after this one.
    remaining: Quantity
    created_at: datetime
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    """One charge of a batch (``CreditKit.charge_many``)."""

    customer: str
    amount: Quantity | str
    idempotency_key: str
    unit: str = "credits"
    action: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The workspace member who spent (the member's spender, of kind ``member``).
    member: str | None = None
    #: Counts the request against the plan's ``rate_limit_per_minute`` in the charge's own
    #: transaction (the HTTP API's charges); past it the charge is refused with RateLimited,
    #: unless its key is recorded already (a retry answers its first outcome).
    rate_limited: bool = False
    #: The spender who spent (None: the customer itself); its budgets and its ancestors' apply.
    spender: str | None = None
    #: What the grants and the plan leave short may be taken as debt, within the debt limit.
    allow_debt: bool = False
    #: When the usage happened, if earlier than now (late usage): it spends now, and counts in
    #: the usage of the period it happened in. None: now.
    occurred_at: datetime | None = None


class HoldOutcome(StrEnum):
    """Where a hold's history line stands: still holding, or how it ended."""

    OPEN = "open"
    COMMITTED = "committed"
    RELEASED = "released"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class HistoryPart:
    """One transaction of a hold's line (its reserve, an extend, a partial or final commit, its
    release or expiry): ``draws`` are the grants that transaction touched, for a commit the
    grants that paid for what it spent."""

    transaction_id: int
    kind: TransactionKind
    amount: Quantity
    available_change: Quantity
    created_at: datetime
    draws: tuple[Draw, ...]
    #: For a commit priced from a model call's usage: the price it was charged at.
    token_price: TokenPrice | None = None


@dataclass(frozen=True, slots=True)
class HistoryHold:
    """A hold's line in detail. ``amount`` is its final amount: what its commits spent in all
    when committed; 0 when released or expired without a commit; what it holds while open.
    ``parts`` are its transactions, oldest first (at most ``HISTORY_HOLD_PARTS_MAX``, its
    oldest; ``parts_complete`` is false when it has more)."""

    hold_id: int
    outcome: HoldOutcome
    amount: Quantity
    parts: tuple[HistoryPart, ...]
    parts_complete: bool = True


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One ledger transaction as seen by one customer. ``amount`` is the transaction's own
    amount (charged, granted, reserved, committed, released, transferred, expired);
    ``available_change`` is what it did to the customer's grants, negative when credits left
    them; ``draws`` are the grants it touched (for a commit, the grants that paid).

    A hold is ONE item, at the place of its newest transaction the history shows: ``hold``
    holds its detail (its transactions), ``amount`` is its final amount (``hold.amount``),
    ``available_change`` what its transactions did together, ``draws`` the grants its commits
    took; its older transactions are not items of their own."""

    transaction_id: int
    kind: TransactionKind
    amount: Quantity
    available_change: Quantity
    created_at: datetime
    action: str | None
    draws: tuple[Draw, ...]
    counterparty: str | None
    hold_id: int | None
    metadata: dict[str, Any]
    hold: HistoryHold | None = None
    #: Who spent, held or moved (None: the customer itself).
    spender: str | None = None
    #: For a charge or commit priced from a model call's usage: the price it was charged at
    #: (model, tokens, rates, their source and version), as its metadata records it.
    token_price: TokenPrice | None = None


@dataclass(frozen=True, slots=True)
class HistoryPage:
    #: At most ``limit`` items; fewer when some transactions read for the page belong to holds
    #: whose line is higher up (a hold's line is never split across pages).
    items: tuple[HistoryItem, ...]
    #: Pass as ``cursor`` to get the next (older) page; ``None`` on the last page.
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What an expiry sweep wrote."""

    grants_expired: int
    holds_expired: int
    #: False when the sweep stopped at its budget with work still due (the caller commits what
    #: it did and sweeps again, so that no transaction holds the customer's lock for long).
    complete: bool = True


@dataclass(frozen=True, slots=True)
class AuditProblem:
    rule: str
    detail: str


@dataclass(frozen=True, slots=True)
class AuditReport:
    """``ok`` when every rule holds; otherwise ``problems`` names each violation."""

    problems: tuple[AuditProblem, ...]
    transactions_checked: int
    entries_checked: int
    accounts_checked: int

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class Spender:
    """Who spends a customer's credits on its behalf (a member, an API key, an agent), in a
    tree under the customer: ``parent`` None is right under it."""

    customer: str
    id: str
    kind: str
    parent: str | None
    depth: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Budget:
    """A cap on what a spender (None: the customer itself) may spend of ``unit`` per
    ``period``, with what the current period has used (open holds included) and when it
    resets (None: a lifetime budget never does)."""

    customer: str
    spender: str | None
    unit: str
    period: str
    cap: Quantity
    used: Quantity
    resets_at: datetime | None


@dataclass(frozen=True, slots=True)
class DebtLimit:
    """How far below zero the customer may go in ``unit`` on purpose (``allow_debt``), and
    what it owes now."""

    customer: str
    unit: str
    amount: Quantity
    debt: Quantity
