"""Stripe Billing subscriptions following creditkit's plan changes, and read back for webhooks.

- An upgrade swaps the subscription item's Price now; Stripe prorates the rest of the period
  and invoices it at once (``proration_behavior=always_invoice``), refusing the change when
  that invoice cannot be paid (``payment_behavior=error_if_incomplete``), so a declined card
  changes nothing on either side.
- A downgrade (or a change of interval alone) waits for the period's end through a
  subscription schedule made from the subscription: its first phase is the current period
  unchanged, its second the new Price, then the schedule releases the subscription.
- A cancellation at the period's end sets ``cancel_at_period_end`` (a schedule is released
  first: Stripe refuses both at once); resuming clears it. Cancelling now deletes the
  subscription.

Every write carries the caller's idempotency key (one per step, derived from it), so a retried
change is the same change at Stripe.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import stripe

from creditkit.catalog import Interval
from creditkit.derived_keys import provider_step_key
from creditkit.payments.errors import ProviderError
from creditkit.payments.schemas import PlanPrice, ProviderPlan, ProviderSubscription

Call = Callable[[Callable[[], Any]], Any]


class StripeSubscriptions:
    def __init__(self, client: stripe.StripeClient, call: Call) -> None:
        self._client = client
        self._call = call

    def state(self, subscription_id: str) -> ProviderSubscription:
        """The subscription as Stripe holds it now, with the plan its schedule moves it to."""
        found = self._retrieve(subscription_id)
        scheduled = None
        schedule_id = _id_of(found.get("schedule"))
        if schedule_id is not None:
            schedule = self._call(
                lambda: self._client.v1.subscription_schedules.retrieve(schedule_id)
            ).to_dict()
            scheduled = self._scheduled_plan(schedule, found)
        return _subscription(found, scheduled)

    def change_now(
        self, subscription_id: str, price_id: str, idempotency_key: str
    ) -> ProviderSubscription:
        found = self._retrieve(subscription_id)
        self._release_schedule(found, provider_step_key(idempotency_key, "release"))
        item = _item(found)
        updated = self._call(
            lambda: self._client.v1.subscriptions.update(
                subscription_id,
                {
                    "items": [{"id": item["id"], "price": price_id}],
                    "proration_behavior": "always_invoice",
                    "payment_behavior": "error_if_incomplete",
                    "cancel_at_period_end": False,
                },
                {"idempotency_key": idempotency_key},
            )
        ).to_dict()
        return _subscription(updated, None)

    def change_at_period_end(
        self, subscription_id: str, price: PlanPrice, price_id: str, idempotency_key: str
    ) -> None:
        found = self._retrieve(subscription_id)
        if found.get("cancel_at_period_end"):
            self._set_cancel(subscription_id, False, provider_step_key(idempotency_key, "resume"))
        schedule_id = _id_of(found.get("schedule"))
        if schedule_id is None:
            created = self._call(
                lambda: self._client.v1.subscription_schedules.create(
                    {"from_subscription": subscription_id},
                    {"idempotency_key": provider_step_key(idempotency_key, "schedule")},
                )
            )
            schedule_id = str(created.id)
        item = _item(found)
        current_price = _id_of(item["price"])
        self._call(
            lambda: self._client.v1.subscription_schedules.update(
                str(schedule_id),
                {  # type: ignore[arg-type]
                    "end_behavior": "release",
                    "phases": [
                        {
                            "items": [{"price": current_price, "quantity": 1}],
                            "start_date": int(item["current_period_start"]),
                            "end_date": int(item["current_period_end"]),
                        },
                        {
                            "items": [{"price": price_id, "quantity": 1}],
                            "duration": {"interval": price.interval.value, "interval_count": 1},
                        },
                    ],
                },
                {"idempotency_key": idempotency_key},
            )
        )

    def cancel_at_period_end(
        self, subscription_id: str, cancel: bool, idempotency_key: str
    ) -> None:
        """Sets (or, ``cancel`` False, clears) the end at the period's end; either way a
        scheduled change is released: the plan in force stands."""
        found = self._retrieve(subscription_id)
        self._release_schedule(found, provider_step_key(idempotency_key, "release"))
        if bool(found.get("cancel_at_period_end")) != cancel:
            self._set_cancel(subscription_id, cancel, idempotency_key)

    def cancel_now(self, subscription_id: str, idempotency_key: str) -> None:
        """Ends the subscription now; one ended already is left as it is."""
        found = self._retrieve(subscription_id)
        if found.get("status") == "canceled":
            return
        self._call(
            lambda: self._client.v1.subscriptions.cancel(
                subscription_id, {}, {"idempotency_key": idempotency_key}
            )
        )

    # -- reads ----------------------------------------------------------------------------------

    def _retrieve(self, subscription_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self._call(
            lambda: self._client.v1.subscriptions.retrieve(subscription_id)
        ).to_dict()
        return found

    def _set_cancel(self, subscription_id: str, cancel: bool, idempotency_key: str) -> None:
        self._call(
            lambda: self._client.v1.subscriptions.update(
                subscription_id,
                {"cancel_at_period_end": cancel},
                {"idempotency_key": idempotency_key},
            )
        )

    def _release_schedule(self, found: dict[str, Any], idempotency_key: str) -> None:
        schedule_id = _id_of(found.get("schedule"))
        if schedule_id is None:
            return
        self._call(
            lambda: self._client.v1.subscription_schedules.release(
                schedule_id, {}, {"idempotency_key": idempotency_key}
            )
        )

    def _scheduled_plan(
        self, schedule: dict[str, Any], found: dict[str, Any]
    ) -> ProviderPlan | None:
        """The plan of the phase that follows the current period, when it differs from the
        plan in force."""
        end = int(_item(found)["current_period_end"])
        following = [
            phase for phase in schedule.get("phases") or [] if phase.get("start_date") == end
        ]
        if schedule.get("status") not in ("active", "not_started") or not following:
            return None
        price_id = _id_of(following[0]["items"][0]["price"])
        if price_id is None or price_id == _id_of(_item(found)["price"]):
            return None
        price = self._call(lambda: self._client.v1.prices.retrieve(price_id)).to_dict()
        return _plan_of(price)


def _subscription(found: dict[str, Any], scheduled: ProviderPlan | None) -> ProviderSubscription:
    item = _item(found)
    price = item["price"]
    return ProviderSubscription(
        id=str(found["id"]),
        status=str(found["status"]),
        plan=_plan_of(price) if isinstance(price, dict) else None,
        period_start=datetime.fromtimestamp(int(item["current_period_start"]), UTC),
        period_end=datetime.fromtimestamp(int(item["current_period_end"]), UTC),
        cancel_at_period_end=bool(found.get("cancel_at_period_end")),
        scheduled=scheduled,
    )


def _item(found: dict[str, Any]) -> dict[str, Any]:
    """The subscription's one item: creditkit's subscriptions have one Price."""
    items = (found.get("items") or {}).get("data") or []
    if len(items) != 1:
        raise ProviderError("stripe", f"subscription {found.get('id')} has {len(items)} items")
    item: dict[str, Any] = items[0]
    return item


def _plan_of(price: dict[str, Any]) -> ProviderPlan | None:
    """The plan version a Price sells, from the metadata ``creditkit stripe sync`` gave it;
    None for a Price made elsewhere."""
    metadata = price.get("metadata") or {}
    plan, version = metadata.get("creditkit_plan"), metadata.get("creditkit_plan_version")
    interval = (price.get("recurring") or {}).get("interval")
    if plan is None or version is None or not str(version).isdigit():
        return None
    if interval not in (Interval.MONTH.value, Interval.YEAR.value):
        return None
    return ProviderPlan(str(plan), int(version), Interval(interval))


def _id_of(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        return str(value["id"])
    return str(value.id)
