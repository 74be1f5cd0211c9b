"""Holds (two-phase spending): reserve, then commit for the actual amount or release; a hold
that times out releases itself on the timeline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.errors import (
    CreditKitError,
    HoldAlreadyCommitted,
    HoldAlreadyReleased,
    HoldAmountExceeded,
    HoldExpired,
    HoldNotFound,
    InsufficientCredits,
    InvalidRequest,
    present,
    require,
)
from creditkit.ledger import hold_repository, repository
from creditkit.ledger.checks import (
    HOLD_TIMEOUT_SECONDS_MAX,
    HOLDS_PAGE_SIZE_MAX,
    IDEMPOTENCY_KEY_LENGTH_MAX,
    NAME_LENGTH_MAX,
    canonical_quantity,
    check_metadata,
    check_text,
)
from creditkit.ledger.grants import LedgerGrants
from creditkit.ledger.hold_repository import HoldRow
from creditkit.ledger.kernel import (
    CONSUMPTION,
    EXPIRY,
    ISSUANCE,
    Request,
    Spend,
    UnitOfWork,
    take,
)
from creditkit.ledger.repository import CustomerRow, TransactionRow
from creditkit.ledger.schemas import (
    Charge,
    Draw,
    Hold,
    HoldStatus,
    TransactionKind,
)
from creditkit.ledger.spending import SpendState, applies, check_spender


class LedgerHolds(LedgerGrants):
    """Grants, plus holds."""

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
        spender: str | None = None,
    ) -> Hold:
        """``rate_limited``: the reserve counts against the plan's rate limit in its own
        transaction (``_count_request``). ``spender``: who holds; the hold counts against the
        budgets on its path while it is open."""
        unit_ = self.unit(unit)
        steps = unit_.to_steps(amount)
        if (
            isinstance(timeout_seconds, bool)
            or not isinstance(timeout_seconds, int)
            or not 1 <= timeout_seconds <= HOLD_TIMEOUT_SECONDS_MAX
        ):
            raise InvalidRequest(
                "timeout_seconds", f"must be an int from 1 to {HOLD_TIMEOUT_SECONDS_MAX}"
            )
        if action is not None:
            check_text(action, "action", NAME_LENGTH_MAX)
        metadata = check_metadata(metadata)
        request = Request(
            idempotency_key,
            TransactionKind.RESERVE,
            {
                "customer": customer,
                "unit": unit,
                "amount": steps,
                "timeout_seconds": timeout_seconds,
                "action": action,
                "metadata": metadata,
            }
            | ({} if spender is None else {"spender": check_spender(spender)}),
        )

        def rebuild(connection: Connection, recorded: TransactionRow) -> Hold:
            hold_id = present(recorded.hold_id, "a recorded reserve names its hold")
            hold = present(hold_repository.read_hold(connection, hold_id), "a recorded hold exists")
            return self._hold_as_reserved(connection, hold)

        def body(context: UnitOfWork) -> Hold:
            holder = context.customers[customer]
            if rate_limited:
                replayed = self._count_request(context, request, holder, rebuild)
                if replayed is not None:
                    return replayed
            state = SpendState()
            holds_for = (
                None
                if spender is None
                else self.spender_row(context.connection, state, holder, spender)
            )
            draws, issued = self._draw(
                context, request, holder, unit_, steps, False,
                action=action, spender=holds_for, state=state,
            )  # fmt: skip
            expires_at = context.now + timedelta(seconds=timeout_seconds)
            hold_id = repository.insert_account(
                context.connection, "hold", unit, holder.id, context.now
            )
            transaction_id = repository.insert_transaction(
                context.connection,
                self.transaction_values(
                    request,
                    holder,
                    unit,
                    steps,
                    context.now,
                    action=action,
                    hold_id=hold_id,
                    metadata=metadata,
                    spender=spender,
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
                },
            )
            self._post(
                context.connection,
                transaction_id,
                unit,
                [(grant.account_id, -part) for grant, part in draws]
                + ([(self.system_account(ISSUANCE, unit), -issued)] if issued else [])
                + [(hold_id, steps)],
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
                draws=tuple(
                    Draw(grant.account_id, unit_.to_quantity(part)) for grant, part in draws
                ),
                action=action,
                metadata=metadata,
                spender=spender,
            )

        return self._write(request, lambda _connection: [customer], body, rebuild)

    def _hold_as_reserved(self, connection: Connection, hold: HoldRow) -> Hold:
        unit = self._units[hold.unit]
        return Hold(
            id=hold.account_id,
            customer=hold.external_id,
            unit=hold.unit,
            amount=unit.to_quantity(hold.amount_held),
            status=HoldStatus.ACTIVE,
            expires_at=hold.expires_at,
            created_at=hold.created_at,
            draws=tuple(
                Draw(grant_id, unit.to_quantity(part))
                for grant_id, part in self._reserve_draws(connection, hold)
            ),
            action=hold.action,
            metadata=hold.metadata,
            spender=hold.spender,
        )

    def recorded(self, idempotency_key: str) -> bool:
        check_text(idempotency_key, "idempotency_key", IDEMPOTENCY_KEY_LENGTH_MAX)
        with self.database.read() as connection:
            return repository.find_transaction(connection, idempotency_key) is not None

    def hold(self, hold_id: int) -> Hold:
        """The hold as it stands now (its status after any commit, release or expiry)."""
        with self.database.read() as connection:
            hold = hold_repository.read_hold(connection, hold_id)
            if hold is None:
                raise HoldNotFound(hold_id)
            draws = self._reserve_draws(connection, hold)
        return self._hold_now(hold, draws, self.now())

    def holds(self, customer: str, status: str, limit: int) -> tuple[Hold, ...]:
        """The customer's holds in ``status``, newest first, at most ``limit``."""
        try:
            wanted = HoldStatus(status)
        except ValueError:
            raise InvalidRequest(
                "status", f"must be one of {', '.join(s.value for s in HoldStatus)}"
            ) from None
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not 1 <= limit <= HOLDS_PAGE_SIZE_MAX
        ):
            raise InvalidRequest("limit", f"must be an int from 1 to {HOLDS_PAGE_SIZE_MAX}")
        # Holds past their timeout are swept first, so that a hold listed as active is one.
        self.sweep_if_due(customer)
        with self.database.read() as connection:
            row = repository.read_customer(connection, customer)
            found = hold_repository.customer_holds(connection, row.id, wanted, limit)
            legs = repository.entries_of(
                connection, [hold.reserve_transaction_id for hold in found]
            )
        draws: dict[int, list[tuple[int, int]]] = {}
        for leg in legs:
            if leg.amount < 0 and leg.kind == "grant":
                draws.setdefault(leg.transaction_id, []).append((leg.account_id, -leg.amount))
        now = self.now()
        return tuple(
            self._hold_now(hold, draws.get(hold.reserve_transaction_id, []), now) for hold in found
        )

    def _hold_now(self, hold: HoldRow, draws: Sequence[tuple[int, int]], now: datetime) -> Hold:
        """The hold as it stands at ``now``: one whose timeout has passed is expired, swept or
        not. ``draws`` are (grant id, steps) its reserve took."""
        unit = self._units[hold.unit]
        status = hold.status
        if status is HoldStatus.ACTIVE and hold.expires_at <= now:
            status = HoldStatus.EXPIRED
        committed = (
            None if hold.amount_committed is None else unit.to_quantity(hold.amount_committed)
        )
        return Hold(
            id=hold.account_id,
            customer=hold.external_id,
            unit=hold.unit,
            amount=unit.to_quantity(hold.amount_held),
            status=status,
            expires_at=hold.expires_at,
            created_at=hold.created_at,
            draws=tuple(Draw(grant_id, unit.to_quantity(part)) for grant_id, part in draws),
            action=hold.action,
            amount_committed=committed,
            metadata=hold.metadata,
            spender=hold.spender,
        )

    def _hold_customer(self, hold_id: object) -> Callable[[Connection], Sequence[str]]:
        if isinstance(hold_id, bool) or not isinstance(hold_id, int):
            raise InvalidRequest("hold_id", "must be an int")

        def customers(connection: Connection) -> Sequence[str]:
            hold = hold_repository.read_hold(connection, hold_id)
            if hold is None:
                raise HoldNotFound(hold_id)
            return [hold.external_id]

        return customers

    def _settle(
        self,
        context: UnitOfWork,
        request: Request,
        hold_id: int,
        steps_committed: int,
    ) -> tuple[HoldRow, int, list[tuple[int, int]]]:
        """Closes an active hold: ``steps_committed`` go to consumption, taken from the hold's
        draws in burn-down order, and the rest returns to the grants it came from (to expiry
        where a grant has expired since). Refuses a hold that is not active."""
        hold = present(
            hold_repository.read_hold(context.connection, hold_id),
            "the hold's customer is locked: the hold cannot vanish",
        )
        holder = context.customers[hold.external_id]
        unit = self._units[hold.unit]
        refusal: CreditKitError | None = None
        if hold.status is HoldStatus.COMMITTED:
            refusal = HoldAlreadyCommitted(hold_id)
        elif hold.status is HoldStatus.RELEASED:
            refusal = HoldAlreadyReleased(hold_id)
        elif hold.status is HoldStatus.EXPIRED:
            refusal = HoldExpired(hold_id, hold.expires_at)
        elif steps_committed > hold.amount_held:
            refusal = HoldAmountExceeded(
                hold_id, unit.to_quantity(hold.amount_held), unit.to_quantity(steps_committed)
            )
        if refusal is not None:
            raise self._refuse(
                context, request, holder, hold.unit, steps_committed, refusal, hold_id=hold_id
            )
        require(
            hold.expires_at > context.now,
            "the lock's sweep expires due holds first",
            f"hold {hold_id} expires at {hold.expires_at}",
        )
        return hold, *self._settle_legs(context, hold, steps_committed)

    def commit(
        self,
        hold_id: int,
        amount: object,
        *,
        idempotency_key: str,
        metadata: dict[str, Any] | None,
        allow_debt: bool = False,
    ) -> Charge:
        """Settles the hold for ``amount``. Above the hold it is refused (HoldAmountExceeded)
        unless ``allow_debt``: then the excess is a spend of its own (``_commit_excess``)."""
        customers = self._hold_customer(hold_id)
        metadata = check_metadata(metadata)
        if not isinstance(allow_debt, bool):
            raise InvalidRequest("allow_debt", "must be a bool")
        request = Request(
            idempotency_key,
            TransactionKind.COMMIT,
            {"hold_id": hold_id, "amount": canonical_quantity(amount), "metadata": metadata}
            | ({"allow_debt": True} if allow_debt else {}),
        )

        def body(context: UnitOfWork) -> Charge:
            hold = present(
                hold_repository.read_hold(context.connection, hold_id), "a locked hold exists"
            )
            # The unit is the hold's, so the amount is checked once the hold is read. Zero is a
            # valid commit: the work was done and cost nothing.
            steps = 0 if amount == 0 else self._units[hold.unit].to_steps(amount)
            excess = max(0, steps - hold.amount_held) if allow_debt else 0
            hold, _headline, legs = self._settle(context, request, hold_id, steps - excess)
            holder = context.customers[hold.external_id]
            debt = 0
            if excess:
                legs, debt = self._commit_excess(context, request, holder, hold, excess, legs)
            else:
                self.give_back_budgets(
                    context.connection, holder, hold.unit, hold.spender, hold.created_at,
                    hold.amount_held - steps,
                )  # fmt: skip
            transaction_id = repository.insert_transaction(
                context.connection,
                self.transaction_values(
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
            self._post(context.connection, transaction_id, hold.unit, legs)
            hold_repository.settle_hold(
                context.connection, hold_id, HoldStatus.COMMITTED, steps - excess, transaction_id
            )
            # Each account appears once in a transaction's legs.
            moved = dict(legs)
            self.record_spends(
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
                        issued=-moved.get(self.system_account(ISSUANCE, hold.unit), 0),
                        expired=moved.get(self.system_account(EXPIRY, hold.unit), 0),
                    )
                ],
            )
            charge = self._charge_from_commit(
                context.connection, hold, steps, transaction_id, context.now, metadata
            )
            unit = self._units[hold.unit]
            charge = dataclasses.replace(charge, debt=unit.to_quantity(debt) if debt else 0)
            return self._with_available_after(context.connection, charge, holder.id, context.now)

        def rebuild(connection: Connection, recorded: TransactionRow) -> Charge:
            hold = present(
                hold_repository.read_hold(connection, hold_id), "a committed hold exists"
            )
            charge = self._charge_from_commit(
                connection,
                hold,
                recorded.amount,
                recorded.id,
                recorded.created_at,
                recorded.metadata,
            )
            debt = sum(
                -leg.amount
                for leg in repository.entries_of(connection, [recorded.id])
                if leg.kind == "debt"
            )
            unit = self._units[hold.unit]
            # What is left now: later writes have moved the balance since the commit.
            charge = dataclasses.replace(
                charge, replayed=True, debt=unit.to_quantity(debt) if debt else 0
            )
            return self._with_available_after(connection, charge, hold.customer_id, self.now())

        return self._write(request, customers, body, rebuild)

    def _commit_excess(
        self,
        context: UnitOfWork,
        request: Request,
        holder: CustomerRow,
        hold: HoldRow,
        excess: int,
        legs: list[tuple[int, int]],
    ) -> tuple[list[tuple[int, int]], int]:
        """A commit above its hold (``allow_debt``): the excess is spent like a charge for the
        hold's action, through ``check_spend`` (the budgets on the hold's path, then debt for
        what the grants that apply leave short, within the limit), its legs merged into the
        settlement's. Refused and recorded as a charge would be. Returns the legs and the
        steps taken as debt."""
        unit = self._units[hold.unit]
        state = SpendState()
        spender = (
            None
            if hold.spender is None
            else self.spender_row(context.connection, state, holder, hold.spender)
        )
        live = self.live_in_order(
            repository.grants_with_credits(context.connection, holder.id, hold.unit), context.now
        )
        scope = self.action_scope(hold.action)
        spendable = [grant for grant in live if applies(grant, scope)]
        available = sum(grant.remaining for grant in spendable)
        steps = hold.amount_held + excess

        def refusal(debt_room: int) -> CreditKitError:
            return InsufficientCredits(
                holder.external_id,
                hold.unit,
                unit.to_quantity(hold.amount_held + available + debt_room),
                unit.to_quantity(steps),
                unit.to_quantity(sum(grant.remaining for grant in live) - available),
            )

        checked = self.check_spend(
            context.connection, state, holder, unit, excess, context.now,
            spender=spender, shortfall=max(0, excess - available), allow_debt=True,
            refusal=refusal,
        )  # fmt: skip
        if isinstance(checked, CreditKitError):
            raise self._refuse(
                context, request, holder, hold.unit, steps, checked, hold_id=hold.account_id
            )
        state.flush(context.connection)
        moved = dict(legs)
        for grant, part in take(spendable, excess - checked.debt):
            moved[grant.account_id] = moved.get(grant.account_id, 0) - part
        if checked.debt:
            account = present(checked.debt_account, "a debt's account")
            moved[account] = moved.get(account, 0) - checked.debt
        consumption = self.system_account(CONSUMPTION, hold.unit)
        moved[consumption] = moved.get(consumption, 0) + excess
        return [(account, part) for account, part in moved.items() if part], checked.debt

    def _with_available_after(
        self, connection: Connection, charge: Charge, customer_id: int, now: datetime
    ) -> Charge:
        left = self.live_in_order(
            repository.grants_with_credits(connection, customer_id, charge.unit), now
        )
        available_after = self._units[charge.unit].to_quantity(sum(g.remaining for g in left))
        return dataclasses.replace(charge, available_after=available_after)

    def _charge_from_commit(
        self,
        connection: Connection,
        hold: HoldRow,
        steps: int,
        transaction_id: int,
        created_at: datetime,
        metadata: dict[str, Any],
    ) -> Charge:
        unit = self._units[hold.unit]
        draws: list[Draw] = []
        left = steps
        for grant_id, part in self._reserve_draws(connection, hold):
            consumed = min(part, left)
            left -= consumed
            if consumed:
                draws.append(Draw(grant_id, unit.to_quantity(consumed)))
        return Charge(
            id=transaction_id,
            customer=hold.external_id,
            unit=hold.unit,
            amount=unit.to_quantity(steps),
            action=hold.action,
            draws=tuple(draws),
            created_at=created_at,
            hold_id=hold.account_id,
            metadata=metadata,
        )

    def release(self, hold_id: int, *, idempotency_key: str) -> Hold:
        customers = self._hold_customer(hold_id)
        request = Request(idempotency_key, TransactionKind.RELEASE, {"hold_id": hold_id})

        def body(context: UnitOfWork) -> Hold:
            hold, headline, legs = self._settle(context, request, hold_id, 0)
            holder = context.customers[hold.external_id]
            self.give_back_budgets(
                context.connection, holder, hold.unit, hold.spender, hold.created_at,
                hold.amount_held,
            )  # fmt: skip
            transaction_id = repository.insert_transaction(
                context.connection,
                self.transaction_values(
                    request, holder, hold.unit, headline, context.now, hold_id=hold_id
                ),
            )
            self._post(context.connection, transaction_id, hold.unit, legs)
            hold_repository.settle_hold(
                context.connection, hold_id, HoldStatus.RELEASED, None, transaction_id
            )
            return self._released(context.connection, hold)

        def rebuild(connection: Connection, recorded: TransactionRow) -> Hold:
            hold = present(hold_repository.read_hold(connection, hold_id), "a released hold exists")
            return self._released(connection, hold)

        return self._write(request, customers, body, rebuild)

    def _released(self, connection: Connection, hold: HoldRow) -> Hold:
        reserved = self._hold_as_reserved(connection, hold)
        return Hold(
            id=reserved.id,
            customer=reserved.customer,
            unit=reserved.unit,
            amount=reserved.amount,
            status=HoldStatus.RELEASED,
            expires_at=reserved.expires_at,
            created_at=reserved.created_at,
            draws=reserved.draws,
            action=reserved.action,
            metadata=reserved.metadata,
            spender=reserved.spender,
        )
