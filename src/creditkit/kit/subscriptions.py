"""The kit's subscriptions (``CreditKit``'s methods: see kit/__init__.py)."""

from __future__ import annotations

import warnings

from creditkit.catalog import Plan
from creditkit.kit.parts import KitParts
from creditkit.ledger.schemas import SweepReport
from creditkit.subscriptions.collection import check_collected
from creditkit.subscriptions.schemas import BillingLine, Subscription


class KitSubscriptions(KitParts):
    """Subscriptions (they need a catalog), and the due work that renews them."""

    def subscribe(
        self,
        customer: str,
        plan: str,
        *,
        interval: str = "month",
        trial_days: int = 0,
        pay_with: str = "money",
        collected_elsewhere: bool = False,
    ) -> Subscription:
        """Puts the customer on ``plan``, billed every ``interval`` (``"month"`` or ``"year"``);
        periods are anchored on today (anniversary). For a customer already subscribed (every
        customer starts on the default plan) this is ``change_plan``. ``pay_with="credits"``
        pays each period from the balance at the plan's price in credits. A plan priced in
        money raises ``CheckoutRequired`` (start it with ``checkout``, which collects it)
        unless ``collected_elsewhere``: the app's own billing collects its billing lines."""
        subscriptions = self._subscriptions_required()
        check_collected(
            self._catalog_required(), customer, plan, interval, pay_with, collected_elsewhere
        )
        return subscriptions.subscribe(customer, plan, interval, trial_days, pay_with)

    def change_plan(
        self,
        customer: str,
        plan: str,
        *,
        interval: str | None = None,
        allowance_on_upgrade: str = "difference",
    ) -> Subscription:
        """Upgrades now (prorated to the second; the allowance raised by the difference, or
        ``"full"``, or ``"none"``); downgrades at the end of the billing period. A plan that
        Stripe bills changes there too (see docs/payments.md)."""
        subscriptions = self._subscriptions_required()
        if self._payments is not None:
            return self._payments.change_plan(customer, plan, interval, allowance_on_upgrade)
        return subscriptions.change_plan(customer, plan, interval, allowance_on_upgrade)

    def cancel(self, customer: str, *, at_period_end: bool = True) -> Subscription:
        """Back to the default plan at the end of the billing period, or now (and the Stripe
        subscription of a plan Stripe bills with it)."""
        subscriptions = self._subscriptions_required()
        if self._payments is not None:
            return self._payments.cancel(customer, at_period_end)
        return subscriptions.cancel(customer, at_period_end)

    def reset_period(self, customer: str, *, reason: str, idempotency_key: str) -> Subscription:
        """Ends the customer's allowance period now and starts a new one: overage billed or
        carried, the rollover applied, the rest expired, the new allowance granted and the
        per-period counters restarted; a ``period_reset`` with ``reason`` in its history. The
        billing period is unchanged. The same ``idempotency_key`` again changes nothing."""
        return self._subscriptions_required().reset_period(customer, reason, idempotency_key)

    def subscription(self, customer: str) -> Subscription | None:
        return self._subscriptions_required().subscription(customer)

    def plan_of(self, customer: str) -> Plan:
        """The plan whose terms apply to the customer now (grandfathered version included)."""
        return self._subscriptions_required().plan_of(customer)

    def billing_lines(self, customer: str, *, limit: int = 50) -> tuple[BillingLine, ...]:
        """What the customer owes, newest first: period fees and upgrade prorations."""
        return self._subscriptions_required().billing_lines(customer, limit)

    def tick(self) -> SweepReport:
        """Runs everything that has fallen due: renewals, expiries, hold timeouts. Optional:
        every read or write of a customer does that customer's due work first."""
        return self._ledger.tick()

    def expire(self) -> SweepReport:
        """Deprecated: ``tick``, under the name it had too. It runs the same due work (of which
        expiries are a part); it warns, and goes in a later release."""
        warnings.warn("CreditKit.expire() is deprecated: call tick()", DeprecationWarning, 2)
        return self.tick()
