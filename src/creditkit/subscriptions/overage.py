"""Overage: what a plan lets a customer spend beyond its grants (the ledger's headroom hook), and
the billing of what was used, per overage period or per stretch of one that a plan change
closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from creditkit.catalog import UNLIMITED, Catalog, OverageCarry, Plan
from creditkit.derived_keys import overage_carry_key, overage_key
from creditkit.errors import present, require
from creditkit.ledger import repository as ledger_repository
from creditkit.ledger.kernel import Spend
from creditkit.ledger.schemas import Unit
from creditkit.ledger.service import LedgerService
from creditkit.ledger.values import ISSUANCE
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork
from creditkit.subscriptions import overage_corrections, repository
from creditkit.subscriptions.plan_versions import PlanVersions
from creditkit.subscriptions.records import SubscriptionRecords
from creditkit.subscriptions.rollover import post_overage_carry
from creditkit.subscriptions.schemas import BillingLineKind
from creditkit.subscriptions.state import SubscriptionState, allowance_of, stamp


class Overage:
    """Overage periods, their use, and their billing."""

    def __init__(
        self,
        ledger: LedgerService,
        catalog: Catalog,
        plans: PlanVersions,
        records: SubscriptionRecords,
    ) -> None:
        self._ledger = ledger
        self._catalog = catalog
        self._plans = plans
        self._records = records

    def unit(self, name: str) -> Unit:
        """The ledger's unit ``name``, whose steps overage is counted in."""
        return self._ledger.unit(name)

    def recorded(self, context: UnitOfWork, spends: Sequence[Spend]) -> None:
        """The ledger's ``recorded`` hook: overage corrections for periods already billed."""
        overage_corrections.correct(self, self._plans, self._records, context.connection, spends)

    def headroom(self, context: UnitOfWork, holder: CustomerRow, unit: str) -> int | None:
        """The ledger's headroom hook: an unlimited allowance lifts the cap of every unit
        (catalog rule); pay-as-you-go overage allows its spend limit per overage period, less
        what this period has used; otherwise nothing beyond the grants."""
        connection, now = context.connection, context.now
        row = repository.read_subscription(connection, holder.id)
        if row is None:
            plan = self._catalog.default_plan
            return None if plan.allowance is UNLIMITED else 0
        state = SubscriptionState.from_row(row)
        plan, _version = self._plans.plan(connection, state.plan_version_id)
        if plan.allowance is UNLIMITED:
            return None
        overage = plan.overage
        if overage is None or overage.unit != unit:
            return 0
        if overage.spend_limit is UNLIMITED:
            return None
        start, end = self.period(state, plan, now)
        start = self.stretch_start(connection, holder, start, end)
        used = self.used(connection, holder, unit, start, end)
        return max(0, self._ledger.unit(unit).to_steps(overage.spend_limit) - used)

    def period(
        self, state: SubscriptionState, plan: Plan, moment: datetime
    ) -> tuple[datetime, datetime]:
        """Overage is counted per allowance period (per billing period without an allowance)."""
        allowance = allowance_of(plan)
        if allowance is None:
            return state.billing_bounds()
        return state.allowance_bounds_at(allowance, moment)

    def used(
        self, connection: Connection, holder: CustomerRow, unit: str, start: datetime, end: datetime
    ) -> int:
        issuance = self._ledger.system_account(ISSUANCE, unit)
        return ledger_repository.issued_on_demand(connection, holder.id, unit, issuance, start, end)

    def bill_period(
        self,
        connection: Connection,
        holder: CustomerRow,
        state: SubscriptionState,
        plan: Plan,
        boundary: datetime,
        now: datetime,
    ) -> None:
        """At the close of an overage period: one billing line for the overage it used, priced
        once on the total (``price`` per ``per`` credits, rounded half up to the minor unit)."""
        if plan.overage is None:
            return
        start, end = self.period(state, plan, boundary - timedelta(microseconds=1))
        require(
            end == boundary,
            "an overage period closes at its own boundary",
            f"ends {end.isoformat()}, boundary {boundary.isoformat()}",
        )
        self._bill_stretch(connection, holder, state, plan, start, end, now)

    def close_stretch(
        self, connection: Connection, holder: CustomerRow, state: SubscriptionState, now: datetime
    ) -> None:
        """Before the plan in force changes now (an upgrade, a cancel now, a fall back, a new
        run): the overage used since the overage period (or the last stretch) began is billed at
        the terms it was used under, so the next plan's close prices only its own stretch."""
        plan, _version = self._plans.plan(connection, state.plan_version_id)
        if plan.overage is None:
            return
        start, _end = self.period(state, plan, now)
        self._bill_stretch(connection, holder, state, plan, start, now, now)

    def stretch_start(
        self, connection: Connection, holder: CustomerRow, start: datetime, end: datetime
    ) -> datetime:
        """Where the stretch ending by ``end`` began: the overage period's ``start``, or a
        later plan change whose stretch was billed then. A stretch that closed with no overage
        wrote no line; counting from ``start`` then adds nothing, as it used none."""
        closed_at = repository.last_overage_close(connection, holder.id, start, end)
        carried_at = repository.last_overage_carry(connection, holder.id, start, end)
        closes = [moment for moment in (closed_at, carried_at) if moment is not None]
        return max([start, *closes])

    def _bill_stretch(
        self,
        connection: Connection,
        holder: CustomerRow,
        state: SubscriptionState,
        plan: Plan,
        start: datetime,
        end: datetime,
        now: datetime,
    ) -> None:
        overage = present(plan.overage, "a stretch is billed only on a plan with overage")
        start = self.stretch_start(connection, holder, start, end)
        used = self.used(connection, holder, overage.unit, start, end)
        if used <= 0:
            return
        unit = self._ledger.unit(overage.unit)
        if overage.carry is OverageCarry.DEBT:
            post_overage_carry(
                self._ledger, connection, holder,
                overage_carry_key(state.id, stamp(end)), used, unit.name, now,
                {"plan": plan.id, "period_start": start.isoformat(), "period_end": end.isoformat()},
            )  # fmt: skip
            return
        price = present(overage.price, "overage billed in money has its price")
        self._records.bill(
            connection, holder, state, BillingLineKind.OVERAGE,
            f"{unit.to_quantity(used)} {unit.name} of overage on {plan.name}",
            price.amount_for(used, unit.scale), start, end,
            overage_key(state.id, stamp(end)), now,
        )  # fmt: skip
