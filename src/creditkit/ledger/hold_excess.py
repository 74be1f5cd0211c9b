"""A commit above what its hold has left, asked for with ``allow_debt``: the excess is a spend
of its own, checked as a charge is."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from creditkit.errors import CreditKitError, InsufficientCredits, present
from creditkit.ledger import repository
from creditkit.ledger.hold_repository import HoldRow
from creditkit.ledger.ports import LedgerReads, Postings, SpendRules
from creditkit.ledger.spending import SpendState, applies
from creditkit.ledger.values import CONSUMPTION, Request, take
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork


class HoldExcess:
    """The excess of a commit above its hold, spent as a charge is."""

    def __init__(self, reads: LedgerReads, postings: Postings, rules: SpendRules) -> None:
        self._reads = reads
        self._postings = postings
        self._rules = rules

    def commit_excess(
        self,
        context: UnitOfWork,
        request: Request,
        holder: CustomerRow,
        hold: HoldRow,
        excess: int,
        legs: list[tuple[int, int]],
    ) -> tuple[list[tuple[int, int]], int]:
        """A commit above what its hold has left (``allow_debt``, final or partial): the excess
        is spent like a charge for the hold's action, through ``check_spend`` (every budget on
        the path of the hold's spender, a child's parent's levels included: the excess was in
        no hold; then debt for what the grants that apply leave short, within the limit), its
        legs merged into the settlement's. Refused and recorded as a charge would be. Returns
        the legs and the steps taken as debt."""
        unit = self._reads.unit(hold.unit)
        state = SpendState()
        spender = (
            None
            if hold.spender is None
            else self._rules.spender_row(context.connection, state, holder, hold.spender)
        )
        live = self._reads.live_in_order(
            repository.grants_with_credits(context.connection, holder.id, hold.unit), context.now
        )
        scope = self._rules.action_scope(hold.action)
        spendable = [grant for grant in live if applies(grant, scope)]
        available = sum(grant.remaining for grant in spendable)
        steps = hold.balance + excess

        def refusal(debt_room: int) -> CreditKitError:
            return InsufficientCredits(
                holder.external_id,
                hold.unit,
                unit.to_quantity(hold.balance + available + debt_room),
                unit.to_quantity(steps),
                unit.to_quantity(sum(grant.remaining for grant in live) - available),
            )

        checked = self._rules.check_spend(
            context.connection, state, holder, unit, excess, context.now,
            spender=spender, shortfall=max(0, excess - available), allow_debt=True,
            refusal=refusal,
        )  # fmt: skip
        if isinstance(checked, CreditKitError):
            raise self._postings.refuse(
                context, request, holder, hold.unit, steps, checked, hold_id=hold.account_id
            )
        state.flush(context.connection)
        moved = dict(legs)
        for grant, part in take(spendable, excess - checked.debt):
            moved[grant.account_id] = moved.get(grant.account_id, 0) - part
        if checked.debt:
            account = present(checked.debt_account, "a debt's account")
            moved[account] = moved.get(account, 0) - checked.debt
        consumption = self._postings.system_account(CONSUMPTION, hold.unit)
        moved[consumption] = moved.get(consumption, 0) + excess
        return [(account, part) for account, part in moved.items() if part], checked.debt

    @staticmethod
    def commit_debt(connection: Connection, transaction_id: int) -> int:
        """The steps a recorded commit took as debt (its legs on the debt account)."""
        return sum(
            -leg.amount
            for leg in repository.entries_of(connection, [transaction_id])
            if leg.kind == "debt"
        )
