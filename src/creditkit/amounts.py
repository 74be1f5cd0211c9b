"""The one wire spelling of an amount, in REST answers, events and webhooks alike (docs/api.md,
"Amounts and money"): a JSON integer for a unit without decimal places, an exact decimal string
at the unit's places ("12.50") for one with them. It is how FastAPI's response models write a
``Quantity`` (an ``int``, or a ``Decimal`` written as its string), so event data written with
it reads as the answer of the REST route about the same amount."""

from __future__ import annotations

from creditkit.errors import Quantity


def wire_amount(quantity: Quantity) -> int | str:
    """``5`` -> ``5``; ``Decimal("12.50")`` -> ``"12.50"`` (never a float: 0.1 is not exact)."""
    return quantity if isinstance(quantity, int) else str(quantity)
