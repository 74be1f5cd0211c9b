"""What an app's metered route answers when the ledger refuses or cannot answer: the same
problem+json (RFC 9457) bodies the HTTP API answers, so one front end handles both.

- credits short (``InsufficientCredits``): 402, with the packs and the plan that would cover it;
- a budget on the spender's path full (``BudgetExceeded``): 403, naming the spender, the cap,
  what is used and when it resets;
- the plan's rate limit (``RateLimited``, from a ``Client``): 429 with ``Retry-After``;
- a customer creditkit does not know (``UnknownCustomer``): 404 ``unknown_customer``;
- the ledger busy (``LedgerBusy``) or the service unreachable (``ServiceUnreachable``, a 503
  after the client's retries): 503, so the app's client tries again later rather than
  reporting a server error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from creditkit.amounts import wire_amount
from creditkit.api.context import Service
from creditkit.api.problems import (
    LEDGER_BUSY_RETRY_AFTER_SECONDS,
    PROBLEM_TYPE_BASE,
    problem_body,
)
from creditkit.client.errors import (
    ApiError,
    PackOffer,
    PaymentRequired,
    RateLimited,
    ServiceUnreachable,
)
from creditkit.errors import (
    BudgetExceeded,
    CreditKitError,
    InsufficientCredits,
    LedgerBusy,
    UnknownCustomer,
)
from creditkit.kit import CreditKit
from creditkit.ledger.schemas import Money
from creditkit.metering.metered import Metering

#: A rate limit's window is one minute: a 429 that does not say when to come back (a
#: service older than this client) is told to wait that long.
RATE_LIMIT_RETRY_AFTER_SECONDS_DEFAULT = 60


@dataclass(frozen=True, slots=True)
class Refusal:
    """The answer a route gives instead of running (or instead of a 500): ``status``, the
    problem+json ``body`` and the ``headers`` (``Retry-After``)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def refusal_of(ck: Metering, error: CreditKitError) -> Refusal | None:
    """The answer that stands for ``error``; None for an error that is the app's own 500."""
    if isinstance(error, InsufficientCredits):
        return Refusal(402, payment_required_problem(ck, error))
    if isinstance(error, BudgetExceeded):
        return Refusal(403, problem_body(403, error.code, str(error), **error.to_fields()))
    if isinstance(error, RateLimited):
        wait = error.retry_after_seconds or RATE_LIMIT_RETRY_AFTER_SECONDS_DEFAULT
        body = problem_body(429, error.problem, error.detail, **error.facts)
        return Refusal(429, body, {"Retry-After": str(wait)})
    if isinstance(error, LedgerBusy):
        body = problem_body(503, error.code, str(error), attempts=error.attempts)
        return Refusal(503, body, {"Retry-After": str(LEDGER_BUSY_RETRY_AFTER_SECONDS)})
    if isinstance(error, UnknownCustomer):
        # The app's user has no customer yet (a signup that never reached creditkit): the
        # same 404 the API answers, not the app's 500.
        return Refusal(404, problem_body(404, error.code, str(error), customer=error.customer))
    if isinstance(error, ServiceUnreachable) or (
        isinstance(error, ApiError) and error.status == 503
    ):
        # Not the service's address or the failure: they are the app's own business.
        body = problem_body(503, ServiceUnreachable.code, "the credit service did not answer")
        return Refusal(503, body)
    return None


def payment_required_problem(ck: Metering, error: InsufficientCredits) -> dict[str, Any]:
    """The body of a 402: the shortfall, and the packs and the plan that would cover it (as the
    service offered them, for a ``Client``; from the catalog, for a ``CreditKit``)."""
    packs, upgrade_to, upgrade = _cover(ck, error)
    return {
        "type": PROBLEM_TYPE_BASE + error.code,
        "title": "Insufficient credits",
        "status": 402,
        "detail": str(error),
        "code": error.code,
        "customer": error.customer,
        "unit": error.unit,
        "available": wire_amount(error.available),
        "required": wire_amount(error.required),
        "packs": [
            {
                "id": pack.id,
                "name": pack.name or pack.id,
                "amount": wire_amount(pack.amount),
                "price": {"amount_minor": pack.price.amount_minor, "currency": pack.price.currency},
            }
            for pack in packs
        ],
        "upgrade_to": upgrade_to,
        "upgrade": upgrade,
    }


def _cover(
    ck: Metering, error: InsufficientCredits
) -> tuple[tuple[PackOffer, ...], str | None, dict[str, Any] | None]:
    if isinstance(error, PaymentRequired):
        upgrade = error.upgrade
        offer = None
        if upgrade is not None:
            price = upgrade.price
            offer = {
                "id": upgrade.id,
                "name": upgrade.name,
                "price": None
                if price is None
                else {"amount_minor": price.amount_minor, "currency": price.currency},
                "interval": upgrade.interval,
            }
        return error.packs, error.upgrade_to, offer
    if not isinstance(ck, CreditKit):
        return (), None, None
    cover = Service.of(ck).enrich(error)
    packs = tuple(
        PackOffer(pack["id"], pack["amount"], Money(**pack["price"]), pack["name"])
        for pack in cover.get("packs", [])
    )
    return packs, cover.get("upgrade_to"), cover.get("upgrade")
