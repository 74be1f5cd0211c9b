"""Holds (two-phase spending): reserve, then commit for the actual amount or release; a hold
that times out releases itself on the timeline.

Holds nest: a hold taken under a parent hold (``parent``) draws from the parent's account, never
past what it has left (the database keeps every hold account at or above zero), down to
``HOLD_TREE_LEVELS_MAX`` levels. A child never outlives its parent: its timeout is capped by the
parent's, and at the same instant it times out first. Releasing a parent releases its open
children first, in its transaction. A final commit of a parent with open children is refused
(``HoldHasOpenChildren``, naming them): the caller decides what each child cost, since only it
knows whether their work was done.

Holds stretch and settle in parts: ``extend`` raises a hold's amount (through the same checks
a reserve's credits pass) and/or pushes its timeout, within ``HOLD_LIFETIME_SECONDS_MAX`` of its
reserve; ``commit(final=False)`` spends part of a hold and keeps the rest open.

Holds have spenders: a hold counts against budgets while it is open, and gives back what it did
not spend when it closes (the rule, a child's levels included: hold_budgets.py). A child that
names no spender holds as its parent's spender.

A commit for more than the hold has left is refused (HoldAmountExceeded) unless the caller asks
for ``allow_debt``: then, final or partial, the hold's remaining credits are spent and the excess
above them is a spend of its own (``commit_excess``: budgets, grants that apply, then debt
within the limit). A partial commit that did so leaves the hold open with nothing left: it may
be extended, committed final for 0, or released.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.errors import (
    CreditKitError,
    HoldAlreadyCommitted,
    HoldAlreadyReleased,
    HoldExpired,
    HoldParentExceeded,
    InvalidRequest,
    InvariantViolation,
    present,
)
from creditkit.ledger import hold_repository, repository
from creditkit.ledger.checks import (
    HOLD_LIFETIME_SECONDS_MAX,
    HOLD_TIMEOUT_SECONDS_MAX,
    HOLD_TREE_LEVELS_MAX,
    HOLD_TREE_OPEN_MAX,
    NAME_LENGTH_MAX,
    canonical_quantity,
    check_metadata,
    check_text,
)
from creditkit.ledger.grants import Grants
from creditkit.ledger.hold_budgets import hold_levels
from creditkit.ledger.hold_reads import HoldReads, check_hold_id
from creditkit.ledger.hold_repository import HoldRow
from creditkit.ledger.ports import LedgerReads, Postings, SpendRules
from creditkit.ledger.repository import TransactionRow
from creditkit.ledger.schemas import (
    AMOUNT_STEPS_MAX,
    Draw,
    Hold,
    HoldStatus,
    TransactionKind,
    Unit,
)
from creditkit.ledger.spending import SpendState, check_spender
from creditkit.ledger.values import ISSUANCE, Request
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork


def _check_timeout(timeout_seconds: object) -> int:
    if (
        isinstance(timeout_seconds, bool)
        or not isinstance(timeout_seconds, int)
        or not 1 <= timeout_seconds <= HOLD_TIMEOUT_SECONDS_MAX
    ):
        raise InvalidRequest(
            "timeout_seconds", f"must be an int from 1 to {HOLD_TIMEOUT_SECONDS_MAX}"
        )
    return timeout_seconds


def _no_shortfall(_debt_room: int) -> CreditKitError:
    """A child's credits are its parent's, checked before: ``check_spend`` finds no shortfall."""
    raise InvariantViolation("a child hold has no shortfall", "its parent's balance was checked")


def closed_refusal(hold: HoldRow) -> CreditKitError | None:
    """Why a write on ``hold`` is refused because it is closed, if it is."""
    if hold.status is HoldStatus.COMMITTED:
        return HoldAlreadyCommitted(hold.account_id)
    if hold.status is HoldStatus.RELEASED:
        return HoldAlreadyReleased(hold.account_id)
    if hold.status is HoldStatus.EXPIRED:
        return HoldExpired(hold.account_id, hold.expires_at)
    return None


class Holds:
    """Holds taken and stretched: reserve and extend, drawing through ``Grants`` and answering
    through ``HoldReads`` (commits and releases: ``HoldSettlements``)."""

    def __init__(
        self,
        reads: LedgerReads,
        postings: Postings,
        rules: SpendRules,
        grants: Grants,
        hold_reads: HoldReads,
    ) -> None:
        self._reads = reads
        self._postings = postings
        self._rules = rules
        self._grants = grants
        self._hold_reads = hold_reads

    def reserve(
        self,
        customer: str,
        amount: object,
        *,
        unit: str,
        timeout_seconds: int,
        idempotency_key: str,
        action: str | None,
        metadata: dict[str, Any] | None,
        rate_limited: bool = False,
        parent: int | None = None,
        spender: str | None = None,
    ) -> Hold:
        """``rate_limited``: the reserve counts against the plan's rate limit in its own
        transaction (``count_request``). ``parent``: the hold this one draws from (same
        customer and unit); its timeout is capped by the parent's. ``spender``: who holds;
        the hold counts against its budgets while it is open (hold_budgets.py)."""
        unit_ = self._reads.unit(unit)
        steps = unit_.to_steps(amount)
        _check_timeout(timeout_seconds)
        if parent is not None:
            check_hold_id(parent, "parent")
        if action is not None:
            check_text(action, "action", NAME_LENGTH_MAX)
        metadata = check_metadata(metadata)
        fields: dict[str, Any] = {
            "customer": customer,
            "unit": unit,
            "amount": steps,
            "timeout_seconds": timeout_seconds,
            "action": action,
            "metadata": metadata,
        }
        if parent is not None:
            # Only when named, so that a key recorded before holds nested replays unchanged.
            fields["parent"] = parent
        if spender is not None:
            fields["spender"] = check_spender(spender)
        request = Request(idempotency_key, TransactionKind.RESERVE, fields)

        def rebuild(connection: Connection, recorded: TransactionRow) -> Hold:
            hold_id = present(recorded.hold_id, "a recorded reserve names its hold")
            hold = present(hold_repository.read_hold(connection, hold_id), "a recorded hold exists")
            return self._hold_reads.hold_as_reserved(connection, hold, recorded)

        def body(context: UnitOfWork) -> Hold:
            holder = context.customers[customer]
            if rate_limited:
                replayed = self._postings.count_request(context, request, holder, rebuild)
                if replayed is not None:
                    return replayed
            above = None
            holds_for = spender
            expires_at = context.now + timedelta(seconds=timeout_seconds)
            if parent is not None:
                above = self._parent_of_new(context, request, holder, parent, unit, steps)
                expires_at = min(expires_at, above.expires_at)
                if holds_for is None:
                    holds_for = above.spender
            sources, draws = self._hold_funds(
                context, request, holder, unit_, steps, above, action=action, spender=holds_for
            )
            hold_id = repository.insert_account(
                context.connection, "hold", unit, holder.id, context.now
            )
            transaction_id = repository.insert_transaction(
                context.connection,
                self._postings.transaction_values(
                    request,
                    holder,
                    unit,
                    steps,
                    context.now,
                    action=action,
                    hold_id=hold_id,
                    metadata=metadata,
                    spender=holds_for,
                ),
            )
            hold_repository.insert_hold(
                context.connection,
                {
                    "account_id": hold_id,
                    "customer_id": holder.id,
                    "unit": unit,
                    "amount_held": steps,
                    "status": HoldStatus.ACTIVE.value,
                    "action": action,
                    "expires_at": expires_at,
                    "created_at": context.now,
                    "amount_committed": None,
                    "reserve_transaction_id": transaction_id,
                    "settle_transaction_id": None,
                    "metadata": metadata,
                    "parent_id": parent,
                    "root_id": None if above is None else (above.root_id or above.account_id),
                    "depth": 0 if above is None else above.depth + 1,
                },
            )
            self._postings.post(
                context.connection, transaction_id, unit, [*sources, (hold_id, steps)]
            )
            repository.lower_next_due_at(context.connection, holder.id, expires_at)
            return Hold(
                id=hold_id,
                customer=customer,
                unit=unit,
                amount=unit_.to_quantity(steps),
                status=HoldStatus.ACTIVE,
                expires_at=expires_at,
                created_at=context.now,
                draws=tuple(Draw(grant_id, unit_.to_quantity(part)) for grant_id, part in draws),
                action=action,
                metadata=metadata,
                parent_id=parent,
                remaining=unit_.to_quantity(steps),
                spender=holds_for,
            )

        return self._postings.write_once(request, lambda _connection: [customer], body, rebuild)

    def _parent_of_new(
        self,
        context: UnitOfWork,
        request: Request,
        holder: CustomerRow,
        parent_id: int,
        unit: str,
        steps: int,
    ) -> HoldRow:
        """The parent a new hold is taken under, checked under the customer's lock: the
        customer's, in the same unit, open, and with room for one more level and one more
        open hold in its tree."""
        above = hold_repository.read_hold(context.connection, parent_id)
        if above is None or above.customer_id != holder.id:
            # Another customer's hold is not found either: ids do not leak across customers.
            raise InvalidRequest(
                "parent", f"no hold {parent_id} of customer {holder.external_id!r}"
            )
        if above.unit != unit:
            raise InvalidRequest("unit", f"must be the parent hold's unit {above.unit!r}")
        refusal = closed_refusal(above)
        if refusal is not None:
            raise self._postings.refuse(
                context, request, holder, unit, steps, refusal, hold_id=parent_id
            )
        if above.depth + 1 >= HOLD_TREE_LEVELS_MAX:
            raise InvalidRequest("parent", f"holds nest at most {HOLD_TREE_LEVELS_MAX} levels deep")
        root_id = above.root_id or above.account_id
        if hold_repository.open_in_tree(context.connection, root_id) >= HOLD_TREE_OPEN_MAX:
            raise InvalidRequest(
                "parent",
                f"a tree of holds has at most {HOLD_TREE_OPEN_MAX} open holds below its root",
            )
        return above

    def _hold_funds(
        self,
        context: UnitOfWork,
        request: Request,
        holder: CustomerRow,
        unit: Unit,
        steps: int,
        parent: HoldRow | None,
        *,
        action: str | None,
        spender: str | None,
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The one place a hold's new credits are checked and taken, for a reserve and an
        extend alike (an extend gets every check a new reserve gets). A root hold draws from
        the customer's grants (refused with InsufficientCredits); a child from its parent's
        account, never past what the parent has left (refused with HoldParentExceeded).
        Either way through ``check_spend``: a root's steps against every budget on
        ``spender``'s path (and only grants that apply to ``action`` pay), a child's against
        the levels its parent's do not count (hold_budgets.py); refused with BudgetExceeded.
        Returns the source legs (negative) and the (grant id, steps) drawn."""
        state = SpendState()
        row = (
            None
            if spender is None
            else self._rules.spender_row(context.connection, state, holder, spender)
        )
        if parent is None:
            draws, issued = self._grants.draw(
                context, request, holder, unit, steps, False,
                action=action, spender=row, state=state,
            )  # fmt: skip
            legs = [(grant.account_id, -part) for grant, part in draws]
            if issued:
                legs.append((self._postings.system_account(ISSUANCE, unit.name), -issued))
            return legs, [(grant.account_id, part) for grant, part in draws]
        if steps > parent.balance:
            refusal = HoldParentExceeded(
                parent.account_id, unit.to_quantity(parent.balance), unit.to_quantity(steps)
            )
            raise self._postings.refuse(
                context, request, holder, unit.name, steps, refusal, hold_id=parent.account_id
            )
        levels = hold_levels(context.connection, holder, spender, parent.account_id)
        checked = self._rules.check_spend(
            context.connection, state, holder, unit, steps, context.now,
            spender=row, shortfall=0, allow_debt=False, refusal=_no_shortfall, levels=levels,
        )  # fmt: skip
        if isinstance(checked, InvalidRequest):
            raise checked
        if isinstance(checked, CreditKitError):
            raise self._postings.refuse(
                context, request, holder, unit.name, steps, checked, hold_id=parent.account_id
            )
        state.flush(context.connection)
        return [(parent.account_id, -steps)], []

    def extend(
        self,
        hold_id: int,
        amount: object = None,
        timeout_seconds: int | None = None,
        *,
        idempotency_key: str,
    ) -> Hold:
        """Raises an active hold by ``amount`` (taken as a reserve takes it: from the grants,
        or for a child from its parent) and/or pushes its timeout to ``timeout_seconds`` from
        now (never earlier than it was; a child's capped by its parent's). Refused with
        InvalidRequest past ``HOLD_LIFETIME_SECONDS_MAX`` from the hold's reserve."""
        customers = self._hold_reads.hold_customer(hold_id)
        if amount is None and timeout_seconds is None:
            raise InvalidRequest("amount", "give an amount, a timeout_seconds, or both")
        if timeout_seconds is not None:
            _check_timeout(timeout_seconds)
        request = Request(
            idempotency_key,
            TransactionKind.EXTEND,
            {
                "hold_id": hold_id,
                "amount": None if amount is None else canonical_quantity(amount),
                "timeout_seconds": timeout_seconds,
            },
        )

        def body(context: UnitOfWork) -> Hold:
            hold = present(
                hold_repository.read_hold(context.connection, hold_id), "a locked hold exists"
            )
            holder = context.customers[hold.external_id]
            unit = self._reads.unit(hold.unit)
            steps = 0 if amount is None else unit.to_steps(amount)
            refusal = closed_refusal(hold)
            if refusal is not None:
                raise self._postings.refuse(
                    context, request, holder, hold.unit, steps, refusal, hold_id=hold_id
                )
            above = None
            if hold.parent_id is not None:
                above = present(
                    hold_repository.read_hold(context.connection, hold.parent_id),
                    "a hold's parent exists",
                )
            expires_at = self._extended_expiry(context.now, hold, above, timeout_seconds)
            if hold.amount_held + steps > AMOUNT_STEPS_MAX:
                raise InvalidRequest(
                    "amount", f"hold {hold_id} would hold more than the largest amount"
                )
            sources: list[tuple[int, int]] = []
            if steps:
                sources, _draws = self._hold_funds(
                    context, request, holder, unit, steps, above,
                    action=hold.action, spender=hold.spender,
                )  # fmt: skip
            # The hold as this extend leaves it, recorded with it: a replay answers the same.
            after = {
                "amount_held": hold.amount_held + steps,
                "remaining": hold.balance + steps,
                "amount_committed": hold.amount_committed,
                "expires_at": expires_at.isoformat(),
            }
            transaction_id = repository.insert_transaction(
                context.connection,
                self._postings.transaction_values(
                    request,
                    holder,
                    hold.unit,
                    steps,
                    context.now,
                    action=hold.action,
                    hold_id=hold_id,
                    metadata=after,
                    spender=hold.spender,
                ),
            )
            if steps:
                self._postings.post(
                    context.connection, transaction_id, hold.unit, [*sources, (hold_id, steps)]
                )
            hold_repository.extend_hold(
                context.connection, hold_id, hold.amount_held + steps, expires_at
            )
            return self._hold_reads.hold_extended(context.connection, hold, transaction_id, after)

        def rebuild(connection: Connection, recorded: TransactionRow) -> Hold:
            hold = present(
                hold_repository.read_hold(connection, hold_id), "an extended hold exists"
            )
            return self._hold_reads.hold_extended(connection, hold, recorded.id, recorded.metadata)

        return self._postings.write_once(request, customers, body, rebuild)

    @staticmethod
    def _extended_expiry(
        now: datetime, hold: HoldRow, parent: HoldRow | None, timeout_seconds: int | None
    ) -> datetime:
        expires_at = hold.expires_at
        if timeout_seconds is not None:
            expires_at = max(expires_at, now + timedelta(seconds=timeout_seconds))
        if parent is not None:
            # A child never outlives its parent.
            expires_at = min(expires_at, parent.expires_at)
        lifetime_ends_at = hold.created_at + timedelta(seconds=HOLD_LIFETIME_SECONDS_MAX)
        if expires_at > lifetime_ends_at:
            raise InvalidRequest(
                "timeout_seconds",
                f"hold {hold.account_id} lives at most {HOLD_LIFETIME_SECONDS_MAX} seconds,"
                f" until {lifetime_ends_at.isoformat()}",
            )
        return expires_at
