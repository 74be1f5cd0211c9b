"""Seed 000, the social AI platform, on creditkit: free posting with one of each premium thing,
monthly credits on Premium and Pro, pay-as-you-go once they run out, credits earned and gifted,
and the dashboard's insight from usage dimensions.

Run: python examples/seed_000_social_platform/scenario.py
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from creditkit import CreditKit, ManualClock

CATALOG = Path(__file__).with_name("catalog.yaml")
START = datetime(2026, 9, 1, 18, 0, tzinfo=UTC)


def run(database_url: str, say: Callable[[str], object] = print) -> CreditKit:
    clock = ManualClock(START)
    ck = CreditKit(database_url, catalog=CATALOG, clock=clock)

    say("1. Ada joins for free: 50 credits a month, one task, one agent.")
    ck.create_customer("ada")
    ck.acquire("ada", "agents", "einstein")
    second = ck.acquire("ada", "agents", "confucius")
    say(f"   second agent: {second.reason} -> upgrade to {second.upgrade_to}")

    say("2. She upgrades to Premium ($12/month): 2,000 credits, unlimited agents.")
    ck.subscribe("ada", "premium", collected_elsewhere=True)
    ck.acquire("ada", "agents", "confucius")
    dashboard = ck.entitled("ada", "usage_dashboard").allowed
    say(f"   balance {ck.balance('ada').available}; usage dashboard: {dashboard}")

    say("3. A week of agent chats, tagged with the agent (usage dimensions).")
    for number in range(700):
        agent = "Einstein" if number % 3 else "Confucius"
        ck.charge("ada", action="agent_message", quantity=3, idempotency_key=f"chat-{number}",
                  metadata={"agent": agent})  # fmt: skip
    spent = Counter[str]()
    for item in ck.history("ada", limit=500).items:
        if item.kind == "charge":
            spent[str(item.metadata.get("agent"))] += int(item.amount)
    top, _credits = spent.most_common(1)[0]
    say(f"   insight: Your top agent this week is {top}.")
    say("   Einstein and Confucius also reply through models priced by their tokens.")
    for name in ("Einstein", "Confucius"):
        ck.create_spender("ada", name, kind="agent")
    for number in range(30):
        agent = "Einstein" if number % 3 else "Confucius"
        model = "claude-sonnet-4-5" if agent == "Einstein" else "gpt-4o-mini"
        usage = {"model": model, "input_tokens": 2_000, "output_tokens": 500}
        ck.charge("ada", action="agent_chat", usage=usage, spender=agent,
                  idempotency_key=f"reply-{number}")  # fmt: skip
    week = ck.usage_by_model("ada", start=START, end=clock() + timedelta(seconds=1))
    costliest = week.models[0]
    say(f"   insight: Your costliest model this week is {costliest.model},"
        f" most of it spent by your agent {costliest.top_spender}.")  # fmt: skip

    say("4. Credits ran out mid-week: Premium goes pay-as-you-go ($5 per 1,000 credits).")
    balance = ck.balance("ada")
    say(f"   granted credits left {balance.available}; post-pay uncapped: {balance.unlimited}")

    say("5. Ada earns 100 credits in a challenge and gifts 60 to Grace.")
    ck.create_customer("grace")
    ck.grant("ada", 100, source="earned", transferable=True, idempotency_key="challenge-42")
    ck.transfer("ada", "grace", 60, idempotency_key="gift-1", metadata={"note": "thanks!"})
    say(f"   grace: {ck.balance('grace').available} (50 free + 60 gift)")

    say("6. At the month's end, the post-paid credits are billed once.")
    subscription = ck.subscription("ada")
    assert subscription is not None
    clock.set(subscription.current_period_end)
    for line in ck.billing_lines("ada")[:2]:
        say(f"   {line.kind:<12} {line.description}: ${line.amount.amount_minor / 100:.2f}")
    say(f"audit: {'ok' if ck.audit().ok else 'FAILED'}")
    return ck


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{folder}/seed_000.db"
        run(url).close()
