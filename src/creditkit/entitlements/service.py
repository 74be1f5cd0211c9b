"""Entitlements: features, limits, quotas and workspace members, read from the plan in force.

What the plan in force is: the customer's subscription's plan version (grandfathered terms
included), or the catalog's default plan without one; it is read inside each operation's own
transaction, after the customer's due work (renewals, scheduled downgrades) has been swept.

Every write that counts against a limit runs in ``LedgerService.locked_write``: the customer's
row is locked (PostgreSQL ``FOR NO KEY UPDATE``, SQLite ``BEGIN IMMEDIATE``) before the usage is
read, so two writers can never both see room for the last slot. The usage is the rows
themselves (live resources, allowed events, members), never a cached counter that could drift.

A limit a plan does not name is not capped by that plan (it reads as ``UNLIMITED``); so is a
quota. Limits are enforced at the moment of counting only: after a downgrade, what exists stays,
and nothing new is counted until the usage is back under the cap (``over_limit`` lists what is
over).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.catalog import UNLIMITED, Catalog, CountOrUnlimited, Limit, LimitKind, Plan
from creditkit.catalog.schemas import plan_from_terms
from creditkit.clock import Clock
from creditkit.entitlements import repository
from creditkit.entitlements.schemas import (
    ROLE_ORDER,
    TEAM_MEMBERS_LIMIT,
    Decision,
    LimitUsage,
    Member,
    RateDecision,
    Reason,
    Role,
)
from creditkit.errors import IdempotencyConflict, InvalidRequest, present, require
from creditkit.ledger import repository as ledger_repository
from creditkit.ledger import spender_repository
from creditkit.ledger.checks import EXTERNAL_ID_LENGTH_MAX, IDEMPOTENCY_KEY_LENGTH_MAX, check_text
from creditkit.ledger.schemas import AMOUNT_STEPS_MAX, CustomerKind
from creditkit.ledger.service import LedgerService
from creditkit.ledger.spending import FORMER_MEMBER, MEMBER
from creditkit.ledger.values import RateWindow
from creditkit.outbox.types import EventType
from creditkit.outbox.writer import emit
from creditkit.store.database import Database
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork
from creditkit.subscriptions import repository as subscriptions_repository
from creditkit.subscriptions.periods import Cadence, PeriodRun

#: Names of features, limits and quotas: longer ones cannot be in a catalog (ids are at most 64
#: characters), but they are reported as unknown names rather than as too long.
NAME_LENGTH_MAX = 255
#: How long a customer's plan rate limit is used without reading the plan again.
RATE_LIMIT_CACHE_TTL = timedelta(seconds=5)
#: Customers whose rate limit is kept in memory, at most.
RATE_LIMITS_CACHED_MAX = 10_000
#: Workspaces listed by one ``memberships`` call, at most.
MEMBERSHIPS_LISTED_MAX = 1_000
#: A per-period counter's quantity shares the ledger's bound on stored integers.
QUANTITY_MAX = AMOUNT_STEPS_MAX


def _check_quantity(quantity: object) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidRequest("quantity", "must be an int")
    if not 1 <= quantity <= QUANTITY_MAX:
        raise InvalidRequest("quantity", f"must be from 1 to {QUANTITY_MAX}")
    return quantity


def _check_role(role: object) -> Role:
    if isinstance(role, str) and role in {known.value for known in Role}:
        return Role(role)
    names = ", ".join(known.value for known in ROLE_ORDER)
    raise InvalidRequest("role", f"must be one of {names}")


def _limit_value(stored: int | None) -> CountOrUnlimited:
    return UNLIMITED if stored is None else stored


class EntitlementService:
    def __init__(
        self, ledger: LedgerService, database: Database, clock: Clock, catalog: Catalog
    ) -> None:
        self._ledger = ledger
        self._database = database
        self._now = clock
        self._catalog = catalog
        self._plans_by_version_id: dict[int, Plan] = {}
        #: customer -> (its plan's rate limit, when read); see ``_rate_limit_of``.
        self._rate_limits: dict[str, tuple[int | None, datetime]] = {}
        by_rank = catalog.plans_by_rank()
        #: Each limit as the lowest-ranked plan naming it declares it: its kind and period, for
        #: a plan that does not name it (uncapped there).
        self._limit_specs: dict[str, Limit] = {}
        for plan in by_rank:
            for name, limit in plan.limits.items():
                self._limit_specs.setdefault(name, limit)
        self._quota_names = frozenset(name for plan in by_rank for name in plan.quotas)

    # -- the plan in force ----------------------------------------------------------------------

    def _plan_in_force(self, connection: Connection, customer_id: int) -> tuple[Plan, PeriodRun]:
        """The plan whose terms apply, and the run its periods count in: from the
        subscription's anchor (or where its periods were last started again: an operator's
        reset, a change of the customer's zone), in the customer's zone its allowance run
        follows; without a subscription, from the customer's creation, in its zone."""
        row = repository.subscription_terms(connection, customer_id)
        if row is None:
            created_at = repository.customer_created_at(connection, customer_id)
            zone = ledger_repository.customer_time_zone(connection, customer_id)
            return self._catalog.default_plan, PeriodRun(created_at, zone)
        anchor: datetime = row.allowance_anchor_at or row.anchor_at
        run = PeriodRun(anchor, row.allowance_time_zone)
        return self._plan(connection, row.plan_version_id), run

    def _plan(self, connection: Connection, plan_version_id: int) -> Plan:
        """The plan as sold at that version. Versions never change: cached for the process."""
        plan = self._plans_by_version_id.get(plan_version_id)
        if plan is None:
            row = subscriptions_repository.read_plan_version(connection, plan_version_id)
            plan = plan_from_terms(row.plan_id, row.name, row.rank, json.loads(row.terms))
            self._plans_by_version_id[plan_version_id] = plan
        return plan

    def _read_plan(self, customer: str) -> Plan:
        self._ledger.sweep_if_due(customer)
        with self._database.read() as connection:
            holder = ledger_repository.read_customer(connection, customer)
            return self._plan_in_force(connection, holder.id)[0]

    def hit_rate_limit(self, customer: str) -> RateDecision:
        """Counts one request against the plan's ``rate_limit_per_minute`` in the current
        minute (a fixed window, counted in the database so every process shares it). Refused
        requests count too: a client that keeps hammering stays refused until the window ends."""
        now = self._now()
        cached, limit = self._cached_rate_limit(customer, now)
        if not cached:
            limit = self._cache_rate_limit(customer, self._read_plan(customer), now)
        if limit is None:
            return RateDecision(True, None, 0, 0)
        window_start = now.replace(second=0, microsecond=0)
        count = self._database.unit_of_work(
            lambda: now,
            lambda context: repository.count_request(
                context.connection,
                ledger_repository.read_customer(context.connection, customer).id,
                window_start,
                1,
            ),
        )
        retry_after_seconds = self._retry_after_seconds(window_start, now)
        allowed = count <= limit
        return RateDecision(allowed, limit, count, 0 if allowed else retry_after_seconds)

    def count_requests(
        self, context: UnitOfWork, customer: CustomerRow, requests: int
    ) -> RateWindow | None:
        """The ledger's request counter: counts ``requests`` charges' requests in the charges'
        own transaction, with the customer locked and swept (so the plan is read from it)."""
        connection, now = context.connection, context.now
        cached, limit = self._cached_rate_limit(customer.external_id, now)
        if not cached:
            plan = self._plan_in_force(connection, customer.id)[0]
            limit = self._cache_rate_limit(customer.external_id, plan, now)
        if limit is None:
            return None
        window_start = now.replace(second=0, microsecond=0)
        count = repository.count_request(connection, customer.id, window_start, requests)
        return RateWindow(limit, count, self._retry_after_seconds(window_start, now))

    @staticmethod
    def _retry_after_seconds(window_start: datetime, now: datetime) -> int:
        window_end = window_start + timedelta(minutes=1)
        return max(1, math.ceil((window_end - now).total_seconds()))

    def _cached_rate_limit(self, customer: str, now: datetime) -> tuple[bool, int | None]:
        """(True, the plan's rate limit) as read at most ``RATE_LIMIT_CACHE_TTL`` ago, else
        (False, None): counting a request must not cost reading the plan on every request; a
        plan change applies to the rate limit within that time."""
        cached = self._rate_limits.get(customer)
        if cached is not None and cached[1] <= now < cached[1] + RATE_LIMIT_CACHE_TTL:
            return True, cached[0]
        return False, None

    def _cache_rate_limit(self, customer: str, plan: Plan, now: datetime) -> int | None:
        limit = plan.rate_limit_per_minute
        if len(self._rate_limits) >= RATE_LIMITS_CACHED_MAX:
            self._rate_limits.clear()
        self._rate_limits[customer] = (limit, now)
        return limit

    def _limit(self, plan: Plan, name: str, kind: LimitKind) -> Limit:
        """The plan's limit ``name``, which must be of ``kind``."""
        limit = plan.limits.get(name)
        if limit is None:
            spec = self._limit_specs.get(name)
            if spec is None:
                if name == TEAM_MEMBERS_LIMIT:
                    return Limit(LimitKind.COUNT, UNLIMITED)  # no plan caps members
                raise InvalidRequest("limit", f"unknown limit {name!r}: no plan names it")
            limit = Limit(spec.kind, UNLIMITED, spec.period)
        if limit.kind is not kind:
            use = "track" if limit.kind is LimitKind.PER_PERIOD else "acquire/release_resource"
            raise InvalidRequest("limit", f"{name!r} is a {limit.kind.value} limit: use {use}")
        return limit

    def _upgrade_for_feature(self, current: Plan, feature: str) -> str | None:
        for plan in self._catalog.plans_by_rank():
            if plan.rank > current.rank and plan.has_feature(feature):
                return plan.id
        return None

    def _upgrade_for_limit(self, current: Plan, name: str, needed: int) -> str | None:
        """The lowest-ranked plan above ``current`` whose cap on ``name`` allows ``needed``."""
        for plan in self._catalog.plans_by_rank():
            if plan.rank <= current.rank:
                continue
            limit = plan.limits.get(name)
            if limit is None or limit.value is UNLIMITED or needed <= limit.value:
                return plan.id
        return None

    def _count(self, plan: Plan, name: str, limit: Limit, used: int, quantity: int) -> Decision:
        """May ``quantity`` more be counted on top of ``used``?"""
        if limit.value is UNLIMITED:
            return Decision(True, Reason.UNLIMITED, None, used + quantity, UNLIMITED)
        if used + quantity <= limit.value:
            return Decision(True, Reason.WITHIN_LIMIT, None, used + quantity, limit.value)
        upgrade_to = self._upgrade_for_limit(plan, name, used + quantity)
        return Decision(False, Reason.LIMIT_REACHED, upgrade_to, used, limit.value)

    @staticmethod
    def _period(limit: Limit, run: PeriodRun, now: datetime) -> tuple[datetime, datetime]:
        """The period of a per-period limit that contains now: periods of the limit's length,
        anchored on the subscription's anchor (so a monthly limit on a monthly subscription
        resets with its billing period) or on the calendar, as the limit says (in the
        customer's zone when it states one)."""
        cadence = Cadence.of(limit, run.time_zone)
        anchor = run.anchor_at
        return cadence.bounds(anchor, cadence.index_at(anchor, max(now, anchor)))

    # -- features and quotas --------------------------------------------------------------------

    def entitled(self, customer: str, feature: str) -> Decision:
        check_text(feature, "feature", NAME_LENGTH_MAX)
        plan = self._read_plan(customer)
        if plan.has_feature(feature):
            return Decision(True, Reason.FEATURE_INCLUDED)
        if feature not in self._catalog.feature_names:
            raise InvalidRequest("feature", f"unknown feature {feature!r}: no plan grants it")
        return Decision(False, Reason.FEATURE_NOT_IN_PLAN, self._upgrade_for_feature(plan, feature))

    def quota(self, customer: str, name: str) -> CountOrUnlimited:
        check_text(name, "quota", NAME_LENGTH_MAX)
        plan = self._read_plan(customer)
        value = plan.quotas.get(name)
        if value is not None:
            return value
        if name not in self._quota_names:
            raise InvalidRequest("quota", f"unknown quota {name!r}: no plan names it")
        return UNLIMITED

    # -- count limits ---------------------------------------------------------------------------

    def _check_resource_limit(self, limit: object) -> str:
        name = check_text(limit, "limit", NAME_LENGTH_MAX)
        if name == TEAM_MEMBERS_LIMIT:
            raise InvalidRequest(
                "limit", f"{TEAM_MEMBERS_LIMIT!r} counts a workspace's members: use add_member"
            )
        return name

    def acquire(self, customer: str, limit: str, resource_id: str) -> Decision:
        """Counts the live resource against the count limit, once however often it is acquired;
        refused (nothing written) when that would take the count over the cap."""
        name = self._check_resource_limit(limit)
        check_text(resource_id, "resource_id", EXTERNAL_ID_LENGTH_MAX)

        def work(context: UnitOfWork) -> Decision:
            holder = context.customers[customer]
            plan, _run = self._plan_in_force(context.connection, holder.id)
            cap = self._limit(plan, name, LimitKind.COUNT)
            used = repository.resources_count(context.connection, holder.id, name)
            if repository.resource_held(context.connection, holder.id, name, resource_id):
                return Decision(True, Reason.ALREADY_COUNTED, None, used, cap.value)
            decision = self._count(plan, name, cap, used, 1)
            if decision.allowed:
                repository.insert_resource(
                    context.connection, holder.id, name, resource_id, context.now
                )
            else:
                _announce_refusal(context.connection, holder, name, decision, context.now)
            return decision

        return self._ledger.locked_write([customer], work)

    def release_resource(self, customer: str, limit: str, resource_id: str) -> bool:
        """Stops counting the resource; True when it was counted (releasing twice is harmless)."""
        name = self._check_resource_limit(limit)
        check_text(resource_id, "resource_id", EXTERNAL_ID_LENGTH_MAX)

        def work(context: UnitOfWork) -> bool:
            holder = context.customers[customer]
            plan, _run = self._plan_in_force(context.connection, holder.id)
            self._limit(plan, name, LimitKind.COUNT)
            return repository.delete_resource(context.connection, holder.id, name, resource_id)

        return self._ledger.locked_write([customer], work)

    # -- per-period limits ----------------------------------------------------------------------

    def track(self, customer: str, limit: str, quantity: int, idempotency_key: str) -> Decision:
        """Counts ``quantity`` against the per-period limit, exactly once per key; a refusal is
        recorded too, so a replay of the key answers the same."""
        name = check_text(limit, "limit", NAME_LENGTH_MAX)
        quantity = _check_quantity(quantity)
        key = check_text(idempotency_key, "idempotency_key", IDEMPOTENCY_KEY_LENGTH_MAX)

        def work(context: UnitOfWork) -> Decision:
            holder = context.customers[customer]
            recorded = repository.find_event(context.connection, holder.id, key)
            if recorded is not None:
                return self._replayed(recorded, key, name, quantity)
            plan, run = self._plan_in_force(context.connection, holder.id)
            cap = self._limit(plan, name, LimitKind.PER_PERIOD)
            start, end = self._period(cap, run, context.now)
            used = repository.period_usage(context.connection, holder.id, name, start)
            decision = self._count(plan, name, cap, used, quantity)
            require(decision.used is not None, "a counted decision says how much is used", name)
            repository.insert_event(
                context.connection,
                {
                    "customer_id": holder.id,
                    "limit_name": name,
                    "idempotency_key": key,
                    "quantity": quantity,
                    "allowed": decision.allowed,
                    "used": decision.used,
                    "limit_value": None if cap.value is UNLIMITED else cap.value,
                    "reason": str(decision.reason),
                    "upgrade_to": decision.upgrade_to,
                    "period_start": start,
                    "period_end": end,
                    "created_at": context.now,
                },
            )
            if not decision.allowed:
                _announce_refusal(context.connection, holder, name, decision, context.now)
            return decision

        return self._ledger.locked_write([customer], work)

    @staticmethod
    def _replayed(recorded: Any, key: str, name: str, quantity: int) -> Decision:
        if recorded.limit_name != name:
            raise IdempotencyConflict(key, "limit", recorded.limit_name, name)
        if recorded.quantity != quantity:
            raise IdempotencyConflict(key, "quantity", recorded.quantity, quantity)
        return Decision(
            recorded.allowed,
            Reason(recorded.reason),
            recorded.upgrade_to,
            recorded.used,
            _limit_value(recorded.limit_value),
        )

    # -- usage ----------------------------------------------------------------------------------

    def usage_of_limits(self, customer: str) -> list[LimitUsage]:
        """Every limit some plan names (those the plan in force does not name are uncapped),
        in the catalog's order, then any only the customer's plan version still names."""
        self._ledger.sweep_if_due(customer)
        now = self._now()
        with self._database.read() as connection:
            holder = ledger_repository.read_customer(connection, customer)
            plan, run = self._plan_in_force(connection, holder.id)
            counts = repository.resources_counts(connection, holder.id)
            # Stored plan versions keep their limits sorted: the catalog's order reads better.
            names = [*self._limit_specs, *(n for n in plan.limits if n not in self._limit_specs)]
            usages: list[LimitUsage] = []
            for name in names:
                cap = plan.limits.get(name)
                if cap is None:
                    spec = self._limit_specs[name]
                    cap = Limit(spec.kind, UNLIMITED, spec.period)
                if cap.kind is LimitKind.PER_PERIOD:
                    start, end = self._period(cap, run, now)
                    used = repository.period_usage(connection, holder.id, name, start)
                    usages.append(LimitUsage(name, cap.kind, used, cap.value, start, end))
                    continue
                if name == TEAM_MEMBERS_LIMIT:
                    used = repository.members_count(connection, holder.id)
                else:
                    used = counts.get(name, 0)
                usages.append(LimitUsage(name, cap.kind, used, cap.value))
        return usages

    def over_limit(self, customer: str) -> list[LimitUsage]:
        return [usage for usage in self.usage_of_limits(customer) if usage.over]

    # -- workspace members ----------------------------------------------------------------------

    @staticmethod
    def _require_workspace(holder: CustomerRow) -> None:
        if holder.kind != CustomerKind.WORKSPACE:
            raise InvalidRequest(
                "workspace", f"{holder.external_id!r} is a user: only workspaces have members"
            )

    @staticmethod
    def _user(connection: Connection, user: str, field_name: str) -> CustomerRow:
        row = ledger_repository.find_customer(connection, user)
        if row is None:
            raise InvalidRequest(field_name, f"unknown customer {user!r}: create the user first")
        if row.kind != CustomerKind.USER:
            raise InvalidRequest(field_name, f"{user!r} is a workspace: members are users")
        return row

    def _workspace_write(
        self, workspace: str, work: Callable[[UnitOfWork, CustomerRow], Any]
    ) -> Any:
        def locked_work(context: UnitOfWork) -> Any:
            holder = context.customers[workspace]
            self._require_workspace(holder)
            return work(context, holder)

        return self._ledger.locked_write([workspace], locked_work)

    # -- member spend caps ------------------------------------------------------------------

    def set_member_spend_cap(self, workspace: str, user: str, amount: object, unit: str) -> None:
        """Caps what the member may spend of ``unit`` per calendar month (``amount`` None: no
        cap): a month budget on the member's spender (see ``CreditKit.set_budget``)."""
        check_text(user, "user", EXTERNAL_ID_LENGTH_MAX)
        unit_ = self._ledger.unit(unit)
        steps = None
        if amount is not None:
            steps = 0 if amount == 0 else unit_.to_steps(amount)

        def work(context: UnitOfWork, holder: CustomerRow) -> None:
            member = self._user(context.connection, user, "user")
            if repository.member_role(context.connection, holder.id, member.id) is None:
                raise InvalidRequest("user", f"{user!r} is not a member of {workspace!r}")
            spender_repository.set_budget(
                context.connection, holder.id, user, unit_.name, "month", steps, context.now
            )

        self._workspace_write(workspace, work)

    @staticmethod
    def _member_spender(
        connection: Connection, holder: CustomerRow, user: str, now: datetime
    ) -> None:
        """A member is a spender of kind ``member`` from the moment the membership is."""
        if spender_repository.read_spender(connection, holder.id, user) is None:
            spender_repository.insert_spender(connection, holder.id, user, MEMBER, None, now)
        else:
            spender_repository.set_spender_kind(connection, holder.id, user, MEMBER)

    def add_member(self, workspace: str, user: str, role: str) -> Decision:
        """Adds the user with ``role``, counted against the plan's ``team_members`` limit (the
        owner included); for a member already, changes the role (no new seat)."""
        role_ = _check_role(role)
        check_text(user, "user", EXTERNAL_ID_LENGTH_MAX)

        def work(context: UnitOfWork, holder: CustomerRow) -> Decision:
            member = self._user(context.connection, user, "user")
            plan, _run = self._plan_in_force(context.connection, holder.id)
            cap = self._limit(plan, TEAM_MEMBERS_LIMIT, LimitKind.COUNT)
            used = repository.members_count(context.connection, holder.id)
            current = repository.member_role(context.connection, holder.id, member.id)
            if current is not None:
                if current == role_:
                    return Decision(True, Reason.ALREADY_COUNTED, None, used, cap.value)
                if Role.OWNER in (current, role_):
                    raise InvalidRequest(
                        "role",
                        "the owner changes only by an ownership transfer"
                        " (PUT /v1/customers/{workspace}/owner)",
                    )
                repository.set_role(context.connection, holder.id, member.id, role_.value)
                return Decision(True, Reason.ROLE_CHANGED, None, used, cap.value)
            if role_ is Role.OWNER and used:
                raise InvalidRequest(
                    "role",
                    "the workspace has an owner already; move ownership with"
                    " PUT /v1/customers/{workspace}/owner",
                )
            if role_ is not Role.OWNER and not used:
                raise InvalidRequest("role", "a workspace's first member is its owner")
            decision = self._count(plan, TEAM_MEMBERS_LIMIT, cap, used, 1)
            if decision.allowed:
                repository.insert_member(
                    context.connection, holder.id, member.id, role_.value, context.now
                )
                self._member_spender(context.connection, holder, user, context.now)
            return decision

        decision: Decision = self._workspace_write(workspace, work)
        return decision

    def remove_member(self, workspace: str, user: str) -> bool:
        """True when the user was a member. The owner goes only as the last member: transfer
        ownership first."""
        check_text(user, "user", EXTERNAL_ID_LENGTH_MAX)

        def work(context: UnitOfWork, holder: CustomerRow) -> bool:
            member = self._user(context.connection, user, "user")
            role = repository.member_role(context.connection, holder.id, member.id)
            if role is None:
                return False
            if role == Role.OWNER and repository.members_count(context.connection, holder.id) > 1:
                raise InvalidRequest("user", f"{user!r} is the owner: transfer ownership first")
            repository.delete_member(context.connection, holder.id, member.id)
            # Its spender stays (history names it), no longer a member: it spends no more.
            spender_repository.set_spender_kind(context.connection, holder.id, user, FORMER_MEMBER)
            return True

        removed: bool = self._workspace_write(workspace, work)
        return removed

    def transfer_ownership(self, workspace: str, new_owner: str) -> list[Member]:
        """Makes a member the owner; the previous owner stays, as an admin."""
        check_text(new_owner, "new_owner", EXTERNAL_ID_LENGTH_MAX)

        def work(context: UnitOfWork, holder: CustomerRow) -> list[Member]:
            member = self._user(context.connection, new_owner, "new_owner")
            role = repository.member_role(context.connection, holder.id, member.id)
            if role is None:
                raise InvalidRequest(
                    "new_owner", f"{new_owner!r} is not a member of the workspace: add them first"
                )
            if role != Role.OWNER:
                previous = present(
                    repository.owner_of(context.connection, holder.id),
                    "a workspace with members has an owner",
                )
                # Demoted first: the one-owner index is checked at each statement.
                repository.set_role(context.connection, holder.id, previous, Role.ADMIN.value)
                repository.set_role(context.connection, holder.id, member.id, Role.OWNER.value)
            return self._members(context.connection, holder)

        members: list[Member] = self._workspace_write(workspace, work)
        return members

    def members(self, workspace: str) -> list[Member]:
        """The owner first, then admins, editors and viewers, each in the order they joined."""
        with self._database.read() as connection:
            holder = ledger_repository.read_customer(connection, workspace)
            self._require_workspace(holder)
            return self._members(connection, holder)

    def memberships(self, user: str, limit: int) -> list[Member]:
        """The user's workspaces (with its role in each), in the order it joined them."""
        check_text(user, "user", EXTERNAL_ID_LENGTH_MAX)
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise InvalidRequest("limit", "must be an int")
        if not 1 <= limit <= MEMBERSHIPS_LISTED_MAX:
            raise InvalidRequest("limit", f"must be from 1 to {MEMBERSHIPS_LISTED_MAX}")
        with self._database.read() as connection:
            holder = ledger_repository.read_customer(connection, user)
            if holder.kind != CustomerKind.USER:
                raise InvalidRequest("user", f"{user!r} is a workspace: only users are members")
            rows = repository.memberships_of(connection, holder.id, limit)
        return [Member(row.external_id, user, Role(row.role), row.added_at) for row in rows]

    @staticmethod
    def _members(connection: Connection, holder: CustomerRow) -> list[Member]:
        members = [
            Member(holder.external_id, row.external_id, Role(row.role), row.added_at)
            for row in repository.members_of(connection, holder.id)
        ]
        return sorted(members, key=lambda member: ROLE_ORDER.index(member.role))


def _announce_refusal(
    connection: Connection, holder: CustomerRow, name: str, decision: Decision, now: datetime
) -> None:
    """``limit.reached``, in the refusal's transaction: the host app may offer the upgrade."""
    emit(
        connection,
        EventType.LIMIT_REACHED,
        holder.id,
        {
            "limit": name,
            "used": decision.used,
            "limit_value": decision.limit,
            "upgrade_to": decision.upgrade_to,
        },
        now,
    )
