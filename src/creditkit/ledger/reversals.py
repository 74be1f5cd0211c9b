"""Reversals: part or all of a recorded charge given back, by the charge's idempotency key.

A reversal is one ``reversal`` transaction, posted through the one posting primitive, linked
to its charge (``reverses_id``) and counted in the usage of the moment the charge counted at.
Its credits go back the way the charge took them, in the reverse of the burn-down: first the
debt it ran up (to the debt account, as far as it is still owed; debt repaid since comes back
as a new ``adjustment`` grant, the credits that repaid it), then what the plan issued beyond
the grants (back to issuance: overage not used is not billed), then the grants, last drawn
first. A grant that expired since the charge takes nothing back: its part goes to the expiry
account, as breakage, as it would have had the charge never been made. Partial reversals
accumulate: each one takes up where the last stopped in that order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from creditkit.errors import InvalidRequest, InvariantViolation, Quantity, present
from creditkit.ledger import repository, reversal_repository, spender_repository
from creditkit.ledger.checks import check_text
from creditkit.ledger.corrections import REASON_LENGTH_MAX
from creditkit.ledger.grants import Grants
from creditkit.ledger.kernel import Spend
from creditkit.ledger.ports import LedgerReads, Postings, SpendRules
from creditkit.ledger.repository import TransactionRow
from creditkit.ledger.schemas import (
    PRIORITY_DEFAULT_BY_SOURCE,
    Draw,
    GrantSource,
    Reversal,
    TransactionKind,
    Unit,
)
from creditkit.ledger.spending import CUSTOMER, SpendState, path_budgets
from creditkit.ledger.values import CONSUMPTION, EXPIRY, ISSUANCE, Request
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork

#: How long after a charge it may be reversed, unless the kit sets another window: Stripe's
#: meter events may be cancelled for as long as they may be backdated (35 days).
REVERSAL_WINDOW_DEFAULT = timedelta(days=35)
#: The longest window a kit may set: a period already closed a year ago is not corrected here.
REVERSAL_WINDOW_MAX = timedelta(days=366)


def check_reversal_window(window: object) -> timedelta:
    """A kit's reversal window: a positive ``timedelta`` of at most ``REVERSAL_WINDOW_MAX``."""
    if not isinstance(window, timedelta) or not timedelta(0) < window <= REVERSAL_WINDOW_MAX:
        raise InvalidRequest(
            "reversal_window",
            f"must be a timedelta above 0, at most {REVERSAL_WINDOW_MAX.days} days",
        )
    return window


@dataclass(frozen=True, slots=True)
class _Source:
    """Where part of a charge came from: an account, and its kind."""

    account_id: int
    kind: str
    steps: int


class Reversals:
    """Reversals of charges: credits back where they came from, budgets and debt given back."""

    def __init__(
        self, reads: LedgerReads, postings: Postings, rules: SpendRules, grants: Grants
    ) -> None:
        self._reads = reads
        self._postings = postings
        self._rules = rules
        self._grants = grants

    reversal_window: timedelta = REVERSAL_WINDOW_DEFAULT

    def reverse_charge(
        self,
        charge_key: str,
        amount: Quantity | str | None,
        *,
        reason: str,
        idempotency_key: str,
    ) -> Reversal:
        """Gives back ``amount`` (None: all that is not reversed yet) of the charge recorded
        under ``charge_key`` (see the module's docstring)."""
        check_text(charge_key, "charge_key", 255)
        check_text(reason, "reason", REASON_LENGTH_MAX)
        amount_text = None if amount is None else str(amount)
        request = Request(
            idempotency_key,
            TransactionKind.REVERSAL,
            {"charge_key": charge_key, "amount": amount_text, "reason": reason},
        )

        def customers(connection: Connection) -> list[str]:
            charge = self._charge_of(connection, charge_key)
            owner = repository.external_ids(connection, [charge.customer_id])
            return [owner[charge.customer_id]]

        def body(context: UnitOfWork) -> Reversal:
            charge = self._charge_of(context.connection, charge_key)
            if context.now - charge.created_at > self.reversal_window:
                raise InvalidRequest(
                    "charge_key",
                    f"the charge {charge_key!r} is past the reversal window"
                    f" ({self.reversal_window.days} days after it was made)",
                )
            unit = self._reads.unit(charge.unit)
            done = reversal_repository.reversed_steps(context.connection, charge.id)
            left = charge.amount - done
            if amount is None:
                if left <= 0:
                    raise InvalidRequest("amount", f"the charge {charge_key!r} is wholly reversed")
                steps = left
            else:
                steps = unit.to_steps(amount)
                if steps > left:
                    raise InvalidRequest(
                        "amount",
                        f"{unit.to_quantity(steps)} is more than the charge {charge_key!r} has"
                        f" left to reverse ({unit.to_quantity(left)})",
                    )
            holder = next(iter(context.customers.values()))
            return self._post_reversal(context, request, holder, charge, unit, steps, done, reason)

        def rebuild(connection: Connection, recorded: TransactionRow) -> Reversal:
            charge = present(
                repository.find_transaction(connection, charge_key), "a reversal's charge"
            )
            unit = self._reads.unit(recorded.unit)
            owner = repository.external_ids(connection, [recorded.customer_id])
            returned: list[Draw] = []
            expired = 0
            for leg in repository.entries_of(connection, [recorded.id]):
                if leg.kind == "grant":
                    returned.append(Draw(leg.account_id, unit.to_quantity(leg.amount)))
                elif leg.kind == EXPIRY:
                    expired += leg.amount
            left = charge.amount - reversal_repository.reversed_steps(connection, charge.id)
            return Reversal(
                id=recorded.id, charge_id=charge.id, charge_key=charge_key,
                customer=owner[recorded.customer_id], unit=recorded.unit,
                amount=unit.to_quantity(recorded.amount), reason=reason,
                returned=tuple(returned), expired=unit.to_quantity(expired),
                remaining=unit.to_quantity(left), created_at=recorded.created_at,
                replayed=True,
            )  # fmt: skip

        return self._postings.write_once(request, customers, body, rebuild)

    @staticmethod
    def _charge_of(connection: Connection, charge_key: str) -> TransactionRow:
        """The charge recorded under ``charge_key``, or InvalidRequest naming ``charge_key``."""
        charge = repository.find_transaction(connection, charge_key)
        if charge is None:
            raise InvalidRequest("charge_key", f"no charge is recorded under {charge_key!r}")
        if charge.kind != TransactionKind.CHARGE:
            raise InvalidRequest(
                "charge_key", f"{charge_key!r} is a {charge.kind.value}, not a charge"
            )
        if charge.status != "applied":
            raise InvalidRequest(
                "charge_key", f"the charge {charge_key!r} was refused: it spent nothing"
            )
        return charge

    def _post_reversal(
        self,
        context: UnitOfWork,
        request: Request,
        holder: CustomerRow,
        charge: TransactionRow,
        unit: Unit,
        steps: int,
        done: int,
        reason: str,
    ) -> Reversal:
        connection = context.connection
        # The charge's metadata with the reversal's own: usage dimensions read from metadata
        # count the reversal under the charge's values.
        metadata = {
            **charge.metadata,
            "charge_id": charge.id,
            "charge_key": charge.idempotency_key,
            "reason": reason,
        }
        transaction_id = repository.insert_transaction(
            connection,
            self._postings.transaction_values(
                request, holder, unit.name, steps, context.now, action=charge.action,
                metadata=metadata, member=charge.member, spender=charge.spender,
                occurred_at=charge.counted_at, reverses_id=charge.id,
            ),
        )  # fmt: skip
        legs, returned, expired, issued = self._legs(
            context, holder, charge, unit, steps, done, transaction_id
        )
        legs.append((self._postings.system_account(CONSUMPTION, unit.name), -steps))
        self._postings.post(connection, transaction_id, unit.name, legs)
        self._give_back_budgets(connection, holder, charge, unit, steps)
        self._rules.record_spends(connection, [Spend(
            transaction_id, holder.id, unit.name, -steps, charge.action, charge.member,
            metadata, context.now, charge.spender, issued=-issued, expired=expired, charges=0,
            counted_at=charge.counted_at,
        )])  # fmt: skip
        left = charge.amount - done - steps
        return Reversal(
            id=transaction_id, charge_id=charge.id, charge_key=charge.idempotency_key,
            customer=holder.external_id, unit=unit.name, amount=unit.to_quantity(steps),
            reason=reason, returned=tuple(returned), expired=unit.to_quantity(expired),
            remaining=unit.to_quantity(left), created_at=context.now,
        )  # fmt: skip

    def _legs(
        self,
        context: UnitOfWork,
        holder: CustomerRow,
        charge: TransactionRow,
        unit: Unit,
        steps: int,
        done: int,
        transaction_id: int,
    ) -> tuple[list[tuple[int, int]], list[Draw], int, int]:
        """The reversal's legs but consumption's, with the grants credited, the steps sent to
        breakage and the steps given back to issuance."""
        sources = _sources_in_reverse(repository.entries_of(context.connection, [charge.id]))
        expiries = reversal_repository.grant_expiries(
            context.connection, [source.account_id for source in sources if source.kind == "grant"]
        )
        by_account: dict[int, int] = {}
        returned: list[Draw] = []
        expired = issued = 0
        skip, left = done, steps
        for source in sources:
            part = min(max(0, source.steps - skip), left)
            skip = max(0, skip - source.steps)
            if part == 0:
                continue
            left -= part
            if source.kind == "grant":
                expires_at = expiries.get(source.account_id)
                if expires_at is not None and expires_at <= context.now:
                    expired += part
                    account = self._postings.system_account(EXPIRY, unit.name)
                else:
                    returned.append(Draw(source.account_id, unit.to_quantity(part)))
                    account = source.account_id
            elif source.kind == "debt":
                account, part = self._debt_back(
                    context, holder, unit, part, transaction_id, charge, by_account, returned
                )
                if part == 0:
                    continue
            else:
                issued += part
                account = self._postings.system_account(ISSUANCE, unit.name)
            by_account[account] = by_account.get(account, 0) + part
            if left == 0:
                break
        if left != 0:
            raise InvariantViolation("a reversal within what its charge took", f"{left} short")
        return list(by_account.items()), returned, expired, issued

    def _debt_back(
        self,
        context: UnitOfWork,
        holder: CustomerRow,
        unit: Unit,
        part: int,
        transaction_id: int,
        charge: TransactionRow,
        by_account: dict[int, int],
        returned: list[Draw],
    ) -> tuple[int, int]:
        """Gives ``part`` of the charge's debt back: to the debt account as far as it is still
        owed (the leg returned), the rest as a new grant (its leg added to ``by_account``)."""
        account = present(
            spender_repository.debt_account(context.connection, holder.id, unit.name),
            "a charge that ran up debt has a debt account",
        )
        owed = -account[1]
        to_debt = min(part, owed)
        repaid = part - to_debt
        if repaid:
            grant_id = self._grants.insert_grant(
                context, holder, unit.name, repaid, GrantSource.ADJUSTMENT,
                PRIORITY_DEFAULT_BY_SOURCE[GrantSource.ADJUSTMENT], context.now, None, False,
                None, transaction_id, {"reverses": charge.id},
            )  # fmt: skip
            by_account[grant_id] = repaid
            returned.append(Draw(grant_id, unit.to_quantity(repaid)))
        return account[0], to_debt

    def _give_back_budgets(
        self,
        connection: Connection,
        holder: CustomerRow,
        charge: TransactionRow,
        unit: Unit,
        steps: int,
    ) -> None:
        """The budgets that counted the charge (in the periods it was made in) count ``steps``
        less: a budget sees what its spenders spent, and reversed spending was not spent."""
        state = SpendState()
        path: tuple[str, ...]
        spender = None
        if charge.spender is not None:
            spender = self._rules.spender_row(connection, state, holder, charge.spender)
            path = spender.path_up
        elif holder.budgeted:
            path = (CUSTOMER,)
        else:
            return
        defaults = (
            {}
            if spender is None
            else self._rules.path_defaults(
                connection, state, holder, spender, unit, charge.created_at
            )
        )
        lines = path_budgets(
            connection, state, holder, unit.name, path, defaults, charge.created_at
        )
        state.count(holder.id, lines, -steps)
        state.flush(connection)


def _sources_in_reverse(legs: list[sa.Row[Any]]) -> list[_Source]:
    """The accounts a charge took its credits from, in the reverse of the burn-down: debt (the
    last resort), then what the plan issued beyond the grants, then the grants, last drawn
    first. ``legs`` are the charge's entries in insert order (the grants in burn-down order)."""
    grants: list[_Source] = []
    issued: list[_Source] = []
    debt: list[_Source] = []
    for leg in legs:
        kind, amount = leg.kind, int(leg.amount)
        if amount >= 0:
            continue
        source = _Source(int(leg.account_id), kind, -amount)
        if kind == "grant":
            grants.append(source)
        elif kind == "debt":
            debt.append(source)
        elif kind == ISSUANCE:
            issued.append(source)
    return [*debt, *issued, *reversed(grants)]
