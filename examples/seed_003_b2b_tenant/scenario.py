"""Seed 003, the multi-tenant B2B sales tool, on creditkit: tenant-level credits metered per AI
action, with the seven action costs, the usage breakdown its /api/credits/usage returned, and a
mid-period upgrade; Enterprise is unlimited.

Run: python examples/seed_003_b2b_tenant/scenario.py
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from creditkit import CreditKit, InsufficientCredits, ManualClock

CATALOG = Path(__file__).with_name("catalog.yaml")
START = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)


def run(database_url: str, say: Callable[[str], object] = print) -> CreditKit:
    clock = ManualClock(START)
    ck = CreditKit(database_url, catalog=CATALOG, clock=clock)
    catalog = ck.catalog
    assert catalog is not None

    say("GET /api/credits/action-costs (public):")
    for action in catalog.actions.values():
        say(f"   {action.id:<18} {action.price:>3} credits  {action.label}")

    say("1. Tenant 'acme' signs up on Starter: 25 AI credits a month.")
    ck.create_customer("acme", kind="workspace")
    say(f"   balance {ck.balance('acme').available}")

    say("2. Its reps use the AI; each route is gated by its action's cost (402 when short).")
    used = ["ask_anything"] * 5 + ["email_analysis", "daily_briefing"]
    for number, action in enumerate(used):
        ck.charge("acme", action=action, idempotency_key=f"acme-{number}")
    try:
        ck.charge("acme", action="icp_analysis", idempotency_key="acme-icp-1")
    except InsufficientCredits as short:
        say(f"   ICP Analysis refused: {short.available} available, {short.required} required")

    say("3. Mid-month, acme upgrades to Growth: 500 credits (475 more now), prorated fee.")
    clock.advance(days=14)
    ck.change_plan("acme", "growth")
    line = ck.billing_lines("acme")[0]
    say(f"   balance {ck.balance('acme').available}; billed ${line.amount.amount_minor / 100:,.2f}")
    ck.charge("acme", action="icp_analysis", idempotency_key="acme-icp-2")

    say("4. GET /api/credits/usage: breakdown by action this period.")
    counts: Counter[str] = Counter()
    spent: Counter[str] = Counter()
    for item in ck.history("acme", limit=100).items:
        if item.kind == "charge" and item.action:
            counts[item.action] += 1
            spent[item.action] += int(item.amount)
    for action, count in counts.most_common():
        say(f"   {catalog.action(action).label:<16} x{count}  {spent[action]:>3} credits")

    say("5. 'globex' is on Enterprise: unlimited.")
    ck.create_customer("globex", kind="workspace")
    ck.subscribe("globex", "enterprise", collected_elsewhere=True)
    for number in range(40):
        ck.charge("globex", action="generate_playbook", idempotency_key=f"globex-{number}")
    say(f"   400 credits of playbooks later: unlimited={ck.balance('globex').unlimited}")
    say(f"audit: {'ok' if ck.audit().ok else 'FAILED'}")
    return ck


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{folder}/seed_003.db"
        run(url).close()
