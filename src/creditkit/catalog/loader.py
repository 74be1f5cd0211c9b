"""Loads a plan catalog from YAML and checks all of it before anything uses it.

The file is *composed* (parsed into YAML nodes that keep their line), not loaded into plain
dicts, so that every problem can name the line it is on. The reader walks the nodes along the
format (docs/catalog.md), reports each problem it meets and carries on with a harmless stand-in
value, so one run lists every problem in the file; the ``Catalog`` is returned only when there
were none. Rules that relate fields to each other (a unit is declared, exactly one plan is the
default, ranks are unique, a plan has one currency) run after the fields they compare.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Final, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from creditkit.catalog.errors import CatalogInvalid, CatalogProblem
from creditkit.catalog.schemas import (
    PERCENT_OFF_MAX,
    ROLLOVER_NONE,
    UNLIMITED,
    Action,
    Allowance,
    AllowanceExpiry,
    Anchor,
    Catalog,
    CountOrUnlimited,
    Credits,
    Dimension,
    Discount,
    DiscountKind,
    Interval,
    Limit,
    LimitKind,
    Overage,
    OverageCarry,
    Pack,
    Period,
    Plan,
    PlanAlerts,
    PlanRefund,
    Price,
    QuantityOrUnlimited,
    Rollover,
    RolloverKind,
    UnitSpec,
    Unlimited,
)
from creditkit.catalog.tokens import token_pricing
from creditkit.errors import InvalidAmount, Quantity, present
from creditkit.ledger.schemas import AMOUNT_STEPS_MAX, SCALE_MAX, Money

__all__ = ["load_catalog", "parse_catalog"]

#: Ids and names of features, limits and quotas: lowercase snake_case, so that they read the
#: same in YAML, Python, JSON and URLs.
IDENTIFIER: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
#: An ISO 4217 code's shape; the list of codes itself changes and is the payment provider's.
CURRENCY: Final = re.compile(r"[A-Z]{3}")
#: A decimal written as text, for units with decimal places: "1.5". No sign, no exponent.
DECIMAL_TEXT: Final = re.compile(r"[0-9]+(\.[0-9]+)?")
#: Money amounts, limits and quotas share the ledger's bound on stored integers.
INTEGER_MAX: Final = AMOUNT_STEPS_MAX

_TAG: Final = "tag:yaml.org,2002:"
_PLAIN_TAGS: Final = frozenset(_TAG + name for name in ("str", "int", "float", "bool", "null"))
_COLLECTION_TAGS: Final = frozenset((_TAG + "map", _TAG + "seq"))
_MERGE_TAG: Final = _TAG + "merge"

_E = TypeVar("_E", bound=StrEnum)


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
    reader = _Reader(source_name)
    root = reader.compose(text)
    catalog = None if root is None else _catalog(reader, root)
    if reader.problems or catalog is None:
        # Sorted by line (stably), so that rules checked late still read in file order.
        raise CatalogInvalid(sorted(reader.problems, key=lambda problem: problem.line))
    return catalog


# -- the reader: YAML nodes to checked Python values --


@dataclass(frozen=True, slots=True)
class _Field:
    """A node and where it is written: its dotted path and the (1-based) line of its key."""

    node: Node
    path: str
    line: int

    def child(self, key: str, node: Node, line: int) -> _Field:
        return _Field(node, f"{self.path}.{key}" if self.path else key, line)

    def item(self, index: int, node: Node) -> _Field:
        return _Field(node, f"{self.path}[{index}]", _line(node))


@dataclass(frozen=True, slots=True)
class _Unsupported:
    """A node that is no plain scalar, described for a message."""

    description: str


_MAPPING: Final = _Unsupported("a mapping")
_LIST: Final = _Unsupported("a list")


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1 if node.start_mark is not None else 1


def _describe(value: object) -> str:
    if isinstance(value, _Unsupported):
        return value.description
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if value is None:
        return "nothing (null)"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value} (a float)"
    return f"the text {value!r}"


def _suggestion(key: str, allowed: Collection[str]) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Reader:
    """Turns nodes into values, recording a problem (and returning a stand-in) for each node
    that breaks the format."""

    def __init__(self, source_name: str) -> None:
        self.source_name = source_name
        self.problems: list[CatalogProblem] = []
        self._constructor = SafeConstructor()

    # -- problems --

    def report(self, where: _Field, reason: str) -> None:
        self.report_at(where.path, where.line, reason)

    def report_at(self, path: str, line: int, reason: str) -> None:
        self.problems.append(CatalogProblem(self.source_name, line, path, reason))

    def ok(self, where: _Field | None) -> bool:
        """Whether no problem was found at or under ``where`` (absent counts as fine)."""
        if where is None:
            return True
        path = where.path
        return not any(
            problem.field == path or problem.field.startswith((path + ".", path + "["))
            for problem in self.problems
        )

    # -- the document --

    def compose(self, text: str) -> _Field | None:
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line = mark.line + 1 if mark is not None else 1
            parts = (part for part in (error.context, error.problem) if part)
            self.report_at("", line, f"YAML syntax: {'; '.join(parts)}")
            return None
        except yaml.YAMLError as error:
            self.report_at("", 1, f"YAML: {error}")
            return None
        if node is None:
            self.report_at("", 1, "the catalog is empty")
            return None
        return _Field(node, "", _line(node))

    # -- collections --

    def pairs(self, where: _Field, expected: str = "a mapping") -> list[tuple[str, _Field]] | None:
        """The entries of a mapping as child fields, keys checked (text, no duplicates); merge
        keys (``<<: *anchor``) resolved. ``None`` (reported) when ``where`` is no mapping."""
        value = self.plain(where)
        if value is not _MAPPING or not isinstance(where.node, MappingNode):
            self.report(where, f"expected {expected}, got {_describe(value)}")
            return None
        children: list[tuple[str, _Field]] = []
        first_lines: dict[str, int] = {}
        for key, value_node, own in self._flatten(where.node, set()):
            if not isinstance(key, ScalarNode) or key.tag != _TAG + "str":
                reason = f"keys must be text, got {_describe(self.plain(_Field(key, '', 0)))}"
                self.report_at(where.path, _line(key), reason)
                continue
            name = str(key.value)
            if name in first_lines:
                if own:
                    line = first_lines[name]
                    duplicate = where.child(name, value_node, _line(key))
                    self.report(duplicate, f"duplicate key (line {line})")
                continue
            first_lines[name] = _line(key)
            children.append((name, where.child(name, value_node, _line(key))))
        return children

    def _flatten(self, node: MappingNode, seen: set[int]) -> Iterable[tuple[Node, Node, bool]]:
        """(key, value, written here) of a mapping: its own pairs, then those its merge keys
        bring that it does not set itself (earlier merge sources win, as YAML says)."""
        seen.add(id(node))
        merged: list[tuple[Node, Node, bool]] = []
        for key, value in node.value:
            if key.tag != _MERGE_TAG:
                yield key, value, True
                continue
            sources = value.value if isinstance(value, SequenceNode) else [value]
            for source in sources:
                # Why the seen set: aliases can make merges cycle, or repeat exponentially.
                if isinstance(source, MappingNode) and id(source) not in seen:
                    merged.extend((k, v, False) for k, v, _ in self._flatten(source, seen))
                elif not isinstance(source, MappingNode):
                    self.report_at("", _line(source), "a merge key (<<) takes mappings only")
        yield from merged

    def mapping(
        self,
        where: _Field | None,
        keys: Collection[str],
        required: Collection[str] = (),
        expected: str = "a mapping",
    ) -> dict[str, _Field]:
        """The known keys of a mapping; unknown keys (typos) and missing required keys are
        reported."""
        if where is None:
            return {}
        children = self.pairs(where, expected)
        if children is None:
            return {}
        known: dict[str, _Field] = {}
        for key, child in children:
            if key in keys:
                known[key] = child
            else:
                allowed = ", ".join(keys)
                reason = f"unknown key{_suggestion(key, keys)} (expected one of: {allowed})"
                self.report(child, reason)
        for key in required:
            if key not in known:
                self.report_at(f"{where.path}.{key}" if where.path else key, where.line, "missing")
        return known

    def entries(self, where: _Field | None, what: str) -> list[tuple[str, _Field]]:
        """The ``id: spec`` entries of a section, ids checked as identifiers."""
        children = [] if where is None else self.pairs(where) or []
        result: list[tuple[str, _Field]] = []
        for name, child in children:
            self.identifier_check(child, name, what)
            result.append((name, child))
        return result

    def identifier_check(self, where: _Field, name: str, what: str) -> None:
        if not IDENTIFIER.fullmatch(name):
            self.report(
                where,
                f"{what} {name!r} is not an identifier: lowercase letters, digits and _,"
                " starting with a letter, at most 64 characters",
            )

    def identifiers(self, where: _Field | None, what: str) -> tuple[str, ...]:
        """A list of distinct identifiers (features)."""
        if where is None:
            return ()
        value = self.plain(where)
        if value is not _LIST or not isinstance(where.node, SequenceNode):
            self.report(where, f"expected a list of {what}s, got {_describe(value)}")
            return ()
        names: list[str] = []
        for index, node in enumerate(where.node.value):
            item = where.item(index, node)
            name = self.text(item, "")
            if not name:
                continue
            self.identifier_check(item, name, what)
            if name in names:
                self.report(item, f"{what} {name!r} is listed twice")
            names.append(name)
        return tuple(dict.fromkeys(names))

    # -- scalars --

    def plain(self, where: _Field) -> object:
        """The Python value of a plain scalar (text, integer, float, boolean, null), or an
        ``_Unsupported`` describing anything else."""
        node = where.node
        if node.tag not in _PLAIN_TAGS | _COLLECTION_TAGS:
            # Tagged values (!!python/object, !!binary, dates) are never constructed: the
            # catalog is data, and a tag would make it mean something else to other readers.
            kind = node.tag.removeprefix(_TAG)
            if node.tag.startswith(_TAG) and "/" not in kind:
                return _Unsupported(f"a {kind} value")
            return _Unsupported(f"a value tagged {node.tag}")
        if isinstance(node, MappingNode):
            return _MAPPING
        if isinstance(node, SequenceNode):
            return _LIST
        return self._constructor.construct_object(node)

    def text(self, where: _Field | None, default: str) -> str:
        if where is None:
            return default
        value = self.plain(where)
        if not isinstance(value, str):
            self.report(where, f"expected text, got {_describe(value)}")
            return default
        if not value.strip():
            self.report(where, "must not be blank")
            return default
        return value

    def optional_text(self, where: _Field | None) -> str | None:
        return None if where is None else self.text(where, "") or None

    def boolean(self, where: _Field | None, default: bool) -> bool:
        if where is None:
            return default
        value = self.plain(where)
        if not isinstance(value, bool):
            self.report(where, f"expected true or false, got {_describe(value)}")
            return default
        return value

    def integer(self, where: _Field | None, minimum: int, default: int) -> int:
        """A whole number from ``minimum`` to ``INTEGER_MAX``."""
        if where is None:
            return default
        value = self.plain(where)
        if isinstance(value, bool) or not isinstance(value, int):
            hint = " (`unlimited` is not accepted here)" if value == UNLIMITED.value else ""
            self.report(where, f"expected an integer, got {_describe(value)}{hint}")
            return default
        if value < minimum:
            self.report(where, f"must be at least {minimum}, got {value}")
            return default
        if value > INTEGER_MAX:
            self.report(where, f"must be at most {INTEGER_MAX}, got {value}")
            return default
        return value

    def optional_integer(self, where: _Field | None, minimum: int) -> int | None:
        """An integer, or absent or ``null`` for none."""
        if where is None or self.plain(where) is None:
            return None
        return self.integer(where, minimum, minimum)

    def count_or_unlimited(self, where: _Field | None) -> CountOrUnlimited:
        if self.is_unlimited(where):
            return UNLIMITED
        return self.integer(where, 0, 0)

    def choice(self, where: _Field | None, options: type[_E], default: _E) -> _E:
        if where is None:
            return default
        value = self.plain(where)
        names = [str(option) for option in options]
        if isinstance(value, str) and value in names:
            return options(value)
        hint = _suggestion(value, names) if isinstance(value, str) else ""
        self.report(where, f"expected one of {', '.join(names)}, got {_describe(value)}{hint}")
        return default

    def is_unlimited(self, where: _Field | None) -> bool:
        return where is not None and self.plain(where) == UNLIMITED.value

    # -- units, quantities and money --

    def unit(self, where: _Field | None, units: Mapping[str, UnitSpec]) -> UnitSpec | None:
        """The declared unit ``where`` names; ``None`` (reported) when it names none."""
        if where is None:
            return None
        name = self.text(where, "")
        if not name:
            return None
        if name not in units:
            declared = ", ".join(units) or "none"
            hint = _suggestion(name, list(units))
            self.report(where, f"unknown unit {name!r}{hint} (declared units: {declared})")
            return None
        return units[name]

    def quantity(self, where: _Field | None, unit: UnitSpec | None) -> Quantity:
        """A positive, exact quantity of ``unit``: an integer, or a decimal in quotes for a unit
        with decimal places. Returned at the unit's scale, as the ledger returns amounts."""
        if where is None:
            return 0
        value = self.plain(where)
        exact: int | Decimal
        if isinstance(value, bool) or not isinstance(value, int | str | float):
            self.report(where, f"expected an amount, got {_describe(value)}")
            return 0
        if isinstance(value, float):
            source = str(where.node.value)
            self.report(
                where,
                f"{source} is a float, and floats are not exact: write an integer, or a decimal"
                f' in quotes ("{source}")',
            )
            return 0
        if isinstance(value, str):
            if not DECIMAL_TEXT.fullmatch(value):
                hint = " (`unlimited` is not accepted here)" if value == UNLIMITED.value else ""
                self.report(where, f"expected an amount, got {_describe(value)}{hint}")
                return 0
            exact = Decimal(value)
        else:
            exact = value
        if exact <= 0:
            self.report(where, f"must be positive, got {value}")
            return 0
        if unit is None:
            return 0  # The unit is unknown (reported): its scale cannot check the amount.
        ledger_unit = unit.as_unit()
        try:
            steps = ledger_unit.to_steps(exact, where.path)
        except InvalidAmount as error:
            self.report(where, error.reason)
            return 0
        return ledger_unit.to_quantity(steps)

    def quantity_or_unlimited(
        self, where: _Field | None, unit: UnitSpec | None
    ) -> QuantityOrUnlimited:
        if self.is_unlimited(where):
            return UNLIMITED
        return self.quantity(where, unit)

    def money(self, where: _Field | None, minimum: int = 0) -> Money:
        """``{amount, currency}``: integer minor units (cents) of an ISO currency."""
        fields = self.mapping(where, ("amount", "currency"), required=("amount", "currency"))
        return Money(self.money_amount(fields.get("amount"), minimum), self.currency(fields))

    def money_amount(self, where: _Field | None, minimum: int) -> int:
        if where is not None and isinstance(self.plain(where), float):
            source = str(where.node.value)
            self.report(where, f"{source} is not an integer: {_minor_units_hint(source)}")
            return 0
        return self.integer(where, minimum, 0)

    def currency(self, fields: Mapping[str, _Field]) -> str:
        code = self.text(fields.get("currency"), "")
        if code and not CURRENCY.fullmatch(code):
            self.report(
                fields["currency"], f"{code!r} is not an ISO 4217 code (three capital letters)"
            )
        return code


def _minor_units_hint(source: str) -> str:
    """Why a float price is refused, and what to write instead."""
    rule = "amounts are integers in the currency's minor units (cents), as floats are not exact"
    try:
        minor = Decimal(source).scaleb(2)
    except InvalidOperation:
        return rule
    if minor.is_finite() and minor == minor.to_integral_value():
        return f"{rule}; write {int(minor)} for {source}"
    return rule


# -- the format, section by section --

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
_INTERVALS: Final = tuple(str(interval) for interval in Interval)
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


def _catalog(r: _Reader, root: _Field) -> Catalog:
    fields = r.mapping(root, _TOP_KEYS, required=("units", "plans"))
    units = _units(r, fields.get("units"))
    actions = _section(r, fields.get("actions"), "action", lambda i, f: _action(r, i, f, units))
    plans = _plans(r, fields.get("plans"), units)
    packs = _section(r, fields.get("packs"), "pack", lambda i, f: _pack(r, i, f, units))

    def discount(kind: DiscountKind) -> Callable[[str, _Field], Discount]:
        return lambda discount_id, where: _discount(r, discount_id, where, kind, plans, packs)

    coupons = _section(r, fields.get("coupons"), "coupon", discount(DiscountKind.COUPON))
    discounts = _section(r, fields.get("discounts"), "discount", discount(DiscountKind.VOLUME))
    dimensions = _section(
        r, fields.get("dimensions"), "dimension", lambda i, f: _dimension(r, i, f)
    )
    feature_labels = _section(r, fields.get("features"), "feature", lambda i, f: _label(r, f))
    limit_labels = _section(r, fields.get("limits"), "limit", lambda i, f: _label(r, f))
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


def _label(r: _Reader, where: _Field) -> str:
    """A feature's or a limit's ``label``, as customers read it."""
    fields = r.mapping(where, _DIMENSION_KEYS, required=("label",))
    return r.text(fields.get("label"), "")


def _dimension(r: _Reader, dimension_id: str, where: _Field) -> Dimension:
    fields = r.mapping(where, _DIMENSION_KEYS)
    return Dimension(dimension_id, r.text(fields.get("label"), dimension_id.replace("_", " ")))


_T = TypeVar("_T")


def _section(
    r: _Reader, where: _Field | None, what: str, parse: Callable[[str, _Field], _T]
) -> Mapping[str, _T]:
    return MappingProxyType({name: parse(name, child) for name, child in r.entries(where, what)})


def _units(r: _Reader, where: _Field | None) -> Mapping[str, UnitSpec]:
    def unit(name: str, where: _Field) -> UnitSpec:
        fields = r.mapping(where, _UNIT_KEYS)
        scale_field = fields.get("scale")
        scale = r.integer(scale_field, 0, 0)
        if scale > SCALE_MAX:
            r.report(scale_field or where, f"at most {SCALE_MAX} decimal places, got {scale}")
        cost_field = fields.get("cost")
        cost = None if cost_field is None else _metered_price(r, cost_field)
        return UnitSpec(name, scale, r.optional_text(fields.get("label")), cost)

    units = _section(r, where, "unit", unit)
    if where is not None and r.ok(where) and not units:
        r.report(where, "declare at least one unit (e.g. credits: {scale: 0})")
    return units


def _action(r: _Reader, action_id: str, where: _Field, units: Mapping[str, UnitSpec]) -> Action:
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


def _bonus(r: _Reader, where: _Field | None, unit: UnitSpec | None) -> Quantity | None:
    """``{amount}``: promotional credits given with each purchase of the pack."""
    if where is None:
        return None
    fields = r.mapping(where, _BONUS_KEYS, required=("amount",))
    return r.quantity(fields.get("amount"), unit)


def _pack(r: _Reader, pack_id: str, where: _Field, units: Mapping[str, UnitSpec]) -> Pack:
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
        applies_to=_applies_to(r, fields.get("applies_to")),
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


def _plans(r: _Reader, where: _Field | None, units: Mapping[str, UnitSpec]) -> Mapping[str, Plan]:
    parsed = [_plan(r, plan_id, child, units) for plan_id, child in r.entries(where, "plan")]
    if where is None or not isinstance(where.node, MappingNode):
        return MappingProxyType({})
    if not parsed:
        r.report(where, "declare at least one plan (the default)")
    _check_one_default(r, where, parsed)
    _check_ranks_unique(r, parsed)
    return MappingProxyType({plan.id: plan for plan, _ in parsed})


def _check_one_default(
    r: _Reader, where: _Field, parsed: list[tuple[Plan, dict[str, _Field]]]
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


def _check_ranks_unique(r: _Reader, parsed: list[tuple[Plan, dict[str, _Field]]]) -> None:
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
    r: _Reader, plan_id: str, where: _Field, units: Mapping[str, UnitSpec]
) -> tuple[Plan, dict[str, _Field]]:
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


def _applies_to(r: _Reader, where: _Field | None) -> tuple[str, ...] | None:
    """A list of the actions or categories credits may pay for; left out: any."""
    names = r.identifiers(where, "action or category")
    return tuple(sorted(names)) if names else None


def _spender_budgets(
    r: _Reader, where: _Field | None, unit: UnitSpec | None
) -> Mapping[str, tuple[tuple[str, Quantity], ...]]:
    """``{member: {amount: 500, period: month}}``, or a list of such per kind."""

    def budgets(_kind: str, child: _Field) -> tuple[tuple[str, Quantity], ...]:
        fields = r.mapping(child, _BUDGET_KEYS, required=("amount",))
        period = r.text(fields.get("period"), "month") if fields.get("period") else "month"
        if period not in _BUDGET_PERIODS and fields.get("period") is not None:
            r.report(
                fields["period"], f"expected one of {', '.join(_BUDGET_PERIODS)}, got {period!r}"
            )
        return ((period, r.quantity(fields.get("amount"), unit)),)

    return _section(r, where, "spender kind", budgets)


def _plan_refund(r: _Reader, where: _Field | None) -> PlanRefund | None:
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
    r: _Reader, where: _Field | None, parse: Callable[[_Field], _T]
) -> Mapping[Interval, _T]:
    """``{month: …, year: …}``: at least one interval."""
    fields = r.mapping(where, _INTERVALS)
    if where is not None and r.ok(where) and not fields:
        r.report(where, f"name at least one of {', '.join(_INTERVALS)}, or leave the key out")
    return MappingProxyType({Interval(key): parse(child) for key, child in fields.items()})


def _prices(r: _Reader, where: _Field | None) -> Mapping[Interval, Money]:
    return _per_interval(r, where, r.money)


def _prices_in_credits(
    r: _Reader, where: _Field | None, units: Mapping[str, UnitSpec]
) -> Mapping[Interval, Credits]:
    def credits(where: _Field) -> Credits:
        fields = r.mapping(where, ("amount", "unit"), required=("amount", "unit"))
        unit = r.unit(fields.get("unit"), units)
        amount = r.quantity(fields.get("amount"), unit)
        return Credits(amount, unit.name if unit else "")

    return _per_interval(r, where, credits)


def _check_one_currency(r: _Reader, fields: Mapping[str, _Field], plan: Plan) -> None:
    """A plan is billed in one currency: its prices and its overage price share it."""
    priced: list[tuple[_Field | None, str]] = []
    prices_field = fields.get("prices")
    for interval, money in plan.prices.items():
        priced.append((prices_field and _child(prices_field, str(interval)), money.currency))
    overage_field = fields.get("overage")
    overage_price = None if plan.overage is None else plan.overage.price
    if overage_price is not None and overage_field is not None:
        priced.append((_child(overage_field, "price"), overage_price.money.currency))
    checked = [(f, currency) for f, currency in priced if f is not None and r.ok(f)]
    for money_field, currency in checked[1:]:
        first_field, first_currency = checked[0]
        if currency != first_currency:
            currency_field = _child(money_field, "currency") or money_field
            r.report(
                currency_field,
                f"{currency} differs from {first_currency} at {first_field.path}: a plan's"
                " prices share one currency",
            )


def _child(where: _Field, key: str) -> _Field | None:
    """The child ``key`` of a mapping already checked (no reporting)."""
    if not isinstance(where.node, MappingNode):
        return None
    for key_node, value in where.node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return where.child(key, value, _line(key_node))
    return None


def _allowance(
    r: _Reader, where: _Field | None, units: Mapping[str, UnitSpec]
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
        applies_to=_applies_to(r, fields.get("applies_to")),
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


def _cadence(r: _Reader, fields: Mapping[str, _Field], period: Period) -> tuple[Anchor, str | None]:
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


def _rollover(r: _Reader, where: _Field | None, unit: UnitSpec | None) -> Rollover:
    """``none`` | ``all`` | ``{cap, fraction, expires_after_periods, min_per_grant,
    max_per_grant}`` (any of them, at least one)."""
    if where is None:
        return ROLLOVER_NONE
    value = r.plain(where)
    if value in (RolloverKind.NONE.value, RolloverKind.ALL.value):
        return Rollover(RolloverKind(value))
    if value is not _MAPPING:
        r.report(
            where,
            f"expected none, all or {{cap: N}} (a mapping of {', '.join(_ROLLOVER_KEYS)}), got"
            f" {_describe(value)}",
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


def _fraction(r: _Reader, where: _Field | None) -> Decimal | None:
    """A decimal in quotes, more than 0 and at most 1 ("0.5": half of what is left)."""
    if where is None:
        return None
    value = r.plain(where)
    if not isinstance(value, str) or not DECIMAL_TEXT.fullmatch(value):
        r.report(where, f'expected a decimal in quotes ("0.5"), got {_describe(value)}')
        return None
    fraction = Decimal(value)
    if not 0 < fraction <= 1:
        r.report(where, f"must be more than 0 and at most 1, got {value}")
        return None
    return fraction


def _limits(r: _Reader, where: _Field | None) -> Mapping[str, Limit]:
    return _section(r, where, "limit", lambda _name, child: _limit(r, child))


def _limit(r: _Reader, where: _Field) -> Limit:
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


def _quotas(r: _Reader, where: _Field | None) -> Mapping[str, CountOrUnlimited]:
    return _section(r, where, "quota", lambda _name, child: r.count_or_unlimited(child))


def _overage(r: _Reader, where: _Field | None, units: Mapping[str, UnitSpec]) -> Overage | None:
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
        price=None if price_field is None else _metered_price(r, price_field),
        spend_limit=r.quantity_or_unlimited(fields.get("spend_limit"), unit),
        carry=carry,
    )


def _check_carried_overage(r: _Reader, fields: Mapping[str, _Field], plan: Plan) -> None:
    """Carried overage is repaid by the next period's allowance: it needs one in its unit."""
    overage = plan.overage
    if overage is None or overage.carry is None:
        return
    allowance = plan.allowance
    if not (isinstance(allowance, Allowance) and allowance.unit == overage.unit):
        r.report(
            _child(fields["overage"], "carry") or fields["overage"],
            f"carrying overage as debt needs an allowance of {overage.unit!r} to repay it",
        )


def _metered_price(r: _Reader, where: _Field | None) -> Price:
    """``{amount, currency, per}``: ``amount`` minor units for every ``per`` whole units."""
    fields = r.mapping(where, ("amount", "currency", "per"), required=("amount", "currency"))
    money = Money(r.money_amount(fields.get("amount"), 1), r.currency(fields))
    return Price(money, r.integer(fields.get("per"), 1, 1))


def _alerts(
    r: _Reader,
    where: _Field | None,
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


def _percents(r: _Reader, where: _Field | None) -> tuple[int, ...]:
    """Whole percentages from 1 to 100, increasing, each once."""
    if where is None:
        return ()
    value = r.plain(where)
    if value is not _LIST or not isinstance(where.node, SequenceNode):
        r.report(where, f"expected a list of percentages, got {_describe(value)}")
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


def _discount(
    r: _Reader,
    discount_id: str,
    where: _Field,
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
    r: _Reader, where: _Field | None, known: Mapping[str, object], what: str
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
            hint = _suggestion(name, list(known))
            r.report(item, f"unknown {what} {name!r}{hint}")
    return names


def _intervals(r: _Reader, where: _Field | None) -> tuple[Interval, ...]:
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


def _moment(r: _Reader, where: _Field | None) -> datetime | None:
    """An ISO 8601 date and time with its UTC offset, in quotes ("2026-12-31T23:59:59Z")."""
    if where is None:
        return None
    value = r.plain(where)
    if not isinstance(value, str):
        r.report(
            where,
            f'expected a date and time in quotes ("2026-12-31T23:59:59Z"), got {_describe(value)}',
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
    r: _Reader,
    where: _Field,
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
            _child(where, "currency") or where,
            f"{amount_off.currency} differs from {', '.join(others)}, the currency"
            " of what the discount applies to",
        )
