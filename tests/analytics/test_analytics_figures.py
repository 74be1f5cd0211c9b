"""kit.analytics on a month and ten days of an AI assistant's life: every figure asserted against
the value worked out by hand from the scenario below (each expected number says where it comes
from).

The scenario, from START = 2026-03-01 00:00 UTC (periods are anchored there, so they end on
April 1):

- Mar 1: alice, bob, carol, erin, frank, heidi (users) and dave (a workspace) start on Free, each
  with 100 credits of allowance expiring Apr 1; grace is a member created without a
  subscription. bob buys Pro monthly (2000), carol Pro yearly (19990), dave Team monthly (8000),
  alice the 500-credit pack (500), erin the 2,000-credit pack (1800, expiring in 30 days). Each
  plan bought grants its allowance (Pro 2000, Team 10000) expiring Apr 1.
- Mar 2: alice asks 150 chat messages (100 allowance + 50 of her pack), bob makes 30 images
  (300), dave 1,050 images (10,500: his 10,100 credits and 400 of overage), erin 600 chat
  messages (100 allowance + 500 of her pack); carol holds 50 credits for a chat message and
  commits 30.
- Mar 3: erin's pack is refunded: 1,500 of 2,000 credits unused, so 1800 * 1500 / 2000 = 1350.
- Apr 1: the month closes. Unused allowance expires: bob 2100 - 300 = 1800, carol
  2100 - 30 = 2070, frank 100, heidi 100 (alice, dave and erin spent all theirs). dave's 400
  credits of overage are billed: 400 * 1000 / 1000 = 400. Renewals: bob pays 2000 and dave 8000
  (creditkit charges the sandbox's saved card); everyone gets the new month's allowance.
- Apr 5: heidi starts a 14-day Pro trial (2000 credits expiring May 5).
- Apr 10 (now): carol holds 40 credits.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from analytics_support import START, buy

from creditkit import CreditKit, ManualClock, Money
from creditkit.analytics import Conversion, ItemRevenue
from creditkit.usage.schemas import UsageGroup

APRIL_1 = datetime(2026, 4, 1, tzinfo=UTC)
NOW = datetime(2026, 4, 10, tzinfo=UTC)


def usd(amount_minor: int) -> Money:
    return Money(amount_minor, "USD")


@pytest.fixture
def scenario(kit: CreditKit, clock: ManualClock) -> CreditKit:
    for customer in ("alice", "bob", "carol", "erin", "frank", "heidi"):
        kit.create_customer(customer)
    kit.create_customer("dave", "workspace")
    kit.create_customer("grace", subscribe=False)
    buy(kit, "bob", "bob-pro", plan="pro")
    buy(kit, "carol", "carol-pro", plan="pro", interval="year")
    buy(kit, "dave", "dave-team", plan="team")
    buy(kit, "alice", "alice-500", pack="credits_500")
    erin_pack = buy(kit, "erin", "erin-2000", pack="credits_2000")

    clock.set(START + timedelta(days=1))
    kit.charge("alice", action="chat_message", quantity=150, idempotency_key="alice-chat")
    kit.charge("bob", action="image_generation", quantity=30, idempotency_key="bob-images")
    kit.charge("dave", action="image_generation", quantity=1050, idempotency_key="dave-images")
    kit.charge("erin", action="chat_message", quantity=600, idempotency_key="erin-chat")
    hold = kit.reserve("carol", 50, action="chat_message", idempotency_key="carol-hold")
    kit.commit(hold.id, 30, idempotency_key="carol-commit")

    clock.set(START + timedelta(days=2))
    assert kit.refund(erin_pack).amount == usd(1350)

    clock.set(APRIL_1)
    kit.tick()
    report = kit.run_due_renewals()
    assert (report.attempted, report.succeeded) == (2, 2)

    clock.set(datetime(2026, 4, 5, tzinfo=UTC))
    kit.subscribe("heidi", "pro", trial_days=14, collected_elsewhere=True)

    clock.set(NOW)
    kit.reserve("carol", 40, timeout_seconds=3600, idempotency_key="carol-hold-2")
    return kit


def test_figures_now_and_over_the_range(scenario: CreditKit) -> None:
    figures = scenario.analytics(start=START, end=NOW)

    assert (figures.unit, figures.start, figures.end, figures.as_of) == ("credits", START, NOW, NOW)
    # Paying: bob Pro monthly (2000 * 12), carol Pro yearly (19990), dave Team monthly
    # (8000 * 12); heidi's trial pays nothing yet, Free is 0. A year: 24000 + 19990 + 96000.
    assert figures.arr == {"USD": usd(139_990)}
    # 139990 / 12 = 11665.83…, rounded once (12 * the rounded MRR would be 139992).
    assert figures.mrr == {"USD": usd(11_666)}
    assert figures.subscribers_by_plan == {"free": 3, "pro": 3, "team": 1}
    # On plans: the seven customers created subscribed (grace is not). Paying: bob, carol, dave
    # (paid plans), alice (a pack), erin (a pack, refunded since); not frank, nor heidi (trial).
    assert figures.conversion == Conversion(customers=7, paying=5, share=Decimal("0.7143"))
    # Live now: alice 100 + 450 (her pack), bob 2000, carol 2000 - 40 held, dave 10000,
    # erin 100, frank 100, heidi 100 + 2000 (the trial's allowance).
    assert figures.credits_available == 550 + 2000 + 1960 + 10000 + 100 + 100 + 2100
    assert figures.credits_held == 40
    assert figures.credits_outstanding == 16_810 + 40

    assert figures.revenue_by_plan == (
        ItemRevenue("free", "USD", 0, usd(0), usd(0), usd(0)),
        # bob's checkout and renewal, carol's year.
        ItemRevenue("pro", "USD", 3, usd(23_990), usd(0), usd(23_990)),
        ItemRevenue("team", "USD", 2, usd(16_000), usd(0), usd(16_000)),
    )
    assert figures.revenue_by_pack == (
        ItemRevenue("credits_500", "USD", 1, usd(500), usd(0), usd(500)),
        ItemRevenue("credits_2000", "USD", 1, usd(1800), usd(1350), usd(450)),
    )
    assert figures.overage_billed == {"USD": usd(400)}
    assert figures.revenue == {"USD": usd(23_990 + 16_000 + 500 + 450 + 400)}

    # 150 + 300 + 10500 + 600 charged, 30 committed.
    assert figures.consumed == 11_580
    assert figures.charges == 5
    assert figures.consumed_by_action == (
        UsageGroup("image_generation", "Generate an image", 10_800, 2, Decimal("0.9326")),
        UsageGroup("chat_message", "Chat message", 780, 3, Decimal("0.0674")),
    )
    assert figures.expired == 1800 + 2070 + 100 + 100

    # 11580 credits at 2 cents per 1,000: 23.16 cents, rounded half up.
    assert figures.cost_of_consumed == usd(23)
    assert figures.margin == usd(41_340 - 23)
    assert figures.margin_share == Decimal("0.9994")  # 41317 / 41340


def test_the_liability_is_what_the_balances_add_up_to(scenario: CreditKit) -> None:
    figures = scenario.analytics(start=START, end=NOW)

    customers = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")
    balances = [scenario.balance(customer) for customer in customers]
    assert figures.credits_available == sum(balance.available for balance in balances)
    assert figures.credits_held == sum(balance.held for balance in balances)


def test_a_refund_counts_in_the_range_it_was_made_in(scenario: CreditKit) -> None:
    """erin paid on Mar 1 and was refunded on Mar 2: from Mar 2 on, the pack's revenue is
    the refund alone, negative."""
    figures = scenario.analytics(start=START + timedelta(days=1), end=NOW)

    assert figures.revenue_by_pack[1] == ItemRevenue(
        "credits_2000", "USD", 0, usd(0), usd(1350), usd(-1350)
    )
    # Only bob's and dave's renewals were paid in it, and dave's overage billed.
    assert figures.revenue == {"USD": usd(2000 + 8000 - 1350 + 400)}


def test_a_month_holds_its_own_breakage_and_overage(scenario: CreditKit) -> None:
    """Credits stop counting at ``expires_at`` exactly, and overage is billed for the period
    that closes: both are the closing month's, the range that ends on Apr 1 included."""
    march = scenario.analytics(start=START, end=APRIL_1)
    april = scenario.analytics(start=APRIL_1, end=NOW)

    assert (march.expired, march.overage_billed) == (4070, {"USD": usd(400)})
    assert (april.expired, april.overage_billed) == (0, {})
    assert april.consumed == 0
    assert april.revenue == {"USD": usd(2000 + 8000)}  # the renewals


def test_past_due_counts_in_mrr_until_the_grace_period_ends(
    scenario: CreditKit, clock: ManualClock
) -> None:
    scenario.save_payment_method("bob", "4000000000000002")  # declined
    clock.set(datetime(2026, 5, 1, tzinfo=UTC))
    scenario.run_due_renewals()
    subscription = scenario.subscription("bob")
    assert subscription is not None and subscription.status == "past_due"

    # bob is still expected to pay; heidi's trial ended on Apr 19 (14 days from Apr 5): she is
    # an active Pro subscriber since, to pay at her period's end (+ 24000).
    assert scenario.analytics(start=START, end=clock()).arr == {"USD": usd(139_990 + 24_000)}

    clock.set(datetime(2026, 5, 9, tzinfo=UTC))  # bob's grace period ended on May 8
    figures = scenario.analytics(start=START, end=clock())

    # bob fell back to Free (- 24000); heidi stays on Pro.
    assert figures.arr == {"USD": usd(139_990 + 24_000 - 24_000)}
    assert figures.subscribers_by_plan == {"free": 4, "pro": 2, "team": 1}
    # bob paid before, so he stays converted; heidi is now on a paid plan.
    assert figures.conversion == Conversion(customers=7, paying=6, share=Decimal("0.8571"))
