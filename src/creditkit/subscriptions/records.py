"""A subscription's rows and events: its billing lines, its row written back (with when the
customer next has due work), the view callers get, and the events its changes write.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection

from creditkit.catalog import Catalog, Plan
from creditkit.errors import present
from creditkit.ledger import repository as ledger_repository
from creditkit.ledger.schemas import Money
from creditkit.outbox.types import EventType
from creditkit.outbox.writer import derived_event_id, emit, event_exists
from creditkit.store.unit_of_work import CustomerRow
from creditkit.subscriptions import repository
from creditkit.subscriptions.plan_versions import PlanVersions
from creditkit.subscriptions.schemas import BillingLineKind, Subscription, SubscriptionStatus
from creditkit.subscriptions.state import SubscriptionState, allowance_of, stamp


class SubscriptionRecords:
    """What every subscription write ends with, in the write's transaction."""

    def __init__(self, plans: PlanVersions, catalog: Catalog) -> None:
        self._plans = plans
        self._catalog = catalog

    def bill(
        self,
        connection: Connection,
        holder: CustomerRow,
        state: SubscriptionState,
        kind: BillingLineKind,
        description: str,
        amount: Money,
        period_start: datetime | None,
        period_end: datetime | None,
        key: str,
        now: datetime,
    ) -> None:
        if amount.amount_minor == 0:
            return  # a line of nothing (a free plan's fee or unused time) is no line
        repository.insert_billing_line(
            connection,
            {
                "idempotency_key": key,
                "customer_id": holder.id,
                "subscription_id": state.id,
                "kind": kind.value,
                "description": description,
                "amount_minor": amount.amount_minor,
                "currency": amount.currency,
                "period_start": period_start,
                "period_end": period_end,
                "created_at": now,
            },
        )

    def save(
        self,
        connection: Connection,
        holder: CustomerRow,
        state: SubscriptionState,
        now: datetime,
        lower_due: bool = True,
    ) -> None:
        repository.update_subscription(connection, state.id, state.values(now))
        self.announce_trial_ending(connection, holder, state, now)
        if lower_due:
            plan, _version = self._plans.plan(connection, state.plan_version_id)
            ledger_repository.lower_next_due_at(
                connection, holder.id, self.due_at(connection, state, plan)
            )

    def view(self, connection: Connection, customer: str, state: SubscriptionState) -> Subscription:
        plan, version = self._plans.plan(connection, state.plan_version_id)
        start, end = state.billing_bounds()
        allowance = allowance_of(plan)
        allowance_start = allowance_end = None
        if allowance is not None and state.allowance_index is not None:
            allowance_start, allowance_end = state.allowance_bounds(
                allowance, state.allowance_index
            )
        scheduled = None
        if state.scheduled_plan_version_id is not None:
            scheduled = self._plans.plan(connection, state.scheduled_plan_version_id)[0].id
        elif state.cancel_at_period_end:
            scheduled = self._catalog.default_plan.id
        return Subscription(
            customer=customer,
            plan=plan.id,
            plan_version=version,
            interval=state.interval,
            status=state.status,
            current_period_start=start,
            current_period_end=end,
            allowance_period_start=allowance_start,
            allowance_period_end=allowance_end,
            trial_ends_at=state.trial_ends_at,
            cancel_at_period_end=state.cancel_at_period_end,
            scheduled_plan=scheduled,
            scheduled_interval=state.scheduled_interval
            if state.scheduled_plan_version_id is not None
            else None,
            pay_with=state.pay_with,
        )

    def announce(
        self,
        connection: Connection,
        holder: CustomerRow,
        event: EventType,
        previous: SubscriptionState,
        state: SubscriptionState,
        now: datetime,
        reason: str,
    ) -> None:
        """Writes the event in the change's transaction, unless nothing changed (a request
        repeated, or the plan already in force): the subscription as it now stands, the plan
        before, and why."""
        unchanged = previous.values(now) == state.values(now)
        if unchanged and event is not EventType.SUBSCRIPTION_RENEWED:
            return
        view = self.view(connection, holder.external_id, state)
        previous_plan, _version = self._plans.plan(connection, previous.plan_version_id)
        emit(
            connection,
            event,
            holder.id,
            {
                "plan": view.plan,
                "plan_version": view.plan_version,
                "previous_plan": previous_plan.id,
                "interval": view.interval.value,
                "status": view.status.value,
                "current_period_start": view.current_period_start.isoformat(),
                "current_period_end": view.current_period_end.isoformat(),
                "cancel_at_period_end": view.cancel_at_period_end,
                "scheduled_plan": view.scheduled_plan,
                "pay_with": view.pay_with,
                "reason": reason,
            },
            now,
        )

    def announce_renewal(
        self,
        connection: Connection,
        holder: CustomerRow,
        previous: SubscriptionState,
        state: SubscriptionState,
        now: datetime,
    ) -> None:
        """A new billing period: on the same plan a renewal; otherwise a change that took effect
        at the boundary (a cancellation, a scheduled change, or a period the balance could not
        pay in credits)."""
        if (previous.plan_version_id, previous.interval) == (state.plan_version_id, state.interval):
            event, reason = EventType.SUBSCRIPTION_RENEWED, "renewal"
        elif previous.cancel_at_period_end:
            event, reason = EventType.SUBSCRIPTION_CHANGED, "canceled"
        elif previous.scheduled_plan_version_id is not None:
            event, reason = EventType.SUBSCRIPTION_CHANGED, "scheduled_change"
        else:
            event, reason = EventType.SUBSCRIPTION_CHANGED, "unpaid"
        self.announce(connection, holder, event, previous, state, now, reason)

    def announce_trial_ending(
        self, connection: Connection, holder: CustomerRow, state: SubscriptionState, now: datetime
    ) -> None:
        """``subscription.trial_ending`` once, written at its own instant (not when a sweep
        happens to look), for a trial still running at that instant."""
        if state.status is not SubscriptionStatus.TRIALING or state.trial_ends_at is None:
            return
        announced_at = state.trial_ending_at()
        event_id = self.trial_ending_event_id(state)
        if announced_at > now or event_exists(connection, event_id):
            return
        plan, version = self._plans.plan(connection, state.plan_version_id)
        emit(
            connection,
            EventType.SUBSCRIPTION_TRIAL_ENDING,
            holder.id,
            {
                "plan": plan.id,
                "plan_version": version,
                "interval": state.interval.value,
                "trial_ends_at": state.trial_ends_at.isoformat(),
                "days_before": (state.trial_ends_at - announced_at).days,
            },
            announced_at,
            event_id=event_id,
        )

    def due_at(self, connection: Connection, state: SubscriptionState, plan: Plan) -> datetime:
        """When the subscription next has work: its next boundary, its trial's end, or the
        moment its trial's end is announced."""
        moments = [state.next_boundary(plan)[0]]
        if state.status is SubscriptionStatus.TRIALING and state.trial_ends_at is not None:
            moments.append(state.trial_ends_at)
            if not event_exists(connection, self.trial_ending_event_id(state)):
                moments.append(state.trial_ending_at())
        return min(moments)

    def trial_ending_event_id(self, state: SubscriptionState) -> str:
        # One per subscription and trial end: a trial restarted with another end is announced
        # again; the same one never twice, however many processes sweep.
        trial_ends_at = present(state.trial_ends_at, "a trial that ends has its end")
        return derived_event_id(f"trial_ending:{state.id}:{stamp(trial_ends_at)}")
