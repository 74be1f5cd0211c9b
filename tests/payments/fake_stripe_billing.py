"""Stripe Billing's subscriptions for the local fake (fake_stripe.py), as Stripe's API documents
them for the parts creditkit uses:

- a subscription has one item on one recurring Price; its periods (on the item, API versions
  from 2025-03-31) follow the billing-cycle anchor: the n-th period ends n intervals after the
  anchor, its day clamped to the month's last (an anchor on Jan 31 renews on Feb 28, Mar 31);
- ``POST /v1/subscriptions/{id}`` swaps the item's price (``items[0][id]``, ``items[0][price]``)
  with ``proration_behavior`` (``create_prorations``, ``always_invoice`` or ``none``): the
  unused time of the old price credited and the rest of the period at the new price charged,
  by the second; a change of interval resets the anchor to now. ``cancel_at_period_end`` is set
  or cleared the same way;
- ``DELETE /v1/subscriptions/{id}`` cancels now; a canceled subscription cannot be updated;
- ``POST /v1/subscription_schedules`` with ``from_subscription`` makes a schedule whose one
  phase is the current period; ``POST /v1/subscription_schedules/{id}`` replaces its phases;
  ``…/release`` detaches it. When a period ends the next phase's price takes over;
- ``advance(subscription, to)`` is a test clock: each period end up to ``to`` renews (an
  invoice), or ends the subscription when it was to cancel at the period's end.

The fake's own calendar code, kept apart from creditkit's, so that a test comparing the two
compares two implementations of Stripe's rule.
"""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

Answer = tuple[int, dict[str, Any]]
#: Periods one ``advance`` rolls through: a test moves months, not years.
PERIODS_ADVANCED_MAX = 48


def stripe_months_after(anchor: datetime, months: int) -> datetime:
    total = anchor.month - 1 + months
    year, month = anchor.year + total // 12, total % 12 + 1
    return anchor.replace(
        year=year, month=month, day=min(anchor.day, calendar.monthrange(year, month)[1])
    )


def _months(interval: str) -> int:
    return 12 if interval == "year" else 1


def _stamp(moment: datetime) -> int:
    return int(moment.timestamp())


def _moment(stamp: int) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)


def _proration(amount: int, description: str, start: datetime, end: datetime) -> dict[str, Any]:
    period = {"start": _stamp(start), "end": _stamp(end)}
    return {"amount": amount, "proration": True, "description": description, "period": period}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"type": "invalid_request_error", "code": code, "message": message}}


class Billing:
    """The subscriptions and schedules of one fake; called under the fake's lock."""

    def __init__(
        self,
        prices: dict[str, dict[str, Any]],
        new_id: Callable[[str], str],
        now: Callable[[], datetime],
    ) -> None:
        self.prices = prices
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.schedules: dict[str, dict[str, Any]] = {}
        #: Every invoice made: the first, prorations, renewals.
        self.invoices: list[dict[str, Any]] = []
        self._new_id = new_id
        self._now = now

    # -- state ----------------------------------------------------------------------------------

    def create(self, customer: str, price_id: str | None, amount: int, currency: str) -> str:
        """The subscription a paid checkout makes, anchored now."""
        now = self._now().replace(microsecond=0)
        subscription_id = self._new_id("sub")
        price = self.prices.get(price_id or "")
        self.subscriptions[subscription_id] = {
            "id": subscription_id,
            "object": "subscription",
            "customer": customer,
            "status": "active",
            "cancel_at_period_end": False,
            "canceled_at": None,
            "schedule": None,
            "_anchor": now,
            "_period": 0,
            "_price": price,
            "amount": amount if price is None else price["unit_amount"],
            "currency": currency if price is None else price["currency"],
            "_item": self._new_id("si"),
        }
        return subscription_id

    def bounds(self, subscription: dict[str, Any]) -> tuple[datetime, datetime]:
        months = _months(self._interval(subscription))
        index = subscription["_period"]
        anchor = subscription["_anchor"]
        return (
            stripe_months_after(anchor, months * index),
            stripe_months_after(anchor, months * (index + 1)),
        )

    @staticmethod
    def _interval(subscription: dict[str, Any]) -> str:
        price = subscription["_price"]
        return "month" if price is None else str(price["recurring"]["interval"])

    def public(self, subscription: dict[str, Any]) -> dict[str, Any]:
        start, end = self.bounds(subscription)
        item = {
            "id": subscription["_item"],
            "object": "subscription_item",
            "price": subscription["_price"],
            "quantity": 1,
            "current_period_start": _stamp(start),
            "current_period_end": _stamp(end),
        }
        body = {name: value for name, value in subscription.items() if not name.startswith("_")}
        body.pop("amount", None)
        body["billing_cycle_anchor"] = _stamp(subscription["_anchor"])
        body["items"] = {"object": "list", "data": [item], "has_more": False}
        return body

    # -- routes ---------------------------------------------------------------------------------

    def route(self, method: str, path: str, params: dict[str, str]) -> Answer | None:
        parts = path.strip("/").split("/")  # v1, subscriptions, {id}[, action]
        if parts[1] == "subscriptions" and len(parts) == 3:
            subscription = self.subscriptions.get(parts[2])
            if subscription is None:
                return 404, _error("resource_missing", f"No such subscription: '{parts[2]}'")
            if method == "GET":
                return 200, self.public(subscription)
            if subscription["status"] == "canceled":
                return 400, _error(
                    "subscription_canceled", "A canceled subscription can only update metadata"
                )
            if method == "DELETE":
                self._end(subscription)
                return 200, self.public(subscription)
            return self._update(subscription, params)
        if parts[1] == "subscription_schedules":
            return self._schedule_route(method, parts, params)
        return None

    def _update(self, subscription: dict[str, Any], params: dict[str, str]) -> Answer:
        if "cancel_at_period_end" in params:
            subscription["cancel_at_period_end"] = params["cancel_at_period_end"] == "true"
        if "items[0][price]" in params:
            if params.get("items[0][id]") != subscription["_item"]:
                return 400, _error("resource_missing", "items[0][id] is not this subscription's")
            if subscription["schedule"] is not None:
                return 400, _error(
                    "subscription_schedule_exists",
                    "The subscription is managed by a schedule: update the schedule",
                )
            price = self.prices.get(params["items[0][price]"])
            if price is None:
                return 400, _error("resource_missing", "No such price")
            behavior = params.get("proration_behavior", "create_prorations")
            if behavior not in ("create_prorations", "always_invoice", "none"):
                return 400, _error("parameter_invalid_value", "proration_behavior")
            self._swap(subscription, price, behavior)
        return 200, self.public(subscription)

    def _swap(self, subscription: dict[str, Any], price: dict[str, Any], behavior: str) -> None:
        now = self._now().replace(microsecond=0)
        old = subscription["_price"]
        start, end = self.bounds(subscription)
        total, remaining = _stamp(end) - _stamp(start), _stamp(end) - _stamp(now)
        lines = []
        if behavior != "none" and old is not None:
            credit = -(old["unit_amount"] * remaining // total)
            lines.append(_proration(credit, "Unused time", now, end))
        subscription["_price"] = price
        subscription["amount"] = price["unit_amount"]
        if old is not None and old["recurring"]["interval"] != price["recurring"]["interval"]:
            # A new interval starts a new billing cycle now, charged in full.
            subscription["_anchor"], subscription["_period"] = now, 0
            lines.append(self._line(subscription, proration=False))
        elif behavior != "none":
            charge = price["unit_amount"] * remaining // total
            lines.append(_proration(charge, "Remaining time", now, end))
        if lines and behavior == "always_invoice":
            self._invoice(subscription, "subscription_update", lines)

    def _line(self, subscription: dict[str, Any], *, proration: bool) -> dict[str, Any]:
        start, end = self.bounds(subscription)
        return {
            "type": "subscription",
            "amount": subscription["amount"],
            "proration": proration,
            "period": {"start": _stamp(start), "end": _stamp(end)},
        }

    def _invoice(
        self, subscription: dict[str, Any], reason: str, lines: list[dict[str, Any]]
    ) -> dict[str, Any]:
        total = sum(line["amount"] for line in lines)
        invoice = {
            "id": self._new_id("in"),
            "object": "invoice",
            "customer": subscription["customer"],
            "subscription": subscription["id"],
            "billing_reason": reason,
            "status": "paid",
            "payment_intent": self._new_id("pi"),
            "amount_due": total,
            "amount_paid": total,
            "currency": subscription["currency"],
            "lines": {"object": "list", "data": lines},
        }
        self.invoices.append(invoice)
        return invoice

    def _end(self, subscription: dict[str, Any]) -> None:
        subscription["status"] = "canceled"
        subscription["canceled_at"] = _stamp(self._now())
        schedule_id = subscription["schedule"]
        if schedule_id is not None:
            self.schedules[schedule_id]["status"] = "canceled"
            subscription["schedule"] = None

    # -- schedules ------------------------------------------------------------------------------

    def _schedule_route(self, method: str, parts: list[str], params: dict[str, str]) -> Answer:
        if len(parts) == 2:
            subscription = self.subscriptions.get(params.get("from_subscription", ""))
            if subscription is None:
                return 400, _error("resource_missing", "No such subscription")
            if subscription["schedule"] is not None:
                return 400, _error("resource_already_exists", "the subscription has a schedule")
            start, end = self.bounds(subscription)
            schedule = {
                "id": self._new_id("sub_sched"),
                "object": "subscription_schedule",
                "subscription": subscription["id"],
                "status": "active",
                "end_behavior": "release",
                "phases": [
                    {
                        "items": [{"price": subscription["_price"]["id"], "quantity": 1}],
                        "start_date": _stamp(start),
                        "end_date": _stamp(end),
                    }
                ],
            }
            self.schedules[schedule["id"]] = schedule
            subscription["schedule"] = schedule["id"]
            return 200, schedule
        schedule = self.schedules.get(parts[2])
        if schedule is None:
            return 404, _error("resource_missing", "No such subscription schedule")
        if method == "GET":
            return 200, schedule
        if schedule["status"] != "active":
            return 400, _error(
                "schedule_unexpected_status", f"the schedule is {schedule['status']}"
            )
        if len(parts) == 4 and parts[3] == "release":
            schedule["status"] = "released"
            self.subscriptions[schedule["subscription"]]["schedule"] = None
            return 200, schedule
        phases = self._phases(params)
        if phases is None:
            return 400, _error("parameter_invalid", "each phase names one price")
        subscription = self.subscriptions[schedule["subscription"]]
        start, _end = self.bounds(subscription)
        if phases[0].get("start_date") != _stamp(start):
            return 400, _error("parameter_invalid", "the first phase must start as the current one")
        for previous, phase in itertools.pairwise(phases):
            # As Stripe shows a schedule: each phase starts where the one before ends.
            phase.setdefault("start_date", self._phase_end(previous))
        for phase in phases:
            end = self._phase_end(phase)
            if end is not None:
                phase["end_date"] = end
        schedule["phases"] = phases
        schedule["end_behavior"] = params.get("end_behavior", schedule["end_behavior"])
        return 200, schedule

    def _phases(self, params: dict[str, str]) -> list[dict[str, Any]] | None:
        phases: list[dict[str, Any]] = []
        for index in range(10):
            price = params.get(f"phases[{index}][items][0][price]")
            if price is None:
                break
            if price not in self.prices:
                return None
            phase: dict[str, Any] = {"items": [{"price": price, "quantity": 1}]}
            for name in ("start_date", "end_date"):
                if f"phases[{index}][{name}]" in params:
                    phase[name] = int(params[f"phases[{index}][{name}]"])
            interval = params.get(f"phases[{index}][duration][interval]")
            if interval is not None:
                count = params.get(f"phases[{index}][duration][interval_count]", "1")
                phase["duration"] = {"interval": interval, "interval_count": int(count)}
            phases.append(phase)
        return phases or None

    # -- the test clock -------------------------------------------------------------------------

    def advance(self, subscription_id: str, to: datetime) -> list[dict[str, Any]]:
        """Rolls the subscription through each period end up to ``to``: the invoices made."""
        subscription = self.subscriptions[subscription_id]
        made: list[dict[str, Any]] = []
        for _step in range(PERIODS_ADVANCED_MAX):
            _start, end = self.bounds(subscription)
            if subscription["status"] == "canceled" or end > to:
                return made
            if subscription["cancel_at_period_end"]:
                subscription["status"], subscription["canceled_at"] = "canceled", _stamp(end)
                return made
            self._next_phase(subscription, end)
            made.append(
                self._invoice(
                    subscription, "subscription_cycle", [self._line(subscription, proration=False)]
                )
            )
        raise AssertionError("advance moved more periods than a test needs")

    def _next_phase(self, subscription: dict[str, Any], end: datetime) -> None:
        """The period after ``end``: the schedule's next phase when its current one ends there
        (a schedule whose last phase ends is released: the subscription runs on)."""
        schedule_id = subscription["schedule"]
        if schedule_id is not None:
            schedule = self.schedules[schedule_id]
            phases = schedule["phases"]
            if self._phase_end(phases[0]) == _stamp(end):
                schedule["phases"] = phases = phases[1:]
                if not phases:
                    schedule["status"], subscription["schedule"] = "released", None
                else:
                    phases[0]["start_date"] = _stamp(end)
                    price = self.prices[phases[0]["items"][0]["price"]]
                    interval_changed = price["recurring"]["interval"] != self._interval(
                        subscription
                    )
                    subscription["_price"], subscription["amount"] = price, price["unit_amount"]
                    if interval_changed:
                        subscription["_anchor"], subscription["_period"] = end, 0
                        return
        subscription["_period"] += 1

    @staticmethod
    def _phase_end(phase: dict[str, Any]) -> int | None:
        if "end_date" in phase:
            return int(phase["end_date"])
        duration = phase.get("duration")
        if duration is None or "start_date" not in phase:
            return None
        months = _months(duration["interval"]) * int(duration["interval_count"])
        return _stamp(stripe_months_after(_moment(phase["start_date"]), months))
