"""Charges, one or many, in one database transaction.

``CreditKit.charge`` is a batch of one, so a single charge and ten thousand run the same code.
The batch reads every grant it needs once, runs burn-down in memory, and writes all rows with a
few multi-row statements; that is what lets it reach tens of thousands of charges a second on
SQLite, where a statement per charge would not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
from creditkit.ledger import batch_replays, lean, pg_charge, repository
from creditkit.ledger.catch_up import Demand, demand_of
from creditkit.ledger.checks import (
    check_time,
)
from creditkit.ledger.kernel import (
    CONSUMPTION,
    ISSUANCE,
    CatchingUp,
    Request,
    Spend,
    take,
)
from creditkit.ledger.late_usage import counted_moment
from creditkit.ledger.outcomes import ChargeOutcomes, SegmentedOutcomes
from creditkit.ledger.prepared import ChargeColumns, Prepared
from creditkit.ledger.repository import GrantRow, TransactionRow
from creditkit.ledger.schemas import (
    Charge,
    ChargeRequest,
    Draw,
)
from creditkit.ledger.spending import SpendState, applies
from creditkit.ledger.writes import LedgerWrites
from creditkit.store.flavor import flavor_of
from creditkit.store.unit_of_work import CustomerRow

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


#: The most runs (a lean run, then the reference charges it stopped at) one batch is cut into;
#: past it the reference path decides the rest of the batch at once. Each run costs a few
#: statements, so a batch where nearly every charge stops the lean path costs at most this
#: many runs more than the reference path alone would.
RUNS_MAX = 256


@dataclass(slots=True)
class _Run:
    """What the charges of one batch share while they are decided, run after run, in one
    transaction: the locked customers, their grants in memory as the runs leave them, the
    budgets counted, the keys used, and the outcomes found so far."""

    connection: Connection
    locked: dict[str, CustomerRow]
    grants: dict[tuple[int, str], list[GrantRow]]
    #: Keys recorded before the batch (looked up in replay mode only).
    recorded: dict[str, TransactionRow]
    limited: dict[int, RateLimited]
    now: datetime
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    #: Key -> (its request, the index of the charge that used it first in the batch).
    first_use: dict[str, tuple[Request, int]] = field(default_factory=dict)
    #: Index -> the index of the charge whose outcome it repeats.
    repeats: dict[int, int] = field(default_factory=dict)
    #: Index -> the charge and the row recorded under its key, to rebuild its first outcome.
    replayed: dict[int, tuple[Prepared, TransactionRow]] = field(default_factory=dict)
    headrooms: dict[tuple[int, str], int | None] = field(default_factory=dict)
    state: SpendState = field(default_factory=SpendState)
    lean_runs: list[lean.LazyOutcomes] = field(default_factory=list)


class ChargeBatch:
    """Charges checked for input errors at construction, then run in one transaction: alone
    (``run``), or inside the coalescing writer's shared transaction (``attempt``, several
    callers' batches ``combined`` into one)."""

    def __init__(self, ledger: LedgerWrites, charges: Sequence[ChargeRequest]) -> None:
        self._ledger = ledger
        self._charges = charges
        #: The charges that passed input checks, in columns; those that did not, answered
        #: without touching the database.
        self._columns, self._invalid = ChargeColumns.checked(ledger, charges)
        #: The times ``attempt`` ran (a transaction that did not commit runs it again).
        self._tries = 0

    def __len__(self) -> int:
        return len(self._charges)

    @classmethod
    def combined(cls, ledger: LedgerWrites, batches: Sequence[ChargeBatch]) -> ChargeBatch:
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
        self._tries += 1
        if connection.dialect.name != "postgresql":
            # A batch run again lost its first transaction, most often to a key recorded
            # already: its keys are looked up first this time, so that the lean path answers
            # replays from their records rather than failing on them once more.
            return self._attempt(connection, replay or self._tries > 1)
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
        run = _Run(connection, locked, grants, recorded, limited, now)
        if flavor_of(connection).dialect == "sqlite":
            self._in_runs(run)
        else:
            self._decide(run, columns.prepared())
        return self._finish(run)

    def _in_runs(self, run: _Run) -> None:
        """The batch in runs, in order: the lean path takes every charge it can, up to the first
        it cannot (a short charge, one that is not plain, a key used before in the batch); the
        reference path decides that charge and those right after it that the lean path would
        stop at too; then the lean path goes on. Each run is written before the next is decided,
        and the grants in memory are kept as the runs leave them, so every charge sees the
        balances left by the charges before it, as charging one by one would."""
        ledger, columns, connection = self._ledger, self._columns, run.connection
        passed, stops = self._classify(run)
        repeated_keys = {columns.charges[position].idempotency_key for position in stops}
        count = len(columns)
        position = 0
        for runs in range(1, count + 1):  # each run takes one charge at least
            if position >= count:
                return
            if runs > RUNS_MAX:
                break
            plain = lean.plan(
                ledger, connection, columns, run.locked, run.grants, run.now, run.state,
                position, passed, stops,
            )  # fmt: skip
            if plain is None:
                break  # the lean path declines the rest (no plan without ``stops``)
            if len(plain.columns):
                run.lean_runs.append(
                    lean.write(ledger, connection, flavor_of(connection), plain, run.now)
                )
                lean.settle(plain, run.grants)
                if repeated_keys:
                    taken = plain.columns
                    for at, charge in enumerate(taken.charges):
                        if charge.idempotency_key in repeated_keys:
                            run.first_use[charge.idempotency_key] = (
                                taken.request(at),
                                taken.indexes[at],
                            )
            position = plain.end
            if position >= count:
                return
            stop = position + 1
            while stop < count and (
                stop in passed or stop in stops or not lean.is_plain(columns.charges[stop])
            ):
                stop += 1
            self._decide(
                run, [columns.prepared_at(at) for at in range(position, stop) if at not in passed]
            )
            position = stop
        # Past ``RUNS_MAX`` runs: the rest of the batch at once.
        self._decide(
            run, [columns.prepared_at(at) for at in range(position, count) if at not in passed]
        )

    def _classify(self, run: _Run) -> tuple[set[int], set[int]]:
        """Answers the charges whose outcome needs no decision (an unknown customer, a key
        recorded before the batch, a rate limit), in the reference path's order of rules; the
        positions of those (passed over by every run), and of the charges whose key an earlier
        charge of the batch used (the reference path answers them with its outcome)."""
        columns = self._columns
        charges, indexes = columns.charges, columns.indexes
        passed: set[int] = set()
        stops: set[int] = set()
        keys = {charge.idempotency_key for charge in charges}
        unknown = not run.locked.keys() >= {charge.customer for charge in charges}
        if len(keys) == len(charges) and not (run.recorded or run.limited or unknown):
            return passed, stops  # the common case: every charge is decided
        seen: set[str] = set()
        for position, charge in enumerate(charges):
            index, key = indexes[position], charge.idempotency_key
            if charge.customer not in run.locked:
                run.outcomes[index] = UnknownCustomer(charge.customer)
            elif key in run.recorded:
                item = columns.prepared_at(position)
                outcome = batch_replays.replay_outcome(self._ledger, item, run.recorded[key])
                if outcome is None:
                    run.replayed[index] = (item, run.recorded[key])
                else:
                    run.outcomes[index] = outcome
            elif key in seen:
                stops.add(position)
                continue
            elif index in run.limited:
                run.outcomes[index] = run.limited[index]  # not recorded: the key stays free
            else:
                seen.add(key)
                continue
            passed.add(position)
        return passed, stops

    def _decide(self, run: _Run, items: Sequence[Prepared]) -> None:
        """The reference path for ``items`` (in order), written before it returns."""
        connection, locked, now = run.connection, run.locked, run.now
        outcomes = run.outcomes
        planned: list[_Planned] = []
        for item in items:
            key = item.request.key
            customer = locked.get(item.charge.customer)
            if customer is None:
                # First, as a lone charge answers it: no key is looked up for no customer.
                outcomes[item.index] = UnknownCustomer(item.charge.customer)
                continue
            if key in run.recorded:
                outcome = batch_replays.replay_outcome(self._ledger, item, run.recorded[key])
                if outcome is None:
                    run.replayed[item.index] = (item, run.recorded[key])
                else:
                    outcomes[item.index] = outcome
                continue
            if key in run.first_use:
                # A key used twice in one batch: the second gets the first's outcome, or a
                # conflict when it asks for something else.
                request, first = run.first_use[key]
                conflict = item.request.conflict_with(request.encode())
                if conflict is None:
                    run.repeats[item.index] = first
                else:
                    outcomes[item.index] = conflict
                continue
            if item.index in run.limited:
                outcomes[item.index] = run.limited[item.index]  # not recorded: the key stays free
                continue
            decided = self._decide_one(
                connection, item, customer, run.grants, run.headrooms, run.state, now
            )
            if isinstance(decided, CreditKitError):
                outcomes[item.index] = decided  # bad input: not recorded, the key stays free
                continue
            planned.append(decided)
            run.first_use[key] = (item.request, item.index)
        # The budgets the charges counted are written with their rows.
        self._write_rows(connection, planned, now, outcomes, run.state)
        self._tell_spend_hooks(connection, planned, locked, run.grants, now)

    def _finish(self, run: _Run) -> Mapping[int, Outcome]:
        """Every charge's outcome: the lean runs' (lazy) and the rest; a key used again in the
        batch answered with its first use's outcome, a replay rebuilt from its record."""
        if not run.outcomes and not run.repeats and not run.replayed and len(run.lean_runs) == 1:
            return run.lean_runs[0]  # the common case: one lean run took the whole batch
        outcomes: Mapping[int, Outcome] = (
            SegmentedOutcomes(run.lean_runs, run.outcomes) if run.lean_runs else run.outcomes
        )
        for index, first in run.repeats.items():
            run.outcomes[index] = outcomes[first]
        if run.replayed:
            run.outcomes.update(
                batch_replays.rebuild(run.connection, run.replayed, run.locked, run.grants)
            )
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

    def _decide_one(
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
