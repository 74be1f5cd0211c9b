"""The start of a period: its fee billed (or paid in credits), its allowance granted once, and
what the ending allowance period rolls over into it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.catalog import Allowance, AllowanceExpiry, Interval, Plan, RolloverKind
from creditkit.derived_keys import (
    allowance_key,
    fee_credits_key,
    fee_key,
    rollover_key,
    rollover_top_up_key,
    upgrade_allowance_key,
)
from creditkit.errors import InsufficientCredits
from creditkit.ledger import repository as ledger_repository
from creditkit.ledger.schemas import GrantSource
from creditkit.ledger.service import LedgerService
from creditkit.store.unit_of_work import CustomerRow
from creditkit.subscriptions import repository
from creditkit.subscriptions.collection import PAY_WITH_MONEY
from creditkit.subscriptions.plan_versions import PlanVersions
from creditkit.subscriptions.records import SubscriptionRecords
from creditkit.subscriptions.rollover import EndingGrant, carried
from creditkit.subscriptions.schemas import AllowanceOnUpgrade, BillingLineKind
from creditkit.subscriptions.state import (
    PAY_WITH_CREDITS,
    SubscriptionState,
    allowance_of,
    allowance_period,
    stamp,
)


class PeriodStarts:
    """Starts billing and allowance periods, inside the write that holds the customer's lock."""

    def __init__(
        self, ledger: LedgerService, plans: PlanVersions, records: SubscriptionRecords
    ) -> None:
        self._ledger = ledger
        self._plans = plans
        self._records = records

    def start(
        self,
        connection: Connection,
        holder: CustomerRow,
        state: SubscriptionState,
        now: datetime,
        renewal: bool = False,
        grant_allowance: bool = True,
    ) -> None:
        """Bills the current billing period (unless in trial) and grants the allowance of the
        current allowance period (unless ``grant_allowance`` is False), each once. A plan paid in
        credits is charged first, so the period's own allowance never pays for it; if the
        balance cannot pay, a new subscription is refused and a renewal falls back to the
        default plan."""
        plan, _version = self._plans.plan(connection, state.plan_version_id)
        start, end = state.billing_bounds()
        price = plan.prices.get(state.interval)
        in_trial = state.trial_ends_at is not None and start < state.trial_ends_at
        if state.pay_with == PAY_WITH_CREDITS and state.interval not in plan.prices_in_credits:
            # The plan now in force has no price in credits (a cancellation back to the default
            # plan, a change to a plan sold for money only): it is paid like any other plan.
            state.pay_with = PAY_WITH_MONEY
        if state.pay_with == PAY_WITH_CREDITS and not in_trial:
            if not self._pay_in_credits(connection, holder, state, plan, now):
                # The balance cannot pay this period: back to the default plan, paid in money.
                if renewal:
                    state.pay_with = PAY_WITH_MONEY
                    state.switch(self._plans.default_version_id(),
                                 Interval.MONTH, start)  # fmt: skip
                    self.start(connection, holder, state, now, renewal=True)
                    return
                price_in_credits = plan.prices_in_credits[state.interval]
                unit = self._ledger.unit(price_in_credits.unit)
                available = sum(
                    grant.remaining
                    for grant in self._ledger.live_in_order(
                        ledger_repository.grants_with_credits(connection, holder.id, unit.name),
                        now,
                    )
                )
                raise InsufficientCredits(
                    holder.external_id,
                    unit.name,
                    unit.to_quantity(available),
                    price_in_credits.amount,
                )
        elif price is not None and price.amount_minor > 0 and not in_trial:
            self._records.bill(
                connection, holder, state, BillingLineKind.SUBSCRIPTION,
                f"{plan.name}, {state.interval.value}ly", price, start, end,
                fee_key(
                    state.id, state.plan_version_id, stamp(state.anchor_at),
                    state.period_index,
                ),
                now,
            )  # fmt: skip
        if grant_allowance:
            self.grant_allowance(connection, holder, state, plan, start, now)

    def _pay_in_credits(
        self,
        connection: Connection,
        holder: CustomerRow,
        state: SubscriptionState,
        plan: Plan,
        now: datetime,
    ) -> bool:
        price = plan.prices_in_credits[state.interval]
        return self._ledger.post_charge(
            connection,
            holder,
            fee_credits_key(
                state.id, state.plan_version_id, stamp(state.anchor_at), state.period_index
            ),
            self._ledger.unit(price.unit).to_steps(price.amount),
            price.unit,
            f"plan:{plan.id}",
            now,
        )

    def grant_allowance(
        self,
        connection: Connection,
        holder: CustomerRow,
        state: SubscriptionState,
        plan: Plan,
        moment: datetime,
        now: datetime,
    ) -> None:
        allowance = allowance_of(plan)
        if allowance is None:
            state.allowance_index = None
            return
        index, end = allowance_period(state, allowance, moment)
        if index == state.allowance_index:
            # A billing renewal inside an allowance period in force (a quarter's allowance on
            # monthly billing): granted already, at its start or by an upgrade's raise.
            return
        state.allowance_index = index
        if end <= now:
            return  # a period wholly in the past while catching up: nothing left to spend
        self.post_allowance(
            connection, holder, allowance,
            self._ledger.unit(allowance.unit).to_steps(allowance.amount), end, now,
            # The version is part of the key: a plan change that starts a new run of periods at
            # the very moment of the last one must still grant its own allowance.
            allowance_key(state.id, state.plan_version_id, state.run_stamp(), index),
            {"allowance_period_end": end.isoformat(), "plan": plan.id},
        )  # fmt: skip

    def post_allowance(
        self,
        connection: Connection,
        holder: CustomerRow,
        allowance: Allowance,
        steps: int,
        period_end: datetime,
        now: datetime,
        key: str,
        metadata: dict[str, Any],
    ) -> None:
        expires_at = period_end if allowance.expires is AllowanceExpiry.PERIOD_END else None
        self._ledger.post_grant(
            connection, holder, key, steps, allowance.unit, GrantSource.ALLOWANCE, expires_at,
            now, metadata, applies_to=allowance.applies_to,
        )  # fmt: skip

    def raise_allowance(
        self,
        connection: Connection,
        holder: CustomerRow,
        state: SubscriptionState,
        old: Allowance | None,
        target: Plan,
        on_upgrade: AllowanceOnUpgrade,
        now: datetime,
    ) -> None:
        new = allowance_of(target)
        if new is None:
            state.allowance_index = None
            return
        index, end = allowance_period(state, new, now)
        unit = self._ledger.unit(new.unit)
        steps = unit.to_steps(new.amount)
        if on_upgrade is AllowanceOnUpgrade.DIFFERENCE and old is not None and old.unit == new.unit:
            steps -= unit.to_steps(old.amount)
        if on_upgrade is not AllowanceOnUpgrade.NONE and steps > 0:
            self.post_allowance(
                connection, holder, new, steps, end, now,
                upgrade_allowance_key(
                    state.id, state.plan_version_id, stamp(state.anchor_at), index
                ),
                {"allowance_period_end": end.isoformat(), "upgrade": True},
            )  # fmt: skip
        # This period's allowance counts as given: the next one comes at renewal.
        state.allowance_index = index

    def roll_over(
        self,
        connection: Connection,
        holder: CustomerRow,
        state: SubscriptionState,
        plan: Plan,
        boundary: datetime,
        now: datetime,
        ends_at: datetime | None = None,
        key_kind: str = "rollover",
    ) -> None:
        """Carries what is left of the allowance period ending at ``boundary`` (its grants
        expiring at ``ends_at``, the boundary unless a reset ends the period early) into the
        next one, per the plan's rule; the rest expires with its grants."""
        allowance = allowance_of(plan)
        if allowance is None or allowance.rollover.kind is RolloverKind.NONE:
            return
        unit = self._ledger.unit(allowance.unit)
        ending = [
            EndingGrant(account_id, remaining, rolled)
            for account_id, remaining, rolled in repository.allowance_grants_ending(
                connection, holder.id, unit.name, ends_at or boundary
            )
        ]
        carry = carried(allowance.rollover, unit, ending)
        # Rolled credits last ``expires_after_periods`` periods (one by default, rolling again).
        lasting = allowance.rollover.expires_after_periods or 1
        expires_at = state.allowance_bounds(
            allowance, state.allowance_index_at(allowance, boundary) + lasting - 1
        )[1]
        boundary_stamp = stamp(boundary)
        if carry.moves:
            self._ledger.post_rollover(
                connection, holder, rollover_key(key_kind, state.id, boundary_stamp),
                list(carry.moves), unit.name, expires_at, now,
            )  # fmt: skip
        if carry.top_up:
            self._ledger.post_grant(
                connection, holder, rollover_top_up_key(key_kind, state.id, boundary_stamp),
                carry.top_up, unit.name, GrantSource.ALLOWANCE, expires_at, now,
                {"rollover": True}, applies_to=allowance.applies_to,
            )  # fmt: skip
