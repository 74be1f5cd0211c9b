"""Charges, one or many, in one database transaction.

``CreditKit.charge`` is a batch of one, so a single charge and ten thousand run the same code.
The batch reads every grant it needs once, runs burn-down in memory, and writes all rows with a
few multi-row statements; that is what lets it reach tens of thousands of charges a second on
SQLite, where a statement per charge would not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.errors import (
    CreditKitError,
    InsufficientCredits,
    InvalidRequest,
    InvariantViolation,
    RateLimited,
    UnknownCustomer,
    present,
)
from creditkit.ledger import lean, pg_charge, repository
from creditkit.ledger.catch_up import Demand, demand_of
from creditkit.ledger.checks import (
    check_time,
)
from creditkit.ledger.grants import LedgerGrants
from creditkit.ledger.kernel import (
    CONSUMPTION,
    ISSUANCE,
    CatchingUp,
    Spend,
    take,
)
from creditkit.ledger.late_usage import counted_moment
from creditkit.ledger.outcomes import ChargeOutcomes
from creditkit.ledger.prepared import ChargeColumns, Prepared
from creditkit.ledger.repository import CustomerRow, GrantRow, TransactionRow
from creditkit.ledger.schemas import (
    Charge,
    ChargeRequest,
    Draw,
)
from creditkit.ledger.spending import SpendState, applies
from creditkit.store.flavor import flavor_of

Outcome = Charge | CreditKitError


@dataclass(slots=True)
class _Planned:
    """A charge decided in this transaction: its row, and its draws if it was applied."""

    prepared: Prepared
    row: dict[str, Any]
    draws: list[tuple[GrantRow, int]] | None
    refusal: CreditKitError | None
    #: Steps issued on demand beyond the grants (an unlimited plan).
    issued: int = 0
    #: The customer's grants' steps left in the unit right after this charge.
    available_after: int = 0
    #: Steps taken as debt, on the customer's debt account.
    debt: int = 0
    debt_account: int | None = None


class ChargeBatch:
    """Charges checked for input errors at construction, then run in one transaction: alone
    (``run``), or inside the coalescing writer's shared transaction (``attempt``, several
    callers' batches ``combined`` into one)."""

    def __init__(self, ledger: LedgerGrants, charges: Sequence[ChargeRequest]) -> None:
        self._ledger = ledger
        self._charges = charges
        #: The charges that passed input checks, in columns; those that did not, answered
        #: without touching the database.
        self._columns, self._invalid = ChargeColumns.checked(ledger, charges)

    def __len__(self) -> int:
        return len(self._charges)

    @classmethod
    def combined(cls, ledger: LedgerGrants, batches: Sequence[ChargeBatch]) -> ChargeBatch:
        """One batch of the charges of ``batches``, in order, without checking them again;
        ``split`` gives each batch its outcomes back."""
        combined = cls(ledger, ())
        offset = 0
        charges: list[ChargeRequest] = []
        for batch in batches:
            charges.extend(batch._charges)
            combined._invalid.update(
                {offset + index: error for index, error in batch._invalid.items()}
            )
            combined._columns.extend(batch._columns, offset)
            offset += len(batch)
        combined._charges = charges
        return combined

    @staticmethod
    def split(
        outcomes: Sequence[Outcome], batches: Sequence[ChargeBatch]
    ) -> list[Sequence[Outcome]]:
        parts: list[Sequence[Outcome]] = []
        offset = 0
        for batch in batches:
            parts.append(outcomes[offset : offset + len(batch)])
            offset += len(batch)
        return parts

    def run(self) -> ChargeOutcomes:
        """The batch in a transaction of its own."""
        outcomes: Mapping[int, Outcome] = self._ledger.write_alone(self.attempt)
        return self.ordered(outcomes)

    def ordered(self, outcomes: Mapping[int, Outcome]) -> ChargeOutcomes:
        """Every charge's outcome in the batch's order, input errors included: read from
        ``outcomes`` when asked, not copied (a lean batch builds its answers lazily)."""
        return ChargeOutcomes(self._invalid, outcomes, len(self._charges))

    def attempt(self, connection: Connection, replay: bool) -> Mapping[int, Outcome] | CatchingUp:
        """The batch's work inside ``connection``'s transaction; with ``replay``, keys already
        recorded are answered with their first outcomes. On PostgreSQL the charges the database
        function applies go in one call (``pg_charge``), the rest through ``_attempt``."""
        if connection.dialect.name != "postgresql":
            return self._attempt(connection, replay)
        prepared = self._columns.prepared()
        fast = pg_charge.charge_in_database(self._ledger, prepared, connection, replay)
        if fast is None:
            return self._attempt(connection, replay)
        outcomes, rest = fast
        if rest:
            remainder = ChargeBatch(self._ledger, ())
            remainder._columns = ChargeColumns.of(prepared[len(prepared) - len(rest) :])  # a suffix
            more = remainder._attempt(connection, replay)
            if isinstance(more, CatchingUp):
                # Due work fell due between the function's check and this (a clock that
                # moved): the writer commits and runs the batch again, which replays these.
                return more
            outcomes.update(more)
        return outcomes

    def _attempt(self, connection: Connection, replay: bool) -> Mapping[int, Outcome] | CatchingUp:
        ledger = self._ledger
        columns = self._columns
        now = ledger.now()
        outcomes: dict[int, Outcome] = {}
        customers = [charge.customer for charge in columns.charges]
        locked, grants_read = repository.lock_customers_with_grants(connection, customers)

        # A backlog of timed-out holds is swept in part; the rest counts as given back
        # (catch_up.py), or the batch runs again once more of it is swept.
        def demand() -> dict[str, Demand]:
            return demand_of(
                (
                    charge.customer,
                    unit.name,
                    steps,
                    charge.spender is not None or charge.member is not None,
                )
                for charge, unit, steps in zip(
                    columns.charges, columns.units, columns.steps, strict=True
                )
            )

        sweep = ledger.sweep_for_charges(connection, locked, now, demand)
        if isinstance(sweep, CatchingUp):
            return sweep
        swept, backlogs = sweep
        recorded = (
            repository.find_transactions(
                connection, [charge.idempotency_key for charge in columns.charges]
            )
            if replay
            else {}
        )
        limited = (
            self._count_requests(connection, columns.prepared(), locked, recorded, now)
            if any(charge.rate_limited for charge in columns.charges)
            else {}
        )
        grants: dict[tuple[int, str], list[GrantRow]] = {}
        for external_id, unit in dict.fromkeys(zip(customers, columns.units, strict=True)):
            customer = locked.get(external_id)
            if customer is None:
                continue
            pair = (customer.id, unit.name)
            rows = (
                repository.grants_with_credits(connection, *pair)
                if customer.id in swept  # the sweep changed them since they were read
                else grants_read.get(pair, [])
            )
            if customer.id in backlogs:
                rows = backlogs[customer.id].effective(unit.name, rows)
            grants[pair] = ledger.live_in_order(rows, now)
        if not recorded and not limited and flavor_of(connection).dialect == "sqlite":
            # Plain charges all paid by their grants: decided and written in columns.
            plain = lean.plan(ledger, connection, columns, locked, grants, now)
            if plain is not None:
                return lean.write(ledger, connection, flavor_of(connection), plain, now)
        prepared = columns.prepared()
        planned: list[_Planned] = []
        first_use: dict[str, _Planned] = {}
        replayed: dict[int, TransactionRow] = {}
        repeats: dict[int, _Planned] = {}
        headrooms: dict[tuple[int, str], int | None] = {}
        state = SpendState()
        for item in prepared:
            key = item.request.key
            customer = locked.get(item.charge.customer)
            if customer is None:
                # First, as a lone charge answers it: no key is looked up for no customer.
                outcomes[item.index] = UnknownCustomer(item.charge.customer)
                continue
            if key in recorded:
                outcome = self._replay(item, recorded[key])
                if outcome is None:
                    replayed[item.index] = recorded[key]
                else:
                    outcomes[item.index] = outcome
                continue
            if key in first_use:
                # A key used twice in one batch: the second gets the first's outcome, or a
                # conflict when it asks for something else.
                conflict = item.request.conflict_with(first_use[key].prepared.request.encode())
                if conflict is None:
                    repeats[item.index] = first_use[key]
                else:
                    outcomes[item.index] = conflict
                continue
            if item.index in limited:
                outcomes[item.index] = limited[item.index]  # not recorded: the key stays free
                continue
            decided = self._decide(connection, item, customer, grants, headrooms, state, now)
            if isinstance(decided, CreditKitError):
                outcomes[item.index] = decided  # bad input: not recorded, the key stays free
                continue
            plan = decided
            planned.append(plan)
            first_use[key] = plan
        # The budgets the charges counted are written with their rows.
        self._write_rows(connection, planned, now, outcomes, state)
        self._tell_spend_hooks(connection, planned, locked, grants, now)
        for index, first in repeats.items():
            outcomes[index] = outcomes[first.prepared.index]
        if replayed:
            outcomes.update(self._rebuild(connection, prepared, replayed, locked, grants))
        return outcomes

    def _count_requests(
        self,
        connection: Connection,
        prepared: list[Prepared],
        locked: dict[str, CustomerRow],
        recorded: dict[str, TransactionRow],
        now: datetime,
    ) -> dict[int, RateLimited]:
        """Counts the ``rate_limited`` charges' requests, once per customer for the batch, in
        this transaction; the charges past the plan's limit, by index. A refused charge whose
        key is recorded already is a retry of one that went through: it joins ``recorded``, so
        that it gets its first outcome rather than a 429."""
        by_customer: dict[str, list[Prepared]] = {}
        for item in prepared:
            if item.charge.rate_limited and item.charge.customer in locked:
                by_customer.setdefault(item.charge.customer, []).append(item)
        limited: dict[int, RateLimited] = {}
        for external_id, items in by_customer.items():
            window = self._ledger.count_requests(connection, locked[external_id], len(items), now)
            if window is None:
                continue
            for position, item in enumerate(items):
                if not window.allows(len(items), position):
                    limited[item.index] = RateLimited(
                        external_id, window.limit_per_minute, window.retry_after_seconds
                    )
        refused_keys = [p.request.key for p in prepared if p.index in limited]
        retried = repository.find_transactions(connection, refused_keys) if refused_keys else {}
        recorded.update(retried)
        return limited

    def _decide(
        self,
        connection: Connection,
        item: Prepared,
        customer: CustomerRow,
        grants: dict[tuple[int, str], list[GrantRow]],
        headrooms: dict[tuple[int, str], int | None],
        state: SpendState,
        now: datetime,
    ) -> _Planned | CreditKitError:
        """Applies or refuses one charge against what this batch has left: the grants that
        apply to its action, then the plan's headroom (each asked of the database once per
        batch, then spent down in memory), then ``check_spend`` (budgets on the spender's path,
        debt) for what they leave short."""
        ledger = self._ledger
        unit = item.unit.name
        charge = item.charge
        spender = None
        occurred_at = None
        try:
            if charge.occurred_at is not None:
                occurred_at = counted_moment(
                    check_time(charge.occurred_at, "occurred_at"), now, ledger.late_usage_window
                )
            if charge.member is not None:
                if customer.kind != "workspace":
                    return InvalidRequest(
                        "workspace", f"{customer.external_id!r} is not a workspace"
                    )
                member = ledger.spender_for_spend(
                    connection, state, customer, charge.member, unit, now, "member"
                )
                if member.kind != "member":
                    return InvalidRequest("member", f"{charge.member!r} is not a member")
                spender = member
            if charge.spender is not None:
                spender = ledger.spender_for_spend(
                    connection, state, customer, charge.spender, unit, now
                )
        except CreditKitError as error:
            return error
        row = ledger.transaction_values(
            item.request,
            customer,
            unit,
            item.steps,
            now,
            action=charge.action,
            metadata=item.request.fields["metadata"],
            member=charge.member,
            spender=None if spender is None else spender.external_id,
            occurred_at=occurred_at,
        )
        pair = (customer.id, unit)
        live = grants[pair]
        spendable = live
        if any(grant.applies_to is not None for grant in live):
            scope = ledger.action_scope(charge.action)
            spendable = [grant for grant in live if applies(grant, scope)]
        available = sum(grant.remaining for grant in spendable)
        headroom: int | None = 0
        if item.steps > available:
            if pair not in headrooms:
                headrooms[pair] = ledger.headroom(connection, customer, unit, now)
            headroom = headrooms[pair]
        shortfall = 0 if headroom is None else max(0, item.steps - available - headroom)

        def refusal(debt_room: int) -> CreditKitError:
            return InsufficientCredits(
                customer.external_id,
                unit,
                item.unit.to_quantity(available + (headroom or 0) + debt_room),
                item.unit.to_quantity(item.steps),
                item.unit.to_quantity(sum(g.remaining for g in live) - available),
            )

        checked = ledger.check_spend(
            connection, state, customer, item.unit, item.steps, now,
            spender=spender, shortfall=shortfall, allow_debt=charge.allow_debt, refusal=refusal,
        )  # fmt: skip
        if isinstance(checked, CreditKitError):
            if isinstance(checked, InvalidRequest):
                return checked
            row["status"] = "refused"
            row["outcome"] = ledger.refusal_outcome(checked)
            return _Planned(item, row, None, checked)
        issued = max(0, item.steps - available - checked.debt)
        if issued and headroom is not None:
            headrooms[pair] = headroom - issued
        draws = take(spendable, item.steps - issued - checked.debt)
        available_after = sum(grant.remaining for grant in live)
        return _Planned(
            item, row, draws, None, issued=issued, available_after=available_after,
            debt=checked.debt, debt_account=checked.debt_account,
        )  # fmt: skip

    def _write_rows(
        self,
        connection: Connection,
        planned: list[_Planned],
        now: datetime,
        outcomes: dict[int, Outcome],
        state: SpendState,
    ) -> None:
        legs_of_rows: list[list[tuple[int, int]] | None] = []
        for plan in planned:
            item = plan.prepared
            if plan.draws is None:
                if plan.refusal is None:
                    raise InvariantViolation("a charge draws or is refused", f"item {item.index}")
                legs_of_rows.append(None)
                continue
            unit = item.unit.name
            legs: list[tuple[int, int]] = []
            if plan.issued:
                legs.append((self._ledger.system_account(ISSUANCE, unit), -plan.issued))
            if plan.debt:
                legs.append((present(plan.debt_account, "a debt's account"), -plan.debt))
            legs.extend((grant.account_id, -part) for grant, part in plan.draws)
            legs.append((self._ledger.system_account(CONSUMPTION, unit), item.steps))
            legs_of_rows.append(legs)
        # The one posting primitive, for the whole batch: each charge's legs are checked, then
        # its row and its entries are written with the others' in as few statements as can be.
        ids = self._ledger.post_new(
            connection, [plan.row for plan in planned], legs_of_rows, state.drain()
        )
        spends: list[Spend] = []
        for plan, transaction_id in zip(planned, ids, strict=True):
            item = plan.prepared
            if plan.draws is None:
                outcomes[item.index] = present(plan.refusal, "a refused charge's refusal")
                continue
            unit = item.unit.name
            spends.append(
                Spend(
                    transaction_id,
                    plan.row["customer_id"],
                    unit,
                    item.steps,
                    item.charge.action,
                    item.charge.member,
                    plan.row["metadata"],
                    now,
                    plan.row["spender"],
                    issued=plan.issued,
                    counted_at=plan.row["occurred_at"],
                )
            )
            outcomes[item.index] = Charge(
                id=transaction_id,
                customer=item.charge.customer,
                unit=unit,
                amount=item.unit.to_quantity(item.steps),
                action=item.charge.action,
                draws=tuple(
                    Draw(grant.account_id, item.unit.to_quantity(part))
                    for grant, part in plan.draws
                ),
                created_at=now,
                metadata=item.request.fields["metadata"],
                member=item.charge.member,
                available_after=item.unit.to_quantity(plan.available_after),
                spender=plan.row["spender"],
                debt=item.unit.to_quantity(plan.debt) if plan.debt else 0,
            )
        self._ledger.record_spends(connection, spends)

    def _tell_spend_hooks(
        self,
        connection: Connection,
        planned: list[_Planned],
        locked: dict[str, CustomerRow],
        grants: dict[tuple[int, str], list[GrantRow]],
        now: datetime,
    ) -> None:
        """Once per customer and unit the batch spent from: available before and after."""
        spent: dict[tuple[str, str], int] = {}
        for plan in planned:
            if plan.draws is not None and plan.draws:
                pair = (plan.prepared.charge.customer, plan.prepared.unit.name)
                spent[pair] = spent.get(pair, 0) + sum(part for _grant, part in plan.draws)
        for (external_id, unit), steps in spent.items():
            customer = locked[external_id]
            after = sum(grant.remaining for grant in grants[(customer.id, unit)])
            self._ledger.spent(connection, customer, unit, after + steps, after, now)

    def _replay(self, item: Prepared, recorded: TransactionRow) -> CreditKitError | None:
        """The outcome of a key recorded before this batch: a conflict, the recorded refusal, or
        None when the charge it recorded is to be rebuilt."""
        conflict = item.request.conflict_with(recorded.request)
        if conflict is not None:
            return conflict
        if recorded.outcome is not None:
            return self._ledger.recorded_refusal(recorded)
        return None

    def _rebuild(
        self,
        connection: Connection,
        prepared: list[Prepared],
        replayed: dict[int, TransactionRow],
        locked: dict[str, CustomerRow],
        grants: dict[tuple[int, str], list[GrantRow]],
    ) -> dict[int, Outcome]:
        """The recorded charges' first outcomes, rebuilt from their rows; what they say is left
        is what is left now (later writes have moved the balance since)."""
        by_index = {item.index: item for item in prepared}
        unit_of = {row.id: by_index[index].unit for index, row in replayed.items()}
        legs: dict[int, list[Draw]] = {}
        for leg in repository.entries_of(connection, list(unit_of)):
            if leg.kind == "grant":
                legs.setdefault(leg.transaction_id, []).append(
                    Draw(leg.account_id, unit_of[leg.transaction_id].to_quantity(-leg.amount))
                )
        rebuilt: dict[int, Outcome] = {}
        for index, row in replayed.items():
            unit = by_index[index].unit
            row_customer = by_index[index].charge.customer
            rebuilt[index] = Charge(
                id=row.id,
                customer=by_index[index].charge.customer,
                unit=row.unit,
                amount=unit.to_quantity(row.amount),
                action=row.action,
                draws=tuple(legs.get(row.id, [])),
                created_at=row.created_at,
                metadata=row.metadata,
                member=row.member,
                spender=row.spender,
                available_after=unit.to_quantity(
                    sum(g.remaining for g in grants[(locked[row_customer].id, row.unit)])
                ),
                replayed=True,
            )
        return rebuilt
