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

from sqlalchemy.engine import Connection

from creditkit.errors import CreditKitError, RateLimited, UnknownCustomer
from creditkit.ledger import batch_replays, lean, pg_charge, reference_charges, repository
from creditkit.ledger.catch_up import Demand, demand_of
from creditkit.ledger.outcomes import ChargeOutcomes, SegmentedOutcomes
from creditkit.ledger.prepared import ChargeColumns, Prepared
from creditkit.ledger.repository import GrantRow, TransactionRow
from creditkit.ledger.schemas import Charge, ChargeRequest
from creditkit.ledger.spending import SpendState
from creditkit.ledger.values import CatchingUp, Request
from creditkit.ledger.writes import LedgerWrites
from creditkit.store.flavor import flavor_of
from creditkit.store.unit_of_work import CustomerRow

Outcome = Charge | CreditKitError


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
        # By unit name: a ``Unit``'s hash is Python code, a name's is not.
        names = [unit.name for unit in columns.units]
        for external_id, unit_name in dict.fromkeys(zip(customers, names, strict=True)):
            customer = locked.get(external_id)
            if customer is None:
                continue
            pair = (customer.id, unit_name)
            rows = (
                repository.grants_with_credits(connection, *pair)
                if customer.id in swept  # the sweep changed them since they were read
                else grants_read.get(pair, [])
            )
            if customer.id in backlogs:
                rows = backlogs[customer.id].effective(unit_name, rows)
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
        planned: list[reference_charges.Planned] = []
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
            decided = reference_charges.decide_charge(
                self._ledger, connection, item, customer, run.grants, run.headrooms, run.state, now
            )
            if isinstance(decided, CreditKitError):
                outcomes[item.index] = decided  # bad input: not recorded, the key stays free
                continue
            planned.append(decided)
            run.first_use[key] = (item.request, item.index)
        # The budgets the charges counted are written with their rows.
        reference_charges.write_decided(self._ledger, connection, planned, now, outcomes, run.state)
        reference_charges.tell_spend_hooks(
            self._ledger, connection, planned, locked, run.grants, now
        )

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
