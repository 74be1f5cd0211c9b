"""Errors only a client of the HTTP API meets: refusals the HTTP layer decides (a key without
the scope, a rate limit, an unknown route, a server failure), a service that does not answer,
and a 402 that also says what would cover the shortfall."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from creditkit.errors import CreditKitError, InsufficientCredits, Quantity
from creditkit.ledger.schemas import Money


class ApiError(CreditKitError):
    """A refusal the HTTP layer decided, with no engine error of its own: ``status`` (the HTTP
    status), ``problem`` (the problem+json body's ``code``, e.g. ``scope_insufficient``),
    ``detail`` and the body's other ``facts``."""

    code = "api_error"

    def __init__(self, status: int, problem: str, detail: str, facts: dict[str, Any]) -> None:
        super().__init__(f"{status} {problem}: {detail}")
        self.status = status
        self.problem = problem
        self.detail = detail
        self.facts = facts


class RateLimited(ApiError):
    """429, still after the client's retries (or with a ``Retry-After`` longer than it waits):
    the plan's ``limit_per_minute`` is used up for ``retry_after_seconds`` more."""

    code = "rate_limited"

    @property
    def retry_after_seconds(self) -> int | None:
        value = self.facts.get("retry_after_seconds")
        return value if isinstance(value, int) else None


class ServiceUnreachable(CreditKitError):
    """No answer from the service after every attempt (refused connections, timeouts)."""

    code = "service_unreachable"

    def __init__(self, base_url: str, attempts: int, reason: str) -> None:
        super().__init__(f"{base_url} did not answer after {attempts} attempts: {reason}")
        self.base_url = base_url
        self.attempts = attempts
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PackOffer:
    """A catalog pack that would cover a shortfall, as a 402 offers it."""

    id: str
    amount: Quantity
    price: Money
    #: The pack's catalog name, for a paywall to show ("Pro Pack").
    name: str | None = None


@dataclass(frozen=True, slots=True)
class UpgradeOffer:
    """The plan ``upgrade_to`` names, as a paywall shows it: its price per ``interval``
    (monthly when it is sold monthly; None for a plan not sold self-serve)."""

    id: str
    name: str
    price: Money | None = None
    interval: str | None = None


class PaymentRequired(InsufficientCredits):
    """``InsufficientCredits`` as the HTTP API answers it (402): with what would cover the
    shortfall, ``packs`` (cheapest first) and ``upgrade_to`` (the plan whose allowance covers
    the whole request; None when none does), with its name and price in ``upgrade``."""

    def __init__(
        self,
        customer: str,
        unit: str,
        available: Quantity,
        required: Quantity,
        packs: tuple[PackOffer, ...] = (),
        upgrade_to: str | None = None,
        not_applicable: Quantity = 0,
        upgrade: UpgradeOffer | None = None,
    ) -> None:
        super().__init__(customer, unit, available, required, not_applicable)
        self.packs = packs
        self.upgrade_to = upgrade_to
        self.upgrade = upgrade
