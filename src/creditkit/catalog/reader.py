"""The catalog's reader: YAML nodes to checked Python values, each problem recorded with the
line and the field it is at, and a harmless stand-in value returned (see loader.py)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from types import MappingProxyType
from typing import Final, TypeVar

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from creditkit.catalog.errors import CatalogProblem
from creditkit.catalog.plans import UNLIMITED, CountOrUnlimited, QuantityOrUnlimited
from creditkit.catalog.schemas import UnitSpec
from creditkit.errors import InvalidAmount, Quantity
from creditkit.ledger.schemas import AMOUNT_STEPS_MAX, Money

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


@dataclass(frozen=True, slots=True)
class Field:
    """A node and where it is written: its dotted path and the (1-based) line of its key."""

    node: Node
    path: str
    line: int

    def child(self, key: str, node: Node, line: int) -> Field:
        return Field(node, f"{self.path}.{key}" if self.path else key, line)

    def item(self, index: int, node: Node) -> Field:
        return Field(node, f"{self.path}[{index}]", line_of(node))


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A node that is no plain scalar, described for a message."""

    description: str


MAPPING: Final = Unsupported("a mapping")
LIST: Final = Unsupported("a list")


def line_of(node: Node) -> int:
    return int(node.start_mark.line) + 1 if node.start_mark is not None else 1


def describe(value: object) -> str:
    if isinstance(value, Unsupported):
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


def suggestion(key: str, allowed: Collection[str]) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class Reader:
    """Turns nodes into values, recording a problem (and returning a stand-in) for each node
    that breaks the format."""

    def __init__(self, source_name: str) -> None:
        self.source_name = source_name
        self.problems: list[CatalogProblem] = []
        self._constructor = SafeConstructor()

    # -- problems --

    def report(self, where: Field, reason: str) -> None:
        self.report_at(where.path, where.line, reason)

    def report_at(self, path: str, line: int, reason: str) -> None:
        self.problems.append(CatalogProblem(self.source_name, line, path, reason))

    def ok(self, where: Field | None) -> bool:
        """Whether no problem was found at or under ``where`` (absent counts as fine)."""
        if where is None:
            return True
        path = where.path
        return not any(
            problem.field == path or problem.field.startswith((path + ".", path + "["))
            for problem in self.problems
        )

    # -- the document --

    def compose(self, text: str) -> Field | None:
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
        return Field(node, "", line_of(node))

    # -- collections --

    def pairs(self, where: Field, expected: str = "a mapping") -> list[tuple[str, Field]] | None:
        """The entries of a mapping as child fields, keys checked (text, no duplicates); merge
        keys (``<<: *anchor``) resolved. ``None`` (reported) when ``where`` is no mapping."""
        value = self.plain(where)
        if value is not MAPPING or not isinstance(where.node, MappingNode):
            self.report(where, f"expected {expected}, got {describe(value)}")
            return None
        children: list[tuple[str, Field]] = []
        first_lines: dict[str, int] = {}
        for key, value_node, own in self._flatten(where.node, set()):
            if not isinstance(key, ScalarNode) or key.tag != _TAG + "str":
                reason = f"keys must be text, got {describe(self.plain(Field(key, '', 0)))}"
                self.report_at(where.path, line_of(key), reason)
                continue
            name = str(key.value)
            if name in first_lines:
                if own:
                    line = first_lines[name]
                    duplicate = where.child(name, value_node, line_of(key))
                    self.report(duplicate, f"duplicate key (line {line})")
                continue
            first_lines[name] = line_of(key)
            children.append((name, where.child(name, value_node, line_of(key))))
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
                    self.report_at("", line_of(source), "a merge key (<<) takes mappings only")
        yield from merged

    def mapping(
        self,
        where: Field | None,
        keys: Collection[str],
        required: Collection[str] = (),
        expected: str = "a mapping",
    ) -> dict[str, Field]:
        """The known keys of a mapping; unknown keys (typos) and missing required keys are
        reported."""
        if where is None:
            return {}
        children = self.pairs(where, expected)
        if children is None:
            return {}
        known: dict[str, Field] = {}
        for key, child in children:
            if key in keys:
                known[key] = child
            else:
                allowed = ", ".join(keys)
                reason = f"unknown key{suggestion(key, keys)} (expected one of: {allowed})"
                self.report(child, reason)
        for key in required:
            if key not in known:
                self.report_at(f"{where.path}.{key}" if where.path else key, where.line, "missing")
        return known

    def entries(self, where: Field | None, what: str) -> list[tuple[str, Field]]:
        """The ``id: spec`` entries of a section, ids checked as identifiers."""
        children = [] if where is None else self.pairs(where) or []
        result: list[tuple[str, Field]] = []
        for name, child in children:
            self.identifier_check(child, name, what)
            result.append((name, child))
        return result

    def identifier_check(self, where: Field, name: str, what: str) -> None:
        if not IDENTIFIER.fullmatch(name):
            self.report(
                where,
                f"{what} {name!r} is not an identifier: lowercase letters, digits and _,"
                " starting with a letter, at most 64 characters",
            )

    def identifiers(self, where: Field | None, what: str) -> tuple[str, ...]:
        """A list of distinct identifiers (features)."""
        if where is None:
            return ()
        value = self.plain(where)
        if value is not LIST or not isinstance(where.node, SequenceNode):
            self.report(where, f"expected a list of {what}s, got {describe(value)}")
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

    def plain(self, where: Field) -> object:
        """The Python value of a plain scalar (text, integer, float, boolean, null), or an
        ``Unsupported`` describing anything else."""
        node = where.node
        if node.tag not in _PLAIN_TAGS | _COLLECTION_TAGS:
            # Tagged values (!!python/object, !!binary, dates) are never constructed: the
            # catalog is data, and a tag would make it mean something else to other readers.
            kind = node.tag.removeprefix(_TAG)
            if node.tag.startswith(_TAG) and "/" not in kind:
                return Unsupported(f"a {kind} value")
            return Unsupported(f"a value tagged {node.tag}")
        if isinstance(node, MappingNode):
            return MAPPING
        if isinstance(node, SequenceNode):
            return LIST
        return self._constructor.construct_object(node)

    def text(self, where: Field | None, default: str) -> str:
        if where is None:
            return default
        value = self.plain(where)
        if not isinstance(value, str):
            self.report(where, f"expected text, got {describe(value)}")
            return default
        if not value.strip():
            self.report(where, "must not be blank")
            return default
        return value

    def optional_text(self, where: Field | None) -> str | None:
        return None if where is None else self.text(where, "") or None

    def boolean(self, where: Field | None, default: bool) -> bool:
        if where is None:
            return default
        value = self.plain(where)
        if not isinstance(value, bool):
            self.report(where, f"expected true or false, got {describe(value)}")
            return default
        return value

    def integer(self, where: Field | None, minimum: int, default: int) -> int:
        """A whole number from ``minimum`` to ``INTEGER_MAX``."""
        if where is None:
            return default
        value = self.plain(where)
        if isinstance(value, bool) or not isinstance(value, int):
            hint = " (`unlimited` is not accepted here)" if value == UNLIMITED.value else ""
            self.report(where, f"expected an integer, got {describe(value)}{hint}")
            return default
        if value < minimum:
            self.report(where, f"must be at least {minimum}, got {value}")
            return default
        if value > INTEGER_MAX:
            self.report(where, f"must be at most {INTEGER_MAX}, got {value}")
            return default
        return value

    def optional_integer(self, where: Field | None, minimum: int) -> int | None:
        """An integer, or absent or ``null`` for none."""
        if where is None or self.plain(where) is None:
            return None
        return self.integer(where, minimum, minimum)

    def count_or_unlimited(self, where: Field | None) -> CountOrUnlimited:
        if self.is_unlimited(where):
            return UNLIMITED
        return self.integer(where, 0, 0)

    def choice(self, where: Field | None, options: type[_E], default: _E) -> _E:
        if where is None:
            return default
        value = self.plain(where)
        names = [str(option) for option in options]
        if isinstance(value, str) and value in names:
            return options(value)
        hint = suggestion(value, names) if isinstance(value, str) else ""
        self.report(where, f"expected one of {', '.join(names)}, got {describe(value)}{hint}")
        return default

    def is_unlimited(self, where: Field | None) -> bool:
        return where is not None and self.plain(where) == UNLIMITED.value

    # -- units, quantities and money --

    def unit(self, where: Field | None, units: Mapping[str, UnitSpec]) -> UnitSpec | None:
        """The declared unit ``where`` names; ``None`` (reported) when it names none."""
        if where is None:
            return None
        name = self.text(where, "")
        if not name:
            return None
        if name not in units:
            declared = ", ".join(units) or "none"
            hint = suggestion(name, list(units))
            self.report(where, f"unknown unit {name!r}{hint} (declared units: {declared})")
            return None
        return units[name]

    def quantity(self, where: Field | None, unit: UnitSpec | None) -> Quantity:
        """A positive, exact quantity of ``unit``: an integer, or a decimal in quotes for a unit
        with decimal places. Returned at the unit's scale, as the ledger returns amounts."""
        if where is None:
            return 0
        value = self.plain(where)
        exact: int | Decimal
        if isinstance(value, bool) or not isinstance(value, int | str | float):
            self.report(where, f"expected an amount, got {describe(value)}")
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
                self.report(where, f"expected an amount, got {describe(value)}{hint}")
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
        self, where: Field | None, unit: UnitSpec | None
    ) -> QuantityOrUnlimited:
        if self.is_unlimited(where):
            return UNLIMITED
        return self.quantity(where, unit)

    def money(self, where: Field | None, minimum: int = 0) -> Money:
        """``{amount, currency}``: integer minor units (cents) of an ISO currency."""
        fields = self.mapping(where, ("amount", "currency"), required=("amount", "currency"))
        return Money(self.money_amount(fields.get("amount"), minimum), self.currency(fields))

    def money_amount(self, where: Field | None, minimum: int) -> int:
        if where is not None and isinstance(self.plain(where), float):
            source = str(where.node.value)
            self.report(where, f"{source} is not an integer: {_minor_units_hint(source)}")
            return 0
        return self.integer(where, minimum, 0)

    def currency(self, fields: Mapping[str, Field]) -> str:
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


_T = TypeVar("_T")


def section(
    r: Reader, where: Field | None, what: str, parse: Callable[[str, Field], _T]
) -> Mapping[str, _T]:
    return MappingProxyType({name: parse(name, child) for name, child in r.entries(where, what)})


def applies_to_list(r: Reader, where: Field | None) -> tuple[str, ...] | None:
    """A list of the actions or categories credits may pay for; left out: any."""
    names = r.identifiers(where, "action or category")
    return tuple(sorted(names)) if names else None


def child_field(where: Field, key: str) -> Field | None:
    """The child ``key`` of a mapping already checked (no reporting)."""
    if not isinstance(where.node, MappingNode):
        return None
    for key_node, value in where.node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return where.child(key, value, line_of(key_node))
    return None
