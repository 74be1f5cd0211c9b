"""Settling holds: a commit (final or in part, with a commit's excess spent as a charge is)
and a release (a parent's open children first). The rules of holds are holds.py's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.derived_keys import hold_release_key
from creditkit.errors import (
    HoldAmountExceeded,
    HoldHasOpenChildren,
    InvalidRequest,
    present,
    require,
)
from creditkit.ledger import hold_repository, repository
from creditkit.ledger.checks import (
    HOLD_TREE_LEVELS_MAX,
    HOLD_TREE_OPEN_MAX,
    canonical_quantity,
    check_metadata,
)
from creditkit.ledger.hold_budgets import give_back_hold, give_back_holds
from creditkit.ledger.hold_excess import HoldExcess
from creditkit.ledger.hold_reads import HoldReads
from creditkit.ledger.hold_repository import HoldRow
from creditkit.ledger.holds import closed_refusal
from creditkit.ledger.kernel import Spend
from creditkit.ledger.ports import LedgerReads, Postings, SpendRules
from creditkit.ledger.repository import TransactionRow
from creditkit.ledger.schemas import (
    Charge,
    Hold,
    HoldStatus,
    TransactionKind,
)
from creditkit.ledger.values import CONSUMPTION, EXPIRY, ISSUANCE, Request
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork


class HoldSettlements:
    """Commits and releases of holds; the hold's grants drawn back through the ``Postings``
    port, its answers through ``HoldReads``, a commit's excess through ``HoldExcess``."""

    def __init__(
        self,
        reads: LedgerReads,
        postings: Postings,
        rules: SpendRules,
        hold_reads: HoldReads,
        excess: HoldExcess,
    ) -> None:
        self._reads = reads
        self._postings = postings
        self._rules = rules
        self._hold_reads = hold_reads
        self._excess = excess

    def commit(
        self,
        hold_id: int,
        amount: object,
        *,
        final: bool = True,
        idempotency_key: str,
        metadata: dict[str, Any] | None,
        allow_debt: bool = False,
    ) -> Charge:
        """Spends ``amount`` of what the hold has left (zero allowed). ``final``: the rest goes
        back where it came from (and to the budgets it counted against) and the hold closes;
        refused while it has open children. Otherwise (more than zero) the hold stays open for
        further commits, an extend, or a release of the rest. Above what the hold has left it
        is refused (HoldAmountExceeded) unless ``allow_debt``: then the excess is a spend of
        its own (``commit_excess``)."""
        customers = self._hold_reads.hold_customer(hold_id)
        if not isinstance(final, bool):
            raise InvalidRequest("final", "must be true or false")
        if not isinstance(allow_debt, bool):
            raise InvalidRequest("allow_debt", "must be true or false")
        metadata = check_metadata(metadata)
        fields: dict[str, Any] = {
            "hold_id": hold_id,
            "amount": canonical_quantity(amount),
            "metadata": metadata,
        }
        if not final:
            # Only when partial, so that a key recorded before partial commits replays as is.
            fields["final"] = False
        if allow_debt:
            fields["allow_debt"] = True
        request = Request(idempotency_key, TransactionKind.COMMIT, fields)

        def body(context: UnitOfWork) -> Charge:
            hold = present(
                hold_repository.read_hold(context.connection, hold_id), "a locked hold exists"
            )
            # The unit is the hold's, so the amount is checked once the hold is read. Zero is a
            # valid final commit: the work was done and cost nothing.
            steps = 0 if amount == 0 else self._reads.unit(hold.unit).to_steps(amount)
            if not final and steps == 0:
                raise InvalidRequest("amount", "a partial commit (final false) spends more than 0")
            holder = context.customers[hold.external_id]
            excess = 0
            if allow_debt and closed_refusal(hold) is None:
                excess = max(0, steps - hold.balance)
            held = steps - excess
            self._check_settle(context, request, hold, held, final)
            legs: list[tuple[int, int]] = [
                (hold_id, -held),
                (self._postings.system_account(CONSUMPTION, hold.unit), held),
            ]
            if final:
                _headline, legs = self._postings.settle_legs(context, hold, held)
            legs = [(account, part) for account, part in legs if part]
            debt = 0
            if excess:
                # First: its refusal is recorded and commits, so nothing may be written before.
                legs, debt = self._excess.commit_excess(
                    context, request, holder, hold, excess, legs
                )
            if final:
                give_back_hold(context.connection, holder, hold, hold.balance - held)
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
                    metadata=metadata,
                    spender=hold.spender,
                ),
            )
            if legs:
                self._postings.post(context.connection, transaction_id, hold.unit, legs)
            # What the hold itself spent: an excess is not the hold's.
            if final:
                hold_repository.settle_hold(
                    context.connection,
                    hold_id,
                    HoldStatus.COMMITTED,
                    hold.committed + held,
                    transaction_id,
                )
            else:
                hold_repository.commit_part(context.connection, hold_id, hold.committed + held)
            # Each account appears once in a transaction's legs.
            moved = dict(legs)
            self._rules.record_spends(
                context.connection,
                [
                    Spend(
                        transaction_id,
                        holder.id,
                        hold.unit,
                        steps,
                        hold.action,
                        None,
                        metadata,
                        context.now,
                        hold.spender,
                        issued=-moved.get(self._postings.system_account(ISSUANCE, hold.unit), 0),
                        expired=moved.get(self._postings.system_account(EXPIRY, hold.unit), 0),
                    )
                ],
            )
            charge = self._hold_reads.charge_from_commit(
                context.connection,
                hold,
                steps,
                transaction_id,
                context.now,
                metadata,
            )
            unit = self._reads.unit(hold.unit)
            charge = dataclasses.replace(charge, debt=unit.to_quantity(debt) if debt else 0)
            return self._hold_reads.with_available_after(
                context.connection, charge, holder.id, context.now
            )

        def rebuild(connection: Connection, recorded: TransactionRow) -> Charge:
            hold = present(
                hold_repository.read_hold(connection, hold_id), "a committed hold exists"
            )
            charge = self._hold_reads.charge_from_commit(
                connection,
                hold,
                recorded.amount,
                recorded.id,
                recorded.created_at,
                recorded.metadata,
            )
            debt = self._excess.commit_debt(connection, recorded.id)
            unit = self._reads.unit(hold.unit)
            # What is left now: later writes have moved the balance since the commit.
            charge = dataclasses.replace(
                charge, replayed=True, debt=unit.to_quantity(debt) if debt else 0
            )
            return self._hold_reads.with_available_after(
                connection, charge, hold.customer_id, self._reads.now()
            )

        return self._postings.write_once(request, customers, body, rebuild)

    def _check_settle(
        self, context: UnitOfWork, request: Request, hold: HoldRow, steps: int, final: bool
    ) -> None:
        """Refuses (and records) a commit or release of ``hold`` that is closed, asks for more
        than it has left, or (a final commit) has open children."""
        holder = context.customers[hold.external_id]
        unit = self._reads.unit(hold.unit)
        refusal = closed_refusal(hold)
        if refusal is None and steps > hold.balance:
            refusal = HoldAmountExceeded(
                hold.account_id, unit.to_quantity(hold.balance), unit.to_quantity(steps)
            )
        if refusal is None and final:
            children = hold_repository.open_children(context.connection, [hold.account_id], 10)
            if children:
                refusal = HoldHasOpenChildren(
                    hold.account_id, [child.account_id for child in children]
                )
        if refusal is not None:
            raise self._postings.refuse(
                context, request, holder, hold.unit, steps, refusal, hold_id=hold.account_id
            )
        require(
            hold.expires_at > context.now,
            "the lock's sweep expires due holds first",
            f"hold {hold.account_id} expires at {hold.expires_at}",
        )

    def release(self, hold_id: int, *, idempotency_key: str) -> Hold:
        """Gives back what the hold has left: its open children are released first (each to
        its parent, deepest first), then the hold's credits go back where they came from."""
        customers = self._hold_reads.hold_customer(hold_id)
        request = Request(idempotency_key, TransactionKind.RELEASE, {"hold_id": hold_id})

        def body(context: UnitOfWork) -> Hold:
            hold = present(
                hold_repository.read_hold(context.connection, hold_id), "a locked hold exists"
            )
            self._check_settle(context, request, hold, 0, final=False)
            holder = context.customers[hold.external_id]
            if self._release_children(context, holder, hold):
                # Its children's credits are back in its account.
                hold = present(
                    hold_repository.read_hold(context.connection, hold_id), "a locked hold exists"
                )
            headline, legs = self._postings.settle_legs(context, hold, 0)
            give_back_hold(context.connection, holder, hold, hold.balance)
            transaction_id = repository.insert_transaction(
                context.connection,
                self._postings.transaction_values(
                    request, holder, hold.unit, headline, context.now, hold_id=hold_id
                ),
            )
            if legs:
                self._postings.post(context.connection, transaction_id, hold.unit, legs)
            hold_repository.settle_hold(
                context.connection,
                hold_id,
                HoldStatus.RELEASED,
                hold.amount_committed,
                transaction_id,
            )
            return self._hold_reads.released(context.connection, hold)

        def rebuild(connection: Connection, recorded: TransactionRow) -> Hold:
            hold = present(hold_repository.read_hold(connection, hold_id), "a released hold exists")
            return self._hold_reads.released(connection, hold)

        return self._postings.write_once(request, customers, body, rebuild)

    def _release_children(self, context: UnitOfWork, holder: CustomerRow, hold: HoldRow) -> int:
        """Releases the open holds below ``hold``, deepest first, each giving what it has left
        to its parent, in one statement per step; returns how many. Bounded: a tree has at
        most ``HOLD_TREE_LEVELS_MAX`` levels and ``HOLD_TREE_OPEN_MAX`` open holds."""
        levels: list[list[HoldRow]] = []
        above = [hold.account_id]
        for _level in range(HOLD_TREE_LEVELS_MAX):
            below = hold_repository.open_children(context.connection, above, HOLD_TREE_OPEN_MAX)
            if not below:
                break
            levels.append(below)
            above = [child.account_id for child in below]
        below_all = [child for level in reversed(levels) for child in level]
        if not below_all:
            return 0
        balances = {child.account_id: child.balance for child in below_all}
        closings: list[tuple[int, list[tuple[int, int]]]] = []
        for child in below_all:
            headline, legs, _refilled = self._postings.closing_legs(
                child, [], {}, 0, context.now, balances[child.account_id]
            )
            closings.append((headline, legs))
            if child.parent_id in balances:
                balances[child.parent_id] += balances[child.account_id]
        # Each child's levels get back what it gave its parent.
        give_back_holds(
            context.connection,
            holder,
            [(child, balances[child.account_id]) for child in below_all],
        )
        transaction_ids = repository.insert_transactions(
            context.connection,
            [
                self._postings.transaction_values(
                    Request(
                        hold_release_key(child.account_id),
                        TransactionKind.RELEASE,
                        {"hold_id": child.account_id, "with_parent": hold.account_id},
                    ),
                    holder,
                    child.unit,
                    headline,
                    context.now,
                    hold_id=child.account_id,
                )
                for child, (headline, _legs) in zip(below_all, closings, strict=True)
            ],
        )
        self._postings.post_many(
            context.connection,
            [
                (transaction_id, child.unit, legs)
                for child, transaction_id, (_headline, legs) in zip(
                    below_all, transaction_ids, closings, strict=True
                )
                if legs
            ],
        )
        hold_repository.settle_holds_closed(
            context.connection,
            HoldStatus.RELEASED,
            [
                (child.account_id, tid)
                for child, tid in zip(below_all, transaction_ids, strict=True)
            ],
        )
        return len(below_all)
