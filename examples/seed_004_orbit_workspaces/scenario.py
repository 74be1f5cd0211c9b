"""Seed 004, Orbit, on creditkit: workspace subscriptions with per-tier limits, team members
and roles, a downgrade that keeps what exists, Pixel tokens held by users beside the
workspace's AI credits, and the 14-day money-back guarantee on a first PRO purchase.

Run: python examples/seed_004_orbit_workspaces/scenario.py
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from creditkit import CreditKit, ManualClock
from creditkit.payments import RefundRefused

CATALOG = Path(__file__).with_name("catalog.yaml")
URLS = {"success_url": "https://orbit.example/paid", "cancel_url": "https://orbit.example/plans"}
START = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def run(database_url: str, say: Callable[[str], object] = print) -> CreditKit:
    clock = ManualClock(START)
    ck = CreditKit(database_url, catalog=CATALOG, clock=clock)
    for user in ("maya", "leo", "ines", "sam"):
        # Plans are per workspace here: a user holds only what it buys (Pixel tokens).
        ck.create_customer(user, subscribe=False)

    say("1. Maya creates a workspace: FREE, 100 AI credits a month, and she is its owner.")
    ck.create_customer("maya-studio", kind="workspace")
    ck.add_member("maya-studio", "maya", "owner")
    say(f"   AI credits {ck.balance('maya-studio').available}")

    say("2. FREE limits: 3 social accounts, 1 team member, 30 scheduled posts a month.")
    for account in ("instagram", "tiktok", "x", "linkedin"):
        decision = ck.acquire("maya-studio", "social_accounts", account)
        suggestion = f" -> upgrade to {decision.upgrade_to}" if not decision.allowed else ""
        say(f"   connect {account:<9} {decision.reason}{suggestion}")
    invite = ck.add_member("maya-studio", "leo", "editor")
    say(f"   invite leo: {invite.reason} -> upgrade to {invite.upgrade_to}")
    for post in range(31):
        last = ck.track("maya-studio", "scheduled_posts", idempotency_key=f"post-{post}")
    say(f"   post 31 this month: {last.reason} ({last.used}/{last.limit})")

    say("3. Maya upgrades to PRO, billed annually ($278/year, 20% off).")
    ck.subscribe("maya-studio", "pro", interval="year", collected_elsewhere=True)
    say(f"   billed ${ck.billing_lines('maya-studio')[0].amount.amount_minor / 100:.2f};"
        f" AI credits {ck.balance('maya-studio').available}")  # fmt: skip
    for account in ("linkedin", "youtube", "threads"):
        ck.acquire("maya-studio", "social_accounts", account)
    ck.add_member("maya-studio", "leo", "editor")
    ck.add_member("maya-studio", "ines", "admin")
    say(f"   {len(ck.members('maya-studio'))} members, 6 social accounts")

    say("4. Maya hands the workspace to Ines and stays as admin.")
    ck.transfer_ownership("maya-studio", "ines")
    roles = ", ".join(f"{member.user} {member.role}" for member in ck.members("maya-studio"))
    say(f"   {roles}")

    say("5. Ines downgrades to FREE at the end of the year: what exists stays, nothing new.")
    ck.change_plan("maya-studio", "free", interval="month")
    subscription = ck.subscription("maya-studio")
    assert subscription is not None
    clock.set(subscription.current_period_end)
    for usage in ck.over_limit("maya-studio"):
        say(f"   over the limit: {usage.name} {usage.used}/{usage.limit}")
    refused = ck.acquire("maya-studio", "social_accounts", "pinterest")
    say(f"   connect pinterest: {refused.reason}")

    say("6. Pixel tokens belong to the user, not the workspace, and never expire.")
    for number in range(3):
        ck.grant_pack("sam", "pixel_token", idempotency_key=f"sam-pixel-{number}")
    ck.charge("sam", action="pixel_enhance_pro", idempotency_key="sam-photo-1")
    clock.advance(days=400)
    say(f"   sam: {ck.balance('sam', unit='pixel_tokens').available} Pixel token(s) a year later;"
        f" AI credits are the workspace's ({ck.balance('sam').available} of his own)")  # fmt: skip
    say("7. The money-back guarantee: 14 days on a first PRO purchase (the plan's refund).")
    for workspace in ("noor-agency", "kai-labs"):
        ck.create_customer(workspace, kind="workspace")
        paid = ck.checkout(workspace, plan="pro", idempotency_key=f"{workspace}-pro", **URLS)
        ck.complete_sandbox_checkout(paid.session_id)  # the sandbox's card pays
    clock.advance(days=10)
    refund = ck.refund(ck.receipts("noor-agency").items[0].payment_id or 0)
    plan = ck.plan_of("noor-agency").id
    say(f"   day 10, noor-agency: ${refund.amount.amount_minor / 100:.2f} back,"
        f" {refund.credits} unused credits taken back, now on {plan}")  # fmt: skip
    clock.advance(days=5)
    try:
        ck.refund(ck.receipts("kai-labs").items[0].payment_id or 0)
    except RefundRefused as refused:
        say(f"   day 15, kai-labs: refused, {refused.reason}")
    say(f"audit: {'ok' if ck.audit().ok else 'FAILED'}")
    return ck


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{folder}/seed_004.db"
        run(url).close()
