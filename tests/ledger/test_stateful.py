"""Random sequences of ledger operations, checked step by step against a reference model.

``ReferenceLedger`` below is a plain in-memory implementation of the ledger's rules, written
from the specification and independent of creditkit's code (it shares only the value and error
types). ``LedgerMachine`` runs grants, charges, holds (reserve, commit, release), transfers,
clock moves, expiry sweeps and idempotent replays against a real ``CreditKit`` and the model
(with group commit on, and in bursts: several writes from threads of their own put into one
shared transaction, each checked against the model applied alone in arrival order),
and after every step compares each customer's available and held credits and the remaining
credits of every grant, in burn-down order. At the end of each run the ledger must pass its own
audit. Every example gets a fresh database: a SQLite file, or a PostgreSQL database cloned from
the migrated template.
"""

from __future__ import annotations

import itertools
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from group_commit_helpers import OneTransaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from creditkit import (
    BudgetExceeded,
    Charge,
    CreditKit,
    CreditKitError,
    Grant,
    Hold,
    HoldAlreadyCommitted,
    HoldAlreadyReleased,
    HoldAmountExceeded,
    HoldExpired,
    HoldHasOpenChildren,
    HoldParentExceeded,
    HoldStatus,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidRequest,
    ManualClock,
    TransactionKind,
    Transfer,
)
from creditkit.ledger.checks import HOLD_LIFETIME_SECONDS_MAX, HOLD_TREE_LEVELS_MAX

UNIT = "credits"
CUSTOMERS = ("alice", "bob", "carol")
#: Each customer's spender tree (an agent under a team), their budgets (spender, period, cap),
#: the action scoped grants pay for, and the debt limit every customer has.
SPENDER_PATHS = {"team": ("team", ""), "agent": ("agent", "team", "")}
BUDGETS = (("agent", "hour", 25), ("team", "day", 60))
SCOPE = "image"
DEBT_LIMIT = 25

# -- the reference model --------------------------------------------------------------------------

#: Burn-down priority when a grant names none, by source (lower burns first).
DEFAULT_PRIORITY = {
    "allowance": 10,
    "promo": 20,
    "earned": 30,
    "gift": 40,
    "migration": 50,
    "adjustment": 50,
    "refund": 50,
    "purchase": 50,
}
#: Sources whose grants may be transferred when the grant does not say.
TRANSFERABLE_BY_DEFAULT = frozenset({"purchase", "gift"})
GIFT_PRIORITY = 40

GrantDraws = list[tuple[int, int]]


@dataclass
class ModelGrant:
    id: int
    customer: str
    remaining: int
    priority: int
    effective_at: datetime
    expires_at: datetime | None
    transferable: bool
    #: Pays only for the action ``SCOPE`` (``applies_to``).
    scoped: bool = False

    def counts(self, now: datetime) -> bool:
        """Counts towards the balance: started and not expired (it stops at ``expires_at``)."""
        return self.effective_at <= now and (self.expires_at is None or now < self.expires_at)

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def burn_down_key(self) -> tuple[int, int, datetime, datetime, int]:
        """Lowest priority first, then soonest expiry (never-expiring last), then oldest
        effective_at, then lowest id."""
        if self.expires_at is None:
            return (self.priority, 1, self.effective_at, self.effective_at, self.id)
        return (self.priority, 0, self.expires_at, self.effective_at, self.id)


@dataclass
class ModelHold:
    id: int
    customer: str
    #: What it was given in all: its reserve and its extends.
    amount: int
    #: (grant id, amount) in the order first drawn, an extend adding to a grant already drawn
    #: from; none for a child, whose credits came from its parent.
    draws: GrantDraws
    expires_at: datetime
    created_at: datetime
    parent: int | None = None
    depth: int = 0
    #: What it holds now: its amount less what it committed and what its open children took.
    balance: int = 0
    committed: int = 0
    #: A root's: what the commits in its tree (its own and its children's) took of its draws.
    tree_committed: int = 0
    status: HoldStatus = HoldStatus.ACTIVE
    #: Who holds it (a child naming none holds as its parent's spender), the budget levels it
    #: counts against (a child: its spender's levels no hold above it counts), and what its
    #: reserve and extends counted there, when: what it did not spend goes back to those
    #: periods, newest first.
    spender: str | None = None
    levels: tuple[str, ...] = ("",)
    fundings: list[tuple[datetime, int]] = field(default_factory=list)


@dataclass(frozen=True)
class CustomerView:
    """What the test compares for one customer: the ledger's balance or the model's."""

    available: int
    held: int
    #: (grant id, remaining) of the grants that count now, in burn-down order.
    grants: tuple[tuple[int, int], ...]
    #: (grant id, remaining) of the grants that start counting later, in burn-down order.
    upcoming: tuple[tuple[int, int], ...]
    #: What the customer owes.
    debt: int = 0


class ReferenceLedger:
    """The ledger's rules, kept in memory. Credits held by a hold are out of their grants until
    the hold is settled; expiry is applied whenever a customer is touched (``touch``), which is
    equivalent to applying it the moment it falls due."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.grants: dict[int, ModelGrant] = {}
        self.holds: dict[int, ModelHold] = {}
        #: Where every credit is: issued = in grants + in active holds + consumed + breakage.
        self.issued = 0
        self.consumed = 0
        self.breakage = 0
        #: Per customer, the credits that expired in their grants (not in holds): what the
        #: ledger records as ``expiry`` transactions.
        self.grant_expiries: dict[str, int] = {}
        #: What each customer owes, and what each budget used per (customer, spender, period,
        #: period start).
        self.debts: dict[str, int] = dict.fromkeys(CUSTOMERS, 0)
        self.budget_used: dict[tuple[str, str, str, datetime], int] = {}

    # -- reads --

    def counting(self, customer: str, *, transferable_only: bool = False) -> list[ModelGrant]:
        found = [
            grant
            for grant in self.grants.values()
            if grant.customer == customer
            and grant.counts(self.now)
            and grant.remaining > 0
            and (grant.transferable or not transferable_only)
        ]
        return sorted(found, key=ModelGrant.burn_down_key)

    def view(self, customer: str) -> CustomerView:
        counting = self.counting(customer)
        upcoming = sorted(
            (
                grant
                for grant in self.grants.values()
                if grant.customer == customer and grant.effective_at > self.now
            ),
            key=ModelGrant.burn_down_key,
        )
        return CustomerView(
            available=sum(grant.remaining for grant in counting),
            held=sum(
                hold.balance
                for hold in self.holds.values()
                if hold.customer == customer and hold.status is HoldStatus.ACTIVE
            ),
            grants=tuple((grant.id, grant.remaining) for grant in counting),
            upcoming=tuple((grant.id, grant.remaining) for grant in upcoming),
            debt=self.debts[customer],
        )

    # -- expiry --

    def touch(self, customer: str) -> tuple[int, int]:
        """Applies what has fallen due for the customer: holds past their timeout give their
        credits back (as a release would), then expired grants lose what is left to breakage.
        Returns (grants expired, holds expired), as an expiry sweep would count them."""
        holds_expired = 0
        # In the order they timed out; a child before its parent at the same instant.
        for hold in sorted(
            self.holds.values(), key=lambda hold: (hold.expires_at, -hold.depth, hold.id)
        ):
            if (
                hold.customer == customer
                and hold.status is HoldStatus.ACTIVE
                and hold.expires_at <= self.now
            ):
                self._close(hold, 0, HoldStatus.EXPIRED)
                holds_expired += 1
        grants_expired = 0
        for grant in self.grants.values():
            if grant.customer == customer and grant.expired(self.now) and grant.remaining > 0:
                self.breakage += grant.remaining
                self.grant_expiries[customer] = (
                    self.grant_expiries.get(customer, 0) + grant.remaining
                )
                grant.remaining = 0
                grants_expired += 1
        return grants_expired, holds_expired

    # -- writes --

    def add_grant(
        self,
        grant_id: int,
        customer: str,
        amount: int,
        priority: int,
        effective_at: datetime,
        expires_at: datetime | None,
        transferable: bool,
        *,
        issued: bool = True,
        scoped: bool = False,
    ) -> int:
        """Records a grant; ``issued`` is False for a transfer's, whose credits already were.
        An issued grant repays what the customer owes first; returns what it repaid."""
        assert grant_id not in self.grants, f"grant id {grant_id} given twice"
        grant = ModelGrant(
            grant_id, customer, amount, priority, effective_at, expires_at, transferable, scoped
        )
        self.grants[grant_id] = grant
        if not issued:
            return 0
        self.issued += amount
        repaid = min(amount, self.debts[customer])
        grant.remaining -= repaid
        self.debts[customer] -= repaid
        return repaid

    def check_conservation(self) -> None:
        """The model's own bookkeeping: no credit appears or vanishes."""
        in_grants = sum(grant.remaining for grant in self.grants.values())
        in_holds = sum(
            hold.balance for hold in self.holds.values() if hold.status is HoldStatus.ACTIVE
        )
        owed = sum(self.debts.values())
        assert self.issued == in_grants + in_holds + self.consumed + self.breakage - owed

    def _take(
        self,
        customer: str,
        amount: int,
        *,
        transferable_only: bool = False,
        action: str | None = None,
        debt_room: int | None = None,
    ) -> GrantDraws:
        """Draws ``amount`` in burn-down order from the grants that apply to ``action``, or
        raises InsufficientCredits; with ``debt_room``, a shortfall within it is owed."""
        live = self.counting(customer, transferable_only=transferable_only)
        grants = [grant for grant in live if not grant.scoped or action == SCOPE]
        have = sum(grant.remaining for grant in grants)
        elsewhere = sum(grant.remaining for grant in live) - have
        if amount > have and (debt_room is None or amount - have > debt_room):
            raise InsufficientCredits(customer, UNIT, have + (debt_room or 0), amount, elsewhere)
        if amount > have:
            self.debts[customer] += amount - have
            amount = have
        draws: GrantDraws = []
        left = amount
        for grant in grants:
            if left == 0:
                break
            part = min(grant.remaining, left)
            grant.remaining -= part
            left -= part
            draws.append((grant.id, part))
        return draws

    def charge(self, customer: str, amount: int) -> GrantDraws:
        self.touch(customer)
        draws = self._take(customer, amount)
        self.consumed += amount
        return draws

    def budget_lines(self, customer: str, spender: str) -> list[tuple[str, str, int, datetime]]:
        """(spender, period, cap, period start) of the budgets on the spender's path, nearest
        first: fixed UTC hours and days."""
        return self.lines_at(SPENDER_PATHS[spender], self.now)

    @staticmethod
    def lines_at(levels: tuple[str, ...], at: datetime) -> list[tuple[str, str, int, datetime]]:
        """(spender, period, cap, period start) of the budgets of ``levels`` in the periods
        of ``at``."""
        hour = at.replace(minute=0, second=0, microsecond=0)
        starts = {"hour": hour, "day": hour.replace(hour=0)}
        return [
            (owner, period, cap, starts[period])
            for level in levels
            for owner, period, cap in BUDGETS
            if owner == level
        ]

    def check_budgets(
        self, customer: str, levels: tuple[str, ...], amount: int
    ) -> list[tuple[str, str, int, datetime]]:
        """The budgets of ``levels`` now, or BudgetExceeded from the nearest too small."""
        lines = self.lines_at(levels, self.now)
        for owner, period, cap, start in lines:
            used = self.budget_used.get((customer, owner, period, start), 0)
            if amount > cap - used:
                ends = start + timedelta(hours=1 if period == "hour" else 24)
                raise BudgetExceeded(customer, owner, UNIT, period, cap, used, amount, ends)
        return lines

    def count(
        self, customer: str, lines: list[tuple[str, str, int, datetime]], amount: int
    ) -> None:
        for owner, period, _cap, start in lines:
            key = (customer, owner, period, start)
            self.budget_used[key] = self.budget_used.get(key, 0) + amount

    def hold_levels(self, spender: str | None, parent: int | None) -> tuple[str, ...]:
        """A root's spender's path; a child's levels no hold above it counts."""
        path = ("",) if spender is None else SPENDER_PATHS[spender]
        covered: set[str] = set()
        while parent is not None:
            above = self.holds[parent]
            covered.update(("",) if above.spender is None else SPENDER_PATHS[above.spender])
            parent = above.parent
        return tuple(level for level in path if level not in covered)

    def give_back(self, hold: ModelHold, amount: int) -> None:
        """What the hold did not spend, back to its levels, newest funding first."""
        for at, funded in reversed(hold.fundings):
            if amount == 0:
                break
            part = min(amount, funded)
            for owner, period, _cap, start in self.lines_at(hold.levels, at):
                key = (hold.customer, owner, period, start)
                self.budget_used[key] = max(0, self.budget_used.get(key, 0) - part)
            amount -= part

    def charge_through(
        self, customer: str, spender: str, amount: int, action: str | None, allow_debt: bool
    ) -> GrantDraws:
        """A charge through a spender: every budget on its path, then the grants that apply,
        then (asked for) debt within the limit."""
        self.touch(customer)
        lines = self.check_budgets(customer, SPENDER_PATHS[spender], amount)
        room = DEBT_LIMIT - self.debts[customer] if allow_debt else None
        draws = self._take(customer, amount, action=action, debt_room=room)
        self.count(customer, lines, amount)
        self.consumed += amount
        return draws

    def reserve(self, customer: str, amount: int, spender: str | None = None) -> GrantDraws:
        """The draws of a new hold, counted against its spender's budgets; ``add_hold``
        records it once the ledger named it."""
        self.touch(customer)
        lines = self.check_budgets(customer, self.hold_levels(spender, None), amount)
        draws = self._take(customer, amount)
        self.count(customer, lines, amount)
        return draws

    def reserve_under(
        self, parent_id: int, amount: int, timeout_seconds: int, spender: str | None = None
    ) -> tuple[datetime, str | None]:
        """A child's reserve: checks its parent, takes ``amount`` from it and counts it against
        the child's own levels; returns the child's timeout (capped by its parent's) and its
        spender (its parent's when it names none). ``add_hold`` records it."""
        parent = self.holds[parent_id]
        self.touch(parent.customer)
        self._check_active(parent)
        if parent.depth + 1 >= HOLD_TREE_LEVELS_MAX:
            raise InvalidRequest("parent", f"holds nest at most {HOLD_TREE_LEVELS_MAX} levels deep")
        if amount > parent.balance:
            raise HoldParentExceeded(parent.id, parent.balance, amount)
        spender = parent.spender if spender is None else spender
        levels = self.hold_levels(spender, parent_id)
        self.count(parent.customer, self.check_budgets(parent.customer, levels, amount), amount)
        parent.balance -= amount
        return min(self.now + timedelta(seconds=timeout_seconds), parent.expires_at), spender

    def add_hold(
        self,
        hold_id: int,
        customer: str,
        amount: int,
        draws: GrantDraws,
        expires_at: datetime,
        parent: int | None = None,
        spender: str | None = None,
    ) -> None:
        assert hold_id not in self.holds, f"hold id {hold_id} given twice"
        depth = 0 if parent is None else self.holds[parent].depth + 1
        self.holds[hold_id] = ModelHold(
            hold_id, customer, amount, list(draws), expires_at, self.now, parent, depth, amount,
            spender=spender, levels=self.hold_levels(spender, parent),
            fundings=[(self.now, amount)],
        )  # fmt: skip

    def extend(self, hold_id: int, amount: int | None, timeout_seconds: int | None) -> ModelHold:
        hold = self.holds[hold_id]
        self.touch(hold.customer)
        self._check_active(hold)
        parent = None if hold.parent is None else self.holds[hold.parent]
        expires_at = hold.expires_at
        if timeout_seconds is not None:
            expires_at = max(expires_at, self.now + timedelta(seconds=timeout_seconds))
        if parent is not None:
            expires_at = min(expires_at, parent.expires_at)
        ends_at = hold.created_at + timedelta(seconds=HOLD_LIFETIME_SECONDS_MAX)
        if expires_at > ends_at:
            raise InvalidRequest(
                "timeout_seconds",
                f"hold {hold.id} lives at most {HOLD_LIFETIME_SECONDS_MAX} seconds,"
                f" until {ends_at.isoformat()}",
            )
        if amount:
            # Every check a reserve gets: a root's budgets then grants, a child's parent then
            # its own levels' budgets.
            if parent is None:
                lines = self.check_budgets(hold.customer, hold.levels, amount)
                drawn = dict(hold.draws)
                for grant_id, part in self._take(hold.customer, amount):
                    drawn[grant_id] = drawn.get(grant_id, 0) + part
                hold.draws = list(drawn.items())
            else:
                if amount > parent.balance:
                    raise HoldParentExceeded(parent.id, parent.balance, amount)
                lines = self.check_budgets(hold.customer, hold.levels, amount)
                parent.balance -= amount
            self.count(hold.customer, lines, amount)
            hold.fundings.append((self.now, amount))
            hold.amount += amount
            hold.balance += amount
        hold.expires_at = expires_at
        return hold

    def open_children(self, hold_id: int) -> list[ModelHold]:
        return [
            hold
            for hold in sorted(self.holds.values(), key=lambda hold: hold.id)
            if hold.parent == hold_id and hold.status is HoldStatus.ACTIVE
        ]

    def _check_active(self, hold: ModelHold) -> None:
        if hold.status is HoldStatus.COMMITTED:
            raise HoldAlreadyCommitted(hold.id)
        if hold.status is HoldStatus.RELEASED:
            raise HoldAlreadyReleased(hold.id)
        if hold.status is HoldStatus.EXPIRED:
            raise HoldExpired(hold.id, hold.expires_at)

    def _close(self, hold: ModelHold, amount: int, status: HoldStatus) -> None:
        """Spends ``amount`` of what the hold holds and gives the rest back: a child's to its
        parent; a root's to the grants it drew from, past what its tree consumed (taken from
        its draws first, in their order), except to grants expired by now (breakage)."""
        assert 0 <= amount <= hold.balance
        rest = hold.balance - amount
        self.give_back(hold, rest)
        self.consumed += amount
        hold.committed += amount
        hold.balance = 0
        hold.status = status
        if hold.parent is not None:
            self.holds[hold.parent].balance += rest
            return
        skip = sum(part for _grant_id, part in hold.draws) - rest
        for grant_id, part in hold.draws:
            used = min(part, skip)
            skip -= used
            back = part - used
            grant = self.grants[grant_id]
            if grant.expired(self.now):
                self.breakage += back
            else:
                grant.remaining += back

    @staticmethod
    def commit_draws(root: ModelHold, amount: int) -> GrantDraws:
        """A commit's draws (in the tree under ``root``): the root's draws, past what the
        tree's earlier commits took."""
        consumed: GrantDraws = []
        skip, left = root.tree_committed, amount
        for grant_id, part in root.draws:
            skipped = min(part, skip)
            skip -= skipped
            used = min(part - skipped, left)
            left -= used
            if used:
                consumed.append((grant_id, used))
        return consumed

    def commit(
        self, hold_id: int, amount: int, final: bool = True, allow_debt: bool = False
    ) -> tuple[GrantDraws, int]:
        """The commit's draws and the debt it took: with ``allow_debt``, what is above the
        hold's balance is spent like a charge through the hold's spender (its whole path),
        the hold's balance spent first."""
        hold = self.holds[hold_id]
        self.touch(hold.customer)
        if not final and amount == 0:
            raise InvalidRequest("amount", "a partial commit (final false) spends more than 0")
        self._check_active(hold)
        excess = max(0, amount - hold.balance) if allow_debt else 0
        held = amount - excess
        if held > hold.balance:
            raise HoldAmountExceeded(hold_id, hold.balance, amount)
        children = self.open_children(hold_id)
        if final and children:
            raise HoldHasOpenChildren(hold_id, [child.id for child in children[:10]])
        root = hold
        while root.parent is not None:
            root = self.holds[root.parent]
        draws = self.commit_draws(root, held)
        root.tree_committed += held
        debt = 0
        if excess:
            customer = hold.customer
            path = ("",) if hold.spender is None else SPENDER_PATHS[hold.spender]
            lines = self.check_budgets(customer, path, excess)
            live = self.counting(customer)
            have = sum(grant.remaining for grant in live if not grant.scoped)
            room = DEBT_LIMIT - self.debts[customer]
            if excess - have > room:
                elsewhere = sum(grant.remaining for grant in live) - have
                raise InsufficientCredits(
                    customer, UNIT, hold.balance + have + room, amount, elsewhere
                )
            debt_before = self.debts[customer]
            self._take(customer, excess, debt_room=room)
            debt = self.debts[customer] - debt_before
            self.count(customer, lines, excess)
            self.consumed += excess
        if final:
            self._close(hold, held, HoldStatus.COMMITTED)
        else:
            hold.balance -= held
            hold.committed += held
            self.consumed += held
        return draws, debt

    def release(self, hold_id: int) -> ModelHold:
        hold = self.holds[hold_id]
        self.touch(hold.customer)
        self._check_active(hold)
        # Its open holds first, deepest first, each giving back to its parent.
        levels: list[list[ModelHold]] = []
        above = [hold.id]
        while above:
            below = [child for parent in above for child in self.open_children(parent)]
            below.sort(key=lambda child: child.id)
            if below:
                levels.append(below)
            above = [child.id for child in below]
        for level in reversed(levels):
            for child in level:
                self._close(child, 0, HoldStatus.RELEASED)
        self._close(hold, 0, HoldStatus.RELEASED)
        return hold

    def transfer(
        self, sender: str, recipient: str, amount: int
    ) -> tuple[GrantDraws, datetime | None]:
        """The draws from the sender and the expiry of the recipient's new grant, which
        ``add_grant`` records once the ledger named it."""
        self.touch(sender)
        self.touch(recipient)
        draws = self._take(sender, amount, transferable_only=True)
        expiries = [
            expires_at
            for grant_id, _part in draws
            if (expires_at := self.grants[grant_id].expires_at) is not None
        ]
        return draws, min(expiries, default=None)


# -- operations, as requests that can be replayed -------------------------------------------------


@dataclass(frozen=True)
class GrantOp:
    customer: str
    amount: int
    source: str
    priority: int | None
    effective_at: datetime | None
    expires_at: datetime | None
    transferable: bool | None

    def run(self, ck: CreditKit, key: str) -> Grant:
        return ck.grant(
            self.customer,
            self.amount,
            idempotency_key=key,
            source=self.source,
            priority=self.priority,
            effective_at=self.effective_at,
            expires_at=self.expires_at,
            transferable=self.transferable,
        )


@dataclass(frozen=True)
class ChargeOp:
    customer: str
    amount: int

    def run(self, ck: CreditKit, key: str) -> Charge:
        return ck.charge(self.customer, self.amount, idempotency_key=key)


@dataclass(frozen=True)
class SpendThroughOp:
    customer: str
    spender: str
    amount: int
    action: str | None
    allow_debt: bool

    def run(self, ck: CreditKit, key: str) -> Charge:
        return ck.charge(
            self.customer,
            self.amount,
            idempotency_key=key,
            action=self.action,
            spender=self.spender,
            allow_debt=self.allow_debt,
        )


@dataclass(frozen=True)
class ReserveOp:
    customer: str
    amount: int
    timeout_seconds: int
    parent: int | None = None
    spender: str | None = None

    def run(self, ck: CreditKit, key: str) -> Hold:
        return ck.reserve(
            self.customer,
            self.amount,
            idempotency_key=key,
            timeout_seconds=self.timeout_seconds,
            parent=self.parent,
            spender=self.spender,
        )


@dataclass(frozen=True)
class ExtendOp:
    hold_id: int
    amount: int | None
    timeout_seconds: int | None

    def run(self, ck: CreditKit, key: str) -> Hold:
        return ck.extend(self.hold_id, self.amount, self.timeout_seconds, idempotency_key=key)


@dataclass(frozen=True)
class CommitOp:
    hold_id: int
    amount: int
    final: bool = True
    allow_debt: bool = False

    def run(self, ck: CreditKit, key: str) -> Charge:
        return ck.commit(
            self.hold_id,
            self.amount,
            final=self.final,
            allow_debt=self.allow_debt,
            idempotency_key=key,
        )


@dataclass(frozen=True)
class ReleaseOp:
    hold_id: int

    def run(self, ck: CreditKit, key: str) -> Hold:
        return ck.release(self.hold_id, idempotency_key=key)


@dataclass(frozen=True)
class TransferOp:
    sender: str
    recipient: str
    amount: int

    def run(self, ck: CreditKit, key: str) -> Transfer:
        return ck.transfer(self.sender, self.recipient, self.amount, idempotency_key=key)


Op = GrantOp | ChargeOp | ReserveOp | ExtendOp | CommitOp | ReleaseOp | TransferOp
Outcome = Grant | Charge | Hold | Transfer | CreditKitError


def run_grant_scoped(ck: CreditKit, customer: str, amount: int, key: str) -> Outcome:
    try:
        return ck.grant(customer, amount, idempotency_key=key, source="promo", applies_to=[SCOPE])
    except CreditKitError as error:
        return error


def different_request(op: Op, how: str) -> Op:
    """A request that differs from ``op``: its amount plus one, or another operation."""
    if how == "amount" and isinstance(op, ExtendOp):
        return replace(op, amount=1 if op.amount is None else op.amount + 1)
    if how == "amount" and not isinstance(op, ReleaseOp):
        return replace(op, amount=op.amount + 1)
    if isinstance(op, ChargeOp):
        return GrantOp(op.customer, 1, "purchase", None, None, None, None)
    return ChargeOp(CUSTOMERS[0], 1)


@dataclass(frozen=True)
class Recorded:
    key: str
    op: Op
    outcome: Outcome


def run(op: Op, ck: CreditKit, key: str) -> Outcome:
    try:
        return op.run(ck, key)
    except CreditKitError as error:
        return error


def assert_same_error(actual: Outcome, expected: CreditKitError) -> None:
    assert isinstance(actual, CreditKitError), f"expected {expected!r}, got {actual!r}"
    assert (type(actual), actual.to_fields()) == (type(expected), expected.to_fields()), (
        f"expected {type(expected).__name__}{expected.to_fields()}, "
        f"got {type(actual).__name__}{actual.to_fields()}"
    )


def draws_of(outcome: Charge | Hold | Transfer) -> GrantDraws:
    return [(draw.grant_id, int(draw.amount)) for draw in outcome.draws]


def not_error(outcome: Outcome) -> None:
    assert not isinstance(outcome, CreditKitError), f"unexpected {outcome!r}"


# -- the state machine ----------------------------------------------------------------------------

HOUR = 3600
DAY = 24 * HOUR

amounts = st.integers(1, 200)
#: What charges, holds and transfers ask for: mostly less than a grant gives, sometimes more.
spend_amounts = st.one_of(st.integers(1, 40), st.integers(1, 200))
#: For charges and holds also None: exactly what is available (at least 1), which empties grants.
spend_or_all = st.one_of(spend_amounts, st.none())
#: Whole hours make expiries, timeouts and clock moves land on the same instants often, so the
#: boundaries (a grant or hold expiring exactly now) are exercised; odd seconds cover the rest.
spans = st.one_of(st.integers(1, 72).map(lambda hours: hours * HOUR), st.integers(1, 3 * DAY))
advances = st.one_of(st.integers(0, 72).map(lambda hours: hours * HOUR), st.integers(0, 3 * DAY))
customers = st.sampled_from(CUSTOMERS)
#: Who holds: the customer itself, or a spender under budgets.
hold_spenders = st.sampled_from([None, None, "team", "agent"])
#: The writes a burst mixes.
BURST_KINDS = ("charge", "charge", "reserve", "nest", "extend", "commit", "release", "transfer")
pairs = st.sampled_from(list(itertools.permutations(CUSTOMERS, 2)))


class LedgerMachine(RuleBasedStateMachine):
    @staticmethod
    def new_database() -> AbstractContextManager[str]:
        """Opens a fresh database for one example and yields its URL; set by the test."""
        raise NotImplementedError

    def __init__(self) -> None:
        super().__init__()
        self.cleanup = ExitStack()
        try:
            url = self.cleanup.enter_context(self.new_database())
            self.clock = ManualClock()
            # One writer lane, so that a burst shares one transaction on either database.
            self.ck = CreditKit(url, clock=self.clock, units={UNIT: 0}, writer_lanes=1)
            self.cleanup.callback(self.ck.close)
            for customer in CUSTOMERS:
                self.ck.create_customer(customer)
                self.ck.create_spender(customer, "team", kind="project")
                self.ck.create_spender(customer, "agent", kind="agent", parent="team")
                for spender, period, cap in BUDGETS:
                    self.ck.set_budget(
                        customer, cap, spender=spender, period=period,
                        idempotency_key=f"budget-{customer}-{spender}",
                    )  # fmt: skip
                self.ck.set_debt_limit(customer, DEBT_LIMIT, idempotency_key=f"debt-{customer}")
        except BaseException:
            self.cleanup.close()
            raise
        self.model = ReferenceLedger(self.clock())
        self.recorded: list[Recorded] = []
        self.keys = itertools.count()

    def teardown(self) -> None:
        with self.cleanup:
            report = self.ck.audit()
            assert report.ok, "audit problems:\n" + "\n".join(
                f"  {problem.rule}: {problem.detail}" for problem in report.problems
            )
            self.check_recorded_expiries()

    # -- helpers --

    def execute(self, op: Op) -> Outcome:
        key = f"key-{next(self.keys)}"
        outcome = run(op, self.ck, key)
        self.record(key, op, outcome)
        return outcome

    def record(self, key: str, op: Op, outcome: Outcome) -> None:
        """Keeps what a replay must answer alike: not an input error (a hold nested too deep,
        an extend past the lifetime), which writes nothing under its key."""
        if not isinstance(outcome, InvalidRequest):
            self.recorded.append(Recorded(key, op, outcome))

    # -- writes --

    @initialize(amounts=st.tuples(*(amounts for _ in CUSTOMERS)))
    def purchases(self, amounts: tuple[int, ...]) -> None:
        """Every customer starts with a purchase (never expires, transferable, burns last)."""
        for customer, amount in zip(CUSTOMERS, amounts, strict=True):
            self.grant(customer, amount, "purchase", None, None, None, None)

    @rule(
        customer=customers,
        amount=amounts,
        source=st.sampled_from(sorted(DEFAULT_PRIORITY)),
        priority=st.one_of(st.none(), st.sampled_from([5, 10, 20, 30, 40, 50, 60])),
        starts_in=st.one_of(st.none(), st.just(0), st.integers(1, 48).map(lambda h: h * HOUR)),
        lasts=st.one_of(st.none(), spans),
        transferable=st.one_of(st.none(), st.booleans()),
    )
    def grant(
        self,
        customer: str,
        amount: int,
        source: str,
        priority: int | None,
        starts_in: int | None,
        lasts: int | None,
        transferable: bool | None,
    ) -> None:
        now = self.clock()
        effective_at = None if starts_in is None else now + timedelta(seconds=starts_in)
        starts_at = effective_at or now
        expires_at = None if lasts is None else starts_at + timedelta(seconds=lasts)
        op = GrantOp(customer, amount, source, priority, effective_at, expires_at, transferable)
        outcome = self.execute(op)
        self.model.touch(customer)
        not_error(outcome)
        assert isinstance(outcome, Grant)
        expected_priority = DEFAULT_PRIORITY[source] if priority is None else priority
        expected_transferable = (
            source in TRANSFERABLE_BY_DEFAULT if transferable is None else transferable
        )
        assert (
            outcome.customer,
            outcome.amount,
            outcome.source,
            outcome.priority,
            outcome.effective_at,
            outcome.expires_at,
            outcome.transferable,
        ) == (
            customer,
            amount,
            source,
            expected_priority,
            starts_at,
            expires_at,
            expected_transferable,
        )
        repaid = self.model.add_grant(
            outcome.id,
            customer,
            amount,
            expected_priority,
            starts_at,
            expires_at,
            expected_transferable,
        )
        assert outcome.debt_repaid == repaid

    @rule(customer=customers, amount=amounts)
    def grant_scoped(self, customer: str, amount: int) -> None:
        """A promotion that pays only for ``SCOPE``."""
        outcome = run_grant_scoped(self.ck, customer, amount, f"key-{next(self.keys)}")
        self.model.touch(customer)
        not_error(outcome)
        assert isinstance(outcome, Grant) and outcome.applies_to == (SCOPE,)
        repaid = self.model.add_grant(
            outcome.id, customer, amount, DEFAULT_PRIORITY["promo"], self.clock(), None, False,
            scoped=True,
        )  # fmt: skip
        assert outcome.debt_repaid == repaid

    @rule(
        customer=customers,
        spender=st.sampled_from(sorted(SPENDER_PATHS)),
        amount=spend_amounts,
        action=st.sampled_from([None, SCOPE]),
        allow_debt=st.booleans(),
    )
    def charge_through(
        self, customer: str, spender: str, amount: int, action: str | None, allow_debt: bool
    ) -> None:
        """A charge through a spender under budgets, of a scoped action or not, maybe into
        debt: checked against the model's budgets (which reset on their own periods as the
        clock moves), scopes and debt."""
        op = SpendThroughOp(customer, spender, amount, action, allow_debt)
        outcome = run(op, self.ck, f"key-{next(self.keys)}")
        debt_before = self.model.debts[customer]
        try:
            draws = self.model.charge_through(customer, spender, amount, action, allow_debt)
        except (BudgetExceeded, InsufficientCredits) as refusal:
            assert_same_error(outcome, refusal)
            return
        not_error(outcome)
        assert isinstance(outcome, Charge)
        assert (outcome.spender, outcome.amount) == (spender, amount)
        assert draws_of(outcome) == draws
        assert outcome.debt == self.model.debts[customer] - debt_before

    def everything(self, customer: str) -> int:
        self.model.touch(customer)
        return max(self.model.view(customer).available, 1)

    @rule(customer=customers, amount=spend_or_all)
    def charge(self, customer: str, amount: int | None) -> None:
        op = self.charge_op(customer, amount)
        self.check(op, self.execute(op))

    def charge_op(self, customer: str, amount: int | None) -> ChargeOp:
        return ChargeOp(customer, self.everything(customer) if amount is None else amount)

    def check_charge(self, op: ChargeOp, outcome: Outcome) -> None:
        customer, amount = op.customer, op.amount
        try:
            draws = self.model.charge(customer, amount)
        except InsufficientCredits as refusal:
            assert_same_error(outcome, refusal)
            return
        not_error(outcome)
        assert isinstance(outcome, Charge)
        assert (outcome.customer, outcome.amount, outcome.hold_id) == (customer, amount, None)
        assert draws_of(outcome) == draws
        # The balance the charge answers with is the model's right after it.
        assert outcome.available_after == self.model.view(customer).available

    @rule(customer=customers, amount=spend_or_all, timeout_seconds=spans, spender=hold_spenders)
    def reserve(
        self, customer: str, amount: int | None, timeout_seconds: int, spender: str | None
    ) -> None:
        op = self.reserve_op(customer, amount, timeout_seconds, spender)
        self.check(op, self.execute(op))

    def reserve_op(
        self, customer: str, amount: int | None, timeout_seconds: int, spender: str | None = None
    ) -> ReserveOp:
        amount = self.everything(customer) if amount is None else amount
        return ReserveOp(customer, amount, timeout_seconds, spender=spender)

    def check_reserve(self, op: ReserveOp, outcome: Outcome) -> None:
        customer, amount = op.customer, op.amount
        draws: GrantDraws = []
        spender = op.spender
        try:
            if op.parent is None:
                draws = self.model.reserve(customer, amount, spender)
                expires_at = self.clock() + timedelta(seconds=op.timeout_seconds)
            else:
                expires_at, spender = self.model.reserve_under(
                    op.parent, amount, op.timeout_seconds, spender
                )
        except CreditKitError as refusal:
            assert_same_error(outcome, refusal)
            return
        not_error(outcome)
        assert isinstance(outcome, Hold)
        assert (
            outcome.customer,
            outcome.amount,
            outcome.status,
            outcome.expires_at,
            outcome.parent_id,
            outcome.remaining,
        ) == (customer, amount, HoldStatus.ACTIVE, expires_at, op.parent, amount)
        assert outcome.spender == spender
        assert draws_of(outcome) == draws
        self.model.add_hold(outcome.id, customer, amount, draws, expires_at, op.parent, spender)

    @precondition(lambda self: self.model.holds)
    @rule(data=st.data(), amount=spend_amounts, timeout_seconds=spans)
    def nest(self, data: st.DataObject, amount: int, timeout_seconds: int) -> None:
        """A hold under another (the same customer's): drawn from the parent's credits."""
        op = self.nest_op(data, amount, timeout_seconds)
        self.check(op, self.execute(op))

    def nest_op(self, data: st.DataObject, amount: int, timeout_seconds: int) -> ReserveOp:
        """Under any hold, held by the customer, its parent's spender, or a (sub-)agent."""
        parent = self.pick_hold(data)
        spender = data.draw(hold_spenders, label="spender")
        return ReserveOp(parent.customer, amount, timeout_seconds, parent.id, spender)

    @precondition(lambda self: self.model.holds)
    @rule(
        data=st.data(),
        amount=st.one_of(st.none(), st.integers(1, 60)),
        timeout_seconds=st.one_of(st.none(), spans),
    )
    def extend(self, data: st.DataObject, amount: int | None, timeout_seconds: int | None) -> None:
        op = self.extend_op(data, amount, timeout_seconds)
        self.check(op, self.execute(op))

    def extend_op(
        self, data: st.DataObject, amount: int | None, timeout_seconds: int | None
    ) -> ExtendOp:
        return ExtendOp(
            self.pick_hold(data).id, amount if amount or timeout_seconds else 1, timeout_seconds
        )

    def check_extend(self, op: ExtendOp, outcome: Outcome) -> None:
        try:
            hold = self.model.extend(op.hold_id, op.amount, op.timeout_seconds)
        except CreditKitError as refusal:
            assert_same_error(outcome, refusal)
            return
        not_error(outcome)
        assert isinstance(outcome, Hold)
        assert (
            outcome.id,
            outcome.amount,
            outcome.status,
            outcome.expires_at,
            outcome.remaining,
        ) == (hold.id, hold.amount, HoldStatus.ACTIVE, hold.expires_at, hold.balance)
        assert draws_of(outcome) == hold.draws

    def pick_hold(self, data: st.DataObject) -> ModelHold:
        """Any hold, but an active one three times out of four when there is one."""
        holds = sorted(self.model.holds)
        active = [
            hold_id
            for hold_id in holds
            if self.model.holds[hold_id].status is HoldStatus.ACTIVE
            and self.model.holds[hold_id].expires_at > self.clock()
        ]
        if active and data.draw(st.integers(0, 3), label="prefer active") > 0:
            holds = active
        return self.model.holds[data.draw(st.sampled_from(holds), label="hold")]

    @precondition(lambda self: self.model.holds)
    @rule(
        data=st.data(),
        percent=st.integers(0, 120),
        final=st.sampled_from([True, True, False]),
        allow_debt=st.booleans(),
    )
    def commit(self, data: st.DataObject, percent: int, final: bool, allow_debt: bool) -> None:
        op = self.commit_op(data, percent, final, allow_debt)
        self.check(op, self.execute(op))

    def commit_op(
        self, data: st.DataObject, percent: int, final: bool = True, allow_debt: bool = False
    ) -> CommitOp:
        """Commits ``percent`` of what the hold has left; above 100, that many credits more
        than it has. A partial commit (``final`` false) of at least 1."""
        hold = self.pick_hold(data)
        left = hold.balance if hold.status is HoldStatus.ACTIVE else hold.amount
        amount = left * percent // 100 if percent <= 100 else left + percent - 100
        return CommitOp(hold.id, amount if final else max(amount, 1), final, allow_debt)

    def check_commit(self, op: CommitOp, outcome: Outcome) -> None:
        hold = self.model.holds[op.hold_id]
        try:
            consumed, debt = self.model.commit(hold.id, op.amount, op.final, op.allow_debt)
        except CreditKitError as refusal:
            assert_same_error(outcome, refusal)
            return
        not_error(outcome)
        assert isinstance(outcome, Charge)
        assert (outcome.customer, outcome.amount, outcome.hold_id) == (
            hold.customer,
            op.amount,
            hold.id,
        )
        assert draws_of(outcome) == consumed
        assert (outcome.spender, outcome.debt) == (hold.spender, debt)

    @precondition(lambda self: self.model.holds)
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        op = ReleaseOp(self.pick_hold(data).id)
        self.check(op, self.execute(op))

    def check_release(self, op: ReleaseOp, outcome: Outcome) -> None:
        hold = self.model.holds[op.hold_id]
        try:
            self.model.release(hold.id)
        except CreditKitError as refusal:
            assert_same_error(outcome, refusal)
            return
        not_error(outcome)
        assert isinstance(outcome, Hold)
        assert (outcome.id, outcome.amount, outcome.status) == (
            hold.id,
            hold.amount,
            HoldStatus.RELEASED,
        )
        assert draws_of(outcome) == hold.draws

    @rule(pair=pairs, amount=spend_amounts)
    def transfer(self, pair: tuple[str, str], amount: int) -> None:
        op = TransferOp(*pair, amount)
        self.check(op, self.execute(op))

    def check_transfer(self, op: TransferOp, outcome: Outcome) -> None:
        sender, recipient, amount = op.sender, op.recipient, op.amount
        try:
            draws, expires_at = self.model.transfer(sender, recipient, amount)
        except InsufficientCredits as refusal:
            assert_same_error(outcome, refusal)
            return
        not_error(outcome)
        assert isinstance(outcome, Transfer)
        assert (
            outcome.from_customer,
            outcome.to_customer,
            outcome.amount,
            outcome.expires_at,
        ) == (sender, recipient, amount, expires_at)
        assert draws_of(outcome) == draws
        now = self.clock()
        self.model.add_grant(
            outcome.grant_id, recipient, amount, GIFT_PRIORITY, now, expires_at, True, issued=False
        )

    def check(self, op: Op, outcome: Outcome) -> None:
        if isinstance(op, ChargeOp):
            self.check_charge(op, outcome)
        elif isinstance(op, ReserveOp):
            self.check_reserve(op, outcome)
        elif isinstance(op, ExtendOp):
            self.check_extend(op, outcome)
        elif isinstance(op, CommitOp):
            self.check_commit(op, outcome)
        elif isinstance(op, ReleaseOp):
            self.check_release(op, outcome)
        elif isinstance(op, TransferOp):
            self.check_transfer(op, outcome)
        else:
            raise AssertionError(f"no check for {op!r}")

    # -- group commit --

    @rule(data=st.data(), size=st.integers(2, 6))
    def burst(self, data: st.DataObject, size: int) -> None:
        """Several writes that arrive together share one transaction (group commit): each gets
        the outcome the model gives it when applied alone, in arrival order."""
        ops: list[Op] = []
        for _index in range(size):
            kind = data.draw(st.sampled_from(BURST_KINDS), label="kind")
            if kind in ("nest", "extend", "commit", "release") and not self.model.holds:
                kind = "charge"
            if kind == "charge":
                customer, amount = data.draw(customers), data.draw(spend_or_all)
                ops.append(self.charge_op(customer, amount))
            elif kind == "reserve":
                customer, amount = data.draw(customers), data.draw(spend_or_all)
                ops.append(self.reserve_op(customer, amount, data.draw(spans)))
            elif kind == "nest":
                ops.append(self.nest_op(data, data.draw(spend_amounts), data.draw(spans)))
            elif kind == "extend":
                amount = data.draw(st.one_of(st.none(), st.integers(1, 60)))
                ops.append(self.extend_op(data, amount, data.draw(st.one_of(st.none(), spans))))
            elif kind == "commit":
                final = data.draw(st.booleans(), label="final")
                allow_debt = data.draw(st.booleans(), label="allow_debt")
                percent = data.draw(st.integers(0, 120))
                ops.append(self.commit_op(data, percent, final, allow_debt))
            elif kind == "release":
                ops.append(ReleaseOp(self.pick_hold(data).id))
            else:
                ops.append(TransferOp(*data.draw(pairs), data.draw(spend_amounts)))
        keys = [f"key-{next(self.keys)}" for _op in ops]
        with OneTransaction(self.ck) as batch:
            for op, key in zip(ops, keys, strict=True):
                batch.add(lambda op=op, key=key: run(op, self.ck, key))
        for op, key, outcome in zip(ops, keys, batch.outcomes, strict=True):
            self.record(key, op, outcome)
            self.check(op, outcome)

    # -- time --

    @rule(seconds=advances)
    def advance_clock(self, seconds: int) -> None:
        self.model.now = self.clock.advance(seconds=seconds)
        self.check_recorded_expiries()

    @rule(seconds=advances)
    def advance_clock_then_expire(self, seconds: int) -> None:
        """The balance checks after each step touch every customer, so what a sweep right after
        the clock moves finds is exactly what fell due in the move."""
        self.model.now = self.clock.advance(seconds=seconds)
        report = self.ck.tick()
        counts = [self.model.touch(customer) for customer in CUSTOMERS]
        expected = (sum(g for g, _h in counts), sum(h for _g, h in counts))
        assert (report.grants_expired, report.holds_expired) == expected
        self.check_recorded_expiries()

    def check_recorded_expiries(self) -> None:
        """Reads sweep what fell due, so the ledger has recorded as ``expiry`` transactions
        everything that expired in each customer's grants. Only time makes grants expire, so
        this runs after the clock moves (and at teardown), not after every step."""
        for customer in CUSTOMERS:
            self.model.touch(customer)
            page = self.ck.history(customer, limit=500)
            assert page.next_cursor is None
            recorded = sum(
                int(item.amount) for item in page.items if item.kind is TransactionKind.EXPIRY
            )
            expected = self.model.grant_expiries.get(customer, 0)
            assert recorded == expected, f"{customer}: {recorded} expired, {expected} expected"

    # -- idempotency --

    def pick_recorded(self, data: st.DataObject) -> Recorded:
        index = data.draw(st.integers(0, len(self.recorded) - 1), label="recorded write")
        return self.recorded[index]

    @precondition(lambda self: self.recorded)
    @rule(data=st.data())
    def replay_same_request(self, data: st.DataObject) -> None:
        recorded = self.pick_recorded(data)
        outcome = run(recorded.op, self.ck, recorded.key)
        if isinstance(recorded.outcome, CreditKitError):
            assert_same_error(outcome, recorded.outcome)
        else:
            assert outcome == recorded.outcome, f"replay of {recorded.op} gave {outcome!r}"

    @precondition(lambda self: self.recorded)
    @rule(data=st.data(), how=st.sampled_from(["amount", "operation"]))
    def replay_different_request(self, data: st.DataObject, how: str) -> None:
        recorded = self.pick_recorded(data)
        outcome = run(different_request(recorded.op, how), self.ck, recorded.key)
        assert isinstance(outcome, IdempotencyConflict), (
            f"key {recorded.key} of {recorded.op} reused for a different request: {outcome!r}"
        )

    # -- the comparison after every step --

    @invariant()
    def balances_match_the_model(self) -> None:
        self.model.check_conservation()
        for customer in CUSTOMERS:
            self.model.touch(customer)
            balance = self.ck.balance(customer)
            actual = CustomerView(
                available=int(balance.available),
                held=int(balance.held),
                grants=tuple((g.grant_id, int(g.remaining)) for g in balance.grants),
                upcoming=tuple((g.grant_id, int(g.remaining)) for g in balance.upcoming),
                debt=int(balance.debt),
            )
            expected = self.model.view(customer)
            assert actual == expected, (
                f"{customer} at {self.clock().isoformat()}:\n  ledger {actual}\n  model  {expected}"
            )
            # What each budget's current period used, open holds included.
            for spender, period, _cap in BUDGETS:
                (budget,) = self.ck.budgets(customer, spender=spender)
                ((*_line, start),) = self.model.lines_at((spender,), self.clock())
                used = self.model.budget_used.get((customer, spender, period, start), 0)
                assert int(budget.used) == used, (customer, spender, period, budget.used, used)


# -- running it on each database ------------------------------------------------------------------

POSTGRES_ADMIN_URL = os.environ.get(
    "CREDITKIT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)

MACHINE_SETTINGS = settings(
    max_examples=30,
    stateful_step_count=40,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow],
)

DatabaseFactory = Callable[[], AbstractContextManager[str]]


def _postgres_admin() -> psycopg.Connection[Any]:
    return psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> DatabaseFactory:
    """Opens a fresh database per example: a SQLite file in a directory of its own, or a
    PostgreSQL database cloned from the session's migrated template (skips, as conftest does,
    when no PostgreSQL server answers)."""
    examples = itertools.count()

    @contextmanager
    def sqlite_database() -> Iterator[str]:
        directory = tmp_path / f"example-{next(examples)}"
        directory.mkdir()
        try:
            yield f"sqlite:///{directory / 'ledger.db'}"
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    if request.param == "sqlite":
        return sqlite_database

    template: str = request.getfixturevalue("postgres_template")
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")

    @contextmanager
    def postgres_database() -> Iterator[str]:
        name = f"creditkit_stateful_{uuid.uuid4().hex[:12]}"
        with _postgres_admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        try:
            yield f"{base}/{name}"
        finally:
            with _postgres_admin() as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return postgres_database


def test_ledger_matches_reference_model(new_database: DatabaseFactory) -> None:
    machine = type(
        "LedgerMachineOnDatabase", (LedgerMachine,), {"new_database": staticmethod(new_database)}
    )
    run_state_machine_as_test(machine, settings=MACHINE_SETTINGS)
