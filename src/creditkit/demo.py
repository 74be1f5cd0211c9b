"""``creditkit demo``: a month of one AI app's credits, told through the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from creditkit.clock import ManualClock
from creditkit.errors import InsufficientCredits, InvalidRequest
from creditkit.kit import CreditKit
from creditkit.ledger.schemas import Balance
from creditkit.store.database import display_url

DEMO_DATABASE = "creditkit-demo.db"
#: The demo's story starts at a fixed moment so that every run prints the same ledger.
DEMO_START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def _show(balance: Balance) -> str:
    grants = ", ".join(f"#{g.grant_id} {g.source} {g.remaining}" for g in balance.grants)
    expiry = ""
    if balance.next_expiry is not None:
        expiry = f"; {balance.next_expiry.amount} expire {balance.next_expiry.expires_at:%b %d}"
    return (
        f"{balance.customer}: {balance.available} available, {balance.held} held"
        f" [{grants or 'no grants'}]{expiry}"
    )


def demo(database_url: str) -> None:
    """A month of one AI app's credits, told through the ledger."""
    clock = ManualClock(DEMO_START)
    with CreditKit(database_url, clock=clock) as ck:
        # The demo writes customers and backdated grants: into a real ledger it would mix its
        # story with real balances, so it runs only on an empty one.
        if ck.customers(limit=1).items:
            raise InvalidRequest(
                "--database-url",
                f"{display_url(database_url)} already holds customers; the demo writes only to"
                " an empty ledger (leave --database-url out for a fresh creditkit-demo.db)",
            )
        say = print
        say(f"ledger: {display_url(database_url)}\n")
        ck.create_customer("alice")
        ck.create_customer("bob")
        ck.create_customer("acme", kind="workspace")

        say("1. Alice gets her monthly allowance (expires in 30 days) and buys a pack (never).")
        ck.grant(
            "alice",
            50,
            source="allowance",
            expires_at=clock() + timedelta(days=30),
            idempotency_key="alice-allowance-jan",
        )
        ck.grant("alice", 1000, source="purchase", idempotency_key="alice-pack-1")
        say("   " + _show(ck.balance("alice")))

        say("2. She asks 20 questions at 3 credits: the allowance burns first, then the pack.")
        for question in range(20):
            ck.charge("alice", 3, action="ask_anything", idempotency_key=f"alice-ask-{question}")
        say("   " + _show(ck.balance("alice")))

        say("3. A retried request with the same idempotency key is not charged twice.")
        again = ck.charge("alice", 3, action="ask_anything", idempotency_key="alice-ask-19")
        say(f"   replay returned charge #{again.id}; " + _show(ck.balance("alice")))

        say("4. An LLM call reserves 50 credits, then commits the 37 it really cost.")
        hold = ck.reserve("alice", 50, action="agent_message", idempotency_key="alice-agent-1")
        say(f"   hold #{hold.id}: " + _show(ck.balance("alice")))
        ck.commit(hold.id, 37, idempotency_key="alice-agent-1-commit")
        say("   committed 37: " + _show(ck.balance("alice")))

        say("5. Another hold is forgotten; five minutes later it releases itself.")
        ck.reserve("alice", 200, timeout_seconds=300, idempotency_key="alice-agent-2")
        say("   " + _show(ck.balance("alice")))
        clock.advance(minutes=5)
        say("   +5 min: " + _show(ck.balance("alice")))

        say("6. Alice gifts 100 purchased credits to Bob and moves 200 to her team's workspace.")
        ck.transfer("alice", "bob", 100, idempotency_key="alice-gift-bob")
        ck.transfer("alice", "acme", 200, idempotency_key="alice-to-acme")
        for customer in ("alice", "bob", "acme"):
            say("   " + _show(ck.balance(customer)))

        say("7. Bob tries to spend more than he has: refused, and no credit moves.")
        try:
            ck.charge("bob", 500, action="generate_image", idempotency_key="bob-image-1")
        except InsufficientCredits as refusal:
            say(f"   refused: {refusal}")

        say("8. Alice gets 30 promo credits for 30 days, never uses them: they expire (breakage).")
        ck.grant(
            "alice",
            30,
            source="promo",
            expires_at=clock() + timedelta(days=30),
            idempotency_key="alice-promo",
        )
        clock.advance(days=30)
        swept = ck.tick()
        say(f"   sweep: {swept.grants_expired} grant(s) expired; " + _show(ck.balance("alice")))

        say("\nAlice's history, newest first:")
        for item in ck.history("alice", limit=8).items:
            paid = ", ".join(f"#{draw.grant_id}:{draw.amount}" for draw in item.draws)
            say(
                f"   {item.created_at:%b %d %H:%M}  {item.kind:<11} {item.available_change:>+6}"
                f"  {item.action or '':<14} grants {paid}"
            )
        report = ck.audit()
        say(
            f"\naudit: {'ok' if report.ok else 'FAILED'} ({report.transactions_checked}"
            f" transactions, {report.entries_checked} entries, {report.accounts_checked} accounts)"
        )
        for problem in report.problems:
            say(f"   {problem.rule}: {problem.detail}")
