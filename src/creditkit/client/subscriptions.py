"""The client's subscriptions (``Client``'s methods: see client.py)."""

from __future__ import annotations

from creditkit.client.encode import v1_path
from creditkit.client.errors import ApiError
from creditkit.client.wire import Wire
from creditkit.subscriptions.schemas import BillingLine, Subscription


class ClientSubscriptions:
    """Subscriptions over HTTP."""

    _wire: Wire

    def subscribe(
        self,
        customer: str,
        plan: str,
        *,
        interval: str = "month",
        trial_days: int = 0,
        pay_with: str = "money",
        collected_elsewhere: bool = False,
        idempotency_key: str | None = None,
    ) -> Subscription:
        """Puts the customer on ``plan`` (a change of plan when already subscribed). A plan
        priced in money raises ``CheckoutRequired`` (start it with ``checkout``) unless
        ``collected_elsewhere``: the app's own billing collects it."""
        body = {
            "plan": plan,
            "interval": interval,
            "trial_days": trial_days,
            "pay_with": pay_with,
            "collected_elsewhere": collected_elsewhere,
        }
        path = v1_path("customers", customer, "subscription")
        return self._wire.write("POST", path, Subscription, body, idempotency_key)

    def change_plan(
        self,
        customer: str,
        plan: str,
        *,
        interval: str | None = None,
        allowance_on_upgrade: str = "difference",
        idempotency_key: str | None = None,
    ) -> Subscription:
        """Upgrades now (prorated), downgrades at the end of the billing period."""
        body = {"plan": plan, "interval": interval, "allowance_on_upgrade": allowance_on_upgrade}
        path = v1_path("customers", customer, "subscription", "change")
        return self._wire.write("POST", path, Subscription, body, idempotency_key)

    def cancel(
        self, customer: str, *, at_period_end: bool = True, idempotency_key: str | None = None
    ) -> Subscription:
        """Back to the default plan at the end of the billing period, or now."""
        path = v1_path("customers", customer, "subscription", "cancel")
        body = {"at_period_end": at_period_end}
        return self._wire.write("POST", path, Subscription, body, idempotency_key)

    def reset_period(
        self, customer: str, *, reason: str, idempotency_key: str | None = None
    ) -> Subscription:
        """Ends the customer's allowance period now and starts a new one, with ``reason`` kept
        in the history; the billing period is unchanged."""
        path = v1_path("customers", customer, "period-reset")
        return self._wire.write("POST", path, Subscription, {"reason": reason}, idempotency_key)

    def subscription(self, customer: str) -> Subscription | None:
        try:
            return self._wire.read(v1_path("customers", customer, "subscription"), Subscription)
        except ApiError as error:
            if error.problem == "no_subscription":
                return None
            raise

    def billing_lines(self, customer: str, *, limit: int = 50) -> tuple[BillingLine, ...]:
        """What the customer owes, newest first."""
        path = v1_path("customers", customer, "billing-lines")
        return tuple(self._wire.read_list(path, BillingLine, {"limit": limit}))
