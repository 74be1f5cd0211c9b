"""What the billing pages say about prices, computed exactly from the catalog: a pack's price per
N credits, its saving against the smallest pack, and a plan's saving when paid by the year.

Money stays integer minor units; a unit with decimal places is divided as a ``Fraction``, never
a float. A price shown is rounded half up to the minor unit (the project's rule for money); a
saving is rounded *down* to the whole percent, so the page never claims more than is true.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import floor

from creditkit.catalog import Interval, Pack, Plan
from creditkit.errors import InvariantViolation, Quantity
from creditkit.ledger.schemas import Money

#: "Price per N credits" is shown with N a power of ten up to this.
PER_CREDITS_MAX = 1_000_000
#: N is the smallest power of ten at which every pack's price per N is at least this many minor
#: units: two significant digits ("$0.90", not "$0.01").
PRICE_PER_MINOR_MIN = 10
MONTHS_IN_YEAR = 12


@dataclass(frozen=True, slots=True)
class PackOffer:
    """A pack as the page shows it: its price per ``per`` credits and the whole percent it
    saves against the smallest pack of its unit and currency (0: none, or it is that pack)."""

    pack: Pack
    price_per: Money
    per: int
    saving_percent: int


@dataclass(frozen=True, slots=True)
class AnnualSaving:
    """A plan paid by the year against twelve months paid by the month: ``amount`` saved a
    year, ``percent`` of the twelve months (rounded down), and the yearly price spread over
    ``monthly_equivalent`` (rounded half up)."""

    amount: Money
    percent: int
    monthly_equivalent: Money


def _half_up(value: Fraction) -> int:
    return floor(value + Fraction(1, 2))


def price_per(price: Money, amount: Quantity, per: int) -> Money:
    """``price`` for ``amount`` credits, as the price of ``per`` credits (rounded half up)."""
    if not (amount > 0 and per > 0):
        raise InvariantViolation("amount > 0 and per > 0", repr((amount, per)))
    return Money(_half_up(Fraction(price.amount_minor * per) / Fraction(amount)), price.currency)


def readable_per(packs: Sequence[Pack]) -> int:
    """The N of "price per N credits" for ``packs``: the smallest power of ten at which each
    pack's price per N has two significant digits (at most ``PER_CREDITS_MAX``)."""
    per = 1
    while per < PER_CREDITS_MAX and any(
        price_per(pack.price, pack.amount, per).amount_minor < PRICE_PER_MINOR_MIN for pack in packs
    ):
        per *= 10
    return per


def saving_percent(price: Money, amount: Quantity, base_price: Money, base_amount: Quantity) -> int:
    """The whole percent (rounded down) that ``price`` for ``amount`` saves per credit against
    ``base_price`` for ``base_amount``; 0 when it is not cheaper."""
    if not (price.currency == base_price.currency):
        raise InvariantViolation("price.currency == base_price.currency", repr((price, base_price)))
    if base_price.amount_minor <= 0:
        return 0
    unit_price = Fraction(price.amount_minor) / Fraction(amount)
    base_unit_price = Fraction(base_price.amount_minor) / Fraction(base_amount)
    return max(0, floor((1 - unit_price / base_unit_price) * 100))


def pack_offers(packs: Sequence[Pack]) -> list[PackOffer]:
    """The packs for sale (a price above zero), in catalog order, each priced per N credits and
    compared with the smallest pack of its unit and currency (the first declared of equals)."""
    for_sale = [pack for pack in packs if pack.price.amount_minor > 0 and pack.amount > 0]
    groups: dict[tuple[str, str], list[Pack]] = {}
    for pack in for_sale:
        groups.setdefault((pack.unit, pack.price.currency), []).append(pack)
    offers = {}
    for group in groups.values():
        per = readable_per(group)
        base = min(group, key=lambda pack: pack.amount)
        for pack in group:
            saving = saving_percent(pack.price, pack.amount, base.price, base.amount)
            offers[pack.id] = PackOffer(pack, price_per(pack.price, pack.amount, per), per, saving)
    return [offers[pack.id] for pack in for_sale]


def annual_saving(plan: Plan) -> AnnualSaving | None:
    """What paying ``plan`` by the year saves against twelve monthly payments; None when it is
    not sold both ways (in one currency) or the year costs no less."""
    month, year = plan.prices.get(Interval.MONTH), plan.prices.get(Interval.YEAR)
    if month is None or year is None or month.currency != year.currency:
        return None
    twelve_months = month.amount_minor * MONTHS_IN_YEAR
    saved = twelve_months - year.amount_minor
    if saved <= 0:
        return None
    return AnnualSaving(
        amount=Money(saved, year.currency),
        percent=floor(Fraction(saved * 100, twelve_months)),
        monthly_equivalent=Money(
            _half_up(Fraction(year.amount_minor, MONTHS_IN_YEAR)), year.currency
        ),
    )
