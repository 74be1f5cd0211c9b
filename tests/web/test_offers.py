"""The billing pages' price arithmetic (no browser): price per N credits rounded half up, a
pack's saving against the smallest pack rounded down, a plan's saving by the year."""

from __future__ import annotations

from decimal import Decimal

from creditkit.catalog import Interval, Pack, Plan, load_catalog
from creditkit.ledger.schemas import Money
from creditkit.server.serve import example_catalog
from creditkit.web.offers import (
    AnnualSaving,
    annual_saving,
    pack_offers,
    price_per,
    readable_per,
    saving_percent,
)


def usd(amount_minor: int) -> Money:
    return Money(amount_minor, "USD")


def pack(pack_id: str, amount: int | Decimal, price: Money) -> Pack:
    return Pack(pack_id, pack_id, amount, "credits", price)


def plan(month: int | None, year: int | None) -> Plan:
    prices = {}
    if month is not None:
        prices[Interval.MONTH] = usd(month)
    if year is not None:
        prices[Interval.YEAR] = usd(year)
    return Plan("p", "P", 1, prices=prices)


def test_a_price_per_n_credits_is_rounded_half_up_to_the_cent() -> None:
    assert price_per(usd(1800), 2000, 100) == usd(90)
    assert price_per(usd(1000), 3, 1) == usd(333)  # 333.33…
    assert price_per(usd(1000), 3, 2) == usd(667)  # 666.66…
    assert price_per(usd(5), 2, 1) == usd(3)  # 2.5: half up
    assert price_per(usd(500), Decimal("2.5"), 1) == usd(200)  # a unit with decimal places


def test_n_is_the_smallest_power_of_ten_that_shows_two_digits() -> None:
    catalog_packs = list(load_catalog(example_catalog()).packs.values())
    assert readable_per(catalog_packs) == 100  # $1.00, $0.90, $0.80 per 100
    assert readable_per([pack("big", 10_000, usd(100))]) == 1_000  # $0.10 per 1,000
    assert readable_per([pack("dear", 10, usd(5_000))]) == 1  # $500.00 per credit


def test_a_saving_is_rounded_down_never_overstated() -> None:
    assert saving_percent(usd(1800), 2000, usd(500), 500) == 10
    assert saving_percent(usd(8000), 10_000, usd(500), 500) == 20
    assert saving_percent(usd(905), 100, usd(1000), 100) == 9  # 9.5% saved
    assert saving_percent(usd(1200), 100, usd(1000), 100) == 0  # dearer: no saving


def test_offers_compare_with_the_smallest_pack_and_leave_out_free_ones() -> None:
    offers = pack_offers(
        [
            pack("large", 10_000, usd(8000)),
            pack("trial", 50, usd(0)),
            pack("small", 500, usd(500)),
            pack("medium", 2000, usd(1800)),
            pack("euro", 1000, Money(900, "EUR")),
        ]
    )
    assert [(o.pack.id, o.price_per, o.per, o.saving_percent) for o in offers] == [
        ("large", usd(80), 100, 20),
        ("small", usd(100), 100, 0),
        ("medium", usd(90), 100, 10),
        ("euro", Money(90, "EUR"), 100, 0),  # alone in its currency: nothing to compare
    ]


def test_a_yearly_price_saves_against_twelve_months() -> None:
    pro = load_catalog(example_catalog()).plan("pro")  # $20 a month, $192 a year
    assert annual_saving(pro) == AnnualSaving(usd(4800), 20, usd(1600))
    assert annual_saving(plan(1000, 10_001)) == AnnualSaving(usd(1999), 16, usd(833))
    rounded_up = annual_saving(plan(1000, 10_006))  # 833.83… a month
    assert rounded_up is not None and rounded_up.monthly_equivalent == usd(834)
    assert annual_saving(plan(1000, 12_000)) is None  # no cheaper by the year
    assert annual_saving(plan(1000, None)) is None
    assert annual_saving(plan(None, 12_000)) is None
