"""Seed 002, the Flask DevOps agent, on creditkit: the flows its IMPLEMENTATION_SUMMARY
describes, as calls instead of a hand-written module.

Run: python examples/seed_002_devops_agent/scenario.py
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from creditkit import CreditKit, InsufficientCredits, ManualClock

CATALOG = Path(__file__).with_name("catalog.yaml")
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def run(database_url: str, say: object = print) -> CreditKit:
    """Plays the scenario on ``database_url`` and returns the CreditKit (tests read it)."""
    out = say if callable(say) else print
    clock = ManualClock(START)
    ck = CreditKit(database_url, catalog=CATALOG, clock=clock)

    out("1. Sign-up: a new user is on the Free tier with 20 credits.")
    ck.create_customer("dev@example.com")
    out(f"   balance {ck.balance('dev@example.com').available}")

    out("2. Each chat message costs 1 credit; at 0 the API answers 402.")
    for message in range(20):
        ck.charge("dev@example.com", action="chat_message", idempotency_key=f"msg-{message}")
    try:
        ck.charge("dev@example.com", action="chat_message", idempotency_key="msg-20")
    except InsufficientCredits as short:
        out(f"   402 Payment Required: {short.available} available, {short.required} required")

    out("3. They buy the 100-credit pack ($10): pack credits never expire.")
    ck.grant_pack("dev@example.com", "credits_100", idempotency_key="cs_test_pack_1")
    out(f"   balance {ck.balance('dev@example.com').available}")

    out("4. A week later they upgrade to Starter: +180 credits now (200 - 20), prorated fee.")
    clock.advance(days=7)
    ck.change_plan("dev@example.com", "starter")
    line = ck.billing_lines("dev@example.com")[0]
    out(f"   balance {ck.balance('dev@example.com').available}; billed {line.description}:"
        f" ${line.amount.amount_minor / 100:.2f}")  # fmt: skip

    out("5. The month turns: the allowance resets on the first request (no cron).")
    subscription = ck.subscription("dev@example.com")
    assert subscription is not None
    clock.set(subscription.current_period_end)
    balance = ck.balance("dev@example.com")
    sources = ", ".join(f"{g.source} {g.remaining}" for g in balance.grants)
    out(f"   balance {balance.available} ({sources}); allowance burns before the pack")

    out("6. Usage history, newest first:")
    for item in ck.history("dev@example.com", limit=5).items:
        change = f"{item.available_change:+5}"
        out(f"   {item.created_at:%b %d} {item.kind:<8} {change} {item.action or ''}")
    out(f"audit: {'ok' if ck.audit().ok else 'FAILED'}")
    return ck


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{folder}/seed_002.db"
        run(url).close()
