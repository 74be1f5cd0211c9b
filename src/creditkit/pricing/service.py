"""Prices a model call's usage under a token-priced action: the model's rates (the catalog's
own, else genai-prices' at the call's time, else the catalog's fallback), its exact cost in
USD, and the credits it comes to.

The one rounding rule: credits = cost in USD * markup * credits_per_usd, rounded UP to the
unit's scale (its smallest step). Why up: a call that cost the operator anything costs the
customer at least one step, so many tiny calls cannot add up to free usage; and the operator
never sells below the markup it set. All arithmetic is ``Decimal`` in a context that traps any
inexact result: a result that could not be exact raises instead of rounding silently."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_CEILING, Context, Decimal, Inexact, localcontext

from creditkit.catalog import Catalog
from creditkit.errors import InvalidRequest, Quantity, UnknownModel
from creditkit.ledger.schemas import Unit
from creditkit.pricing.schemas import (
    REQUESTS_PER_PRICE,
    TOKEN_KINDS,
    TOKENS_PER_PRICE,
    ModelRates,
    PriceSource,
    Quote,
    TablePolicy,
    TokenPrice,
    TokenPricing,
    TokenUsage,
)
from creditkit.pricing.table import table_rates, table_version
from creditkit.pricing.usage import token_usage

#: Digits enough for any product of the bounded inputs (counts ≤ 10^12, rates and factors of
#: at most a few dozen digits); Inexact is trapped, so this is a guard, never a rounding.
_EXACT = Context(prec=400, traps=[Inexact])


def cost_usd(
    rates: ModelRates, usage: TokenUsage
) -> tuple[Decimal, dict[str, Decimal], Decimal | None]:
    """The exact cost in USD of ``usage`` at ``rates``, with the per-million rate applied to
    each kind (tiers resolved by the call's whole input) and the per-thousand request price."""
    total_input = usage.input_tokens_total
    applied = {kind: rates.per_million(kind, total_input) for kind in TOKEN_KINDS}
    tokens = usage.tokens()
    with localcontext(_EXACT):
        cost = sum(
            (Decimal(tokens[kind]) * applied[kind] / TOKENS_PER_PRICE for kind in TOKEN_KINDS),
            start=Decimal(0),
        )
        if rates.requests_per_thousand is not None:
            cost += rates.requests_per_thousand / REQUESTS_PER_PRICE
    return cost, applied, rates.requests_per_thousand


def credits_for(cost: Decimal, pricing: TokenPricing, unit: Unit) -> Quantity:
    """``cost`` USD as credits of ``unit``: * markup * credits_per_usd, rounded up to the
    unit's scale (the module's rounding rule)."""
    with localcontext(_EXACT):
        exact = cost * pricing.markup * pricing.credits_per_usd
        steps = exact.scaleb(unit.scale).to_integral_value(rounding=ROUND_CEILING)
    return unit.to_quantity(int(steps))


class PricingService:
    """Quotes usages for the catalog's token-priced actions."""

    def __init__(self, catalog: Catalog | None, unit_of: Callable[[str], Unit]) -> None:
        self._catalog = catalog
        self._unit_of = unit_of

    def pricing_of(self, action: str) -> TokenPricing | None:
        """The action's token pricing; None when the catalog prices it otherwise (or has no
        such action, or there is no catalog)."""
        if self._catalog is None:
            return None
        found = self._catalog.actions.get(action)
        return None if found is None else found.tokens

    def quote(self, action: str, usage: object, at: datetime) -> Quote:
        """What ``usage`` costs under ``action`` at the moment ``at`` (whose table prices
        apply). Raises ``UnknownAction``, ``InvalidRequest`` (an action not priced by tokens,
        a malformed usage, naming the field), ``UnknownModel``."""
        if self._catalog is None:
            raise InvalidRequest("action", "pricing usage needs a catalog")
        found = self._catalog.action(action)
        pricing = found.tokens
        if pricing is None:
            raise InvalidRequest(
                "usage", f"action {action!r} is priced per quantity, not by tokens"
            )
        used = token_usage(usage)
        source, rates, provider, table_model = self._rates(action, pricing, used, at)
        cost, applied, requests = cost_usd(rates, used)
        unit = self._unit_of(found.unit)
        price = TokenPrice(
            source=source,
            version=table_version() if source is PriceSource.GENAI_PRICES else None,
            priced_at=at,
            model=used.model,
            provider=provider,
            table_model=table_model,
            rates=applied,
            requests_per_thousand=requests,
            tokens=used.tokens(),
            cost_usd=cost,
            markup=pricing.markup,
            credits_per_usd=pricing.credits_per_usd,
        )
        return Quote(action, unit.name, credits_for(cost, pricing, unit), price)

    @staticmethod
    def _rates(
        action: str, pricing: TokenPricing, used: TokenUsage, at: datetime
    ) -> tuple[PriceSource, ModelRates, str | None, str | None]:
        own = pricing.models.get(used.model)
        if own is not None:
            return PriceSource.CATALOG, own, used.provider, None
        if pricing.prices is TablePolicy.GENAI_PRICES:
            found = table_rates(used.model, used.provider, at)
            if found is not None:
                return PriceSource.GENAI_PRICES, found.rates, found.provider, found.model
        if pricing.fallback is not None:
            return PriceSource.FALLBACK, pricing.fallback, used.provider, None
        raise UnknownModel(used.model, used.provider, action)
