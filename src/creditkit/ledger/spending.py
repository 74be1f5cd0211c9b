"""What governs a spend besides the credits themselves: the spender tree, budgets on its path,
grant scopes, and debt within its limit.

``SpendState`` is one database transaction's view of them: budgets and debt read once under the
customer's lock, counted down in memory by each spend the transaction decides, and written back
once (``flush``) in one statement, so a batch of charges pays for them once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType

from sqlalchemy.engine import Connection

from creditkit.errors import InvalidRequest
from creditkit.ledger import spender_repository
from creditkit.ledger.checks import EXTERNAL_ID_LENGTH_MAX, NAME_LENGTH_MAX, check_text
from creditkit.ledger.repository import GrantRow
from creditkit.store.flavor import flavor_of
from creditkit.store.unit_of_work import CustomerRow

#: The periods a budget may count over, each resetting at its own UTC boundary (weeks start on
#: Monday); ``lifetime`` never resets.
PERIODS = ("hour", "day", "week", "month", "lifetime")
#: How deep the spender tree under a customer may go (a spender right under it is depth 1).
SPENDER_DEPTH_MAX = 8
#: Names one grant's ``applies_to`` may list.
APPLIES_TO_NAMES_MAX = 64
#: The kind of a workspace member's spender, and of one whose membership ended.
MEMBER, FORMER_MEMBER = "member", "former_member"
#: The customer itself, where a spender's external id goes in budget rows.
CUSTOMER = ""
_LIFETIME_START = datetime(1970, 1, 1, tzinfo=UTC)


_HOUR = timedelta(hours=1)
#: Every period's bounds, keyed by their name, at some moment.
Bounds = Mapping[str, tuple[datetime, datetime | None]]


def period_bounds(period: str, moment: datetime) -> tuple[datetime, datetime | None]:
    """The period of kind ``period`` that ``moment`` falls in: its start, and its end (when it
    resets; None for ``lifetime``). Fixed UTC boundaries, so that the answer depends only on
    the moment, never on when someone asks."""
    bounds = bounds_at(moment).get(period)
    if bounds is None:
        raise InvalidRequest("period", f"must be one of {', '.join(PERIODS)}")
    return bounds


def bounds_at(moment: datetime) -> Bounds:
    """Every period's bounds at ``moment`` (shared: not to be changed). Every boundary is a
    UTC hour's, so the answer is computed once per hour: each spend has its own moment, and
    a spend through budgets asks for these on its hot path."""
    return _bounds_of_hour((moment.astimezone(UTC) - _LIFETIME_START) // _HOUR)


def period_starts(now: datetime) -> Mapping[str, datetime]:
    """Where each kind of period that ``now`` falls in starts (shared: not to be changed)."""
    return _starts_of_hour((now.astimezone(UTC) - _LIFETIME_START) // _HOUR)


@lru_cache(maxsize=64)
def _starts_of_hour(hour: int) -> Mapping[str, datetime]:
    return MappingProxyType({period: bound[0] for period, bound in _bounds_of_hour(hour).items()})


@lru_cache(maxsize=64)
def _bounds_of_hour(hour: int) -> Bounds:
    """The bounds of every period that the UTC hour ``hour`` (counted from the epoch) is in."""
    start = _LIFETIME_START + hour * _HOUR
    day = start.replace(hour=0)
    week = day - timedelta(days=day.weekday())
    month = day.replace(day=1)
    month_end = (
        month.replace(year=month.year + 1, month=1)
        if month.month == 12
        else month.replace(month=month.month + 1)
    )
    return MappingProxyType(
        {
            "hour": (start, start + _HOUR),
            "day": (day, day + timedelta(days=1)),
            "week": (week, week + timedelta(days=7)),
            "month": (month, month_end),
            "lifetime": (_LIFETIME_START, None),
        }
    )


def check_period(period: object) -> str:
    if not isinstance(period, str) or period not in PERIODS:
        raise InvalidRequest("period", f"must be one of {', '.join(PERIODS)}")
    return period


def check_spender(spender: object, field_name: str = "spender") -> str:
    return check_text(spender, field_name, EXTERNAL_ID_LENGTH_MAX)


def check_applies_to(applies_to: object) -> tuple[str, ...] | None:
    """A scope as stored: sorted, without repeats; None for any spending."""
    if applies_to is None:
        return None
    if isinstance(applies_to, str) or not isinstance(applies_to, Sequence | frozenset | set):
        raise InvalidRequest("applies_to", "must be a list of action or category names")
    names = tuple(sorted({check_text(name, "applies_to", NAME_LENGTH_MAX) for name in applies_to}))
    if not 1 <= len(names) <= APPLIES_TO_NAMES_MAX:
        raise InvalidRequest("applies_to", f"must list 1 to {APPLIES_TO_NAMES_MAX} names")
    return names


def encode_applies_to(names: tuple[str, ...] | None) -> str | None:
    return None if names is None else json.dumps(list(names), separators=(",", ":"))


def decode_applies_to(text: str | None) -> frozenset[str] | None:
    return None if text is None else frozenset(json.loads(text))


def applies(grant: GrantRow, scope: frozenset[str]) -> bool:
    """Whether the grant may pay for spending named by ``scope`` (an action and its
    category): an unscoped grant pays for anything, a scoped one only for what it lists."""
    return grant.applies_to is None or not grant.applies_to.isdisjoint(scope)


@dataclass(slots=True)
class BudgetLine:
    """One budget on a spend's path, in the period the spend falls in: what it allows and what
    is used (this transaction's spends counted in)."""

    spender: str
    unit: str
    period: str
    cap: int
    used: int
    period_start: datetime
    resets_at: datetime | None

    @property
    def left(self) -> int:
        return max(0, self.cap - self.used)


@dataclass(slots=True)
class SpendState:
    """One transaction's spenders, budgets and debt, read once per customer and counted in
    memory; ``flush`` writes the counts."""

    #: (customer id, spender) -> its row, read under the customer's lock.
    spenders: dict[tuple[int, str], spender_repository.SpenderRow] = field(default_factory=dict)
    #: (customer id, unit, spender) -> its budgets in the periods at this transaction's moment;
    #: one object per budget, so that spends through siblings count their common ancestors once.
    lines: dict[tuple[int, str, str], list[BudgetLine]] = field(default_factory=dict)
    #: (customer id, spender, unit, period, period start) -> steps to add to its usage row.
    counted: dict[tuple[int, str, str, str, datetime], int] = field(default_factory=dict)
    #: (customer id, unit, spender) -> its path's budgets as read with it (see ``path_budgets``).
    prefetched: dict[tuple[int, str, str], list[tuple[str, str, int, int]]] = field(
        default_factory=dict
    )
    #: (customer id, spender) -> its kind, for the ancestors of the spenders read.
    kinds: dict[tuple[int, str], str] = field(default_factory=dict)
    #: (customer id, unit) -> [debt account id or None, steps owed, limit in steps].
    debts: dict[tuple[int, str], list[int | None]] = field(default_factory=dict)

    def count(self, customer_id: int, lines: Iterable[BudgetLine], steps: int) -> None:
        """Counts ``steps`` (negative: given back) against each budget line."""
        for line in lines:
            line.used = max(0, line.used + steps)
            key = (customer_id, line.spender, line.unit, line.period, line.period_start)
            self.counted[key] = self.counted.get(key, 0) + steps

    def drain(self) -> list[tuple[int, str, str, str, datetime, int]]:
        """What this transaction counted and has not written yet, as budget usage rows
        (customer id, spender, unit, period, period start, steps), forgotten here: the caller
        writes them (a charge with its own rows, in one statement)."""
        rows = [(*key, steps) for key, steps in self.counted.items() if steps]
        self.counted.clear()
        return rows

    def flush(self, connection: Connection) -> None:
        """Writes what this transaction counted, in one statement."""
        flavor_of(connection).add_budget_usage(connection, self.drain())


def path_budgets(
    connection: Connection,
    state: SpendState,
    customer: CustomerRow,
    unit: str,
    path: tuple[str, ...],
    defaults: dict[str, Sequence[tuple[str, int]]],
    now: datetime,
    prefetched: list[tuple[str, str, int, int]] | None = None,
) -> list[BudgetLine]:
    """The budgets on ``path`` (a spender up to the customer '') in ``unit`` at ``now``, with
    their use, from the nearest level to the customer; each level read once per transaction.
    ``defaults``: by spender, (period, cap) the plan sets where it has no budget of its own.
    ``prefetched``: the path's budgets with their use as read with the spender itself, used
    when no level of the path was read before in this transaction."""
    missing = [spender for spender in path if (customer.id, unit, spender) not in state.lines]
    if missing:
        bounds = bounds_at(now)
        starts = period_starts(now)
        found = (
            prefetched
            if prefetched is not None and len(missing) == len(path)
            else spender_repository.read_budgets_with_usage(
                connection, customer.id, unit, missing, starts
            )
        )
        caps = {(spender, period): (cap, used) for spender, period, cap, used in found}
        extra = [
            (spender, period, cap)
            for spender in missing
            for period, cap in defaults.get(spender, ())
            if (spender, period) not in caps
        ]
        if extra:
            used_of = spender_repository.read_budget_usage(
                connection,
                customer.id,
                unit,
                [(spender, period, starts[period]) for spender, period, _cap in extra],
            )
            for spender, period, cap in extra:
                caps[(spender, period)] = (cap, used_of.get((spender, period, starts[period]), 0))
        for spender in missing:
            state.lines[(customer.id, unit, spender)] = []
        for (spender, period), (cap, used) in sorted(
            caps.items(), key=lambda item: PERIODS.index(item[0][1])
        ):
            start, resets_at = bounds[period]
            state.lines[(customer.id, unit, spender)].append(
                BudgetLine(spender, unit, period, cap, used, start, resets_at)
            )
    return [line for spender in path for line in state.lines[(customer.id, unit, spender)]]
