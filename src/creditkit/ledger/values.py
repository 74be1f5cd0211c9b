"""The ledger's values: what a write is made of (its request, the checks a spend passed, how a
refusal travels out of it) and the small rules of drawing from grants, apart from the kernel that
posts them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from creditkit.errors import CreditKitError, IdempotencyConflict, InvariantViolation
from creditkit.ledger import repository
from creditkit.ledger.repository import GrantRow
from creditkit.ledger.schemas import AMOUNT_STEPS_MAX, TransactionKind
from creditkit.ledger.spending import BudgetLine


@dataclass(frozen=True, slots=True)
class SpendCheck:
    """A spend that passed ``check_spend``: the budgets it was counted against, and the steps
    it takes as debt (on ``debt_account``)."""

    lines: tuple[BudgetLine, ...]
    debt: int
    debt_account: int | None


@dataclass(frozen=True, slots=True)
class RateWindow:
    """A customer's rate-limit window after ``requests`` more were counted in it: the plan's
    limit, the window's count, and when a refused request may be made again."""

    limit_per_minute: int
    count: int
    retry_after_seconds: int

    def allows(self, requests: int, index: int) -> bool:
        """Whether the ``index``-th (from 0) of the ``requests`` just counted is within the
        limit: they were counted in order, so the earlier ones go first."""
        return self.count - requests + index + 1 <= self.limit_per_minute


#: The format of a refusal stored as a write's outcome (code, message, fields).
REFUSAL_FORMAT_VERSION = 2

#: System accounts that every unit has, one each: where granted credits come from, where spent
#: credits go, and where expired credits go (breakage).
ISSUANCE, CONSUMPTION, EXPIRY = "issuance", "consumption", "expiry"

SYSTEM_ACCOUNT_KINDS = (ISSUANCE, CONSUMPTION, EXPIRY)


def burn_down_key(grant: GrantRow) -> tuple[int, bool, datetime, datetime, int]:
    """The burn-down order (docs/rules.md): lowest priority number first, then soonest expiry
    (never-expiring last), then oldest, then the grant's id so that the order is total."""
    never = grant.expires_at is None
    expires_at = grant.effective_at if grant.expires_at is None else grant.expires_at
    return (grant.priority, never, expires_at, grant.effective_at, grant.account_id)


def take(grants: Sequence[GrantRow], steps: int) -> list[tuple[GrantRow, int]]:
    """Draws ``steps`` from ``grants`` (already in burn-down order), spending their in-memory
    ``remaining``. The caller has checked that they hold enough."""
    draws: list[tuple[GrantRow, int]] = []
    left = steps
    for grant in grants:
        if left == 0:
            break
        part = min(grant.remaining, left)
        if part > 0:
            grant.remaining -= part
            left -= part
            draws.append((grant, part))
    if left != 0:
        raise InvariantViolation("take within what the grants hold", f"{left} steps short")
    return draws


#: The fields a conflict names first when several differ.
CONFLICT_FIELDS_FIRST = ("operation", "customer", "action", "unit")


@dataclass(frozen=True, slots=True)
class Request:
    """A write as recorded under its idempotency key."""

    key: str
    operation: TransactionKind
    fields: dict[str, Any]

    def encode(self) -> str:
        return repository.encode_json({"operation": self.operation.value, **self.fields})

    def conflict_with(self, recorded: str) -> IdempotencyConflict | None:
        """The field in which ``recorded`` differs from this request, if any: the one the caller
        changed, so what names the request (operation, customer, action, unit) before what
        follows from it (an action's price is the amount)."""
        first = json.loads(recorded)
        second = json.loads(self.encode())
        for name in dict.fromkeys([*CONFLICT_FIELDS_FIRST, *second, *first]):
            if first.get(name) != second.get(name):
                return IdempotencyConflict(self.key, name, first.get(name), second.get(name))
        return None


@dataclass(slots=True)
class SweepTally:
    grants_expired: int = 0
    holds_expired: int = 0


class CatchingUp:
    """The outcome of a transaction that spent its budget catching a customer's due work up and
    did not run the write: it commits what it did, and the write is run again."""


CATCHING_UP = CatchingUp()

#: A transaction's legs: a hold's settlement touches the hold, consumption, expiry and each grant
#: it drew from, so this bounds the grants one operation may draw from too.
LEGS_PER_TRANSACTION_MAX = 10_000
#: No single leg moves more than the largest amount, a transfer's two sides included.
LEG_AMOUNT_MAX = 2 * AMOUNT_STEPS_MAX


class Refused(Exception):
    """A recorded refusal on its way out of the write that recorded it: raised from deep in an
    operation, caught and returned by ``_attempt`` so that its transaction still commits."""

    def __init__(self, error: CreditKitError) -> None:
        super().__init__(str(error))
        self.error = error
