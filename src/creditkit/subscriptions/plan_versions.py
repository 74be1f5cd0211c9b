"""Plan versions: each plan's terms as sold, recorded once per edit, so that a subscription
keeps the version it subscribed on (grandfathering) while new ones get the catalog's."""

from __future__ import annotations

import json

from sqlalchemy.engine import Connection

from creditkit.catalog import Catalog, Interval, Plan
from creditkit.catalog.schemas import plan_from_terms
from creditkit.clock import Clock
from creditkit.errors import InvalidRequest, present
from creditkit.store.database import Database
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork
from creditkit.subscriptions import repository
from creditkit.subscriptions.state import SubscriptionState


class PlanVersions:
    """The catalog's plans as versions: the current one of each plan, and any version's terms."""

    def __init__(self, database: Database, clock: Clock, catalog: Catalog) -> None:
        self._database = database
        self._now = clock
        self._catalog = catalog
        self._plans_by_version_id: dict[int, tuple[Plan, int]] = {}
        self._current_version_ids = self._register()

    def _register(self) -> dict[str, int]:
        """Records each plan's terms as a version; an edited plan gets the next version number,
        and subscriptions on older versions keep theirs (grandfathering)."""

        def register(context: UnitOfWork) -> dict[str, int]:
            now = context.now
            current: dict[str, int] = {}
            for plan in self._catalog.plans.values():
                fingerprint = self._catalog.fingerprint(plan.id)
                row = repository.plan_version_by_fingerprint(
                    context.connection, plan.id, fingerprint
                )
                if row is None:
                    repository.insert_plan_version(
                        context.connection,
                        plan.id,
                        fingerprint,
                        plan.name,
                        plan.rank,
                        self._catalog.plan_terms(plan.id),
                        now,
                    )
                    row = present(
                        repository.plan_version_by_fingerprint(
                            context.connection, plan.id, fingerprint
                        ),
                        "a plan version just inserted is found by its fingerprint",
                    )
                current[plan.id] = row.id
            return current

        return self._database.unit_of_work(self._now, register)

    def plan(self, connection: Connection, plan_version_id: int) -> tuple[Plan, int]:
        """The plan as sold at that version, and the version number. Versions never change, so
        they are cached for the process's life."""
        cached = self._plans_by_version_id.get(plan_version_id)
        if cached is None:
            row = repository.read_plan_version(connection, plan_version_id)
            plan = plan_from_terms(row.plan_id, row.name, row.rank, json.loads(row.terms))
            cached = (plan, row.version)
            self._plans_by_version_id[plan_version_id] = cached
        return cached

    def plan_at_version(self, connection: Connection, plan_version_id: int) -> Plan:
        """The plan's terms as sold at that version (what its subscribers pay and get)."""
        return self.plan(connection, plan_version_id)[0]

    def version_for(self, plan_id: str) -> int:
        self._catalog.plan(plan_id)  # raises UnknownPlan
        return self._current_version_ids[plan_id]

    def default_version_id(self) -> int:
        """The current version of the catalog's default plan."""
        return self.version_for(self._catalog.default_plan.id)

    def plan_version_id(self, connection: Connection, plan_id: str, version: int) -> int | None:
        """The id of ``plan_id``'s version ``version``; None when there is no such version."""
        row = repository.plan_version_by_number(connection, plan_id, version)
        return None if row is None else int(row.id)

    def interval(self, plan_id: str, interval: str) -> Interval:
        try:
            interval_ = Interval(interval)
        except ValueError:
            raise InvalidRequest("interval", "must be 'month' or 'year'") from None
        plan = self._catalog.plan(plan_id)
        if plan.prices and interval_ not in plan.prices:
            raise InvalidRequest(
                "interval", f"plan {plan_id!r} is not sold by the {interval_.value}"
            )
        return interval_

    def plan_now(self, connection: Connection, holder: CustomerRow) -> Plan:
        row = repository.read_subscription(connection, holder.id)
        if row is None:
            return self._catalog.default_plan
        plan, _version = self.plan(connection, SubscriptionState.from_row(row).plan_version_id)
        return plan
