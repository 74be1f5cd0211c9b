"""Subscriptions: customers on plan versions, their periods, renewals, and plan changes.

``SubscriptionService`` is what the kit and payments call; it hands each call to the part that
owns it: plan versions (``plan_versions``), plan changes a customer asks for (``changes``), those a
payment provider reports (``provider_changes``), renewals and period resets (``renewals``), the
start of each period (``period_starts``), overage (``overage``), and the rows and events every
write ends with (``records``). It answers the reads itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.engine import Connection

from creditkit.catalog import Catalog, Interval, Plan
from creditkit.clock import Clock
from creditkit.errors import InvalidRequest, UnknownCustomer, present
from creditkit.ledger import repository as ledger_repository
from creditkit.ledger.kernel import Spend
from creditkit.ledger.schemas import Money
from creditkit.ledger.service import LedgerService
from creditkit.store.database import Database
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork
from creditkit.subscriptions import repository
from creditkit.subscriptions.changes import PlanChanges
from creditkit.subscriptions.collection import PAY_WITH_MONEY, Collector
from creditkit.subscriptions.overage import Overage
from creditkit.subscriptions.period_starts import PeriodStarts
from creditkit.subscriptions.plan_versions import PlanVersions
from creditkit.subscriptions.provider_changes import ProviderChanges
from creditkit.subscriptions.records import SubscriptionRecords
from creditkit.subscriptions.renewals import Renewals
from creditkit.subscriptions.schemas import (
    BillingLine,
    BillingLineKind,
    PaidPeriod,
    Subscription,
    SubscriptionStatus,
)
from creditkit.subscriptions.state import SubscriptionState, allowance_of

BILLING_LINES_PAGE_MAX = 500


class SubscriptionService:
    """``collector`` collects the price of each billing period a renewal starts (payments'; see
    ``Collector``); without one, renewals bill their lines for the app to collect."""

    def __init__(
        self,
        ledger: LedgerService,
        database: Database,
        clock: Clock,
        catalog: Catalog,
        collector: Collector | None = None,
    ) -> None:
        self._ledger = ledger
        self._database = database
        self._catalog = catalog
        self._plans = PlanVersions(database, clock, catalog)
        self._records = SubscriptionRecords(self._plans, catalog)
        self._starts = PeriodStarts(ledger, self._plans, self._records)
        self._overage = Overage(ledger, catalog, self._plans, self._records)
        self._changes = PlanChanges(
            ledger, catalog, self._plans, self._records, self._starts, self._overage
        )
        self._provider = ProviderChanges(
            database, self._plans, self._records, self._starts, self._overage, self._changes
        )
        self._renewals = Renewals(
            ledger, self._plans, self._records, self._starts, self._overage, collector
        )

    def subscribe(
        self,
        customer: str,
        plan_id: str,
        interval: str = "month",
        trial_days: int = 0,
        pay_with: str = PAY_WITH_MONEY,
    ) -> Subscription:
        return self._changes.subscribe(customer, plan_id, interval, trial_days, pay_with)

    def change_plan(
        self,
        customer: str,
        plan_id: str,
        interval: str | None = None,
        allowance_on_upgrade: str = "difference",
    ) -> Subscription:
        return self._changes.change_plan(customer, plan_id, interval, allowance_on_upgrade)

    def cancel(self, customer: str, at_period_end: bool = True) -> Subscription:
        return self._changes.cancel(customer, at_period_end)

    def cancel_locked(
        self, connection: Connection, holder: CustomerRow, at_period_end: bool, now: datetime
    ) -> Subscription:
        return self._changes.cancel_locked(connection, holder, at_period_end, now)

    def start_paid(
        self,
        connection: Connection,
        holder: CustomerRow,
        plan_id: str,
        interval: str,
        now: datetime,
        period_start: datetime | None = None,
    ) -> Subscription:
        return self._provider.start_paid(connection, holder, plan_id, interval, now, period_start)

    def set_status(
        self, connection: Connection, holder: CustomerRow, status: SubscriptionStatus, now: datetime
    ) -> bool:
        return self._provider.set_status(connection, holder, status, now)

    def fall_back(self, connection: Connection, holder: CustomerRow, now: datetime) -> bool:
        return self._provider.fall_back(connection, holder, now)

    def planned_change(
        self, customer: str, plan_id: str, interval: str | None
    ) -> tuple[str, Interval, str] | None:
        return self._provider.planned_change(customer, plan_id, interval)

    def follow_provider(
        self,
        connection: Connection,
        holder: CustomerRow,
        in_force: tuple[int, Interval] | None,
        period: tuple[datetime, datetime],
        cancel_at_period_end: bool,
        scheduled: tuple[int, Interval] | None,
        now: datetime,
    ) -> bool:
        return self._provider.follow_provider(
            connection, holder, in_force, period, cancel_at_period_end, scheduled, now
        )

    def renew_due(self, context: UnitOfWork, holder: CustomerRow) -> datetime | None:
        return self._renewals.renew_due(context, holder)

    def renew_collected(
        self,
        connection: Connection,
        holder: CustomerRow,
        period: tuple[datetime, datetime] | None,
        now: datetime,
    ) -> bool:
        return self._renewals.renew_collected(connection, holder, period, now)

    def reset_period(self, customer: str, reason: str, idempotency_key: str) -> Subscription:
        return self._renewals.reset_period(customer, reason, idempotency_key)

    def paid_period(self, connection: Connection, holder: CustomerRow) -> PaidPeriod | None:
        return self._renewals.paid_period(connection, holder)

    def headroom(self, context: UnitOfWork, holder: CustomerRow, unit: str) -> int | None:
        return self._overage.headroom(context, holder, unit)

    def view(self, connection: Connection, holder: CustomerRow) -> Subscription:
        row = present(
            repository.read_subscription(connection, holder.id), "a viewed subscription exists"
        )
        return self._records.view(connection, holder.external_id, SubscriptionState.from_row(row))

    def on_default_plan(self, connection: Connection, holder: CustomerRow) -> bool:
        row = repository.read_subscription(connection, holder.id)
        default_version_id = self._plans.default_version_id()
        return row is not None and row.plan_version_id == default_version_id

    def plan_version_id(self, connection: Connection, plan_id: str, version: int) -> int | None:
        return self._plans.plan_version_id(connection, plan_id, version)

    def plan_at_version(self, connection: Connection, plan_version_id: int) -> Plan:
        """The plan's terms as sold at that version (what its subscribers pay and get)."""
        return self._plans.plan(connection, plan_version_id)[0]

    def debt_limit(self, context: UnitOfWork, holder: CustomerRow, unit: str) -> int:
        """The ledger's debt-limit hook: the plan's ``debt_limit``, in its credit unit."""
        connection = context.connection
        plan = self._plans.plan_now(connection, holder)
        if not plan.debt_limit or plan.credit_unit != unit:
            return 0
        return self._ledger.unit(unit).to_steps(plan.debt_limit)

    def default_budgets(
        self, context: UnitOfWork, holder: CustomerRow, kind: str, unit: str
    ) -> tuple[tuple[str, int], ...]:
        """The ledger's default-budgets hook: the plan's budgets for spenders of ``kind``."""
        connection = context.connection
        plan = self._plans.plan_now(connection, holder)
        if kind not in plan.spender_budgets or plan.credit_unit != unit:
            return ()
        unit_ = self._ledger.unit(unit)
        return tuple(
            (period, 0 if amount == 0 else unit_.to_steps(amount))
            for period, amount in plan.spender_budgets[kind]
        )

    def recorded(self, context: UnitOfWork, spends: Sequence[Spend]) -> None:
        """The ledger's ``recorded`` hook: overage corrections for periods already billed."""
        self._overage.recorded(context, spends)

    def alert_period(
        self, connection: Connection, holder: CustomerRow, moment: datetime
    ) -> tuple[str, datetime, datetime] | None:
        """The plan in force (its id) and the period that alerts fire once in: the allowance
        period containing ``moment``, or the billing period for a plan without an allowance.
        None for a customer without a subscription."""
        row = repository.read_subscription(connection, holder.id)
        if row is None:
            return None
        state = SubscriptionState.from_row(row)
        plan, _version = self._plans.plan(connection, state.plan_version_id)
        allowance = allowance_of(plan)
        if allowance is None:
            start, end = state.billing_bounds()
        else:
            start, end = state.allowance_bounds_at(allowance, moment)
        return plan.id, start, end

    def subscription(self, customer: str) -> Subscription | None:
        self._ledger.sweep_if_due(customer)
        with self._database.read() as connection:
            holder = ledger_repository.find_customer(connection, customer)
            if holder is None:
                raise UnknownCustomer(customer)
            row = repository.read_subscription(connection, holder.id)
            if row is None:
                return None
            return self._records.view(connection, customer, SubscriptionState.from_row(row))

    def plan_of(self, customer: str) -> Plan:
        """The plan whose terms apply to the customer now: its subscription's version, or the
        catalog's default plan."""
        self._ledger.sweep_if_due(customer)
        with self._database.read() as connection:
            holder = ledger_repository.read_customer(connection, customer)
            row = repository.read_subscription(connection, holder.id)
            if row is None:
                return self._catalog.default_plan
            return self._plans.plan(connection, row.plan_version_id)[0]

    def billing_lines(self, customer: str, limit: int = 50) -> tuple[BillingLine, ...]:
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise InvalidRequest("limit", "must be an int")
        if not 1 <= limit <= BILLING_LINES_PAGE_MAX:
            raise InvalidRequest("limit", f"must be from 1 to {BILLING_LINES_PAGE_MAX}")
        self._ledger.sweep_if_due(customer)
        with self._database.read() as connection:
            holder = ledger_repository.read_customer(connection, customer)
            rows = repository.billing_lines_of(connection, holder.id, limit)
        return tuple(
            BillingLine(
                id=row.id,
                customer=customer,
                kind=BillingLineKind(row.kind),
                description=row.description,
                amount=Money(row.amount_minor, row.currency),
                period_start=row.period_start,
                period_end=row.period_end,
                created_at=row.created_at,
            )
            for row in rows
        )
