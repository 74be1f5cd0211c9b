"""The public catalog: plans, packs and what each action costs. No key needed: a pricing page
and an app's "this will cost 3 credits" hint read it (seed 003's ``/api/credits/action-costs``)."""

from typing import Any

from fastapi import APIRouter

from creditkit.amounts import wire_amount
from creditkit.api.context import Service
from creditkit.api.problems import ApiProblem
from creditkit.api.responses import (
    ActionCost,
    CatalogLabels,
    CatalogListing,
    CatalogPack,
    CatalogPlan,
)
from creditkit.catalog import Catalog


def _amount_text(text: Any) -> Any:
    """A plan term's amount (a decimal string) as the API sends amounts: a JSON integer when it
    is whole, else the exact decimal string."""
    if isinstance(text, str) and text.lstrip("-").isdigit():
        return int(text)
    return text


def _wire_terms(terms: dict[str, Any]) -> dict[str, Any]:
    """A plan's terms spelled as the rest of the API spells money and amounts (docs/api.md,
    "Amounts and money"): prices as Money (``amount_minor``), amounts as ``_amount_text``. The
    catalog's own spelling stays as it is: a plan's fingerprint, its version, is made of it."""
    wire = dict(terms)
    wire["prices"] = {
        interval: {"amount_minor": price["amount"], "currency": price["currency"]}
        for interval, price in terms["prices"].items()
    }
    wire["prices_in_credits"] = {
        interval: {**price, "amount": _amount_text(price["amount"])}
        for interval, price in terms["prices_in_credits"].items()
    }
    allowance = terms["allowance"]
    if isinstance(allowance, dict):
        rollover = allowance["rollover"]
        wire["allowance"] = {
            **allowance,
            "amount": _amount_text(allowance["amount"]),
            "rollover": {
                **rollover,
                **{
                    name: _amount_text(rollover[name])
                    for name in ("cap", "min_per_grant", "max_per_grant")
                    if name in rollover
                },
            },
        }
    overage = terms["overage"]
    if overage is not None:
        price = overage["price"]
        wire["overage"] = {
            **overage,
            "price": None
            if price is None
            else {
                "amount_minor": price["amount"],
                "currency": price["currency"],
                "per": price["per"],
            },
            "spend_limit": _amount_text(overage["spend_limit"]),
        }
    return wire


def plans(catalog: Catalog) -> list[CatalogPlan]:
    return [
        CatalogPlan.model_validate(
            {
                "id": plan.id,
                "name": plan.name,
                "rank": plan.rank,
                "default": plan.is_default,
                "description": plan.description,
                **_wire_terms(catalog.plan_terms(plan.id)),
            }
        )
        for plan in catalog.plans_by_rank()
    ]


def packs(catalog: Catalog) -> list[CatalogPack]:
    return [
        CatalogPack(
            id=pack.id,
            name=pack.name,
            amount=wire_amount(pack.amount),
            unit=pack.unit,
            price=pack.price,
            expires_after_days=pack.expires_after_days,
            popular=pack.popular,
            purchase_limit=pack.purchase_limit,
            description=pack.description,
        )
        for pack in catalog.packs.values()
    ]


def action_costs(catalog: Catalog) -> list[ActionCost]:
    return [
        ActionCost(
            action=action.id,
            cost=wire_amount(action.price),
            unit=action.unit,
            label=action.label,
            category=action.category,
            description=action.description,
        )
        for action in catalog.actions.values()
    ]


def labels(catalog: Catalog) -> CatalogLabels:
    plans = catalog.plans_by_rank()
    features = dict.fromkeys(name for plan in plans for name in plan.features)
    limits = dict.fromkeys(name for plan in plans for name in (*plan.limits, *plan.quotas))
    return CatalogLabels(
        features={name: catalog.feature_label(name) for name in features},
        limits={name: catalog.limit_label(name) for name in limits},
    )


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/v1/catalog", tags=["catalog"])

    def catalog() -> Catalog:
        if service.kit.catalog is None:
            raise ApiProblem(404, "no_catalog", "this service runs without a catalog")
        return service.kit.catalog

    @api.get("", response_model=CatalogListing)
    def get_catalog() -> CatalogListing:
        """Plans, packs, action costs and the labels of features and limits, in one read."""
        loaded = catalog()
        return CatalogListing(
            plans=plans(loaded),
            packs=packs(loaded),
            action_costs=action_costs(loaded),
            labels=labels(loaded),
        )

    @api.get("/plans", response_model=list[CatalogPlan])
    def get_plans() -> list[CatalogPlan]:
        """The plans, by rank: how each is presented, and its terms."""
        return plans(catalog())

    @api.get("/packs", response_model=list[CatalogPack])
    def get_packs() -> list[CatalogPack]:
        """The credit packs for sale."""
        return packs(catalog())

    @api.get("/action-costs", response_model=list[ActionCost])
    def get_action_costs() -> list[ActionCost]:
        """What each action costs, for "this will cost 3 credits" in the app."""
        return action_costs(catalog())

    return api
