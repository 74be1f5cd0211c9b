"""Plan changes that Stripe follows, served: two ``creditkit serve --payments stripe`` processes
on one PostgreSQL database, the official SDK against the local fake of Stripe's API on the
processes' clock (its test clock reads their clock file), signed webhooks sent to either:

- an upgrade now: the subscription's Price swapped with Stripe's proration, invoiced at once;
- a downgrade at the period's end through a subscription schedule, in force from the next
  period, whose invoice starts creditkit's;
- cancel at the period's end and resume, on both sides;
- a change made in the billing portal arriving by ``customer.subscription.updated``, an older
  event delivered after it undoing nothing;
- a plan bought on January 31 whose periods are Stripe's (Feb 28, Mar 31, Apr 30);
- a failed renewal's grace period ending: the default plan, and the worker cancels the Stripe
  subscription.
"""

from __future__ import annotations

import calendar
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_served_stripe import URLS, Served, served

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "payments"))
import fake_stripe

pytestmark = pytest.mark.postgres

__all__ = ["served"]  # the module's servers, as test_served_stripe.py starts them
GRACE_PERIOD_DAYS = 7


@pytest.fixture
def stripe(served: Served) -> fake_stripe.FakeStripe:
    """The fake's test clock is the servers' clock."""
    served.fake.clock = served.now
    return served.fake


def _subscribe(served: Served, name: str, plan: str) -> str:
    served.customer(name)
    created = served.client.post(
        f"/v1/customers/{name}/checkout",
        json={"plan": plan, "interval": "month", **URLS},
        headers={"Idempotency-Key": f"plan-{name}"},
    )
    assert created.status_code == 201, created.text
    paid = served.fake.pay(created.json()["session_id"])
    served.set_clock(served.now() + timedelta(seconds=3))  # the webhook comes a moment later
    served.webhook(served.first, "checkout.session.completed", paid, f"evt_plan_{name}")
    assert served.subscription(name)["plan"] == plan
    return str(paid["subscription"])


def _post(served: Served, url: str, path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
    answer = httpx.post(
        f"{url}{path}",
        json=body,
        headers={**served.client.headers, "Idempotency-Key": key},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _periods(served: Served, name: str, subscription_id: str) -> tuple[Any, Any]:
    mine = served.subscription(name)
    item = served.fake.subscription(subscription_id)["items"]["data"][0]
    return (
        (
            datetime.fromisoformat(mine["current_period_start"]),
            datetime.fromisoformat(mine["current_period_end"]),
        ),
        (
            datetime.fromtimestamp(item["current_period_start"], UTC),
            datetime.fromtimestamp(item["current_period_end"], UTC),
        ),
    )


def _lookup_key(served: Served, subscription_id: str) -> str:
    return str(served.fake.subscription(subscription_id)["items"]["data"][0]["price"]["lookup_key"])


def _renew(served: Served, subscription_id: str, tag: str) -> None:
    for number, invoice in enumerate(served.fake.advance(subscription_id, served.now())):
        served.webhook(served.second, "invoice.paid", invoice, f"evt_{tag}_{number}")


def test_an_upgrade_now_is_prorated_by_stripe(
    served: Served, stripe: fake_stripe.FakeStripe
) -> None:
    subscription_id = _subscribe(served, "erin", "pro")
    served.set_clock(served.now() + timedelta(days=10))
    changed = _post(
        served, served.first, "/v1/customers/erin/subscription/change", {"plan": "team"}, "up"
    )
    assert changed["plan"] == "team"
    [update] = stripe.calls("POST", f"/v1/subscriptions/{subscription_id}")
    assert update.params["proration_behavior"] == "always_invoice"
    assert update.idempotency_key is not None
    assert _lookup_key(served, subscription_id) == "creditkit_team_v1_month"
    [proration] = [
        invoice
        for invoice in stripe.billing.invoices
        if invoice["subscription"] == subscription_id
        and invoice["billing_reason"] == "subscription_update"
    ]
    (start, end), theirs = _periods(served, "erin", subscription_id)
    assert (start, end) == theirs
    remaining = (end - served.now()).total_seconds() / (end - start).total_seconds()
    assert proration["amount_due"] == pytest.approx((8000 - 2000) * remaining, abs=1)
    # Stripe's webhook of the change, to the other process: nothing more to apply.
    updated = stripe.subscription(subscription_id)
    served.webhook(served.second, "customer.subscription.updated", updated, "evt_erin_up")
    assert served.subscription("erin")["plan"] == "team"


def test_a_downgrade_at_period_end_goes_through_a_schedule(
    served: Served, stripe: fake_stripe.FakeStripe
) -> None:
    subscription_id = _subscribe(served, "frank", "team")
    served.set_clock(served.now() + timedelta(days=4))
    changed = _post(
        served, served.second, "/v1/customers/frank/subscription/change", {"plan": "pro"}, "down"
    )
    assert (changed["plan"], changed["scheduled_plan"]) == ("team", "pro")
    schedule_id = stripe.subscription(subscription_id)["schedule"]
    assert schedule_id is not None
    [phases] = stripe.calls("POST", f"/v1/subscription_schedules/{schedule_id}")
    assert phases.idempotency_key is not None
    assert _lookup_key(served, subscription_id) == "creditkit_team_v1_month"  # until the end
    end = _periods(served, "frank", subscription_id)[1][1]
    served.set_clock(end + timedelta(hours=1))
    _renew(served, subscription_id, "frank")
    assert _lookup_key(served, subscription_id) == "creditkit_pro_v1_month"
    subscription = served.subscription("frank")
    assert (subscription["plan"], subscription["scheduled_plan"]) == ("pro", None)
    mine, theirs = _periods(served, "frank", subscription_id)
    assert mine == theirs and mine[0] == end


def test_cancel_at_period_end_and_resume_in_stripe(
    served: Served, stripe: fake_stripe.FakeStripe
) -> None:
    subscription_id = _subscribe(served, "gina", "pro")
    cancelled = _post(
        served, served.first, "/v1/customers/gina/subscription/cancel",
        {"at_period_end": True}, "cancel",
    )  # fmt: skip
    assert cancelled["cancel_at_period_end"] is True
    assert stripe.subscription(subscription_id)["cancel_at_period_end"] is True
    resumed = _post(
        served, served.second, "/v1/customers/gina/subscription/change", {"plan": "pro"}, "resume"
    )
    assert resumed["cancel_at_period_end"] is False
    assert stripe.subscription(subscription_id)["cancel_at_period_end"] is False
    calls = stripe.calls("POST", f"/v1/subscriptions/{subscription_id}")
    assert len(calls) == 2 and all(call.idempotency_key for call in calls)


def test_a_portal_change_arrives_by_webhook(served: Served, stripe: fake_stripe.FakeStripe) -> None:
    subscription_id = _subscribe(served, "hank", "pro")
    older = stripe.subscription(subscription_id)
    served.set_clock(served.now() + timedelta(days=2))
    # The customer upgrades in Stripe's billing portal.
    with stripe._lock:
        [team] = [
            price
            for price in stripe.prices.values()
            if price["lookup_key"] == "creditkit_team_v1_month"
        ]
        stripe.billing._swap(stripe.subscriptions[subscription_id], team, "create_prorations")
    newer = stripe.subscription(subscription_id)
    served.webhook(served.first, "customer.subscription.updated", newer, "evt_hank_new")
    assert served.subscription("hank")["plan"] == "team"
    # An event sent before it, delivered after it, to the other process: team stays.
    served.webhook(served.second, "customer.subscription.updated", older, "evt_hank_old")
    assert served.subscription("hank")["plan"] == "team"
    mine, theirs = _periods(served, "hank", subscription_id)
    assert mine == theirs


def test_a_plan_started_on_january_31_has_stripes_periods(
    served: Served, stripe: fake_stripe.FakeStripe
) -> None:
    now = served.now()
    january_31 = datetime(now.year + 1, 1, 31, 9, 15, tzinfo=UTC)
    served.set_clock(january_31)
    subscription_id = _subscribe(served, "ivy", "pro")
    year = january_31.year
    february_days = calendar.monthrange(year, 2)[1]  # 28, or 29 in a leap year
    for month, day in ((2, february_days), (3, 31), (4, 30)):
        mine, theirs = _periods(served, "ivy", subscription_id)
        assert mine == theirs
        assert theirs[1] == datetime(year, month, day, 9, 15, tzinfo=UTC)
        served.set_clock(theirs[1] + timedelta(hours=1))
        _renew(served, subscription_id, f"ivy_{month}")


def test_grace_ending_cancels_the_stripe_subscription(
    served: Served, stripe: fake_stripe.FakeStripe
) -> None:
    subscription_id = _subscribe(served, "jack", "pro")
    end = _periods(served, "jack", subscription_id)[1][1]
    served.set_clock(end + timedelta(hours=1))
    failed = stripe.invoice(subscription_id, end, end + timedelta(days=30), paid=False)
    served.webhook(served.first, "invoice.payment_failed", failed, "evt_jack_failed")
    assert served.subscription("jack")["status"] == "past_due"
    served.set_clock(served.now() + timedelta(days=GRACE_PERIOD_DAYS + 1))
    assert served.subscription("jack")["plan"] == "free"
    assert stripe.subscription(subscription_id)["status"] == "active"
    served.run_worker()
    assert stripe.subscription(subscription_id)["status"] == "canceled"
    [deleted] = stripe.calls("DELETE", f"/v1/subscriptions/{subscription_id}")
    assert deleted.idempotency_key == f"creditkit-end-{subscription_id}"
