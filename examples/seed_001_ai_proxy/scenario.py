"""Seed 001, the AI image proxy, on creditkit: credit packages only, 1 credit per request,
credits that never expire, and the migration of monthly-tier users to credits.

Run: python examples/seed_001_ai_proxy/scenario.py
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from creditkit import CreditKit, InsufficientCredits, ManualClock, PurchaseLimitReached

CATALOG = Path(__file__).with_name("catalog.yaml")
START = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)

#: The seed's migrateUserToCredits table: a monthly tier becomes this many credits, once.
TIER_TO_CREDITS = {"free": 10, "basic": 40, "premium": 100, "pro": 250, "enterprise": 1000}


def migrate(ck: CreditKit, user: str, tier: str) -> None:
    """Moves an existing monthly user to credits: idempotent, so the migration can be rerun."""
    ck.create_customer(user)
    ck.grant(
        user,
        TIER_TO_CREDITS.get(tier, 10),
        source="migration",
        idempotency_key=f"migration-{user}",
        metadata={"tier": tier},
    )


def run(database_url: str, say: Callable[[str], object] = print) -> CreditKit:
    clock = ManualClock(START)
    ck = CreditKit(database_url, catalog=CATALOG, clock=clock)
    catalog = ck.catalog
    assert catalog is not None

    say("Packages (price per credit, savings against the Basic Pack):")
    basic = catalog.pack("basic")
    base_cents = Decimal(basic.price.amount_minor) / Decimal(basic.amount)
    for pack in catalog.packs.values():
        per_credit = Decimal(pack.price.amount_minor) / Decimal(pack.amount)
        saving = max(Decimal(0), 100 * (1 - per_credit / base_cents)).quantize(Decimal(1))
        badge = "  MOST POPULAR" if pack.popular else ""
        dollars = Decimal(pack.price.amount_minor).scaleb(-2)
        cents = per_credit.quantize(Decimal("0.1"))
        say(f"   {pack.name:<16} {pack.amount:>5} credits  ${dollars:>7}"
            f"  {cents:>5}c/credit  save {saving:>3}%{badge}")  # fmt: skip

    say("1. user123 takes the free trial (once) and buys the Basic Pack.")
    ck.create_customer("user123")
    ck.grant_pack("user123", "free_trial", idempotency_key="user123-trial")
    try:
        ck.grant_pack("user123", "free_trial", idempotency_key="user123-trial-again")
    except PurchaseLimitReached as refused:
        say(f"   second trial refused: {refused}")
    ck.grant_pack("user123", "basic", idempotency_key="pi_basic_1")
    say(f"   {ck.balance('user123').available} credits")

    say("2. Each AI request costs 1 credit; at 0 the proxy refuses.")
    for number in range(50):
        ck.charge("user123", action="generate_image", idempotency_key=f"req-{number}")
    try:
        ck.charge("user123", action="generate_image", idempotency_key="req-50")
    except InsufficientCredits:
        say("   request 51 refused: no credits remaining, show the purchase modal")

    say("3. A year later, pack credits are still there: they never expire.")
    ck.grant_pack("user123", "premium", idempotency_key="pi_premium_1")
    clock.advance(days=365)
    say(f"   {ck.balance('user123').available} credits")

    say("4. Existing monthly users migrate to credits (rerunnable):")
    for user, tier in [("old-a", "premium"), ("old-b", "enterprise"), ("old-c", "free")]:
        migrate(ck, user, tier)
        migrate(ck, user, tier)  # a rerun grants nothing twice
        say(f"   {user} ({tier}) -> {ck.balance(user).available} credits")
    say(f"audit: {'ok' if ck.audit().ok else 'FAILED'}")
    return ck


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{folder}/seed_001.db"
        run(url).close()
