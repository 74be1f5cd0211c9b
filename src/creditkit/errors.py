"""Every error creditkit raises, under one base class.

Each error carries its facts as attributes (never only in the message), so callers and the HTTP
layer can act on them. Errors that are *outcomes* of a ledger write (a refusal such as
``InsufficientCredits``) are recorded under the write's idempotency key, and a replay of that key
raises the same error again with the same fields: ``to_fields()`` and ``from_fields()`` are that
round trip.
"""

from __future__ import annotations

import inspect
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

#: An exact quantity of one unit: ``int`` for whole-credit units, ``Decimal`` for units with
#: decimal places.
Quantity = int | Decimal

__all__ = [
    "BudgetExceeded",
    "CreditKitError",
    "HoldAlreadyCommitted",
    "HoldAlreadyReleased",
    "HoldAmountExceeded",
    "HoldExpired",
    "HoldNotFound",
    "IdempotencyConflict",
    "InsufficientCredits",
    "InvalidAmount",
    "InvalidRequest",
    "InvariantViolation",
    "LedgerBusy",
    "MemberSpendCapReached",
    "PurchaseLimitReached",
    "RecordedRefusal",
    "UnitScaleConflict",
    "UnknownCustomer",
    "UnknownModel",
    "UnknownUnit",
]


T = TypeVar("T")


class CreditKitError(Exception):
    """Base class of every creditkit error. ``code`` is a stable snake_case name."""

    code: ClassVar[str] = "creditkit_error"

    def to_fields(self) -> dict[str, Any]:
        """The error's facts, by the names its constructor takes."""
        return {name: value for name, value in vars(self).items() if not name.startswith("_")}

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> CreditKitError:
        """The error rebuilt from recorded facts. A recorded row is immutable and outlives the
        code that wrote it, so this never fails on a field renamed, added or dropped since:
        unknown fields are ignored, and when a required one is missing the error is rebuilt
        with the recorded facts as its attributes and its code's message."""
        parameters = inspect.signature(cls.__init__).parameters
        known = {name: value for name, value in fields.items() if name in parameters}
        try:
            return cls(**known)
        except (TypeError, ValueError, ArithmeticError):
            error = cls.__new__(cls)
            Exception.__init__(error, f"{cls.code} (recorded refusal)")
            vars(error).update(fields)
            return error


class InvalidRequest(CreditKitError, ValueError):
    """A request that can never succeed as written: names the field and the reason."""

    code = "invalid_request"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class InvalidAmount(InvalidRequest):
    """An amount that is zero, negative, not exact (a float), too large, or has more decimal
    places than its unit's scale."""

    code = "invalid_amount"


class UnknownUnit(InvalidRequest):
    code = "unknown_unit"

    def __init__(self, unit: str, field: str = "unit") -> None:
        super().__init__(field, f"unknown unit {unit!r}")
        self.unit = unit


class UnitScaleConflict(InvalidRequest):
    """A unit was declared with a scale that differs from the one the ledger already holds:
    changing a unit's scale would change the meaning of every amount already recorded."""

    code = "unit_scale_conflict"

    def __init__(self, unit: str, scale_recorded: int, scale_declared: int) -> None:
        super().__init__(
            "scale",
            f"unit {unit!r} is recorded with scale {scale_recorded}, declared {scale_declared}",
        )
        self.unit = unit
        self.scale_recorded = scale_recorded
        self.scale_declared = scale_declared


class UnknownModel(InvalidRequest, LookupError):
    """A usage names a model that neither the price table (genai-prices) nor the action's
    catalog entry prices, and the action gives no ``fallback`` price (HTTP 422, field
    ``usage.model``)."""

    code = "unknown_model"

    def __init__(self, model: str, provider: str | None = None, action: str | None = None) -> None:
        where = f" (provider {provider!r})" if provider else ""
        super().__init__(
            "usage.model",
            f"no price for model {model!r}{where}: neither the price table nor the catalog's"
            f" action {action!r} prices it, and the action has no fallback price",
        )
        self.model = model
        self.provider = provider
        self.action = action


class UnknownCustomer(CreditKitError, LookupError):
    code = "unknown_customer"

    def __init__(self, customer: str) -> None:
        super().__init__(f"unknown customer {customer!r}")
        self.customer = customer


class InsufficientCredits(CreditKitError):
    """The customer's available credits do not cover the request. Nothing was written."""

    code = "insufficient_credits"

    def __init__(
        self,
        customer: str,
        unit: str,
        available: Quantity,
        required: Quantity,
        not_applicable: Quantity = 0,
    ) -> None:
        also = (
            f" ({not_applicable} more are held in credits that do not apply to this spending)"
            if not_applicable
            else ""
        )
        super().__init__(
            f"customer {customer!r} has {available} {unit} available, {required} required{also}"
        )
        self.customer = customer
        self.unit = unit
        self.available = available
        self.required = required
        #: Live credits the customer holds that this spending may not use (scoped elsewhere).
        self.not_applicable = not_applicable


class BudgetExceeded(CreditKitError):
    """A budget on the path from the spender to the customer does not leave room for this
    spend. ``spender`` names whose budget refused (None: the customer's own); ``cap`` and
    ``used`` are that budget's, in its current period, which ends at ``resets_at`` (None: a
    lifetime budget)."""

    code = "budget_exceeded"

    def __init__(
        self,
        customer: str,
        spender: str | None,
        unit: str,
        period: str,
        cap: Quantity,
        used: Quantity,
        required: Quantity,
        resets_at: datetime | None,
    ) -> None:
        who = "the customer's own" if spender is None else f"spender {spender!r}'s"
        super().__init__(
            f"{who} {period} budget of customer {customer!r} allows {cap} {unit}, {used} used,"
            f" {required} required"
        )
        self.customer = customer
        self.spender = spender
        self.unit = unit
        self.period = period
        self.cap = cap
        self.used = used
        self.required = required
        self.resets_at = resets_at


class IdempotencyConflict(CreditKitError):
    """The idempotency key was first used for a different request; ``field`` is the first field
    (in the request's own order) whose value differs."""

    code = "idempotency_conflict"

    def __init__(self, idempotency_key: str, field: str, first: Any, second: Any) -> None:
        super().__init__(
            f"idempotency key {idempotency_key!r} was used for a different request: "
            f"{field} was {first!r}, now {second!r}"
        )
        self.idempotency_key = idempotency_key
        self.field = field
        self.first = first
        self.second = second


class HoldNotFound(CreditKitError, LookupError):
    code = "hold_not_found"

    def __init__(self, hold_id: int) -> None:
        super().__init__(f"no hold {hold_id}")
        self.hold_id = hold_id


class HoldAlreadyCommitted(CreditKitError):
    code = "hold_already_committed"

    def __init__(self, hold_id: int) -> None:
        super().__init__(f"hold {hold_id} is already committed")
        self.hold_id = hold_id


class HoldAlreadyReleased(CreditKitError):
    code = "hold_already_released"

    def __init__(self, hold_id: int) -> None:
        super().__init__(f"hold {hold_id} is already released")
        self.hold_id = hold_id


class HoldExpired(CreditKitError):
    """The hold's timeout passed: its credits went back to the customer and it cannot be
    committed."""

    code = "hold_expired"

    def __init__(self, hold_id: int, expires_at: datetime) -> None:
        super().__init__(f"hold {hold_id} expired at {expires_at.isoformat()}")
        self.hold_id = hold_id
        self.expires_at = expires_at


class HoldAmountExceeded(CreditKitError):
    """A commit asked for more than the hold reserved."""

    code = "hold_amount_exceeded"

    def __init__(self, hold_id: int, held: Quantity, requested: Quantity) -> None:
        super().__init__(f"hold {hold_id} holds {held}, commit asked for {requested}")
        self.hold_id = hold_id
        self.held = held
        self.requested = requested


class HoldParentExceeded(CreditKitError):
    """A hold taken (or extended) under a parent hold asked for more than the parent still
    holds: a child draws only from its parent's held credits, never past them."""

    code = "hold_parent_exceeded"

    def __init__(self, parent_id: int, available: Quantity, requested: Quantity) -> None:
        super().__init__(
            f"parent hold {parent_id} has {available} left to give, {requested} was asked"
        )
        self.parent_id = parent_id
        self.available = available
        self.requested = requested


class HoldHasOpenChildren(CreditKitError):
    """A final commit of a hold whose children are still open: commit or release them first
    (releasing the parent releases them with it)."""

    code = "hold_has_open_children"

    def __init__(self, hold_id: int, children: list[int]) -> None:
        named = ", ".join(str(child) for child in children)
        super().__init__(
            f"hold {hold_id} has open child holds ({named}): commit or release them first"
        )
        self.hold_id = hold_id
        self.children = children


class PurchaseLimitReached(CreditKitError):
    """The customer has bought this pack as many times as the catalog allows."""

    code = "purchase_limit_reached"

    def __init__(self, customer: str, pack: str, purchase_limit: int) -> None:
        super().__init__(f"customer {customer!r} has bought pack {pack!r} {purchase_limit} times")
        self.customer = customer
        self.pack = pack
        self.purchase_limit = purchase_limit


class MemberSpendCapReached(CreditKitError):
    """The workspace caps what this member may spend this period, and the charge is over it."""

    code = "member_spend_cap_reached"

    def __init__(
        self, customer: str, member: str, unit: str, remaining: Quantity, required: Quantity
    ) -> None:
        super().__init__(
            f"member {member!r} of {customer!r} may spend {remaining} {unit} more this period,"
            f" {required} required"
        )
        self.customer = customer
        self.member = member
        self.unit = unit
        self.remaining = remaining
        self.required = required


class RateLimited(CreditKitError):
    """Past the plan's ``rate_limit_per_minute`` for this minute. Not recorded under the
    request's idempotency key, so the same request may be made again after
    ``retry_after_seconds``."""

    code = "rate_limited"

    def __init__(self, customer: str, limit_per_minute: int, retry_after_seconds: int) -> None:
        super().__init__(f"the plan allows {limit_per_minute} requests a minute")
        self.customer = customer
        self.limit_per_minute = limit_per_minute
        self.retry_after_seconds = retry_after_seconds


class LedgerBusy(CreditKitError):
    """The database kept reporting lock conflicts after the bounded number of retries."""

    code = "ledger_busy"

    def __init__(self, attempts: int, reason: str = "lock conflicts") -> None:
        super().__init__(f"gave up after {attempts} attempts on {reason}")
        self.attempts = attempts
        self.reason = reason


class InvariantViolation(Exception):
    """A rule that must always hold did not, right before a write: a defect in creditkit, never
    the caller's input. Raised (not asserted, which ``python -O`` strips) and nothing is written.

    Not a ``CreditKitError``: an ``except CreditKitError`` handles what a caller did or can fix
    (an answer of 4xx, an item of a batch refused, a line of the CLI), and a defect is none of
    these. The server answers it as it answers any bug (a 500 ``internal_error``, logged), a
    batch stops at it, and the CLI names it a defect above its traceback."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"{rule}: {detail}")
        self.rule = rule
        self.detail = detail


def present(value: T | None, rule: str) -> T:
    """``value``, which ``rule`` says is there; raises InvariantViolation naming the rule when
    it is None (what ``assert value is not None`` would say, without ``python -O`` striping it)."""
    if value is None:
        raise InvariantViolation(rule, "missing")
    return value


def require(condition: bool, rule: str, detail: str = "") -> None:
    """Raises InvariantViolation naming ``rule`` unless ``condition`` holds."""
    if not condition:
        raise InvariantViolation(rule, detail)


class RecordedRefusal(CreditKitError):
    """A refusal recorded under a key by an error class this version no longer has: replayed with
    its recorded code and message."""

    code = "refused"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message or code)
        self.code = code  # type: ignore[misc]
        self.message = message


#: Errors recorded as the outcome of a write, by code, for replays.
RECORDED_ERRORS: dict[str, type[CreditKitError]] = {
    error.code: error
    for error in (
        InsufficientCredits,
        HoldAlreadyCommitted,
        HoldAlreadyReleased,
        HoldExpired,
        HoldAmountExceeded,
        HoldNotFound,
        HoldParentExceeded,
        HoldHasOpenChildren,
        PurchaseLimitReached,
        MemberSpendCapReached,
        BudgetExceeded,
    )
}
