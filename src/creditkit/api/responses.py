"""Response bodies of the routes whose answer exists only on the wire: the kit answers them with
a plain value (a bool, a link, a count) or builds them from the catalog for HTTP. The kit's own
results (``Balance``, ``Refund``, ``TopUpSettings`` …) are their domain's dataclasses.

An amount here is an ``int`` or an exact decimal string, as ``creditkit.amounts.wire_amount``
writes it (docs/api.md, "Amounts and money"); its schema is the one every other answer's amounts
have. Money is the ledger's ``Money``: ``{amount_minor, currency}``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from creditkit.catalog import AllowanceExpiry, Interval, LimitKind, Period, RolloverKind
from creditkit.ledger.schemas import Charge, Money

#: An amount as sent: an integer in a unit without decimal places, else its decimal string.
WireAmount = int | str
UnlimitedValue = Literal["unlimited"]


class Removed(BaseModel):
    """The answer of an idempotent ``DELETE``: whether there was something to remove."""

    removed: bool


class Quota(BaseModel):
    """A number of the plan in force (``max_file_mb``), or ``"unlimited"``."""

    name: str
    value: int | UnlimitedValue


class BillingPortalLink(BaseModel):
    """Where to send the customer: the provider's billing portal, for this customer."""

    url: str


class Health(BaseModel):
    status: Literal["ok"]


class IngestCharged(BaseModel):
    """One usage event of a batch, charged."""

    status: Literal[201]
    charge: Charge


def _problem_error(schema: dict[str, Any]) -> None:
    # The document's ``Problem`` (api/contract.py adds it), set here rather than on the field:
    # pydantic looks a field's ``$ref`` up among its own definitions.
    schema["properties"]["error"] = {"$ref": "#/components/schemas/Problem"}


class IngestRefused(BaseModel):
    """One usage event of a batch, refused: ``status`` and the problem a lone charge would have
    answered with (402 ``insufficient_credits`` with its facts, 404, 422 …)."""

    model_config = ConfigDict(json_schema_extra=_problem_error)

    status: int
    error: dict[str, Any]


class IngestAccepted(BaseModel):
    """One usage event of a batch, acknowledged by the events stream (``serve --events``; the
    whole answer is then 202): a worker charges it later, or parks it and sends an
    ``event.refused`` webhook."""

    status: int
    idempotency_key: str


class IngestResults(BaseModel):
    """One result per event, in the order sent."""

    results: list[IngestCharged | IngestRefused | IngestAccepted]


class ActionCost(BaseModel):
    """What one catalog action costs: ``cost`` of ``unit`` per unit of quantity."""

    action: str
    cost: WireAmount
    unit: str
    label: str
    category: str | None
    description: str | None


class CatalogPack(BaseModel):
    id: str
    name: str
    amount: WireAmount
    unit: str
    price: Money
    expires_after_days: int | None
    popular: bool
    purchase_limit: int | None
    description: str | None


class CreditsPrice(BaseModel):
    """A plan's price paid from the credit balance."""

    amount: WireAmount
    unit: str


class PlanRollover(BaseModel):
    kind: RolloverKind
    cap: WireAmount | None


class PlanAllowance(BaseModel):
    amount: WireAmount
    unit: str
    period: Period
    rollover: PlanRollover
    expires: AllowanceExpiry


class PlanLimit(BaseModel):
    kind: LimitKind
    value: int | UnlimitedValue
    period: Period | None


class OveragePrice(BaseModel):
    """Money for every ``per`` whole units of overage."""

    amount_minor: int
    currency: str
    per: int


class PlanOverage(BaseModel):
    unit: str
    price: OveragePrice
    spend_limit: WireAmount | UnlimitedValue


class CatalogPlan(BaseModel):
    """A plan as the public catalog lists it: how it is presented, and its terms (what a
    subscriber pays and gets; ``format`` is the version of their spelling)."""

    id: str
    name: str
    rank: int
    default: bool
    description: str | None
    format: str
    #: Each unit the terms are written in, with its decimal places.
    units: dict[str, int]
    prices: dict[Interval, Money]
    prices_in_credits: dict[Interval, CreditsPrice]
    allowance: PlanAllowance | UnlimitedValue | None
    features: list[str]
    limits: dict[str, PlanLimit]
    quotas: dict[str, int | UnlimitedValue]
    overage: PlanOverage | None
    rate_limit_per_minute: int | None


class CatalogLabels(BaseModel):
    """How customers' pages name each feature and limit (or quota) the plans use: the
    catalog's label, else the id humanised ("icp_builder" → "Icp builder")."""

    features: dict[str, str]
    limits: dict[str, str]


class CatalogListing(BaseModel):
    """Plans (by rank), packs, action costs and the labels of the plans' features and limits,
    in one read."""

    plans: list[CatalogPlan]
    packs: list[CatalogPack]
    action_costs: list[ActionCost]
    labels: CatalogLabels
