"""Spenders, budgets and debt limits: the writes that shape what a spend may do (the checks
themselves are ``LedgerKernel.check_spend``, under the customer's lock in each spend)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Connection

from creditkit.errors import IdempotencyConflict, InvalidRequest, present
from creditkit.ledger import repository, spender_repository
from creditkit.ledger.checks import IDEMPOTENCY_KEY_LENGTH_MAX, check_text, check_time_zone
from creditkit.ledger.grants import customer_of
from creditkit.ledger.kernel import T
from creditkit.ledger.ports import LedgerReads, Postings, SpendRules
from creditkit.ledger.schemas import (
    Budget,
    Customer,
    DebtLimit,
    Spender,
    TransactionKind,
    Unit,
)
from creditkit.ledger.spender_repository import SpenderRow
from creditkit.ledger.spending import (
    CUSTOMER,
    PERIODS,
    SPENDER_DEPTH_MAX,
    SpendState,
    check_period,
    check_spender,
    path_budgets,
)
from creditkit.ledger.values import Request
from creditkit.store.database import Database
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork

#: A kind names what a spender is to the host app (member, api_key, agent, project).
SPENDER_KIND_LENGTH_MAX = 32
#: Spenders one listing returns, and budgets one read returns.
SPENDERS_PAGE_SIZE_MAX = 1_000


class Spenders:
    """Spenders, budgets, debt limits and a customer's time zone."""

    def __init__(
        self, database: Database, reads: LedgerReads, postings: Postings, rules: SpendRules
    ) -> None:
        self._database = database
        self._reads = reads
        self._postings = postings
        self._rules = rules

    def create_spender(
        self, customer: str, spender: str, *, kind: str, parent: str | None = None
    ) -> Spender:
        """Creates the spender under ``parent`` (None: right under the customer), or returns it
        when it exists as asked: the spender's id is its own idempotency key, and a different
        kind or parent is a conflict naming the field."""
        check_spender(spender)
        check_text(kind, "kind", SPENDER_KIND_LENGTH_MAX)
        if parent is not None:
            check_spender(parent, "parent")
            if parent == spender:
                raise InvalidRequest("parent", "a spender cannot be its own parent")

        def work(context: UnitOfWork) -> Spender:
            holder = context.customers[customer]
            row = spender_repository.read_spender(context.connection, holder.id, spender)
            if row is None:
                above = None
                if parent is not None:
                    above = spender_repository.read_spender(context.connection, holder.id, parent)
                    if above is None:
                        raise InvalidRequest(
                            "parent", f"customer {customer!r} has no spender {parent!r}"
                        )
                    if above.depth >= SPENDER_DEPTH_MAX:
                        raise InvalidRequest(
                            "parent", f"spenders nest at most {SPENDER_DEPTH_MAX} deep"
                        )
                spender_repository.insert_spender(
                    context.connection, holder.id, spender, kind, above, context.now
                )
                row = present_spender(context.connection, holder.id, spender)
            elif row.kind != kind:
                raise IdempotencyConflict(spender, "kind", row.kind, kind)
            elif row.parent != parent:
                raise IdempotencyConflict(spender, "parent", row.parent, parent)
            return _spender_value(customer, row)

        spender_value: Spender = self._postings.locked_write([customer], work)
        return spender_value

    def spenders(self, customer: str, limit: int = SPENDERS_PAGE_SIZE_MAX) -> tuple[Spender, ...]:
        """The customer's spenders, oldest first, at most ``limit``."""
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise InvalidRequest("limit", "must be an int")
        if not 1 <= limit <= SPENDERS_PAGE_SIZE_MAX:
            raise InvalidRequest("limit", f"must be from 1 to {SPENDERS_PAGE_SIZE_MAX}")
        with self._database.read() as connection:
            holder = repository.read_customer(connection, customer)
            rows = spender_repository.list_spenders(connection, holder.id, limit)
        return tuple(_spender_value(customer, row) for row in rows)

    def set_budget(
        self,
        customer: str,
        amount: object,
        *,
        spender: str | None,
        unit: str,
        period: str,
        idempotency_key: str,
    ) -> Budget | None:
        """Caps what ``spender`` (None: the customer itself) may spend of ``unit`` per
        ``period``; ``amount`` None removes the budget (and returns None). Checked, as every
        budget on a spend's path, in the spend's transaction under the customer's lock."""
        unit_ = self._reads.unit(unit)
        period_ = check_period(period)
        if spender is not None:
            check_spender(spender)
        steps = None if amount is None else (0 if amount == 0 else unit_.to_steps(amount))
        request = Request(
            idempotency_key,
            TransactionKind.BUDGET,
            {
                "customer": customer,
                "spender": spender,
                "unit": unit,
                "period": period_,
                "amount": steps,
            },
        )

        def apply(context: UnitOfWork, holder: CustomerRow) -> None:
            if spender is not None:
                self._rules.spender_row(context.connection, SpendState(), holder, spender)
            else:
                spender_repository.mark_budgeted(context.connection, holder.id)
            spender_repository.set_budget(
                context.connection,
                holder.id,
                spender or CUSTOMER,
                unit,
                period_,
                steps,
                context.now,
            )

        def answer(context: UnitOfWork, holder: CustomerRow) -> Budget | None:
            found = self._budgets_of(context.connection, holder, unit_, spender, context.now)
            return next((budget for budget in found if budget.period == period_), None)

        budget: Budget | None = self._set(request, customer, apply, answer)
        return budget

    def budgets(
        self, customer: str, spender: str | None = None, unit: str | None = None
    ) -> tuple[Budget, ...]:
        """The budgets of ``spender`` (None: the customer's own) in ``unit``, the plan's
        defaults for its kind included, with what each has used in its current period."""
        unit_ = self._reads.unit(unit or "credits")
        if spender is not None:
            check_spender(spender)
        # Holds past their timeout give back what they counted before the read.
        self._reads.sweep_if_due(customer)
        now = self._reads.now()
        with self._database.read() as connection:
            holder = repository.read_customer(connection, customer)
            return self._budgets_of(connection, holder, unit_, spender, now)

    def _budgets_of(
        self,
        connection: Connection,
        holder: CustomerRow,
        unit: Unit,
        spender: str | None,
        now: datetime,
    ) -> tuple[Budget, ...]:
        state = SpendState()
        defaults = {}
        if spender is not None:
            row = self._rules.spender_row(connection, state, holder, spender)
            defaults[spender] = self._rules.default_budgets(connection, holder, row, unit, now)
        lines = path_budgets(
            connection, state, holder, unit.name, (spender or CUSTOMER,), defaults, now
        )
        return tuple(
            Budget(
                holder.external_id,
                spender,
                unit.name,
                line.period,
                unit.to_quantity(line.cap),
                unit.to_quantity(line.used),
                line.resets_at,
            )
            for line in sorted(lines, key=lambda line: PERIODS.index(line.period))
        )

    def set_debt_limit(
        self, customer: str, amount: object, *, unit: str, idempotency_key: str
    ) -> DebtLimit:
        """How far below zero the customer may go in ``unit`` when a spend asks for debt
        (``allow_debt``); overrides the plan's ``debt_limit``. Lowering it below what is owed
        takes nothing back: it only refuses new debt."""
        unit_ = self._reads.unit(unit)
        steps = 0 if amount == 0 else unit_.to_steps(amount)
        request = Request(
            idempotency_key,
            TransactionKind.DEBT_LIMIT,
            {"customer": customer, "unit": unit, "amount": steps},
        )

        def apply(context: UnitOfWork, holder: CustomerRow) -> None:
            spender_repository.set_debt_limit(
                context.connection, holder.id, unit, steps, context.now
            )

        def answer(context: UnitOfWork, holder: CustomerRow) -> DebtLimit:
            position = self._rules.debt_position(
                context.connection, SpendState(), holder, unit, context.now
            )
            return DebtLimit(
                customer,
                unit,
                unit_.to_quantity(int(position[2] or 0)),
                unit_.to_quantity(int(position[1] or 0)),
            )

        limit: DebtLimit = self._set(request, customer, apply, answer)
        return limit

    def set_time_zone(
        self, customer: str, time_zone: str | None, *, idempotency_key: str
    ) -> Customer:
        """States the customer's IANA time zone (None clears it). Its calendar-anchored
        allowance and counter periods follow it from the end of the period in force (see
        ``SubscriptionService.renew_due``); the write sweeps the customer first, so periods
        already due end in the zone they started in."""
        zone = check_time_zone(time_zone)
        request = Request(
            idempotency_key, TransactionKind.TIME_ZONE, {"customer": customer, "time_zone": zone}
        )

        def apply(context: UnitOfWork, holder: CustomerRow) -> None:
            repository.update_customer_time_zone(context.connection, holder.id, zone)

        def answer(context: UnitOfWork, _holder: CustomerRow) -> Customer:
            row = present(
                repository.read_customer_full(context.connection, customer), "a locked customer"
            )
            return customer_of(row)

        return self._set(request, customer, apply, answer)

    def _set(
        self,
        request: Request,
        customer: str,
        apply: Callable[[UnitOfWork, CustomerRow], None],
        answer: Callable[[UnitOfWork, CustomerRow], T],
    ) -> T:
        """A setting written once per idempotency key, under the customer's lock: the same key
        and request answers what is set now; a different request is a conflict."""
        check_text(request.key, "idempotency_key", IDEMPOTENCY_KEY_LENGTH_MAX)

        def work(context: UnitOfWork) -> T:
            holder = context.customers[customer]
            recorded = spender_repository.recorded_setting(context.connection, request.key)
            if recorded is not None:
                conflict = request.conflict_with(recorded)
                if conflict is not None:
                    raise conflict
            else:
                apply(context, holder)
                spender_repository.record_setting(
                    context.connection, request.key, holder.id, request.encode(), context.now
                )
            return answer(context, holder)

        return self._postings.locked_write([customer], work)


def present_spender(connection: Connection, customer_id: int, spender: str) -> SpenderRow:
    row = spender_repository.read_spender(connection, customer_id, spender)
    if row is None:
        raise InvalidRequest("spender", f"no spender {spender!r}")
    return row


def _spender_value(customer: str, row: SpenderRow) -> Spender:
    return Spender(customer, row.external_id, row.kind, row.parent, row.depth, row.created_at)
