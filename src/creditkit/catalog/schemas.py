"""The catalog's value types: units, actions, packs and discounts as the YAML file declares
them, and the ``Catalog`` of them all with its plans (a plan and its parts are plans.py's). A
plan's terms, the canonical form a subscription's plan version keeps, are written here
(``Catalog.plan_terms``, ``Catalog.fingerprint``) and read back (``plan_from_terms``).

Everything here is immutable data. Quantities of a unit are ``int`` for a unit of scale 0 and
``Decimal`` (at exactly the unit's scale) otherwise, as the ledger gives them back; money is
``Money`` (integer minor units).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, Literal

from creditkit.catalog.errors import UnknownAction, UnknownCoupon, UnknownPack, UnknownPlan
from creditkit.catalog.plans import (
    UNLIMITED,
    Allowance,
    AllowanceExpiry,
    Anchor,
    Credits,
    Interval,
    Limit,
    LimitKind,
    Overage,
    OverageCarry,
    Period,
    Plan,
    Price,
    Rollover,
    RolloverKind,
    Unlimited,
    frozen_empty,
)
from creditkit.errors import InvalidRequest, Quantity, UnknownUnit, present, require
from creditkit.ledger.schemas import Money, Unit
from creditkit.pricing.schemas import TokenPricing


def humanised(identifier: str) -> str:
    """An id as words, for a label the catalog does not give: "icp_builder" → "Icp builder"."""
    return identifier.replace("_", " ").capitalize()


@dataclass(frozen=True, slots=True)
class Dimension:
    """A usage dimension: a key of charges' ``metadata`` (``agent``, ``community``) that the
    usage dashboard summarizes ("Your top agent this week is Einstein."). ``label`` is how the
    dashboard names it, in the singular and lower case."""

    id: str
    label: str


@dataclass(frozen=True, slots=True)
class UnitSpec:
    """A kind of credit the catalog uses. ``scale`` is its number of decimal places.

    ``cost`` is what serving its credits costs the operator (``Money(2, "USD")`` per 1,000
    credits: the model and GPU bill behind them), for the margin in ``CreditKit.analytics``;
    ``None`` when the catalog does not say. It is the operator's figure, never shown to
    customers, and no part of any plan's terms.
    """

    name: str
    scale: int = 0
    label: str | None = None
    cost: Price | None = None

    def as_unit(self) -> Unit:
        """The ledger's view of this unit (the one ``CreditKit(units=...)`` declares)."""
        return Unit(self.name, self.scale)


@dataclass(frozen=True, slots=True)
class Action:
    """Something the host app charges for: ``price`` credits of ``unit`` per unit of quantity,
    or, with ``tokens``, priced from a model call's usage (``price`` is then 0: the usage
    prices each call; see docs/tokens.md)."""

    id: str
    price: Quantity
    unit: str
    label: str
    category: str | None = None
    description: str | None = None
    tokens: TokenPricing | None = None


@dataclass(frozen=True, slots=True)
class Pack:
    """A one-time purchase of ``amount`` credits of ``unit`` for ``price``, plus ``bonus``
    promotional credits when the catalog gives some.

    ``expires_after_days`` ``None`` means the credits never expire. ``purchase_limit`` is how
    many times one customer may buy the pack (``None``: no limit); a free pack must have one.
    """

    id: str
    name: str
    amount: Quantity
    unit: str
    price: Money
    expires_after_days: int | None = None
    popular: bool = False
    purchase_limit: int | None = None
    description: str | None = None
    #: The actions or categories the pack's credits may pay for (None: any spending).
    applies_to: tuple[str, ...] | None = None
    #: Credits given on top of ``amount`` with each purchase, as a promotion: a grant of its
    #: own (source ``promo``, no cost basis, the same expiry), so the paid part keeps the
    #: whole price as its cost basis.
    bonus: Quantity | None = None


class DiscountKind(StrEnum):
    #: Redeemed by its id (the code the customer types) at checkout.
    COUPON = "coupon"
    #: Applied by itself at checkout when its condition holds (an owner of many workspaces).
    VOLUME = "volume"


#: A percentage off is a whole number of percent: the seeds' offers are 15% and 20%.
PERCENT_OFF_MAX: Final = 100


@dataclass(frozen=True, slots=True)
class Discount:
    """Money off one checkout: ``percent_off`` (1 to 100) or ``amount_off``, never both.

    It applies to the purchases it is limited to: the named ``plans`` and ``packs`` (all of
    them when it names neither) and, when it names ``intervals``, only to plans bought by
    those intervals. ``max_redemptions`` (``None``: no limit) counts succeeded checkouts and
    ones in progress; ``expires_at`` is the last moment it may be applied (``None``: never).
    A ``VOLUME`` discount applies when the customer is a workspace whose owner owns at least
    ``min_owner_workspaces`` workspaces.
    """

    id: str
    kind: DiscountKind
    name: str
    percent_off: int | None = None
    amount_off: Money | None = None
    plans: tuple[str, ...] = ()
    packs: tuple[str, ...] = ()
    intervals: tuple[Interval, ...] = ()
    max_redemptions: int | None = None
    expires_at: datetime | None = None
    min_owner_workspaces: int | None = None

    def applies_to(self, plan: str | None, pack: str | None, interval: Interval | None) -> bool:
        """Whether a checkout of ``plan`` by ``interval``, or of ``pack``, is one it is
        limited to."""
        require(
            (plan is None) != (pack is None),
            "a checkout buys a plan or a pack, exactly one",
            f"discount {self.id!r}: plan {plan!r}, pack {pack!r}",
        )
        if self.intervals and (plan is None or interval not in self.intervals):
            return False
        if not self.plans and not self.packs:
            return True
        return plan in self.plans if plan is not None else pack in self.packs

    def off(self, subtotal: Money) -> int:
        """Minor units off ``subtotal``, at most all of it. A percentage is rounded half up
        to the minor unit (the project's one rounding rule for money, as in proration)."""
        if self.percent_off is not None:
            off = (2 * subtotal.amount_minor * self.percent_off + 100) // 200
        else:
            amount_off = present(
                self.amount_off, "a discount without a percent off has an amount off"
            )
            require(
                amount_off.currency == subtotal.currency,
                "an amount off is taken only from a price in its own currency",
                f"discount {self.id!r} in {amount_off.currency}, price in {subtotal.currency}",
            )
            off = amount_off.amount_minor
        return min(off, subtotal.amount_minor)


#: Names the canonical form of a plan's terms. Change it only with the form itself: every
#: fingerprint changes with it, so every subscribed plan gets a new version.
PLAN_TERMS_FORMAT: Final = "creditkit.plan-terms/1"


@dataclass(frozen=True, slots=True)
class Catalog:
    """Units, actions, plans and packs, by id, in the order the file declares them."""

    units: Mapping[str, UnitSpec]
    plans: Mapping[str, Plan]
    actions: Mapping[str, Action] = field(default_factory=frozen_empty)
    packs: Mapping[str, Pack] = field(default_factory=frozen_empty)
    #: Discounts redeemed by code at checkout, by code.
    coupons: Mapping[str, Discount] = field(default_factory=frozen_empty)
    #: Discounts applied by themselves at checkout when their condition holds.
    discounts: Mapping[str, Discount] = field(default_factory=frozen_empty)
    #: Usage dimensions the dashboard summarizes, by metadata key.
    dimensions: Mapping[str, Dimension] = field(default_factory=frozen_empty)
    #: How pages name plans' features and limits to customers ("ICP builder"), by id.
    feature_labels: Mapping[str, str] = field(default_factory=frozen_empty)
    limit_labels: Mapping[str, str] = field(default_factory=frozen_empty)

    def feature_label(self, feature: str) -> str:
        """The catalog's label of ``feature``, else its id humanised ("ai_gap_analysis" →
        "Ai gap analysis")."""
        return self.feature_labels.get(feature) or humanised(feature)

    def limit_label(self, limit: str) -> str:
        """The catalog's label of a limit or quota, else its id humanised."""
        return self.limit_labels.get(limit) or humanised(limit)

    def unit(self, name: str) -> UnitSpec:
        try:
            return self.units[name]
        except KeyError:
            raise UnknownUnit(name) from None

    def plan(self, plan_id: str) -> Plan:
        try:
            return self.plans[plan_id]
        except KeyError:
            raise UnknownPlan(plan_id) from None

    def action(self, action_id: str) -> Action:
        try:
            return self.actions[action_id]
        except KeyError:
            raise UnknownAction(action_id) from None

    def pack(self, pack_id: str) -> Pack:
        try:
            return self.packs[pack_id]
        except KeyError:
            raise UnknownPack(pack_id) from None

    def coupon(self, code: str) -> Discount:
        try:
            return self.coupons[code]
        except KeyError:
            raise UnknownCoupon(code) from None

    @property
    def default_plan(self) -> Plan:
        """The plan of customers without a subscription."""
        for plan in self.plans.values():
            if plan.is_default:
                return plan
        raise InvalidRequest("plans", "no plan is the default")

    def plans_by_rank(self) -> tuple[Plan, ...]:
        """Every plan, lowest tier first."""
        return tuple(sorted(self.plans.values(), key=lambda plan: plan.rank))

    @property
    def feature_names(self) -> frozenset[str]:
        """Every feature some plan grants: a name outside it is a typo in the host app."""
        return frozenset(name for plan in self.plans.values() for name in plan.features)

    @property
    def limit_names(self) -> frozenset[str]:
        return frozenset(name for plan in self.plans.values() for name in plan.limits)

    def plan_terms(self, plan_id: str) -> dict[str, Any]:
        """The plan's terms as canonical JSON data: what a subscriber pays and gets.

        Why not the whole plan: ``name``, ``description``, ``rank`` and ``default`` present
        the plan or place it in the catalog, and ``alerts`` say when to warn its customers;
        changing them changes no subscriber's terms, so they must not make a new plan version.
        """
        plan = self.plan(plan_id)
        return {
            "format": PLAN_TERMS_FORMAT,
            "units": {name: self.unit(name).scale for name in sorted(plan.units_used())},
            "prices": {
                str(interval): _money_terms(money) for interval, money in plan.prices.items()
            },
            "prices_in_credits": {
                str(interval): self._credits_terms(credits.amount, credits.unit)
                for interval, credits in plan.prices_in_credits.items()
            },
            "allowance": self._allowance_terms(plan.allowance),
            "features": sorted(set(plan.features)),
            "limits": {name: _limit_terms(limit) for name, limit in plan.limits.items()},
            "quotas": {name: _unlimited_or(value) for name, value in plan.quotas.items()},
            "overage": self._overage_terms(plan.overage),
            "rate_limit_per_minute": plan.rate_limit_per_minute,
        } | self._spending_terms(plan)

    def _spending_terms(self, plan: Plan) -> dict[str, Any]:
        """Debt limit and default budgets, only when set: plans without them keep the terms
        (and fingerprints) they had before these existed."""
        terms: dict[str, Any] = {}
        if plan.debt_limit:
            terms["debt_limit"] = self._quantity_text(plan.debt_limit, plan.credit_unit)
        if plan.spender_budgets:
            terms["spender_budgets"] = {
                kind: [
                    [period, self._quantity_text(amount, plan.credit_unit)]
                    for period, amount in caps
                ]
                for kind, caps in sorted(plan.spender_budgets.items())
            }
        return terms

    def fingerprint(self, plan_id: str) -> str:
        """SHA-256 (hex) of the plan's canonical terms: equal for equal terms whatever the
        order or spelling in the file, different when any term changes."""
        canonical = json.dumps(
            self.plan_terms(plan_id), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def _quantity_text(self, amount: Quantity, unit: str) -> str:
        # At the unit's scale, so 1.5 and 1.50 of a scale-2 unit are one term.
        return f"{Decimal(amount):.{self.unit(unit).scale}f}"

    def _credits_terms(self, amount: Quantity, unit: str) -> dict[str, Any]:
        return {"amount": self._quantity_text(amount, unit), "unit": unit}

    def _allowance_terms(self, allowance: Allowance | Unlimited | None) -> Any:
        if not isinstance(allowance, Allowance):
            return _unlimited_or(allowance)
        cap = allowance.rollover.cap
        return (
            {
                **self._credits_terms(allowance.amount, allowance.unit),
                "period": str(allowance.period),
                "rollover": {
                    "kind": str(allowance.rollover.kind),
                    "cap": None if cap is None else self._quantity_text(cap, allowance.unit),
                }
                | self._rollover_refinements(allowance),
                "expires": str(allowance.expires),
            }
            | ({} if allowance.applies_to is None else {"applies_to": list(allowance.applies_to)})
            | (_cadence_terms(allowance.anchor, allowance.time_zone))
        )

    def _rollover_refinements(self, allowance: Allowance) -> dict[str, Any]:
        """Only the refinements a plan uses: plans without them keep their fingerprints."""
        rollover = allowance.rollover
        terms: dict[str, Any] = {}
        if rollover.fraction is not None:
            terms["fraction"] = str(rollover.fraction)
        if rollover.expires_after_periods is not None:
            terms["expires_after_periods"] = rollover.expires_after_periods
        for name in ("min_per_grant", "max_per_grant"):
            bound = getattr(rollover, name)
            if bound is not None:
                terms[name] = self._quantity_text(bound, allowance.unit)
        return terms

    def _overage_terms(self, overage: Overage | None) -> dict[str, Any] | None:
        if overage is None:
            return None
        spend_limit = overage.spend_limit
        price = overage.price
        return {
            "unit": overage.unit,
            "price": None if price is None else {**_money_terms(price.money), "per": price.per},
            "spend_limit": (
                UNLIMITED.value
                if spend_limit is UNLIMITED
                else self._quantity_text(spend_limit, overage.unit)
            ),
        } | ({} if overage.carry is None else {"carry": str(overage.carry)})


def plan_from_terms(
    plan_id: str, name: str, rank: int, terms: Mapping[str, Any], is_default: bool = False
) -> Plan:
    """The plan whose ``Catalog.plan_terms`` are ``terms``: how a subscription on an older plan
    version (grandfathered) reads the terms it was sold, after the catalog has moved on."""
    if terms.get("format") != PLAN_TERMS_FORMAT:
        raise ValueError(f"plan terms of format {terms.get('format')!r} are not readable here")
    scales: Mapping[str, int] = terms["units"]

    def quantity(text: str, unit: str) -> Quantity:
        return int(text) if scales[unit] == 0 else Decimal(text)

    def limit_value(value: Any) -> Any:
        return UNLIMITED if value == UNLIMITED.value else value

    allowance: Allowance | Literal[Unlimited.UNLIMITED] | None
    raw_allowance = terms["allowance"]
    if raw_allowance is None or raw_allowance == UNLIMITED.value:
        allowance = limit_value(raw_allowance)
    else:
        unit = raw_allowance["unit"]
        raw_rollover = raw_allowance["rollover"]

        def optional(name: str) -> Quantity | None:
            text = raw_rollover.get(name)
            return None if text is None else quantity(text, unit)

        fraction = raw_rollover.get("fraction")
        allowance = Allowance(
            amount=quantity(raw_allowance["amount"], unit),
            unit=unit,
            period=Period(raw_allowance["period"]),
            rollover=Rollover(
                RolloverKind(raw_rollover["kind"]),
                optional("cap"),
                fraction=None if fraction is None else Decimal(fraction),
                expires_after_periods=raw_rollover.get("expires_after_periods"),
                min_per_grant=optional("min_per_grant"),
                max_per_grant=optional("max_per_grant"),
            ),
            anchor=Anchor(raw_allowance.get("anchor", Anchor.ANNIVERSARY.value)),
            time_zone=raw_allowance.get("time_zone"),
            expires=AllowanceExpiry(raw_allowance["expires"]),
            applies_to=(
                None
                if raw_allowance.get("applies_to") is None
                else tuple(raw_allowance["applies_to"])
            ),
        )

    def credit_quantity(text: str) -> Quantity:
        # The plan's credit unit need not be among the units its other terms use.
        return Decimal(text) if "." in text else int(text)

    overage = None
    if terms["overage"] is not None:
        raw = terms["overage"]
        raw_price = raw["price"]
        overage = Overage(
            unit=raw["unit"],
            price=None
            if raw_price is None
            else Price(Money(raw_price["amount"], raw_price["currency"]), raw_price["per"]),
            carry=None if raw.get("carry") is None else OverageCarry(raw["carry"]),
            spend_limit=(
                UNLIMITED
                if raw["spend_limit"] == UNLIMITED.value
                else quantity(raw["spend_limit"], raw["unit"])
            ),
        )
    return Plan(
        id=plan_id,
        name=name,
        rank=rank,
        is_default=is_default,
        prices=MappingProxyType(
            {
                Interval(interval): Money(money["amount"], money["currency"])
                for interval, money in terms["prices"].items()
            }
        ),
        prices_in_credits=MappingProxyType(
            {
                Interval(interval): Credits(quantity(raw["amount"], raw["unit"]), raw["unit"])
                for interval, raw in terms["prices_in_credits"].items()
            }
        ),
        allowance=allowance,
        features=tuple(terms["features"]),
        limits=MappingProxyType(
            {
                limit_name: Limit(
                    LimitKind(raw["kind"]),
                    limit_value(raw["value"]),
                    None if raw["period"] is None else Period(raw["period"]),
                    Anchor(raw.get("anchor", Anchor.ANNIVERSARY.value)),
                    raw.get("time_zone"),
                )
                for limit_name, raw in terms["limits"].items()
            }
        ),
        quotas=MappingProxyType(
            {quota: limit_value(value) for quota, value in terms["quotas"].items()}
        ),
        overage=overage,
        rate_limit_per_minute=terms["rate_limit_per_minute"],
        debt_limit=credit_quantity(terms.get("debt_limit", "0")),
        spender_budgets=MappingProxyType(
            {
                kind: tuple((period, credit_quantity(amount)) for period, amount in caps)
                for kind, caps in terms.get("spender_budgets", {}).items()
            }
        ),
    )


def _money_terms(money: Money) -> dict[str, Any]:
    return {"amount": money.amount_minor, "currency": money.currency}


def _limit_terms(limit: Limit) -> dict[str, Any]:
    period = None if limit.period is None else str(limit.period)
    return {"kind": str(limit.kind), "value": _unlimited_or(limit.value), "period": period} | (
        _cadence_terms(limit.anchor, limit.time_zone)
    )


def _cadence_terms(anchor: Anchor, time_zone: str | None) -> dict[str, Any]:
    """Anchor and time zone only when not the defaults: older plans keep their fingerprints."""
    terms: dict[str, Any] = {}
    if anchor is not Anchor.ANNIVERSARY:
        terms["anchor"] = str(anchor)
    if time_zone is not None:
        terms["time_zone"] = time_zone
    return terms


def _unlimited_or(value: object) -> Any:
    return UNLIMITED.value if value is UNLIMITED else value
