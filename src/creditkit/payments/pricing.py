"""What a checkout costs: the item's price, less the best volume discount that applies, less
the coupon on what is left. Pure functions over catalog values; the service decides which
discounts are eligible (conditions, expiry, redemptions left)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from creditkit.catalog import Discount
from creditkit.errors import present, require
from creditkit.ledger.schemas import Money
from creditkit.payments.schemas import ReceiptLine


@dataclass(frozen=True, slots=True)
class Priced:
    subtotal: Money
    discount_minor: int
    lines: tuple[ReceiptLine, ...]
    discount_id: str | None
    coupon_id: str | None

    @property
    def amount(self) -> Money:
        return Money(self.subtotal.amount_minor - self.discount_minor, self.subtotal.currency)


def describe(discount: Discount) -> str:
    if discount.percent_off is not None:
        return f"{discount.name} ({discount.percent_off}% off)"
    amount_off = present(discount.amount_off, "a discount without a percent off has an amount off")
    return f"{discount.name} ({amount_off.amount_minor} {amount_off.currency} off)"


def best(discounts: Sequence[Discount], subtotal: Money) -> Discount | None:
    """The discount worth the most on ``subtotal`` (the first declared among equals)."""
    chosen: Discount | None = None
    for discount in discounts:
        if chosen is None or discount.off(subtotal) > chosen.off(subtotal):
            chosen = discount
    return chosen


def price(
    description: str, subtotal: Money, volume: Discount | None, coupon: Discount | None
) -> Priced:
    """The volume discount on the price first, then the coupon on what it leaves; each is a
    negative line, and together they never take more than the price."""
    # Free packs and plans are refused as input before pricing (nothing to pay).
    require(subtotal.amount_minor > 0, "only a price above zero is paid", str(subtotal))
    lines = [ReceiptLine(description, subtotal.amount_minor)]
    left = subtotal
    for discount in (volume, coupon):
        if discount is None:
            continue
        off = discount.off(left)
        if off:
            lines.append(ReceiptLine(describe(discount), -off))
            left = Money(left.amount_minor - off, left.currency)
    priced = Priced(
        subtotal=subtotal,
        discount_minor=subtotal.amount_minor - left.amount_minor,
        lines=tuple(lines),
        discount_id=None if volume is None else volume.id,
        coupon_id=None if coupon is None else coupon.id,
    )
    require(
        sum(line.amount_minor for line in priced.lines) == priced.amount.amount_minor,
        "a priced purchase's lines add up to its amount",
        description,
    )
    return priced
