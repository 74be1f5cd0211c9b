"""The catalog's ``plans`` section, read and checked: prices, allowances and their rollover,
limits, quotas, overage, alerts, spending terms and refunds (see loader.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Final, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from yaml.nodes import MappingNode, SequenceNode

from creditkit.catalog.plans import (
    ROLLOVER_NONE,
    UNLIMITED,
    Allowance,
    AllowanceExpiry,
    Anchor,
    CountOrUnlimited,
    Credits,
    Interval,
    Limit,
    LimitKind,
    Overage,
    OverageCarry,
    Period,
    Plan,
    PlanAlerts,
    PlanRefund,
    Price,
    Rollover,
    RolloverKind,
    Unlimited,
)
from creditkit.catalog.reader import (
    DECIMAL_TEXT,
    LIST,
    MAPPING,
    Field,
    Reader,
    applies_to_list,
    child_field,
    describe,
    section,
)
from creditkit.catalog.schemas import UnitSpec
from creditkit.errors import Quantity
from creditkit.ledger.schemas import Money

_PLAN_KEYS: Final = (
    "name",
    "description",
    "default",
    "rank",
    "prices",
    "prices_in_credits",
    "allowance",
    "features",
    "limits",
    "quotas",
    "overage",
    "rate_limit_per_minute",
    "alerts",
    "debt_limit",
    "spender_budgets",
    "refund",
)
_REFUND_KEYS: Final = ("window_days", "first_purchase_only")
#: A refund window longer than a year is no money-back guarantee anyone offers.
REFUND_WINDOW_DAYS_MAX: Final = 365
_ALLOWANCE_KEYS: Final = (
    "amount",
    "unit",
    "period",
    "anchor",
    "time_zone",
    "rollover",
    "expires",
    "applies_to",
)
_ROLLOVER_KEYS: Final = (
    "cap",
    "fraction",
    "expires_after_periods",
    "min_per_grant",
    "max_per_grant",
)
_BUDGET_KEYS: Final = ("amount", "period")
_BUDGET_PERIODS: Final = ("hour", "day", "week", "month", "lifetime")
_LIMIT_KEYS: Final = ("count", "per_period", "period", "anchor", "time_zone")
_OVERAGE_KEYS: Final = ("unit", "price", "spend_limit", "carry")
_ALERT_KEYS: Final = ("unit", "credits_left", "percent_used")
PERCENT_MAX: Final = 100
_INTERVALS: Final = tuple(str(interval) for interval in Interval)

_T = TypeVar("_T")


def read_plans(r: Reader, where: Field | None, units: Mapping[str, UnitSpec]) -> Mapping[str, Plan]:
    parsed = [_plan(r, plan_id, child, units) for plan_id, child in r.entries(where, "plan")]
    if where is None or not isinstance(where.node, MappingNode):
        return MappingProxyType({})
    if not parsed:
        r.report(where, "declare at least one plan (the default)")
    _check_one_default(r, where, parsed)
    _check_ranks_unique(r, parsed)
    return MappingProxyType({plan.id: plan for plan, _ in parsed})


def _check_one_default(
    r: Reader, where: Field, parsed: list[tuple[Plan, dict[str, Field]]]
) -> None:
    """Exactly one plan is the default: customers without a subscription are on it."""
    defaults = [(plan, fields["default"]) for plan, fields in parsed if plan.is_default]
    if not defaults:
        if parsed and all(r.ok(fields.get("default")) for _, fields in parsed):
            r.report(where, "no plan has `default: true`: exactly one plan must be the default")
        return
    first = defaults[0][0]
    for _, default_field in defaults[1:]:
        r.report(default_field, f"plan {first.id!r} is the default already: only one may be")


def _check_ranks_unique(r: Reader, parsed: list[tuple[Plan, dict[str, Field]]]) -> None:
    """Ranks order plans for upgrades and suggestions: a tie would leave the order undefined."""
    first_by_rank: dict[int, str] = {}
    for plan, fields in parsed:
        rank_field = fields.get("rank")
        if rank_field is None or not r.ok(rank_field):
            continue
        if plan.rank in first_by_rank:
            other = first_by_rank[plan.rank]
            r.report(
                rank_field, f"rank {plan.rank} is taken by plan {other!r}: ranks must be unique"
            )
        else:
            first_by_rank[plan.rank] = plan.id


def _plan(
    r: Reader, plan_id: str, where: Field, units: Mapping[str, UnitSpec]
) -> tuple[Plan, dict[str, Field]]:
    fields = r.mapping(where, _PLAN_KEYS, required=("name", "rank"))
    allowance = _allowance(r, fields.get("allowance"), units)
    plan = Plan(
        id=plan_id,
        name=r.text(fields.get("name"), plan_id),
        rank=r.integer(fields.get("rank"), 0, 0),
        is_default=r.boolean(fields.get("default"), False),
        description=r.optional_text(fields.get("description")),
        prices=_prices(r, fields.get("prices")),
        prices_in_credits=_prices_in_credits(r, fields.get("prices_in_credits"), units),
        allowance=allowance,
        features=r.identifiers(fields.get("features"), "feature"),
        limits=_limits(r, fields.get("limits")),
        quotas=_quotas(r, fields.get("quotas")),
        overage=_overage(r, fields.get("overage"), units),
        rate_limit_per_minute=r.optional_integer(fields.get("rate_limit_per_minute"), 1),
        alerts=_alerts(r, fields.get("alerts"), units, allowance),
        refund=_plan_refund(r, fields.get("refund")),
    )
    credit_unit = units.get(plan.credit_unit)
    plan = dataclasses.replace(
        plan,
        debt_limit=0
        if fields.get("debt_limit") is None
        else r.quantity(fields.get("debt_limit"), credit_unit),
        spender_budgets=_spender_budgets(r, fields.get("spender_budgets"), credit_unit),
    )
    _check_one_currency(r, fields, plan)
    _check_carried_overage(r, fields, plan)
    return plan, fields


def _spender_budgets(
    r: Reader, where: Field | None, unit: UnitSpec | None
) -> Mapping[str, tuple[tuple[str, Quantity], ...]]:
    """``{member: {amount: 500, period: month}}``, or a list of such per kind."""

    def budgets(_kind: str, child: Field) -> tuple[tuple[str, Quantity], ...]:
        fields = r.mapping(child, _BUDGET_KEYS, required=("amount",))
        period = r.text(fields.get("period"), "month") if fields.get("period") else "month"
        if period not in _BUDGET_PERIODS and fields.get("period") is not None:
            r.report(
                fields["period"], f"expected one of {', '.join(_BUDGET_PERIODS)}, got {period!r}"
            )
        return ((period, r.quantity(fields.get("amount"), unit)),)

    return section(r, where, "spender kind", budgets)


def _plan_refund(r: Reader, where: Field | None) -> PlanRefund | None:
    """``{window_days, first_purchase_only}``: the plan's money-back guarantee."""
    if where is None:
        return None
    fields = r.mapping(where, _REFUND_KEYS, required=("window_days",))
    window_days = r.integer(fields.get("window_days"), 1, 1)
    window = fields.get("window_days")
    if window is not None and r.ok(window) and window_days > REFUND_WINDOW_DAYS_MAX:
        r.report(window, f"must be at most {REFUND_WINDOW_DAYS_MAX} days")
    return PlanRefund(window_days, r.boolean(fields.get("first_purchase_only"), False))


def _per_interval(
    r: Reader, where: Field | None, parse: Callable[[Field], _T]
) -> Mapping[Interval, _T]:
    """``{month: …, year: …}``: at least one interval."""
    fields = r.mapping(where, _INTERVALS)
    if where is not None and r.ok(where) and not fields:
        r.report(where, f"name at least one of {', '.join(_INTERVALS)}, or leave the key out")
    return MappingProxyType({Interval(key): parse(child) for key, child in fields.items()})


def _prices(r: Reader, where: Field | None) -> Mapping[Interval, Money]:
    return _per_interval(r, where, r.money)


def _prices_in_credits(
    r: Reader, where: Field | None, units: Mapping[str, UnitSpec]
) -> Mapping[Interval, Credits]:
    def credits(where: Field) -> Credits:
        fields = r.mapping(where, ("amount", "unit"), required=("amount", "unit"))
        unit = r.unit(fields.get("unit"), units)
        amount = r.quantity(fields.get("amount"), unit)
        return Credits(amount, unit.name if unit else "")

    return _per_interval(r, where, credits)


def _check_one_currency(r: Reader, fields: Mapping[str, Field], plan: Plan) -> None:
    """A plan is billed in one currency: its prices and its overage price share it."""
    priced: list[tuple[Field | None, str]] = []
    prices_field = fields.get("prices")
    for interval, money in plan.prices.items():
        priced.append((prices_field and child_field(prices_field, str(interval)), money.currency))
    overage_field = fields.get("overage")
    overage_price = None if plan.overage is None else plan.overage.price
    if overage_price is not None and overage_field is not None:
        priced.append((child_field(overage_field, "price"), overage_price.money.currency))
    checked = [(f, currency) for f, currency in priced if f is not None and r.ok(f)]
    for money_field, currency in checked[1:]:
        first_field, first_currency = checked[0]
        if currency != first_currency:
            currency_field = child_field(money_field, "currency") or money_field
            r.report(
                currency_field,
                f"{currency} differs from {first_currency} at {first_field.path}: a plan's"
                " prices share one currency",
            )


def _allowance(
    r: Reader, where: Field | None, units: Mapping[str, UnitSpec]
) -> Allowance | Unlimited | None:
    if where is None:
        return None
    if r.is_unlimited(where):
        return UNLIMITED
    fields = r.mapping(
        where,
        _ALLOWANCE_KEYS,
        required=("amount", "unit"),
        expected="a mapping or `unlimited`",
    )
    unit = r.unit(fields.get("unit"), units)
    period = r.choice(fields.get("period"), Period, Period.MONTH)
    anchor, time_zone = _cadence(r, fields, period)
    allowance = Allowance(
        amount=r.quantity(fields.get("amount"), unit),
        unit=unit.name if unit else "",
        period=period,
        rollover=_rollover(r, fields.get("rollover"), unit),
        expires=r.choice(fields.get("expires"), AllowanceExpiry, AllowanceExpiry.PERIOD_END),
        applies_to=applies_to_list(r, fields.get("applies_to")),
        anchor=anchor,
        time_zone=time_zone,
    )
    rollover_field = fields.get("rollover")
    never_expires = allowance.expires is AllowanceExpiry.NEVER
    if never_expires and rollover_field and allowance.rollover.kind is not RolloverKind.NONE:
        r.report(
            rollover_field,
            "has no effect when allowance credits never expire (they are all kept): leave it"
            " out, or use `expires: period_end`",
        )
    return allowance


def _cadence(r: Reader, fields: Mapping[str, Field], period: Period) -> tuple[Anchor, str | None]:
    """``anchor`` and ``time_zone`` beside a ``period``: a zone the IANA database knows, and
    none for hours (they are counted in UTC: every zone's hours would start on the hour but
    half-hour zones', and a daylight-saving change makes an hour of two or none)."""
    anchor = r.choice(fields.get("anchor"), Anchor, Anchor.ANNIVERSARY)
    zone_field = fields.get("time_zone")
    if zone_field is None:
        return anchor, None
    name = r.text(zone_field, "")
    if not name:
        return anchor, None
    if period is Period.HOUR:
        r.report(zone_field, "hour periods are counted in UTC: leave time_zone out")
        return anchor, None
    if not zone_known(name):
        r.report(zone_field, f"unknown time zone {name!r} (an IANA name: Europe/Paris, UTC)")
        return anchor, None
    return anchor, name


def zone_known(name: str) -> bool:
    """Whether the IANA database (the system's, else the ``tzdata`` package) has the zone."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _rollover(r: Reader, where: Field | None, unit: UnitSpec | None) -> Rollover:
    """``none`` | ``all`` | ``{cap, fraction, expires_after_periods, min_per_grant,
    max_per_grant}`` (any of them, at least one)."""
    if where is None:
        return ROLLOVER_NONE
    value = r.plain(where)
    if value in (RolloverKind.NONE.value, RolloverKind.ALL.value):
        return Rollover(RolloverKind(value))
    if value is not MAPPING:
        r.report(
            where,
            f"expected none, all or {{cap: N}} (a mapping of {', '.join(_ROLLOVER_KEYS)}), got"
            f" {describe(value)}",
        )
        return ROLLOVER_NONE
    fields = r.mapping(where, _ROLLOVER_KEYS)
    if not fields:
        if r.ok(where):
            r.report(where, f"name at least one of {', '.join(_ROLLOVER_KEYS)}")
        return ROLLOVER_NONE

    def bound(name: str) -> Quantity | None:
        field = fields.get(name)
        return None if field is None else r.quantity(field, unit)

    cap = bound("cap")
    rollover = Rollover(
        RolloverKind.ALL if cap is None else RolloverKind.CAPPED,
        cap,
        fraction=_fraction(r, fields.get("fraction")),
        expires_after_periods=r.optional_integer(fields.get("expires_after_periods"), 1),
        min_per_grant=bound("min_per_grant"),
        max_per_grant=bound("max_per_grant"),
    )
    low, high = rollover.min_per_grant, rollover.max_per_grant
    if low is not None and high is not None and low > high:
        r.report(fields["min_per_grant"], f"is more than max_per_grant ({high}): nothing fits")
    return rollover


def _fraction(r: Reader, where: Field | None) -> Decimal | None:
    """A decimal in quotes, more than 0 and at most 1 ("0.5": half of what is left)."""
    if where is None:
        return None
    value = r.plain(where)
    if not isinstance(value, str) or not DECIMAL_TEXT.fullmatch(value):
        r.report(where, f'expected a decimal in quotes ("0.5"), got {describe(value)}')
        return None
    fraction = Decimal(value)
    if not 0 < fraction <= 1:
        r.report(where, f"must be more than 0 and at most 1, got {value}")
        return None
    return fraction


def _limits(r: Reader, where: Field | None) -> Mapping[str, Limit]:
    return section(r, where, "limit", lambda _name, child: _limit(r, child))


def _limit(r: Reader, where: Field) -> Limit:
    """``{count: N}`` (live things) or ``{per_period: N, period: month}`` (a counter)."""
    fields = r.mapping(where, _LIMIT_KEYS, expected="{count: N} or {per_period: N, period: …}")
    count, per_period, period = (fields.get(key) for key in ("count", "per_period", "period"))
    if count is not None and per_period is not None:
        r.report(where, "count and per_period exclude each other: a limit is one or the other")
    if per_period is None:
        for key in ("anchor", "time_zone"):
            if fields.get(key) is not None:
                r.report(fields[key], "only a per_period limit has periods to anchor")
    if count is not None:
        if period is not None:
            r.report(period, "a count has no period (only per_period has)")
        return Limit(LimitKind.COUNT, r.count_or_unlimited(count))
    if per_period is not None:
        if period is None:
            r.report_at(f"{where.path}.period", where.line, "missing (per_period needs it)")
        value = r.count_or_unlimited(per_period)
        chosen = r.choice(period, Period, Period.MONTH)
        anchor, time_zone = _cadence(r, fields, chosen)
        return Limit(LimitKind.PER_PERIOD, value, chosen, anchor, time_zone)
    if r.ok(where):
        r.report(where, "write {count: N} or {per_period: N, period: month}")
    return Limit(LimitKind.COUNT, 0)


def _quotas(r: Reader, where: Field | None) -> Mapping[str, CountOrUnlimited]:
    return section(r, where, "quota", lambda _name, child: r.count_or_unlimited(child))


def _overage(r: Reader, where: Field | None, units: Mapping[str, UnitSpec]) -> Overage | None:
    if where is None:
        return None
    fields = r.mapping(where, _OVERAGE_KEYS, required=("unit", "spend_limit"))
    unit = r.unit(fields.get("unit"), units)
    carry = (
        None
        if fields.get("carry") is None
        else r.choice(fields["carry"], OverageCarry, OverageCarry.DEBT)
    )
    price_field = fields.get("price")
    if carry is OverageCarry.DEBT and price_field is not None:
        r.report(price_field, "overage carried as debt is owed in credits, never billed: leave"
                 " price out")  # fmt: skip
    elif carry is None and price_field is None and r.ok(where):
        r.report_at(f"{where.path}.price", where.line, "missing (or carry: debt)")
    return Overage(
        unit=unit.name if unit else "",
        price=None if price_field is None else metered_price(r, price_field),
        spend_limit=r.quantity_or_unlimited(fields.get("spend_limit"), unit),
        carry=carry,
    )


def _check_carried_overage(r: Reader, fields: Mapping[str, Field], plan: Plan) -> None:
    """Carried overage is repaid by the next period's allowance: it needs one in its unit."""
    overage = plan.overage
    if overage is None or overage.carry is None:
        return
    allowance = plan.allowance
    if not (isinstance(allowance, Allowance) and allowance.unit == overage.unit):
        r.report(
            child_field(fields["overage"], "carry") or fields["overage"],
            f"carrying overage as debt needs an allowance of {overage.unit!r} to repay it",
        )


def metered_price(r: Reader, where: Field | None) -> Price:
    """``{amount, currency, per}``: ``amount`` minor units for every ``per`` whole units."""
    fields = r.mapping(where, ("amount", "currency", "per"), required=("amount", "currency"))
    money = Money(r.money_amount(fields.get("amount"), 1), r.currency(fields))
    return Price(money, r.integer(fields.get("per"), 1, 1))


def _alerts(
    r: Reader,
    where: Field | None,
    units: Mapping[str, UnitSpec],
    allowance: Allowance | Unlimited | None,
) -> PlanAlerts | None:
    """``{unit, credits_left, percent_used}``: the unit defaults to the allowance's, and a
    percentage is of the allowance, so ``percent_used`` needs an allowance in that unit."""
    if where is None:
        return None
    fields = r.mapping(where, _ALERT_KEYS)
    unit_field = fields.get("unit")
    unit = r.unit(unit_field, units)
    if unit_field is None and isinstance(allowance, Allowance):
        unit = units.get(allowance.unit)
    elif unit_field is None and r.ok(where):
        r.report_at(f"{where.path}.unit", where.line, "missing (the plan has no allowance to"
                    " take the unit from)")  # fmt: skip
    left_field = fields.get("credits_left")
    percent_field = fields.get("percent_used")
    if left_field is None and percent_field is None and r.ok(where):
        r.report(where, "name credits_left, percent_used or both")
    percents = _percents(r, percent_field)
    if (
        percent_field is not None
        and unit is not None
        and r.ok(percent_field)
        and not (isinstance(allowance, Allowance) and allowance.unit == unit.name)
    ):
        r.report(
            percent_field,
            f"a percentage of the period's allowance needs an allowance of {unit.name!r}",
        )
    return PlanAlerts(
        unit=unit.name if unit else "",
        credits_left=None if left_field is None else r.quantity(left_field, unit),
        percent_used=percents,
    )


def _percents(r: Reader, where: Field | None) -> tuple[int, ...]:
    """Whole percentages from 1 to 100, increasing, each once."""
    if where is None:
        return ()
    value = r.plain(where)
    if value is not LIST or not isinstance(where.node, SequenceNode):
        r.report(where, f"expected a list of percentages, got {describe(value)}")
        return ()
    if not where.node.value:
        r.report(where, "list at least one percentage, or leave the key out")
    percents: list[int] = []
    for index, node in enumerate(where.node.value):
        item = where.item(index, node)
        percent = r.integer(item, 1, 0)
        if not r.ok(item):
            continue
        if percent > PERCENT_MAX:
            r.report(item, f"must be at most {PERCENT_MAX}, got {percent}")
        elif percents and percent <= percents[-1]:
            r.report(item, f"must be above {percents[-1]}: list percentages in increasing order")
        else:
            percents.append(percent)
    return tuple(percents)
