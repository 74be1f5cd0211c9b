"""The 402 an app answers when a customer's credits do not cover an action: the same
problem+json (RFC 9457) body the HTTP API answers, so one front end handles both."""

from __future__ import annotations

from typing import Any

from creditkit.api.context import Service
from creditkit.api.problems import PROBLEM_TYPE_BASE
from creditkit.client.errors import PackOffer, PaymentRequired
from creditkit.errors import InsufficientCredits, Quantity
from creditkit.integrations.metered import Metering
from creditkit.kit import CreditKit
from creditkit.ledger.schemas import Money

PROBLEM_CONTENT_TYPE = "application/problem+json"


def payment_required_problem(ck: Metering, error: InsufficientCredits) -> dict[str, Any]:
    """The body of a 402: the shortfall, and the packs and the plan that would cover it (as the
    service offered them, for a ``Client``; from the catalog, for a ``CreditKit``)."""
    packs, upgrade_to = _cover(ck, error)
    return {
        "type": PROBLEM_TYPE_BASE + error.code,
        "title": "Insufficient credits",
        "status": 402,
        "detail": str(error),
        "code": error.code,
        "customer": error.customer,
        "unit": error.unit,
        "available": _json_amount(error.available),
        "required": _json_amount(error.required),
        "packs": [
            {
                "id": pack.id,
                "amount": _json_amount(pack.amount),
                "price": {"amount_minor": pack.price.amount_minor, "currency": pack.price.currency},
            }
            for pack in packs
        ],
        "upgrade_to": upgrade_to,
    }


def _cover(ck: Metering, error: InsufficientCredits) -> tuple[tuple[PackOffer, ...], str | None]:
    if isinstance(error, PaymentRequired):
        return error.packs, error.upgrade_to
    if not isinstance(ck, CreditKit):
        return (), None
    cover = Service.of(ck).enrich(error)
    packs = tuple(
        PackOffer(pack["id"], pack["amount"], Money(**pack["price"]))
        for pack in cover.get("packs", [])
    )
    return packs, cover.get("upgrade_to")


def _json_amount(amount: Quantity) -> int | str:
    """Whole-credit amounts as JSON integers, others as exact decimal strings."""
    return amount if isinstance(amount, int) else str(amount)
