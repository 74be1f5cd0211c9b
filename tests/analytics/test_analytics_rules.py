"""kit.analytics beyond the scenario: bad input, an empty ledger, several currencies, grandfathered
prices, a unit without a cost, and a cost in statements that does not grow with the ledger."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from analytics_support import CATALOG, START, buy

from creditkit import CreditKit, InvalidRequest, ManualClock, Money, UnknownUnit
from creditkit.analytics import Conversion, ItemRevenue
from creditkit.catalog import parse_catalog

KitFactory = Callable[..., CreditKit]
DAY = timedelta(days=1)


def usd(amount_minor: int) -> Money:
    return Money(amount_minor, "USD")


def eur(amount_minor: int) -> Money:
    return Money(amount_minor, "EUR")


@pytest.mark.parametrize(
    ("start", "end", "field", "reason"),
    [
        (START.replace(tzinfo=None), START + DAY, "start", "timezone-aware"),
        (START, (START + DAY).replace(tzinfo=None), "end", "timezone-aware"),
        ("2026-03-01", START + DAY, "start", "timezone-aware"),
        (START, START, "end", "after start"),
        (START + DAY, START, "end", "after start"),
        (START, START + timedelta(days=366, microseconds=1), "end", "at most 366 days"),
    ],
    ids=["naive start", "naive end", "text start", "empty", "reversed", "a year and a day"],
)
def test_a_bad_range_is_refused_naming_its_field(
    kit: CreditKit, start: Any, end: Any, field: str, reason: str
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        kit.analytics(start=start, end=end)
    assert raised.value.field == field
    assert reason in raised.value.reason


def test_a_leap_year_and_other_time_zones_are_accepted(kit: CreditKit) -> None:
    paris = timezone(timedelta(hours=1))
    figures = kit.analytics(start=START.astimezone(paris), end=START + timedelta(days=366))
    assert figures.start == START  # in UTC


def test_an_unknown_unit_and_a_kit_without_a_catalog_are_refused(make_kit: KitFactory) -> None:
    kit = make_kit(catalog=parse_catalog(CATALOG, "assistant.yaml"))
    with pytest.raises(UnknownUnit):
        kit.analytics(start=START, end=START + DAY, unit="coins")
    with pytest.raises(InvalidRequest) as raised:
        make_kit().analytics(start=START, end=START + DAY)
    assert raised.value.field == "catalog"


def test_an_empty_ledger_lists_every_plan_and_pack_at_zero(kit: CreditKit) -> None:
    figures = kit.analytics(start=START, end=START + DAY)

    assert figures.mrr == figures.arr == {"USD": usd(0)}
    assert figures.subscribers_by_plan == {"free": 0, "pro": 0, "team": 0}
    assert figures.conversion == Conversion(0, 0, None)
    assert [item.item for item in figures.revenue_by_plan] == ["free", "pro", "team"]
    assert [item.item for item in figures.revenue_by_pack] == ["credits_500", "credits_2000"]
    assert figures.revenue == {"USD": usd(0)}
    assert figures.overage_billed == {}
    assert (figures.credits_outstanding, figures.consumed, figures.expired) == (0, 0, 0)
    assert (figures.charges, figures.consumed_by_action) == (0, ())
    assert (figures.cost_of_consumed, figures.margin) == (usd(0), usd(0))
    assert figures.margin_share is None  # no revenue to take a share of


MULTI_CURRENCY = """
units:
  credits: {scale: 0, cost: {amount: 5, currency: USD, per: 1000}}
  tokens: {scale: 2}
actions:
  ask: {price: 3, unit: credits}
  embed: {price: "0.25", unit: tokens}
plans:
  free:
    name: Free
    default: true
    rank: 0
    allowance: {amount: 1000, unit: credits}
  pro:
    name: Pro
    rank: 1
    prices: {month: {amount: 2000, currency: USD}}
  pro_eu:
    name: Pro (EU)
    rank: 2
    prices: {month: {amount: 1800, currency: EUR}, year: {amount: 18001, currency: EUR}}
packs:
  tokens_eu: {name: "Tokens", amount: 100, unit: tokens, price: {amount: 450, currency: EUR}}
  credits: {name: "Credits", amount: 500, unit: credits, price: {amount: 500, currency: USD}}
"""


def test_money_is_grouped_by_currency_and_the_margin_is_in_the_costs(
    make_kit: KitFactory, clock: ManualClock
) -> None:
    kit = make_kit(catalog=parse_catalog(MULTI_CURRENCY, "world.yaml"))
    for customer in ("ann", "ben", "cem", "dan"):
        kit.create_customer(customer)
    buy(kit, "ann", "ann-pro", plan="pro")
    buy(kit, "ben", "ben-pro-eu", plan="pro_eu", interval="year")
    buy(kit, "cem", "cem-tokens", pack="tokens_eu")
    buy(kit, "dan", "dan-credits", pack="credits")
    kit.charge("dan", action="ask", quantity=300, idempotency_key="dan-asks")  # 900 credits
    kit.charge("cem", action="embed", quantity=10, idempotency_key="cem-embeds")  # 2.50 tokens
    clock.advance(hours=1)

    figures = kit.analytics(start=START, end=clock())

    # The free plan has no price: it has no currency, and no revenue line.
    assert figures.arr == {"EUR": eur(18_001), "USD": usd(24_000)}
    assert figures.mrr == {"EUR": eur(1500), "USD": usd(2000)}  # 18001 / 12 = 1500.08…
    assert figures.revenue_by_plan == (
        ItemRevenue("pro", "USD", 1, usd(2000), usd(0), usd(2000)),
        ItemRevenue("pro_eu", "EUR", 1, eur(18_001), eur(0), eur(18_001)),
    )
    assert figures.revenue == {"EUR": eur(18_001 + 450), "USD": usd(2000 + 500)}
    # 900 credits at 5 cents per 1,000: 4.5 cents, rounded half up. Only dollars pay for it.
    assert figures.cost_of_consumed == usd(5)
    assert figures.margin == usd(2500 - 5)
    assert figures.margin_share == Decimal("0.998")

    tokens = kit.analytics(start=START, end=clock(), unit="tokens")
    assert (tokens.consumed, tokens.credits_outstanding) == (Decimal("2.50"), Decimal("97.50"))
    assert (tokens.cost_of_consumed, tokens.margin, tokens.margin_share) == (None, None, None)


def test_mrr_is_at_the_price_each_subscriber_was_sold(
    make_kit: KitFactory, clock: ManualClock
) -> None:
    """A price change makes a new plan version; subscribers of the old one keep its price."""
    kit = make_kit(catalog=parse_catalog(CATALOG, "v1.yaml"))
    kit.create_customer("early")
    kit.subscribe("early", "pro", collected_elsewhere=True)
    repriced = CATALOG.replace("month: {amount: 2000,", "month: {amount: 2500,")
    later = make_kit(catalog=parse_catalog(repriced, "v2.yaml"))
    later.create_customer("late")
    later.subscribe("late", "pro", collected_elsewhere=True)
    clock.advance(hours=1)

    figures = later.analytics(start=START, end=clock())

    assert figures.arr == {"USD": usd(12 * (2000 + 2500))}
    assert figures.subscribers_by_plan == {"free": 0, "pro": 2, "team": 0}
    # Subscribed in code, not paid through creditkit: on a paid plan, so paying.
    assert figures.conversion == Conversion(2, 2, Decimal(1))


@contextmanager
def counted_statements(kit: CreditKit) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*arguments: Any) -> None:
        statements.append(arguments[2])

    engine = kit.database.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def _populate(kit: CreditKit, prefix: str, customers: int) -> None:
    for index in range(customers):
        customer = f"{prefix}-{index}"
        kit.create_customer(customer)
        kit.subscribe(
            customer,
            ("pro", "team")[index % 2],
            interval=("month", "year")[index % 3 % 2],
            collected_elsewhere=True,
        )
        kit.charge(customer, action="chat_message", quantity=index + 1, idempotency_key=customer)
        kit.grant_pack(customer, "credits_500", idempotency_key=f"{customer}-pack")


def test_the_statements_do_not_grow_with_the_ledger(kit: CreditKit, clock: ManualClock) -> None:
    _populate(kit, "few", 3)
    clock.advance(hours=1)
    kit.analytics(start=START, end=clock())  # reads the plan versions once
    with counted_statements(kit) as few:
        kit.analytics(start=START, end=clock())
    _populate(kit, "many", 30)
    clock.advance(hours=1)
    kit.tick()
    with counted_statements(kit) as many:
        kit.analytics(start=START, end=clock())

    assert len(many) == len(few)
    # The sweep's look for due customers, then the ten aggregates of the figures (the tenth:
    # consumption by spender kind).
    assert len(few) == 1 + 10
