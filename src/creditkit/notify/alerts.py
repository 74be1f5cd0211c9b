"""Alerts: warnings that a customer's credits run low, and notices of grants about to expire.

Low-balance alerts fire from the ledger's spend hook, inside the transaction that spent (a charge
batch, a reserve, a transfer); percent-used alerts from its recorded hook, after the charges and
commits a transaction posted, by the share of the allowance used that the dashboard's meter shows
(``creditkit.usage.allowance``). Either way an alert's event commits exactly when the spending
does. Each alert
fires at most once per customer, unit and period: its firing is a row under a unique key, and
the event is written only when that row is new, so a replay or a concurrent writer cannot fire
it twice.

The hot path: most spending crosses no threshold. The plan's thresholds are in memory (the
catalog); a customer's own thresholds are looked up only for customers known to have some (a set
of ids refreshed every few seconds). So a customer without alerts costs no query, and one with
alerts costs queries only when a threshold is crossed; a plan with percent-used alerts costs one
read of the customer's grants per spending transaction. A charge's answer (``crossed``) asks the
same set, by external id: without plan thresholds in the unit, a customer without thresholds of
its own is answered without a query.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.amounts import wire_amount
from creditkit.catalog import Allowance, Catalog, Plan
from creditkit.clock import Clock
from creditkit.errors import InvalidRequest, InvariantViolation, Quantity, UnknownCustomer
from creditkit.ledger import repository as ledger_repository
from creditkit.ledger.kernel import Spend
from creditkit.ledger.service import LedgerService
from creditkit.notify import repository
from creditkit.notify.schemas import Alerts, AlertSource
from creditkit.outbox.types import EventType
from creditkit.outbox.writer import emit, new_event_id
from creditkit.store.configured import ConfiguredCustomers
from creditkit.store.database import Database
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork
from creditkit.subscriptions.service import SubscriptionService
from creditkit.usage.allowance import PERCENT_MAX, allowance_left, allowance_spent, reached

#: How long a process trusts its set of customers with thresholds of their own before reading it
#: again: thresholds set through another process apply within this, through this one at once.
CUSTOMER_ALERTS_REFRESH_SECONDS = 10
#: Customers with thresholds of their own kept in memory; beyond it every spend looks them up.
CUSTOMER_ALERTS_CACHED_MAX = 100_000
#: grant.expiring is announced this long before the grant expires.
GRANT_EXPIRING_NOTICE_DAYS = 3
#: Grants announced per transaction of the worker's scan.
GRANT_EXPIRING_BATCH_MAX = 500


@dataclass(frozen=True, slots=True)
class _Threshold:
    """An alert: a low-balance one fires when the available steps fall from above ``level`` to
    ``level`` or below (a percent-used one when the allowance used reaches its share, ``level``
    unused). ``key`` names it in its firing row."""

    key: str
    level: int
    event: EventType
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _PercentCheck:
    """A customer's spending in a unit with percent-used thresholds in force: its ``steps`` in
    the transaction, the alert period, the allowance (steps), the thresholds and their source."""

    customer: CustomerRow
    unit: str
    steps: int
    period: tuple[datetime, datetime]
    allowance: int
    chosen: tuple[int, ...]
    source: str


def _percent_key(percent: int) -> str:
    """A percent-used alert's key in its firing row."""
    return f"{repository.PERCENT_USED_KEY}{percent}"


def _calendar_month(moment: datetime) -> tuple[datetime, datetime]:
    start = moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


class AlertService:
    def __init__(
        self,
        ledger: LedgerService,
        database: Database,
        clock: Clock,
        catalog: Catalog | None,
        subscriptions: SubscriptionService | None,
    ) -> None:
        self._ledger = ledger
        self._database = database
        self._now = clock
        self._catalog = catalog
        self._subscriptions = subscriptions
        self._plan_levels = self._levels_of_plans()
        self._plan_percent_units = self._percent_units_of_plans()
        self._own = ConfiguredCustomers(
            repository.customers_with_alerts,
            refresh_seconds=CUSTOMER_ALERTS_REFRESH_SECONDS,
            cached_max=CUSTOMER_ALERTS_CACHED_MAX,
        )
        # The same set by external id: a charge's answer (``crossed``) names its customer so,
        # and would otherwise need a read of its own on every charge to learn it has none.
        self._own_external = ConfiguredCustomers(
            repository.external_ids_with_alerts,
            refresh_seconds=CUSTOMER_ALERTS_REFRESH_SECONDS,
            cached_max=CUSTOMER_ALERTS_CACHED_MAX,
        )
        self._units_with_plan_alerts = frozenset(
            plan.alerts.unit
            for plan in (catalog.plans.values() if catalog is not None else ())
            if plan.alerts is not None
        )

    # -- thresholds -------------------------------------------------------------------------------

    def _levels_of_plans(self) -> dict[str, tuple[int, ...]]:
        """Every plan's low-balance levels by unit, sorted: if a spend crosses none of them, no
        plan ``credits.low`` can fire, whatever the customer's plan."""
        levels: dict[str, set[int]] = {}
        if self._catalog is not None:
            for plan in self._catalog.plans.values():
                if plan.alerts is not None and plan.alerts.credits_left is not None:
                    unit = self._ledger.unit(plan.alerts.unit)
                    levels.setdefault(plan.alerts.unit, set()).add(
                        unit.to_steps(plan.alerts.credits_left)
                    )
        return {unit: tuple(sorted(found)) for unit, found in levels.items()}

    def _percent_units_of_plans(self) -> frozenset[str]:
        """The units some plan has percent-used alerts in: spending of another unit fires none
        but a customer's own."""
        if self._catalog is None:
            return frozenset()
        return frozenset(
            plan.alerts.unit
            for plan in self._catalog.plans.values()
            if plan.alerts is not None and plan.alerts.percent_used
        )

    def _low_threshold(self, unit_name: str, credits_left: int, source: str) -> _Threshold:
        unit = self._ledger.unit(unit_name)
        return _Threshold(
            f"credits_left:{credits_left}",
            credits_left,
            EventType.CREDITS_LOW,
            {"credits_left": wire_amount(unit.to_quantity(credits_left)), "source": source},
        )

    # -- the spend hook ---------------------------------------------------------------------------

    def spent(
        self, context: UnitOfWork, customer: CustomerRow, unit: str, before: int, after: int
    ) -> None:
        connection, now = context.connection, context.now
        own = None
        if self._own.may_include(connection, customer.id, now):
            own = repository.customer_alert_row(connection, customer.id, unit)
        if after > 0 and not self._crosses(self._plan_levels.get(unit, ()), before, after):
            if own is None or own.credits_left is None:
                return
            if not self._crosses((own.credits_left,), before, after):
                return
        self._fire(connection, customer, unit, before, after, now, own)

    @staticmethod
    def _crosses(levels: tuple[int, ...], before: int, after: int) -> bool:
        """Whether a level lies in [after, before): the spend went from above it to it or below."""
        index = bisect.bisect_left(levels, after)
        return index < len(levels) and levels[index] < before

    def _fire(
        self,
        connection: Connection,
        customer: CustomerRow,
        unit_name: str,
        before: int,
        after: int,
        now: datetime,
        own: Any | None,
    ) -> None:
        plan_id, period_start, period_end = self._period(connection, customer, now)
        thresholds = [_Threshold("depleted", 0, EventType.CREDITS_DEPLETED, {})]
        low = self._low_in_force(unit_name, plan_id, own)
        if low is not None:
            thresholds.append(low)
        # Highest level first: the order in which a falling balance crosses them.
        for threshold in sorted(thresholds, key=lambda threshold: -threshold.level):
            if after <= threshold.level < before:
                self._emit_once(
                    connection,
                    customer,
                    unit_name,
                    threshold,
                    after,
                    (period_start, period_end),
                    now,
                )

    def _emit_once(
        self,
        connection: Connection,
        customer: CustomerRow,
        unit_name: str,
        threshold: _Threshold,
        available: int,
        period: tuple[datetime, datetime],
        now: datetime,
    ) -> None:
        """The threshold's event, unless it fired already this period (its firing row is
        unique)."""
        event_id = new_event_id()
        fired = repository.insert_firing(
            connection,
            {
                "customer_id": customer.id,
                "unit": unit_name,
                "alert": threshold.key,
                "period_start": period[0],
                "event_id": event_id,
                "created_at": now,
            },
        )
        if fired:
            data = {
                "unit": unit_name,
                "available": wire_amount(self._ledger.unit(unit_name).to_quantity(available)),
                **threshold.data,
                "period_start": period[0].isoformat(),
                "period_end": period[1].isoformat(),
            }
            emit(connection, threshold.event, customer.id, data, now, event_id=event_id)

    # -- the recorded hook: percent used ----------------------------------------------------------

    def recorded(self, context: UnitOfWork, spends: Sequence[Spend]) -> None:
        """Percent-used alerts, after the charges and commits a transaction posted: the share of
        the allowance used is ``creditkit.usage.allowance``'s, as the dashboard's meter shows it.
        A threshold is looked at only when this spending may have reached it and it is not
        recorded in the period yet: one read of the firings per transaction tells, so a customer
        past its thresholds costs neither a read of its grants nor an insert per batch."""
        connection, now = context.connection, context.now
        steps_by_pair: dict[tuple[int, str], int] = {}
        for spend in spends:
            if spend.steps <= 0:
                continue  # a reversal gives credits back: no threshold is reached by it
            pair = (spend.customer_id, spend.unit)
            steps_by_pair[pair] = steps_by_pair.get(pair, 0) + spend.steps
        checks = self._percent_checks(context, steps_by_pair)
        if not checks:
            return
        recorded = repository.percent_firings(
            connection, [(check.customer.id, check.unit, check.period[0]) for check in checks]
        )
        for check in checks:
            pending = tuple(
                percent
                for percent in check.chosen
                if (check.customer.id, check.unit, _percent_key(percent), check.period[0])
                not in recorded
            )
            if pending:
                self._fire_percents(connection, check, pending, now)

    def _percent_checks(
        self, context: UnitOfWork, steps_by_pair: dict[tuple[int, str], int]
    ) -> list[_PercentCheck]:
        """The (customer, unit) pairs spent in with percent-used thresholds in force, each with
        its period and thresholds. The customers are read in one statement for the batch."""
        connection, now = context.connection, context.now
        wanted: list[tuple[int, str, int, Any | None]] = []
        for (customer_id, unit_name), steps in steps_by_pair.items():
            own = None
            if self._own.may_include(connection, customer_id, now):
                own = repository.customer_alert_row(connection, customer_id, unit_name)
            if unit_name in self._plan_percent_units or (own is not None and own.percent_used):
                wanted.append((customer_id, unit_name, steps, own))
        if not wanted:
            return []
        by_id = ledger_repository.customers_by_id(connection, [found[0] for found in wanted])
        checks: list[_PercentCheck] = []
        for customer_id, unit_name, steps, own in wanted:
            customer = by_id.get(customer_id)
            if customer is None:
                raise InvariantViolation("a spend's customer has a row", f"id {customer_id}")
            plan_id, period_start, period_end = self._period(connection, customer, now)
            percents = self._percents_in_force(unit_name, plan_id, own)
            if percents is not None:
                allowance, chosen, source = percents
                period = (period_start, period_end)
                checks.append(
                    _PercentCheck(customer, unit_name, steps, period, allowance, chosen, source)
                )
        return checks

    def _fire_percents(
        self, connection: Connection, check: _PercentCheck, pending: tuple[int, ...], now: datetime
    ) -> None:
        """The ``pending`` thresholds (not recorded in the period) this spending reached."""
        rows = ledger_repository.grants_with_credits(connection, check.customer.id, check.unit)
        live = [grant for grant in rows if grant.is_live(now)]
        allowance = check.allowance
        used = allowance_spent(allowance, allowance_left(live, *check.period))
        unit = self._ledger.unit(check.unit)
        for percent in _newly_reached(allowance, pending, used, check.steps):
            threshold = _Threshold(
                _percent_key(percent),
                0,
                EventType.ALERT_TRIGGERED,
                {
                    "alert": "percent_used",
                    "percent_used": percent,
                    "allowance": wire_amount(unit.to_quantity(allowance)),
                    "source": check.source,
                },
            )
            available = sum(grant.remaining for grant in live)
            self._emit_once(
                connection, check.customer, check.unit, threshold, available, check.period, now
            )

    def _period(
        self, connection: Connection, customer: CustomerRow, now: datetime
    ) -> tuple[str | None, datetime, datetime]:
        """The customer's plan and alert period; a calendar month (UTC) without a
        subscription."""
        found = None
        if self._subscriptions is not None:
            found = self._subscriptions.alert_period(connection, customer, now)
        if found is None:
            plan_id = None if self._catalog is None else self._catalog.default_plan.id
            return plan_id, *_calendar_month(now)
        return found

    def _some_plan_alerts(self, unit: str) -> bool:
        """Whether any plan of the catalog sets alert thresholds in ``unit``: without one, only
        a customer's own thresholds can be in force."""
        return unit in self._units_with_plan_alerts

    def _plan_of(self, plan_id: str | None) -> Plan | None:
        if self._catalog is None or plan_id is None:
            return None
        return self._catalog.plans.get(plan_id)

    def _low_in_force(self, unit: str, plan_id: str | None, own: Any | None) -> _Threshold | None:
        """The low-balance threshold in force for the unit: the customer's ``own`` (its row) if
        it has some, else its plan's."""
        if own is not None:
            if own.credits_left is None:
                return None
            return self._low_threshold(unit, own.credits_left, "customer")
        plan = self._plan_of(plan_id)
        if plan is None or plan.alerts is None or plan.alerts.unit != unit:
            return None
        if plan.alerts.credits_left is None:
            return None
        credits_left = self._ledger.unit(unit).to_steps(plan.alerts.credits_left)
        return self._low_threshold(unit, credits_left, "plan")

    def _percents_in_force(
        self, unit: str, plan_id: str | None, own: Any | None
    ) -> tuple[int, tuple[int, ...], str] | None:
        """The allowance (steps) and percent-used thresholds in force for the unit, and their
        source: the customer's own if it has some, else its plan's. A percentage is of the
        plan's allowance as the catalog declares it now; without one, none applies."""
        plan = self._plan_of(plan_id)
        if plan is None or not isinstance(plan.allowance, Allowance):
            return None
        if plan.allowance.unit != unit:
            return None
        allowance = self._ledger.unit(unit).to_steps(plan.allowance.amount)
        if own is not None:
            return (allowance, tuple(own.percent_used), "customer") if own.percent_used else None
        if plan.alerts is None or plan.alerts.unit != unit or not plan.alerts.percent_used:
            return None
        return allowance, tuple(plan.alerts.percent_used), "plan"

    def crossed(self, customer: str, unit: str, before: Quantity, after: Quantity) -> bool:
        """Whether a spend that took the customer's available credits from ``before`` down to
        ``after`` crossed a threshold in force for it (its own, else its plan's: ``credits_left``
        or a ``percent_used`` share of the allowance). Unlike the alert's event, which fires
        once a period, this says it of every spend that crosses one. A customer's own
        thresholds count as the spend hook sees them: set through this process at once, through
        another within ``CUSTOMER_ALERTS_REFRESH_SECONDS``."""
        if not after < before:
            return False
        now = self._now()
        if not self._some_plan_alerts(unit) and self._own_external.surely_excludes(customer, now):
            return False  # the common case: no thresholds in force, and no query to learn it
        unit_ = self._ledger.unit(unit)
        # Balances, so zero is one (``to_steps`` takes amounts, which are positive).
        before_steps = unit_.to_steps(before) if before else 0
        after_steps = unit_.to_steps(after) if after else 0
        with self._database.read() as connection:
            self._own_external.may_include(connection, customer, now)  # refreshed when due
            found = repository.customer_with_own_thresholds(connection, customer, unit)
            if found is None:
                raise UnknownCustomer(customer)
            holder, own = found
            if own is None and not self._some_plan_alerts(unit):
                return False  # the common case, without reading the plan and its period
            plan_id, period_start, period_end = self._period(connection, holder, now)
            low = self._low_in_force(unit, plan_id, own)
            if low is not None and after_steps <= low.level < before_steps:
                return True
            percents = self._percents_in_force(unit, plan_id, own)
            if percents is None:
                return False
            rows = ledger_repository.grants_with_credits(connection, holder.id, unit)
        allowance, chosen, _source = percents
        live = [grant for grant in rows if grant.is_live(now)]
        # The share of the allowance used, as the meter and the percent alerts count it.
        used = allowance_spent(allowance, allowance_left(live, period_start, period_end))
        return bool(_newly_reached(allowance, chosen, used, before_steps - after_steps))

    # -- a customer's own thresholds ------------------------------------------------------------

    def set_alerts(
        self,
        customer: str,
        unit: str,
        credits_left: Quantity | str | None,
        percent_used: Sequence[int],
    ) -> Alerts:
        """Sets the customer's own thresholds for ``unit``, in place of its plan's (neither:
        no alerts for it, whatever its plan)."""
        unit_ = self._ledger.unit(unit)
        left = None if credits_left is None else unit_.to_steps(credits_left, "credits_left")
        percents = self._check_percents(percent_used)

        def write(context: UnitOfWork) -> None:
            repository.put_customer_alerts(
                context.connection,
                {
                    "customer_id": context.customers[customer].id,
                    "unit": unit,
                    "credits_left": left,
                    "percent_used": list(percents),
                    "updated_at": context.now,
                },
            )

        self._ledger.locked_write([customer], write)
        self._own.forget()
        self._own_external.forget()
        return self.alerts(customer, unit)

    def clear_alerts(self, customer: str, unit: str) -> Alerts:
        """Removes the customer's own thresholds for ``unit``: its plan's apply again."""
        self._ledger.unit(unit)

        def write(context: UnitOfWork) -> None:
            repository.delete_customer_alerts(
                context.connection, context.customers[customer].id, unit
            )

        self._ledger.locked_write([customer], write)
        self._own.forget()
        self._own_external.forget()
        return self.alerts(customer, unit)

    def alerts(self, customer: str, unit: str) -> Alerts:
        """The thresholds in force for the customer and unit, and where they come from."""
        unit_ = self._ledger.unit(unit)
        self._ledger.sweep_if_due(customer)
        with self._database.read() as connection:
            holder = ledger_repository.read_customer(connection, customer)
            own = repository.customer_alert_row(connection, holder.id, unit)
            plan_id, _start, _end = self._period(connection, holder, self._now())
        if own is not None:
            left = None if own.credits_left is None else unit_.to_quantity(own.credits_left)
            return Alerts(customer, unit, left, tuple(own.percent_used), AlertSource.CUSTOMER)
        plan = None
        if self._catalog is not None and plan_id is not None:
            plan = self._catalog.plans.get(plan_id)
        if plan is None or plan.alerts is None or plan.alerts.unit != unit:
            return Alerts(customer, unit, None, (), AlertSource.NONE)
        return Alerts(
            customer, unit, plan.alerts.credits_left, plan.alerts.percent_used, AlertSource.PLAN
        )

    @staticmethod
    def _check_percents(percent_used: Sequence[int]) -> tuple[int, ...]:
        if isinstance(percent_used, str | bytes) or not isinstance(percent_used, Sequence):
            raise InvalidRequest("percent_used", "must be a list of whole percentages")
        previous = 0
        for percent in percent_used:
            if isinstance(percent, bool) or not isinstance(percent, int):
                raise InvalidRequest("percent_used", "must be a list of whole percentages")
            if not previous < percent <= PERCENT_MAX:
                raise InvalidRequest("percent_used", f"must increase, each from 1 to {PERCENT_MAX}")
            previous = percent
        return tuple(percent_used)

    # -- grants about to expire -------------------------------------------------------------------

    def announce_expiring_grants(self) -> tuple[int, bool]:
        """One ``grant.expiring`` per grant with credits left that expires within
        ``GRANT_EXPIRING_NOTICE_DAYS``, at most ``GRANT_EXPIRING_BATCH_MAX`` per call. Returns
        how many it announced and whether it stopped at the batch size."""

        def scan(context: UnitOfWork) -> tuple[int, bool]:
            now = context.now
            until = now + timedelta(days=GRANT_EXPIRING_NOTICE_DAYS)
            found = repository.expiring_grants(
                context.connection, now, until, GRANT_EXPIRING_BATCH_MAX
            )
            announced = 0
            for grant in found:
                event_id = new_event_id()
                notice = {"grant_id": grant.grant_id, "event_id": event_id, "created_at": now}
                if not repository.insert_expiry_notice(context.connection, notice):
                    continue  # another worker announced it since the scan read it
                unit = self._ledger.unit(grant.unit)
                data = {
                    "grant_id": grant.grant_id,
                    "unit": grant.unit,
                    "remaining": wire_amount(unit.to_quantity(grant.remaining)),
                    "source": grant.source,
                    "expires_at": grant.expires_at.isoformat(),
                }
                emit(context.connection, EventType.GRANT_EXPIRING, grant.customer_id, data, now,
                     event_id=event_id)  # fmt: skip
                announced += 1
            return announced, len(found) == GRANT_EXPIRING_BATCH_MAX

        return self._database.unit_of_work(self._now, scan)


def _newly_reached(allowance: int, percents: Sequence[int], used: int, steps: int) -> list[int]:
    """The percents of the allowance ``used`` reaches now and did not before a spending that
    used at most ``steps`` of it."""
    return [
        percent
        for percent in percents
        if reached(allowance, used, percent) and not reached(allowance, used - steps, percent)
    ]
