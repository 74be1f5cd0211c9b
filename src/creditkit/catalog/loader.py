"""Loads a plan catalog from YAML and checks all of it before anything uses it.

The file is *composed* (parsed into YAML nodes that keep their line), not loaded into plain
dicts, so that every problem can name the line it is on. The reader (``Reader``, reader.py)
walks the nodes along the format (docs/catalog.md), reports each problem it meets and carries on
with a harmless stand-in value, so one run lists every problem in the file; the ``Catalog`` is
returned only when there were none. Rules that relate fields to each other (a unit is declared,
exactly one plan is the default, ranks are unique, a plan has one currency) run after the fields
they compare.

This module reads the top level, units, actions, packs, coupons and discounts; the plans are
plan_loader.py's, and an action's ``tokens`` tokens.py's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from yaml.nodes import SequenceNode

from creditkit.catalog.errors import CatalogInvalid, CatalogProblem
from creditkit.catalog.plan_loader import metered_price, read_plans
from creditkit.catalog.plans import Interval, Plan
from creditkit.catalog.reader import (
    CURRENCY,
    IDENTIFIER,
    Field,
    Reader,
    applies_to_list,
    child_field,
    describe,
    section,
    suggestion,
)
from creditkit.catalog.schemas import (
    PERCENT_OFF_MAX,
    Action,
    Catalog,
    Dimension,
    Discount,
    DiscountKind,
    Pack,
    UnitSpec,
)
from creditkit.catalog.tokens import token_pricing
from creditkit.errors import Quantity, present
from creditkit.ledger.schemas import SCALE_MAX

__all__ = ["load_catalog", "parse_catalog"]


def load_catalog(path: str | os.PathLike[str]) -> Catalog:
    """Reads and checks the catalog at ``path`` (UTF-8 YAML). Raises ``CatalogInvalid`` listing
    every problem, each with this file's name, its line and its field; ``OSError`` when the file
    cannot be read."""
    source_name = os.fspath(path)
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        problem = CatalogProblem(source_name, line, "", "not UTF-8 text")
        raise CatalogInvalid([problem]) from None
    return parse_catalog(text, source_name)


def parse_catalog(text: str, source_name: str = "<string>") -> Catalog:
    """Checks the catalog in ``text``; ``source_name`` is the file name problems report."""
    reader = Reader(source_name)
    root = reader.compose(text)
    catalog = None if root is None else _catalog(reader, root)
    if reader.problems or catalog is None:
        # Sorted by line (stably), so that rules checked late still read in file order.
        raise CatalogInvalid(sorted(reader.problems, key=lambda problem: problem.line))
    return catalog


_TOP_KEYS: Final = (
    "units",
    "actions",
    "plans",
    "packs",
    "coupons",
    "discounts",
    "dimensions",
    "features",
    "limits",
)
_DIMENSION_KEYS: Final = ("label",)
_UNIT_KEYS: Final = ("scale", "label", "cost")
_ACTION_KEYS: Final = ("price", "unit", "label", "category", "description", "tokens")
_PACK_KEYS: Final = (
    "name",
    "amount",
    "unit",
    "price",
    "expires_after_days",
    "popular",
    "purchase_limit",
    "description",
    "applies_to",
    "bonus",
)
_BONUS_KEYS: Final = ("amount",)
_COUPON_KEYS: Final = (
    "name",
    "percent_off",
    "amount_off",
    "plans",
    "packs",
    "intervals",
    "max_redemptions",
    "expires_at",
)
_DISCOUNT_KEYS: Final = (*_COUPON_KEYS, "min_owner_workspaces")


def _catalog(r: Reader, root: Field) -> Catalog:
    fields = r.mapping(root, _TOP_KEYS, required=("units", "plans"))
    units = _units(r, fields.get("units"))
    actions = section(r, fields.get("actions"), "action", lambda i, f: _action(r, i, f, units))
    plans = read_plans(r, fields.get("plans"), units)
    packs = section(r, fields.get("packs"), "pack", lambda i, f: _pack(r, i, f, units))

    def discount(kind: DiscountKind) -> Callable[[str, Field], Discount]:
        return lambda discount_id, where: _discount(r, discount_id, where, kind, plans, packs)

    coupons = section(r, fields.get("coupons"), "coupon", discount(DiscountKind.COUPON))
    discounts = section(r, fields.get("discounts"), "discount", discount(DiscountKind.VOLUME))
    dimensions = section(r, fields.get("dimensions"), "dimension", lambda i, f: _dimension(r, i, f))
    feature_labels = section(r, fields.get("features"), "feature", lambda i, f: _label(r, f))
    limit_labels = section(r, fields.get("limits"), "limit", lambda i, f: _label(r, f))
    return Catalog(
        units=units,
        plans=plans,
        actions=actions,
        packs=packs,
        coupons=coupons,
        discounts=discounts,
        dimensions=dimensions,
        feature_labels=feature_labels,
        limit_labels=limit_labels,
    )


def _label(r: Reader, where: Field) -> str:
    """A feature's or a limit's ``label``, as customers read it."""
    fields = r.mapping(where, _DIMENSION_KEYS, required=("label",))
    return r.text(fields.get("label"), "")


def _dimension(r: Reader, dimension_id: str, where: Field) -> Dimension:
    fields = r.mapping(where, _DIMENSION_KEYS)
    return Dimension(dimension_id, r.text(fields.get("label"), dimension_id.replace("_", " ")))


def _units(r: Reader, where: Field | None) -> Mapping[str, UnitSpec]:
    def unit(name: str, where: Field) -> UnitSpec:
        fields = r.mapping(where, _UNIT_KEYS)
        scale_field = fields.get("scale")
        scale = r.integer(scale_field, 0, 0)
        if scale > SCALE_MAX:
            r.report(scale_field or where, f"at most {SCALE_MAX} decimal places, got {scale}")
        cost_field = fields.get("cost")
        cost = None if cost_field is None else metered_price(r, cost_field)
        return UnitSpec(name, scale, r.optional_text(fields.get("label")), cost)

    units = section(r, where, "unit", unit)
    if where is not None and r.ok(where) and not units:
        r.report(where, "declare at least one unit (e.g. credits: {scale: 0})")
    return units


def _action(r: Reader, action_id: str, where: Field, units: Mapping[str, UnitSpec]) -> Action:
    fields = r.mapping(where, _ACTION_KEYS, required=("unit",))
    unit = r.unit(fields.get("unit"), units)
    price_field, tokens_field = fields.get("price"), fields.get("tokens")
    if (price_field is None) == (tokens_field is None) and r.ok(where):
        r.report(where, "write price (credits per call) or tokens (priced by model usage),"
                 " exactly one of them")  # fmt: skip
    return Action(
        id=action_id,
        price=0 if price_field is None else r.quantity(price_field, unit),
        unit=unit.name if unit else "",
        label=r.text(fields.get("label"), action_id),
        category=r.optional_text(fields.get("category")),
        description=r.optional_text(fields.get("description")),
        tokens=None if tokens_field is None else token_pricing(r, tokens_field),
    )


def _bonus(r: Reader, where: Field | None, unit: UnitSpec | None) -> Quantity | None:
    """``{amount}``: promotional credits given with each purchase of the pack."""
    if where is None:
        return None
    fields = r.mapping(where, _BONUS_KEYS, required=("amount",))
    return r.quantity(fields.get("amount"), unit)


def _pack(r: Reader, pack_id: str, where: Field, units: Mapping[str, UnitSpec]) -> Pack:
    fields = r.mapping(where, _PACK_KEYS, required=("name", "amount", "unit", "price"))
    unit = r.unit(fields.get("unit"), units)
    pack = Pack(
        id=pack_id,
        name=r.text(fields.get("name"), pack_id),
        amount=r.quantity(fields.get("amount"), unit),
        unit=unit.name if unit else "",
        price=r.money(fields.get("price")),
        expires_after_days=r.optional_integer(fields.get("expires_after_days"), 1),
        popular=r.boolean(fields.get("popular"), False),
        purchase_limit=r.optional_integer(fields.get("purchase_limit"), 1),
        description=r.optional_text(fields.get("description")),
        applies_to=applies_to_list(r, fields.get("applies_to")),
        bonus=_bonus(r, fields.get("bonus"), unit),
    )
    price_field = fields.get("price")
    if price_field is None or not r.ok(price_field) or pack.price.amount_minor > 0:
        return pack
    if pack.purchase_limit is None and r.ok(fields.get("purchase_limit")):
        # Otherwise anyone could take any number of free credits.
        r.report(
            price_field, "a free pack needs a purchase_limit (how often one customer may take it)"
        )
    return pack


def _discount(
    r: Reader,
    discount_id: str,
    where: Field,
    kind: DiscountKind,
    plans: Mapping[str, Plan],
    packs: Mapping[str, Pack],
) -> Discount:
    """A coupon or a volume discount: ``percent_off`` or ``amount_off``, limited to the named
    plans, packs and intervals; a volume discount names its condition."""
    volume = kind is DiscountKind.VOLUME
    fields = r.mapping(
        where,
        _DISCOUNT_KEYS if volume else _COUPON_KEYS,
        required=("min_owner_workspaces",) if volume else (),
    )
    percent_field, amount_field = fields.get("percent_off"), fields.get("amount_off")
    if (percent_field is None) == (amount_field is None):
        r.report(where, "write percent_off or amount_off (exactly one of them)")
    percent_off = None
    if percent_field is not None:
        percent_off = r.integer(percent_field, 1, 1)
        if percent_off > PERCENT_OFF_MAX:
            r.report(percent_field, f"must be at most {PERCENT_OFF_MAX}, got {percent_off}")
    amount_off = None if amount_field is None else r.money(amount_field, minimum=1)
    discount = Discount(
        id=discount_id,
        kind=kind,
        name=r.text(fields.get("name"), discount_id),
        percent_off=percent_off,
        amount_off=amount_off,
        plans=_references(r, fields.get("plans"), plans, "plan"),
        packs=_references(r, fields.get("packs"), packs, "pack"),
        intervals=_intervals(r, fields.get("intervals")),
        max_redemptions=r.optional_integer(fields.get("max_redemptions"), 1),
        expires_at=_moment(r, fields.get("expires_at")),
        min_owner_workspaces=r.optional_integer(fields.get("min_owner_workspaces"), 1),
    )
    if amount_off is not None and amount_field is not None and r.ok(amount_field):
        _check_discount_currency(r, amount_field, discount, plans, packs)
    return discount


def _references(
    r: Reader, where: Field | None, known: Mapping[str, object], what: str
) -> tuple[str, ...]:
    """A list of ids of plans or packs the catalog declares, each unknown one reported on its
    own line."""
    names = r.identifiers(where, what)
    if where is None or not isinstance(where.node, SequenceNode):
        return names
    for index, node in enumerate(where.node.value):
        item = where.item(index, node)
        name = r.plain(item)
        if isinstance(name, str) and IDENTIFIER.fullmatch(name) and name not in known:
            hint = suggestion(name, list(known))
            r.report(item, f"unknown {what} {name!r}{hint}")
    return names


def _intervals(r: Reader, where: Field | None) -> tuple[Interval, ...]:
    names = r.identifiers(where, "interval")
    if where is None or not isinstance(where.node, SequenceNode):
        return ()
    chosen: list[Interval] = []
    for index, node in enumerate(where.node.value):
        item = where.item(index, node)
        name = r.plain(item)
        if name in names:
            chosen.append(r.choice(item, Interval, Interval.MONTH))
    return tuple(dict.fromkeys(chosen))


def _moment(r: Reader, where: Field | None) -> datetime | None:
    """An ISO 8601 date and time with its UTC offset, in quotes ("2026-12-31T23:59:59Z")."""
    if where is None:
        return None
    value = r.plain(where)
    if not isinstance(value, str):
        r.report(
            where,
            f'expected a date and time in quotes ("2026-12-31T23:59:59Z"), got {describe(value)}',
        )
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        r.report(where, f"{value!r} is not an ISO 8601 date and time")
        return None
    if moment.tzinfo is None:
        r.report(where, f"{value!r} has no UTC offset: add Z or +00:00")
        return None
    return moment.astimezone(UTC)


def _check_discount_currency(
    r: Reader,
    where: Field,
    discount: Discount,
    plans: Mapping[str, Plan],
    packs: Mapping[str, Pack],
) -> None:
    """An amount off is money of one currency: every purchase it is limited to is priced in
    it (a discount limited to nothing is checked against every plan and pack)."""
    amount_off = present(
        discount.amount_off, "a discount checked for its currency has an amount off"
    )
    everything = not discount.plans and not discount.packs
    named_plans = plans if everything else {i: plans[i] for i in discount.plans if i in plans}
    named_packs = packs if everything else {i: packs[i] for i in discount.packs if i in packs}
    currencies = {
        *(plan.currency for plan in named_plans.values() if plan.currency is not None),
        *(pack.price.currency for pack in named_packs.values()),
    }
    # A currency that is itself wrong is reported where it is written, not again here.
    currencies = {code for code in currencies if CURRENCY.fullmatch(code)}
    others = sorted(currencies - {amount_off.currency})
    if others:
        r.report(
            child_field(where, "currency") or where,
            f"{amount_off.currency} differs from {', '.join(others)}, the currency"
            " of what the discount applies to",
        )
