"""What every router is built with: the kit, access checks, stored responses, rate limits."""

from __future__ import annotations

from dataclasses import dataclass

from creditkit.api.auth import Access
from creditkit.api.idempotency import Responses
from creditkit.api.problems import ApiProblem
from creditkit.kit import CreditKit


@dataclass(frozen=True, slots=True)
class Service:
    kit: CreditKit
    access: Access
    responses: Responses

    @classmethod
    def of(cls, kit: CreditKit) -> Service:
        return cls(kit, Access(kit), Responses(kit))

    @property
    def rate_limited(self) -> bool:
        """Whether any plan sets a rate limit (if none does, requests are not counted)."""
        catalog = self.kit.catalog
        return catalog is not None and any(
            plan.rate_limit_per_minute is not None for plan in catalog.plans.values()
        )

    def count_request(self, customer: str) -> None:
        """Counts a metered request (a charge, a hold, an event) against the customer's plan
        rate limit; 429 with ``Retry-After`` past it."""
        if not self.rate_limited:
            return
        decision = self.kit.hit_rate_limit(customer)
        if not decision.allowed:
            raise ApiProblem(
                429,
                "rate_limited",
                f"the plan allows {decision.limit} requests a minute",
                headers={"Retry-After": str(decision.retry_after_seconds)},
                limit_per_minute=decision.limit,
                retry_after_seconds=decision.retry_after_seconds,
            )
