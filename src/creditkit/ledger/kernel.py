"""The ledger's kernel: the hooks other domains register, and the one place entries are posted,
with the checks that must hold right before writing. The values a write is made of (its request,
its legs' bounds) are in ``values``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.engine import Connection

from creditkit.errors import (
    BudgetExceeded,
    CreditKitError,
    InvalidRequest,
    InvariantViolation,
    UnitScaleConflict,
    UnknownUnit,
    require,
)
from creditkit.ledger import repository, spender_repository
from creditkit.ledger.checks import (
    check_text,
)
from creditkit.ledger.schemas import (
    SCALE_MAX,
    Unit,
)
from creditkit.ledger.spender_repository import SpenderRow
from creditkit.ledger.spending import (
    CUSTOMER,
    BudgetLine,
    SpendState,
    path_budgets,
    period_starts,
)
from creditkit.ledger.values import (
    LEG_AMOUNT_MAX,
    LEGS_PER_TRANSACTION_MAX,
    SYSTEM_ACCOUNT_KINDS,
    RateWindow,
    Request,
    SpendCheck,
)
from creditkit.store.database import Database
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork

T = TypeVar("T")

Clock = Callable[[], datetime]

#: Due work of another domain, run inside a customer's sweep under its lock: does what has
#: fallen due at ``now`` and returns when it next falls due (None: never).
DueHook = Callable[[UnitOfWork, CustomerRow], datetime | None]

#: How many steps of a unit the customer's plan lets it spend beyond its grants at ``now``:
#: None for no cap (an unlimited plan), else what overage allows (0: none).
HeadroomCheck = Callable[[UnitOfWork, CustomerRow, str], int | None]

#: The plan's default budgets for spenders of a kind, in a unit: (period, cap in steps) each.
DefaultBudgets = Callable[[UnitOfWork, CustomerRow, str, str], Sequence[tuple[str, int]]]

#: The plan's debt limit in a unit, in steps (0: no debt).
PlanDebtLimit = Callable[[UnitOfWork, CustomerRow, str], int]

#: The names a grant's ``applies_to`` may match for spending on an action: the action and its
#: category.
ActionScope = Callable[[str], frozenset[str]]

#: Told, inside the spending transaction, that a customer's available steps of a unit went from
#: ``before`` to ``after`` (after < before): alerts and auto top-up watch thresholds with it.
SpendHook = Callable[[UnitOfWork, CustomerRow, str, int, int], None]


@dataclass(slots=True)
class Spend:
    """One spending transaction (a charge, or a hold's commit) as its transaction posts it: what
    usage rollups count, in the same transaction, so that a rollup never disagrees with the
    ledger's rows. Not frozen: a batch builds one per charge, and a frozen dataclass's
    constructor costs several times a plain one's; the hooks it is told to only read it."""

    transaction_id: int
    customer_id: int
    unit: str
    steps: int
    action: str | None
    member: str | None
    metadata: Mapping[str, Any]
    created_at: datetime
    spender: str | None = None
    #: Steps issued beyond the grants (its legs on the issuance account, negated: a commit may
    #: give issued steps back), and held steps it expired (its legs on the expiry account).
    issued: int = 0
    expired: int = 0
    #: How many charges it counts as: a reversal gives steps back (``steps`` < 0) and leaves
    #: the count of charges as it was.
    charges: int = 1
    #: The moment its usage counts at, when not ``created_at`` (late usage, a reversal).
    counted_at: datetime | None = None
    #: Counted in ``usage_rollups`` already, by the database function that posted it
    #: (``pg_charge``): the rollups' hook counts only the catalog's dimensions for it.
    rolled_up: bool = False


#: Told, inside the spending transaction, of every charge or commit it posted (usage rollups): its
#: unit of work is at the moment they were posted, and names no customer (they may be many).
SpendRecorder = Callable[[UnitOfWork, Sequence[Spend]], None]


#: Counts ``requests`` metered requests of the customer against its plan's rate limit, in the
#: transaction of the charges they are (so that a request costs one commit); None when the
#: plan sets no limit.
RequestCounter = Callable[[UnitOfWork, CustomerRow, int], RateWindow | None]


@dataclass(frozen=True, slots=True)
class LedgerHooks:
    """What other domains add to the ledger's writes, declared in one place and run in this
    order. Due work, at each instant of a customer's timeline: each ``due`` hook in turn (the
    subscription's renewal first, so that a new period has started when payments look for what
    it owes). After spending, in the spending transaction: each ``spend`` hook in turn (alerts,
    then auto top-up), then each ``recorded`` hook with the charges and commits it posted.
    ``headroom`` is asked only when grants fall short."""

    due: tuple[DueHook, ...] = ()
    spend: tuple[SpendHook, ...] = ()
    #: Each told of every charge and commit posted, in its transaction (usage rollups).
    recorded: tuple[SpendRecorder, ...] = ()
    headroom: HeadroomCheck | None = None
    #: Asked only for charges made with ``rate_limited``.
    count_requests: RequestCounter | None = None
    #: Asked only when a spend names a spender.
    default_budgets: DefaultBudgets | None = None
    #: Asked only when a spend asks for debt, or a customer without a limit of its own owes.
    debt_limit: PlanDebtLimit | None = None
    #: Asked only when a customer holds scoped grants.
    action_scope: ActionScope | None = None


class LedgerKernel:
    """Units, system accounts, the hooks other domains register, and posting."""

    def __init__(self, database: Database, clock: Clock, units: Mapping[str, int]) -> None:
        self.database = database
        self._clock = clock
        self._units: dict[str, Unit] = {}
        self._system_accounts: dict[tuple[str, str], int] = {}
        self._hooks = LedgerHooks()
        self._declare_units(units)

    def connect(self, hooks: LedgerHooks) -> None:
        """Connects the other domains' follow-ups, once, from the one place that composes them
        (``CreditKit``): no service registers itself on the ledger."""
        if self._hooks != LedgerHooks():
            raise InvariantViolation("hooks connected once", "the ledger's hooks were connected")
        self._hooks = hooks

    def spent(
        self,
        connection: Connection,
        customer: CustomerRow,
        unit: str,
        available_before: int,
        available_after: int,
        now: datetime,
    ) -> None:
        """Tells the spend hooks that the customer's available steps of ``unit`` fell, in the
        transaction that made them fall (so what a hook writes commits or rolls back with it)."""
        require(
            available_after < available_before,
            "spending lowers the balance",
            f"{available_before} -> {available_after}",
        )
        for hook in self._hooks.spend:
            hook(
                UnitOfWork(connection, now, {customer.external_id: customer}, replay=False),
                customer,
                unit,
                available_before,
                available_after,
            )

    def has_default_budgets(self) -> bool:
        """Whether some plan sets default budgets for spender kinds (asked on every spend
        that names a spender)."""
        return self._hooks.default_budgets is not None

    def record_spends(self, connection: Connection, spends: Sequence[Spend]) -> None:
        """Tells the ``recorded`` hooks of the charges and commits a transaction posted."""
        if not spends:
            return
        for hook in self._hooks.recorded:
            hook(UnitOfWork(connection, spends[0].created_at, {}, replay=False), spends)

    def count_requests(
        self, connection: Connection, customer: CustomerRow, requests: int, now: datetime
    ) -> RateWindow | None:
        """Counts ``requests`` against the customer's plan rate limit (None: no limit)."""
        if self._hooks.count_requests is None:
            return None
        return self._hooks.count_requests(
            UnitOfWork(connection, now, {customer.external_id: customer}, replay=False),
            customer,
            requests,
        )

    def headroom(
        self, connection: Connection, customer: CustomerRow, unit: str, now: datetime
    ) -> int | None:
        """Steps the customer may spend beyond its grants (None: no cap). What is spent beyond
        them is issued as it is spent (an unlimited plan, or pay-as-you-go overage billed at
        the period's close). Asked only when grants fall short, off the hot path."""
        if self._hooks.headroom is None:
            return 0
        return self._hooks.headroom(
            UnitOfWork(connection, now, {customer.external_id: customer}, replay=False),
            customer,
            unit,
        )

    def now(self) -> datetime:
        now = self._clock()
        if not isinstance(now, datetime) or now.tzinfo is None:
            raise InvalidRequest("clock", "must return a timezone-aware datetime")
        return now.astimezone(UTC)

    def _declare_units(self, declared: Mapping[str, int]) -> None:
        for name, scale in declared.items():
            check_text(name, "unit", 64)
            if isinstance(scale, bool) or not isinstance(scale, int) or not 0 <= scale <= SCALE_MAX:
                raise InvalidRequest(
                    "scale", f"unit {name!r}: must be an int from 0 to {SCALE_MAX}"
                )

        def declare(context: UnitOfWork) -> None:
            now = context.now
            recorded = repository.read_units(context.connection)
            for name, scale in declared.items():
                if name not in recorded:
                    repository.insert_unit(context.connection, name, scale, now)
                elif recorded[name] != scale:
                    raise UnitScaleConflict(name, recorded[name], scale)
            system = repository.read_system_accounts(context.connection)
            for name in {*recorded, *declared}:
                for kind in SYSTEM_ACCOUNT_KINDS:
                    if (kind, name) not in system:
                        repository.insert_system_account(context.connection, kind, name, now)

        self.database.unit_of_work(self.now, declare)
        self._refresh_units()

    def _refresh_units(self) -> None:
        with self.database.read() as connection:
            self._units = {
                name: Unit(name, scale) for name, scale in repository.read_units(connection).items()
            }
            self._system_accounts = repository.read_system_accounts(connection)

    def unit(self, name: object, field_name: str = "unit") -> Unit:
        if not isinstance(name, str):
            raise InvalidRequest(field_name, "must be a unit name")
        unit = self._units.get(name)
        if unit is None:
            # Another process may have declared it since this one started.
            self._refresh_units()
            unit = self._units.get(name)
            if unit is None:
                raise UnknownUnit(name, field_name)
        return unit

    def units(self) -> tuple[Unit, ...]:
        return tuple(self._units.values())

    def system_account(self, kind: str, unit: str) -> int:
        return self._system_accounts[(kind, unit)]

    def transaction_values(
        self,
        request: Request,
        customer: CustomerRow,
        unit: str,
        steps: int,
        now: datetime,
        *,
        status: str = "applied",
        counterparty: CustomerRow | None = None,
        action: str | None = None,
        hold_id: int | None = None,
        metadata: dict[str, Any] | None = None,
        member: str | None = None,
        spender: str | None = None,
        occurred_at: datetime | None = None,
        reverses_id: int | None = None,
    ) -> dict[str, Any]:
        return {
            "idempotency_key": request.key,
            "kind": request.operation.value,
            "status": status,
            "customer_id": customer.id,
            "counterparty_id": None if counterparty is None else counterparty.id,
            "unit": unit,
            "amount": steps,
            "action": action,
            "hold_id": hold_id,
            "member": member,
            "spender": spender,
            "request": request.encode(),
            "outcome": None,
            "metadata": metadata or {},
            "created_at": now,
            "occurred_at": occurred_at,
            "reverses_id": reverses_id,
        }

    def _post(
        self, connection: Connection, transaction_id: int, unit: str, legs: list[tuple[int, int]]
    ) -> None:
        """Writes one transaction's entries (see ``post_many``)."""
        self.post_many(connection, [(transaction_id, unit, legs)])

    def post_many(
        self, connection: Connection, transactions: list[tuple[int, str, list[tuple[int, int]]]]
    ) -> None:
        """Writes the entries of (transaction id, unit, legs), in one statement: the one place
        every movement is posted. Each transaction is checked here right before writing, in
        positive and negative space, and enforced again by the database (PostgreSQL's balance
        trigger, the entries' checks)."""
        rows: list[dict[str, Any]] = []
        for transaction_id, unit, legs in transactions:
            self._check_legs(unit, legs)
            rows.extend(
                {
                    "transaction_id": transaction_id,
                    "account_id": account,
                    "unit": unit,
                    "amount": amount,
                }
                for account, amount in legs
            )
        repository.insert_entries(connection, rows)

    def post_new(
        self,
        connection: Connection,
        rows: list[dict[str, Any]],
        legs_of_rows: list[list[tuple[int, int]] | None],
        budget_usage: list[tuple[int, str, str, str, datetime, int]],
    ) -> list[int]:
        """Inserts new transaction rows with their legs (None: a refusal, which moves nothing)
        and returns the rows' ids: ``post_many`` for transactions not written yet, in fewer
        round trips; and adds the steps they counted against budgets (``SpendState.drain``),
        in the same statement where it can. Each transaction's legs are checked first, as
        ``post_many`` checks them."""
        require(len(rows) == len(legs_of_rows), "a row per posting", f"{len(rows)} rows")
        entries_of_rows: list[list[tuple[int, str, int]]] = []
        for row, legs in zip(rows, legs_of_rows, strict=True):
            if legs is None:
                require(row["status"] == "refused", "only a refusal moves nothing", row["status"])
                entries_of_rows.append([])
                continue
            self._check_legs(row["unit"], legs)
            entries_of_rows.append([(account, row["unit"], amount) for account, amount in legs])
        return repository.insert_transactions_with_entries(
            connection, rows, entries_of_rows, budget_usage
        )

    def _check_legs(self, unit: str, legs: list[tuple[int, int]]) -> None:
        """There are legs, at most ``LEGS_PER_TRANSACTION_MAX``; they sum to zero; none is zero;
        each amount is within the ledger's limit; no account appears twice; the unit is known.
        One pass, and a message built only when a rule breaks: this runs for every charge."""
        if not 0 < len(legs) <= LEGS_PER_TRANSACTION_MAX:
            raise InvariantViolation("legs", f"{len(legs)} legs")
        total = 0
        accounts = set()
        for account, amount in legs:
            if amount == 0:
                raise InvariantViolation("no zero leg", f"legs {legs}")
            if not -LEG_AMOUNT_MAX <= amount <= LEG_AMOUNT_MAX:
                raise InvariantViolation("amount within limits", f"legs {legs}")
            total += amount
            accounts.add(account)
        if total != 0:
            raise InvariantViolation("balanced", f"legs {legs}")
        if len(accounts) != len(legs):
            raise InvariantViolation("one leg per account", f"legs {legs}")
        if unit not in self._units:
            raise InvariantViolation("known unit", unit)

    # -- what governs a spend ---------------------------------------------------------------

    def spender_row(
        self,
        connection: Connection,
        state: SpendState,
        customer: CustomerRow,
        spender: str,
        field_name: str = "spender",
    ) -> SpenderRow:
        """The spender, read once per transaction under the customer's lock; InvalidRequest
        naming ``field_name`` when the customer has none of that id."""
        key = (customer.id, spender)
        row = state.spenders.get(key)
        if row is None:
            row = spender_repository.read_spender(connection, customer.id, spender)
            if row is None:
                raise InvalidRequest(
                    field_name, f"customer {customer.external_id!r} has no spender {spender!r}"
                )
            state.spenders[key] = row
        return row

    def spender_for_spend(
        self,
        connection: Connection,
        state: SpendState,
        customer: CustomerRow,
        spender: str,
        unit: str,
        now: datetime,
        field_name: str = "spender",
    ) -> SpenderRow:
        """``spender_row`` for a spend in ``unit``: read with its path's budgets in one round
        trip, kept for ``check_spend``."""
        key = (customer.id, spender)
        row = state.spenders.get(key)
        if row is not None:
            return row
        row, budgets, kinds = spender_repository.read_spender_with_budgets(
            connection, customer.id, spender, unit, period_starts(now), self.has_default_budgets()
        )
        if row is None:
            raise InvalidRequest(
                field_name, f"customer {customer.external_id!r} has no spender {spender!r}"
            )
        state.spenders[key] = row
        state.prefetched[(customer.id, unit, spender)] = budgets
        for ancestor, kind in kinds.items():
            state.kinds[(customer.id, ancestor)] = kind
        return row

    def action_scope(self, action: str | None) -> frozenset[str]:
        """The names a grant's scope may match for spending on ``action``."""
        if action is None:
            return frozenset()
        if self._hooks.action_scope is None:
            return frozenset((action,))
        return self._hooks.action_scope(action)

    def default_budgets(
        self,
        connection: Connection,
        customer: CustomerRow,
        spender: SpenderRow,
        unit: Unit,
        now: datetime,
    ) -> Sequence[tuple[str, int]]:
        """(period, cap) the customer's plan sets for spenders of this one's kind."""
        if self._hooks.default_budgets is None:
            return ()
        return self._hooks.default_budgets(
            UnitOfWork(connection, now, {customer.external_id: customer}, replay=False),
            customer,
            spender.kind,
            unit.name,
        )

    def path_defaults(
        self,
        connection: Connection,
        state: SpendState,
        customer: CustomerRow,
        spender: SpenderRow,
        unit: Unit,
        now: datetime,
    ) -> dict[str, Sequence[tuple[str, int]]]:
        """By level of the path from ``spender`` up to (not including) the customer, the
        (period, cap) its plan sets for that level's kind: a default budget is a budget on the
        path, so an agent's spend counts against its member's default as against its own.
        Ancestors' kinds come with the spender's read on a spend's hot path; read once
        otherwise; not at all when no plan sets defaults."""
        if self._hooks.default_budgets is None:
            return {}
        kinds = {spender.external_id: spender.kind}
        unknown = [a for a in spender.ancestors if (customer.id, a) not in state.kinds]
        if unknown:
            for ancestor, kind in spender_repository.read_kinds(
                connection, customer.id, unknown
            ).items():
                state.kinds[(customer.id, ancestor)] = kind
        for ancestor in spender.ancestors:
            level_kind = state.kinds.get((customer.id, ancestor))
            if level_kind is None:
                raise InvariantViolation("every level of a path is a spender", repr(ancestor))
            kinds[ancestor] = level_kind
        by_kind: dict[str, Sequence[tuple[str, int]]] = {}
        if self._hooks.default_budgets is not None:
            for kind in set(kinds.values()):
                by_kind[kind] = self._hooks.default_budgets(
                    UnitOfWork(connection, now, {customer.external_id: customer}, replay=False),
                    customer,
                    kind,
                    unit.name,
                )
        return {level: by_kind[kind] for level, kind in kinds.items() if by_kind.get(kind)}

    def debt_position(
        self,
        connection: Connection,
        state: SpendState,
        customer: CustomerRow,
        unit: str,
        now: datetime,
    ) -> list[int | None]:
        """[debt account id or None, steps owed, limit in steps], read once per transaction:
        the customer's own limit, else its plan's, else 0."""
        key = (customer.id, unit)
        position = state.debts.get(key)
        if position is None:
            account = spender_repository.debt_account(connection, customer.id, unit)
            limit = spender_repository.debt_limit(connection, customer.id, unit)
            if limit is None:
                limit = (
                    0
                    if self._hooks.debt_limit is None
                    else self._hooks.debt_limit(
                        UnitOfWork(connection, now, {customer.external_id: customer}, replay=False),
                        customer,
                        unit,
                    )
                )
            position = [
                None if account is None else account[0],
                0 if account is None else -account[1],
                limit,
            ]
            state.debts[key] = position
        return position

    def check_spend(
        self,
        connection: Connection,
        state: SpendState,
        customer: CustomerRow,
        unit: Unit,
        steps: int,
        now: datetime,
        *,
        spender: SpenderRow | None,
        shortfall: int,
        allow_debt: bool,
        refusal: Callable[[int], CreditKitError],
        levels: tuple[str, ...] | None = None,
    ) -> SpendCheck | CreditKitError:
        """The one check of a spend of ``steps`` (a charge, a reserve, a commit's excess, a hold
        extended), made under the customer's lock in the spend's transaction: every budget on
        the path from ``spender`` up to the customer, then what the grants and the plan's
        headroom leave short (``shortfall``), which only debt the caller asked for may cover,
        within the debt limit. ``refusal(debt_room)`` builds the caller's refusal for a
        shortfall. On success the spend is counted against its budgets (in memory: ``flush``
        writes it) and its debt taken from the position. ``levels``: only these levels of the
        path are checked and counted (a child hold's: those no hold above it counts)."""
        path = (CUSTOMER,) if spender is None else spender.path_up
        if levels is not None:
            path = tuple(level for level in path if level in levels)
        lines: list[BudgetLine] = []
        if path and (spender is not None or customer.budgeted):
            defaults: dict[str, Sequence[tuple[str, int]]] = (
                {}
                if spender is None
                else self.path_defaults(connection, state, customer, spender, unit, now)
            )
            prefetched = (
                None
                if spender is None
                else state.prefetched.pop((customer.id, unit.name, spender.external_id), None)
            )
            if levels is not None:
                # The prefetched budgets are the whole path's.
                prefetched = None
            lines = path_budgets(
                connection, state, customer, unit.name, path, defaults, now, prefetched
            )
            for line in lines:
                if steps > line.left:
                    return BudgetExceeded(
                        customer.external_id,
                        line.spender or None,
                        unit.name,
                        line.period,
                        unit.to_quantity(line.cap),
                        unit.to_quantity(line.used),
                        unit.to_quantity(steps),
                        line.resets_at,
                    )
        debt = 0
        if shortfall > 0:
            if not allow_debt:
                return refusal(0)
            position = self.debt_position(connection, state, customer, unit.name, now)
            room = max(0, int(position[2] or 0) - int(position[1] or 0))
            if shortfall > room:
                return refusal(room)
            if position[0] is None:
                position[0] = repository.insert_account(
                    connection, "debt", unit.name, customer.id, now
                )
            position[1] = int(position[1] or 0) + shortfall
            debt = shortfall
        state.count(customer.id, lines, steps)
        return SpendCheck(
            tuple(lines), debt, None if debt == 0 else state.debts[(customer.id, unit.name)][0]
        )
