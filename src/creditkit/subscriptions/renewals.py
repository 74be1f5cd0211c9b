"""Renewals: the due hook that advances a subscription through every boundary that has passed,
the renewal a provider's paid invoice starts, and an operator's reset of the allowance period.

Renewals are due work like hold timeouts and grant expiry: each customer's ``next_due_at``
includes its subscription's next period boundary, so the sweep that runs at the start of any read
or write of that customer (or ``CreditKit.tick()``) renews it first. Nothing needs a cron.

Each allowance period's allowance is a grant of source ``allowance`` expiring at the period's
end, under a key derived from the subscription and the period, so a renewal is exactly-once
however many processes sweep.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy.engine import Connection

from creditkit.catalog import Interval, Plan
from creditkit.errors import IdempotencyConflict, InvalidRequest, present
from creditkit.ledger import repository as ledger_repository
from creditkit.ledger.checks import IDEMPOTENCY_KEY_LENGTH_MAX, check_text
from creditkit.ledger.corrections import REASON_LENGTH_MAX
from creditkit.ledger.schemas import TransactionKind
from creditkit.ledger.service import LedgerService
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork
from creditkit.subscriptions import repository
from creditkit.subscriptions.collection import PAY_WITH_MONEY, Collector
from creditkit.subscriptions.overage import Overage
from creditkit.subscriptions.period_starts import PeriodStarts
from creditkit.subscriptions.periods import (
    PERIODS_CAUGHT_UP_MAX,
    months_in,
    period_bounds,
    period_index_at,
)
from creditkit.subscriptions.plan_versions import PlanVersions
from creditkit.subscriptions.records import SubscriptionRecords
from creditkit.subscriptions.rollover import post_period_reset
from creditkit.subscriptions.schemas import PaidPeriod, Subscription, SubscriptionStatus
from creditkit.subscriptions.state import SubscriptionState, allowance_of


class Renewals:
    """``collector`` collects the price of each billing period a renewal starts (payments'; see
    ``Collector``); without one, renewals bill their lines for the app to collect."""

    def __init__(
        self,
        ledger: LedgerService,
        plans: PlanVersions,
        records: SubscriptionRecords,
        starts: PeriodStarts,
        overage: Overage,
        collector: Collector | None,
    ) -> None:
        self._ledger = ledger
        self._plans = plans
        self._records = records
        self._starts = starts
        self._overage = overage
        self._collector = collector

    def renew_due(self, context: UnitOfWork, holder: CustomerRow) -> datetime | None:
        """The due hook: advances the customer's subscription through every boundary up to
        ``now``, in order, and returns the next boundary."""
        connection, now = context.connection, context.now
        row = repository.read_subscription(connection, holder.id)
        if row is None:
            return None
        state = SubscriptionState.from_row(row)
        self._records.announce_trial_ending(connection, holder, state, now)
        state.end_trial(now)
        renewed = False
        for _step in range(PERIODS_CAUGHT_UP_MAX):
            plan, _version = self._plans.plan(connection, state.plan_version_id)
            boundary, billing_end, allowance_end = state.next_boundary(plan)
            if boundary > now:
                break
            if billing_end == boundary and self._awaits_invoice(context, holder, state, plan):
                # The provider's paid invoice starts the next period; until then nothing is due
                # here (the period's allowance expires with its grants, at the period's end).
                self._records.save(connection, holder, state, now, lower_due=False)
                return None
            if allowance_end == boundary or (allowance_end is None and billing_end == boundary):
                self._overage.bill_period(connection, holder, state, plan, boundary, now)
                self._follow_time_zone(connection, holder, state, boundary)
            if allowance_end == boundary:
                self._starts.roll_over(connection, holder, state, plan, boundary, now)
            if billing_end == boundary:
                previous = dataclasses.replace(state)
                self._close_billing_period(state, boundary)
                self._starts.start(connection, holder, state, now, renewal=True)
                self._records.announce_renewal(connection, holder, previous, state, now)
                renewed = True
            else:
                plan, _version = self._plans.plan(connection, state.plan_version_id)
                self._starts.grant_allowance(connection, holder, state, plan, boundary, now)
        else:
            raise AssertionError(f"subscription {state.id} did not catch up to {now}")
        state.end_trial(now)
        self._records.save(connection, holder, state, now, lower_due=False)
        if renewed:
            self._collect(context, holder, state)
        plan, _version = self._plans.plan(connection, state.plan_version_id)
        return self._records.due_at(connection, state, plan)

    def _collect(self, context: UnitOfWork, holder: CustomerRow, state: SubscriptionState) -> None:
        """After a renewal: the billing period now in force, when it is paid in money, is
        collected. The ledger runs due work at each boundary's own instant, so each period a
        late sweep catches up is renewed, and collected, in turn."""
        if self._collector is None:
            return
        period = self._paid_period(context.connection, state)
        if period is not None:
            self._collector.collect(context, holder, period)

    def _awaits_invoice(
        self, context: UnitOfWork, holder: CustomerRow, state: SubscriptionState, plan: Plan
    ) -> bool:
        """Whether the billing period's end waits for a provider's invoice: a renewal of a
        plan paid in money that the provider collects. A cancellation or a change scheduled
        for the period's end takes effect on this clock, as it bills nothing."""
        price = plan.prices.get(state.interval)
        return (
            self._collector is not None
            and state.pay_with == PAY_WITH_MONEY
            and price is not None
            and price.amount_minor > 0
            and not state.cancel_at_period_end
            and state.scheduled_plan_version_id is None
            and self._collector.collects_by_invoice(context, holder)
        )

    def renew_collected(
        self,
        connection: Connection,
        holder: CustomerRow,
        period: tuple[datetime, datetime] | None,
        now: datetime,
    ) -> bool:
        """Inside a write that holds the customer's lock: the provider's invoice for the
        billing ``period`` (start, end) is paid, so that period starts: the ending one's
        overage is billed and its allowance rolled over, the new one's fee line recorded (the
        provider collected it) and its allowance granted, once. The period is the next one of
        the run when its bounds are (or when the invoice names none); otherwise a new run
        starts at its start (the provider's anchor differs from ours). False, with nothing
        written, when that period (or a later one) is in force already."""
        row = repository.read_subscription(connection, holder.id)
        if row is None:
            return False
        state = SubscriptionState.from_row(row)
        months = months_in(state.interval)
        if period is None:
            period = period_bounds(state.anchor_at, months, state.period_index + 1)
        period_start, period_end = period
        if period_end <= period_start:
            raise InvalidRequest("period_end", "must be after period_start")
        if state.billing_bounds()[0] >= period_start:
            return False
        plan, _version = self._plans.plan(connection, state.plan_version_id)
        boundary, billing_end, allowance_end = state.next_boundary(plan)
        if billing_end == boundary:
            if allowance_end is None or allowance_end == boundary:
                self._overage.bill_period(connection, holder, state, plan, boundary, now)
                self._follow_time_zone(connection, holder, state, boundary)
            if allowance_end == boundary:
                self._starts.roll_over(connection, holder, state, plan, boundary, now)
        previous = dataclasses.replace(state)
        index = (
            period_index_at(state.anchor_at, months, period_start)
            if period_start >= state.anchor_at
            else None
        )
        if index is not None and period_bounds(state.anchor_at, months, index) == (
            period_start,
            period_end,
        ):
            state.period_index = index
        else:
            state.rebase(period_start)
        self._starts.start(connection, holder, state, now, renewal=True)
        self._records.announce_renewal(connection, holder, previous, state, now)
        self._records.save(connection, holder, state, now)
        return True

    @staticmethod
    def _follow_time_zone(
        connection: Connection, holder: CustomerRow, state: SubscriptionState, boundary: datetime
    ) -> None:
        """Before the ending period rolls over: its rolled credits last the new run's period."""
        state.follow_time_zone(
            ledger_repository.customer_time_zone(connection, holder.id), boundary
        )

    def _close_billing_period(self, state: SubscriptionState, boundary: datetime) -> None:
        if state.trial_ends_at is not None and boundary >= state.trial_ends_at:
            state.status = SubscriptionStatus.ACTIVE
        if state.cancel_at_period_end:
            state.cancel_at_period_end = False
            state.switch(self._plans.default_version_id(), Interval.MONTH, boundary)
        elif state.scheduled_plan_version_id is not None:
            interval = present(
                state.scheduled_interval, "a scheduled plan change has its scheduled interval"
            )
            state.switch(state.scheduled_plan_version_id, interval, boundary)
            state.scheduled_plan_version_id = None
            state.scheduled_interval = None
        else:
            state.period_index += 1

    def reset_period(self, customer: str, reason: str, idempotency_key: str) -> Subscription:
        """Ends the customer's allowance period now and starts a new one (an operator's manual
        reset): the overage used so far is billed or carried, the rollover applies as at a
        boundary, what it does not carry expires now, and the new period's allowance is
        granted; its per-period counters start again. One ``period_reset`` transaction, with
        ``reason``, in the customer's history. The billing period is left as it is.
        Idempotent: the same key again changes nothing and returns the subscription."""
        check_text(reason, "reason", REASON_LENGTH_MAX)
        check_text(idempotency_key, "idempotency_key", IDEMPOTENCY_KEY_LENGTH_MAX)

        def work(context: UnitOfWork) -> Subscription:
            connection, now = context.connection, context.now
            holder = context.customers[customer]
            row = repository.read_subscription(connection, holder.id)
            if row is None:
                raise InvalidRequest("customer", "has no subscription whose period to reset")
            state = SubscriptionState.from_row(row)
            done = ledger_repository.find_transaction(connection, idempotency_key)
            if done is not None:
                if done.kind is not TransactionKind.PERIOD_RESET or done.customer_id != holder.id:
                    raise IdempotencyConflict(
                        idempotency_key, "operation", done.kind, "period_reset"
                    )
                return self._records.view(connection, holder.external_id, state)
            plan, _version = self._plans.plan(connection, state.plan_version_id)
            allowance = allowance_of(plan)
            if allowance is None or state.allowance_index is None:
                raise InvalidRequest("customer", f"plan {plan.id!r} has no allowance period")
            if state.allowance_anchor_at == now:
                raise InvalidRequest("customer", "its period was reset at this instant already")
            start, end = state.allowance_bounds(allowance, state.allowance_index)
            self._overage.close_stretch(connection, holder, state, now)
            unit = allowance.unit
            # Read before the rollover: a period reset at its very start ends when the new one
            # does, and the rollover's grant must not expire with the grants it came from.
            ended = {
                account_id
                for account_id, _left, _rolled in repository.allowance_grants_ending(
                    connection, holder.id, unit, end
                )
            }
            state.allowance_anchor_at = now
            # A reset starts a new run: it counts in the zone the customer states now.
            state.allowance_time_zone = ledger_repository.customer_time_zone(connection, holder.id)
            self._starts.roll_over(
                connection, holder, state, plan, now, now, ends_at=end, key_kind="reset-rollover"
            )
            expiring = [
                (account_id, remaining)
                for account_id, remaining, _rolled in repository.allowance_grants_ending(
                    connection, holder.id, unit, end
                )
                if remaining > 0 and account_id in ended
            ]
            post_period_reset(
                self._ledger, connection, holder, idempotency_key, expiring, unit, now,
                {"reason": reason, "period_start": start.isoformat(),
                 "period_end": end.isoformat()},
            )  # fmt: skip
            state.allowance_index = None
            self._starts.grant_allowance(connection, holder, state, plan, now, now)
            self._records.save(connection, holder, state, now)
            return self._records.view(connection, holder.external_id, state)

        return self._ledger.locked_write([customer], work)

    def paid_period(self, connection: Connection, holder: CustomerRow) -> PaidPeriod | None:
        """The billing period in force, when it is paid in money at a price above zero and
        not in trial: what a renewal payment pays for. None otherwise."""
        row = repository.read_subscription(connection, holder.id)
        return (
            None if row is None else self._paid_period(connection, SubscriptionState.from_row(row))
        )

    def _paid_period(self, connection: Connection, state: SubscriptionState) -> PaidPeriod | None:
        plan, _version = self._plans.plan(connection, state.plan_version_id)
        price = plan.prices.get(state.interval)
        start, end = state.billing_bounds()
        in_trial = state.trial_ends_at is not None and start < state.trial_ends_at
        if state.pay_with != PAY_WITH_MONEY or not price or in_trial:
            return None
        return PaidPeriod(
            state.id, plan.id, state.interval, state.status, state.anchor_at, start, end, price
        )
