"""The customer's view of usage: an unlimited plan reads as unlimited (no share of an allowance
used, which a meter would show as a full red bar), and the dashboard's insight counts "1 time"."""

from __future__ import annotations

from creditkit import CreditKit
from creditkit.server import create_app  # noqa: F401  (loads creditkit.web in its order)
from creditkit.web.dashboard import _insights


def test_an_unlimited_plan_has_no_share_used(kit: CreditKit) -> None:
    kit.subscribe("u1", "infinite")
    kit.charge("u1", 30, idempotency_key="some")
    summary = kit.usage_summary("u1")
    assert summary.unlimited is True
    assert summary.allowance_used is None


def _top_action_insight(kit: CreditKit, customer: str) -> str:
    summary = kit.usage_summary(customer)
    by_action = kit.usage_breakdown(
        customer, by="action", start=summary.period_start, end=summary.period_end
    )
    (said,) = [line for line in _insights(summary, None, by_action, kit.now()) if "action" in line]
    return said


def test_one_charge_is_one_time_and_two_are_two_times(kit: CreditKit) -> None:
    kit.charge("u1", action="generate_image", idempotency_key="once")
    assert "Generate an image: 1 time, 5 credits." in _top_action_insight(kit, "u1")
    kit.charge("u1", action="generate_image", idempotency_key="twice")
    assert "Generate an image: 2 times, 10 credits." in _top_action_insight(kit, "u1")
