"""The lean charge path on SQLite: a batch of plain charges, decided and written in columns.

Most charges are plain: no member, late usage or debt, grants without scopes and enough
credits in them, and room in every budget on the spender's path (checked and counted by the
reference rule, ``check_spend``). For a batch made only of such charges (after the
batch's lock, catch-up, rate-limit count and replay lookups, which the reference path in
``batch.py`` runs as for any batch), this module decides every charge on integer columns (one
list of what each grant has left per customer and unit) and writes the rows with one
``executemany`` per table through the standard library's sqlite3 cursor: no per-charge plan,
row dict, legs list or ``Charge`` object. The answers are built only when a caller reads them
(``LazyOutcomes``).

Anything else (a refusal, overage, debt, scopes, members, late usage, a key used twice in the
batch) is the reference path's: ``plan`` stops at that charge, ``ChargeBatch`` writes what the
plan took, decides that charge the reference way in the same transaction, and asks ``plan`` to
go on after it (keys recorded before the batch are answered from their records, passed over
here). The reference path is what every rule is written in; this one is proven equal to it for
the charges it takes (tests/ledger/test_lean.py, tests/ledger/test_batch_equivalence.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from itertools import chain, repeat
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from creditkit.errors import CreditKitError, InvariantViolation
from creditkit.ledger import repository
from creditkit.ledger.kernel import Spend
from creditkit.ledger.repository import GrantRow
from creditkit.ledger.schemas import Charge, ChargeRequest, Draw, Unit
from creditkit.ledger.spending import SpendState
from creditkit.ledger.values import CONSUMPTION, LEG_AMOUNT_MAX
from creditkit.store.flavor import ENTRY_IDS_PER_TRANSACTION, Flavor
from creditkit.store.unit_of_work import CustomerRow

if TYPE_CHECKING:
    from creditkit.ledger.prepared import ChargeColumns
    from creditkit.ledger.writes import LedgerWrites

Outcome = Charge | CreditKitError

#: A plain charge's row, past its id.
_TRANSACTION_COLUMNS = (
    "idempotency_key, kind, status, customer_id, counterparty_id, unit, amount, action, hold_id,"
    " member, spender, request, outcome, metadata, created_at, occurred_at, reverses_id"
)
_TRANSACTION_VALUES = (
    "?, 'charge', 'applied', ?, NULL, ?, ?, ?, NULL, NULL, ?, ?, NULL, ?, ?, NULL, NULL"
)
_INSERT_TRANSACTIONS = (
    f"INSERT INTO transactions (id, {_TRANSACTION_COLUMNS}) VALUES (?, {_TRANSACTION_VALUES})"
)
#: The same row, its id the table's next (SQLite's rowid: the largest plus one, as
#: ``_next_transaction_id`` reads it).
_INSERT_TRANSACTION_NEXT_ID = (
    f"INSERT INTO transactions ({_TRANSACTION_COLUMNS}) VALUES ({_TRANSACTION_VALUES})"
)
_INSERT_ENTRIES = (
    "INSERT INTO entries (id, transaction_id, account_id, unit, amount) VALUES (?, ?, ?, ?, ?)"
)


def request_prefix(customer: str, unit: str) -> str:
    """The start of ``request_text``, the same for a customer's charges in a unit."""
    return (
        f'{{"operation":"charge","customer":{encode_basestring(customer)},'
        f'"unit":{encode_basestring(unit)},"amount":'
    )


def request_text(
    prefix: str, steps: int, action: str | None, metadata: str, spender: str | None = None
) -> str:
    """``Request.encode()`` of a plain charge (``repository.encode_json`` of its fields, in
    their order), without building the dict: the same text, byte for byte."""
    action_text = "null" if action is None else encode_basestring(action)
    if spender is None:
        return f'{prefix}{steps},"action":{action_text},"metadata":{metadata}}}'
    return (
        f'{prefix}{steps},"action":{action_text},"metadata":{metadata},'
        f'"spender":{encode_basestring(spender)}}}'
    )


def is_plain(charge: ChargeRequest) -> bool:
    """A charge this path may take, by what it asks (its customer and grants are looked at in
    ``plan``)."""
    return charge.member is None and charge.occurred_at is None and charge.allow_debt is False


@dataclass(slots=True)
class LeanPlan:
    """A batch of plain charges decided, in columns (one position per charge of ``columns``,
    in order)."""

    columns: ChargeColumns
    customers: list[CustomerRow]
    #: The grant account each charge draws all its steps from: the common case. 0 for a charge
    #: that draws from several grants (its draws in ``split``).
    accounts: list[int]
    #: The draws of the charges that take from several grants, by position: (grant account id,
    #: steps), in burn-down order.
    split: dict[int, tuple[tuple[int, int], ...]]
    #: The customer's grants' steps left in the unit right after each charge.
    available_after: list[int]
    #: By (customer id, unit): steps available before the batch and after it.
    spent: dict[tuple[int, str], tuple[CustomerRow, int, int]]
    #: The budget usage the charges counted (``SpendState.drain``), written with their rows.
    budget_usage: list[tuple[int, str, str, str, datetime, int]]
    #: The position in the batch's columns of the first charge not taken (their count when
    #: every charge from the start was).
    end: int
    #: By (customer id, unit): the steps left in each of ``grants``' rows after the plan.
    left: dict[tuple[int, str], list[int]]

    def draws(self, position: int) -> tuple[tuple[int, int], ...]:
        """The charge's draws: (grant account id, steps), in burn-down order."""
        account = self.accounts[position]
        if account:
            return ((account, self.columns.steps[position]),)
        return self.split[position]


@dataclass(slots=True)
class _Grants:
    """What a customer's grants in a unit have left while the batch is decided."""

    customer: CustomerRow
    rows: list[GrantRow]
    #: Steps left in each grant, in burn-down order.
    left: list[int]
    #: The first grant with steps left.
    first: int
    before: int
    after: int


def plan(
    ledger: LedgerWrites,
    connection: Connection,
    columns: ChargeColumns,
    locked: Mapping[str, CustomerRow],
    grants: Mapping[tuple[int, str], list[GrantRow]],
    now: datetime,
    state: SpendState | None = None,
    start: int = 0,
    passed: AbstractSet[int] = frozenset(),
    stops: AbstractSet[int] | None = None,
) -> LeanPlan | None:
    """The charges of ``columns`` from position ``start`` on decided on columns of integers, up
    to the first one this path cannot take (``LeanPlan.end``): one that is not plain, would not
    be fully paid by its customer's grants, is refused by a budget or names an unknown spender,
    or is at a position of ``stops`` (a key already used in the batch). Positions in ``passed``
    were answered without a decision (replays, unknown customers, rate limits) and are skipped.
    The reference path decides the charge it stopped at, in the same transaction, once this
    plan is written (nothing was written here). ``grants`` are live and in burn-down order; they
    are not changed (``settle`` writes back what the written plan left). Budgets are counted in
    ``state`` (the batch's, so that each run of the batch sees what the runs before counted).
    None: without ``stops``, when the batch uses a key twice (the reference path decides it)."""
    charges, units, steps_column = columns.charges, columns.units, columns.steps
    count = len(charges)
    if stops is None:
        if len({charge.idempotency_key for charge in charges}) != count:
            return None
        stops = frozenset()  # a key used twice in the batch: the second answers the first's outcome
    state = SpendState() if state is None else state
    by_pair: dict[tuple[str, str], _Grants] = {}
    taken: list[int] = []
    customers: list[CustomerRow] = []
    accounts: list[int] = []
    split: dict[int, tuple[tuple[int, int], ...]] = {}
    available_after: list[int] = []
    left_after: dict[tuple[int, str], list[int]] = {}
    end = count
    for position in range(start, count):
        if passed and position in passed:
            continue
        charge, unit, steps = charges[position], units[position], steps_column[position]
        if stops and position in stops:
            end = position
            break
        pair = (charge.customer, unit.name)
        held = by_pair.get(pair)
        if held is None:
            customer = locked.get(charge.customer)
            if customer is None:
                end = position
                break
            rows = grants[(customer.id, unit.name)]
            if any(grant.applies_to is not None for grant in rows):
                end = position
                break
            left = [grant.remaining for grant in rows]
            total = sum(left)
            first = 0
            while first < len(left) - 1 and left[first] == 0:
                first += 1  # grants an earlier run of the batch emptied
            held = by_pair[pair] = _Grants(customer, rows, left, first, total, total)
            left_after[(customer.id, unit.name)] = left
        if steps > held.after or not is_plain(charge):
            end = position  # a refusal, overage or debt, or a rule of the reference path's
            break
        customer = held.customer
        if (charge.spender is not None or customer.budgeted) and not _budgets_allow(
            ledger, connection, state, customer, charge.spender, unit, steps, now
        ):
            end = position
            break
        held.after -= steps
        left = held.left
        first = held.first
        if left[first] >= steps:
            # The common case: the first grant with credits pays it all.
            left[first] -= steps
            accounts.append(held.rows[first].account_id)
        else:
            split[len(accounts)] = _take(left, held.rows, first, steps)
            accounts.append(0)
        while first < len(left) - 1 and left[first] == 0:
            first += 1
        held.first = first
        customers.append(customer)
        available_after.append(held.after)
        taken.append(position)
    spent = {
        (held.customer.id, unit_name): (held.customer, held.before, held.after)
        for (_external_id, unit_name), held in by_pair.items()
        if held.after < held.before
    }
    return LeanPlan(
        columns if len(taken) == count else columns.subset(taken),
        customers, accounts, split, available_after, spent, state.drain(), end, left_after,
    )  # fmt: skip


def settle(lean: LeanPlan, grants: Mapping[tuple[int, str], list[GrantRow]]) -> None:
    """Writes what the plan's charges left in each grant back to ``grants``, the batch's rows
    in memory, once the plan is written: the charges after it (the reference path's, or the
    next run's) draw from what this run left."""
    for pair, left in lean.left.items():
        for grant, remaining in zip(grants[pair], left, strict=True):
            grant.remaining = remaining


def _budgets_allow(
    ledger: LedgerWrites,
    connection: Connection,
    state: SpendState,
    customer: CustomerRow,
    spender_name: str | None,
    unit: Unit,
    steps: int,
    now: datetime,
) -> bool:
    """The reference rule for a spend the grants pay in full: every budget on the path from
    the charge's spender (or the customer's own) has room, and counts it in ``state``."""
    spender = None
    if spender_name is not None:
        try:
            spender = ledger.spender_for_spend(
                connection, state, customer, spender_name, unit.name, now
            )
        except CreditKitError:
            return False  # not a spender of the customer: the reference path answers it
    checked = ledger.check_spend(
        connection, state, customer, unit, steps, now,
        spender=spender, shortfall=0, allow_debt=False, refusal=_no_shortfall,
    )  # fmt: skip
    return not isinstance(checked, CreditKitError)


def _no_shortfall(_debt_room: int) -> CreditKitError:
    raise InvariantViolation("a lean charge is paid by its grants", "a shortfall was refused")


def _take(
    left: list[int], rows: Sequence[GrantRow], start: int, steps: int
) -> tuple[tuple[int, int], ...]:
    """Draws ``steps`` over several grants from ``start`` on, in burn-down order."""
    drawn: list[tuple[int, int]] = []
    need = steps
    for position in range(start, len(left)):
        part = min(left[position], need)
        if part > 0:
            left[position] -= part
            need -= part
            drawn.append((rows[position].account_id, part))
            if need == 0:
                return tuple(drawn)
    raise InvariantViolation("a lean charge within what its grants hold", f"{need} steps short")


def _check_plan(lean: LeanPlan) -> None:
    """The batch's invariants, once for the batch: every leg within limits, every charge's
    draws summing to its steps, and what the grants lost equal to what the charges took."""
    steps = lean.columns.steps
    if not steps:
        return
    if min(steps) <= 0 or max(steps) > LEG_AMOUNT_MAX:
        raise InvariantViolation("amount within limits", f"{min(steps)} to {max(steps)} steps")
    for position, drawn in lean.split.items():
        if sum(part for _account, part in drawn) != steps[position] or not all(
            0 < part <= LEG_AMOUNT_MAX for _account, part in drawn
        ):
            raise InvariantViolation("balanced", f"draws {drawn} for {steps[position]} steps")
    lost = sum(before - after for _customer, before, after in lean.spent.values())
    if lost != sum(steps):
        raise InvariantViolation("balanced", f"grants lost {lost} for {sum(steps)} charged")


def write(
    ledger: LedgerWrites, connection: Connection, flavor: Flavor, lean: LeanPlan, now: datetime
) -> LazyOutcomes:
    """The plan's transactions and entries in one ``executemany`` each (SQLite: this is the only
    writer, and transactions are never deleted, so the ids above the largest are free), then
    what every spending transaction tells: the ``recorded`` hooks (usage rollups) and the spend
    hooks, in the reference path's order. The rows are built column by column (one pass of a
    comprehension or ``zip`` per column, no Python statement per charge): at tens of thousands
    of charges a batch, a statement per charge was a fifth of the batch's time."""
    _check_plan(lean)
    columns = lean.columns
    charges, steps = columns.charges, columns.steps
    cursor = flavor.cursor(connection)
    try:
        names = [unit.name for unit in columns.units]
        customer_ids = [customer.id for customer in lean.customers]
        actions = [charge.action for charge in charges]
        spenders = [charge.spender for charge in charges]
        metadata = columns.metadata_column()
        metadata_texts = [
            "{}" if not fields else repository.encode_json(fields) for fields in metadata
        ]
        keys = [charge.idempotency_key for charge in charges]
        texts = _request_texts(charges, names, steps, metadata_texts)
        created_at = flavor.time_in(now)
        if len(charges) == 1:
            # A lone charge takes its id from its insert (one statement fewer); a batch needs
            # its first id before its rows are built.
            cursor.execute(
                _INSERT_TRANSACTION_NEXT_ID,
                (
                    keys[0], customer_ids[0], names[0], steps[0], actions[0], spenders[0],
                    texts[0], metadata_texts[0], created_at,
                ),
            )  # fmt: skip
            start = int(cursor.lastrowid)
        else:
            start = _next_transaction_id(cursor)
            cursor.executemany(
                _INSERT_TRANSACTIONS,
                zip(
                    range(start, start + len(charges)), keys, customer_ids, names, steps,
                    actions, spenders, texts, metadata_texts, repeat(created_at),
                    strict=False,  # the columns are one per charge; the time repeats
                ),
            )  # fmt: skip
        ids = range(start, start + len(charges))
        cursor.executemany(_INSERT_ENTRIES, _entries(ledger, lean, start, names))
    finally:
        cursor.close()
    flavor.add_budget_usage(connection, lean.budget_usage)
    ledger.record_spends(
        connection,
        # Spend's constructor by ``map``: the hooks only read what they are told.
        list(
            map(
                Spend, ids, customer_ids, names, steps, actions, repeat(None), metadata,
                repeat(now), spenders,
            )
        ),
    )  # fmt: skip
    for (_customer_id, unit_name), (customer, before, after) in lean.spent.items():
        ledger.spent(connection, customer, unit_name, before, after, now)
    return LazyOutcomes(lean, start, now)


def _next_transaction_id(cursor: Any) -> int:
    """The id SQLite gives the next row of ``transactions``: the largest plus one."""
    cursor.execute("SELECT COALESCE(MAX(id), 0) FROM transactions")
    return int(cursor.fetchone()[0]) + 1


_PLAIN_TAIL = ',"action":null,"metadata":{}}'


class _Prefixes(dict[tuple[str, str], str]):
    """``request_prefix`` by (customer, unit), each built the first time it is asked for."""

    def __missing__(self, pair: tuple[str, str]) -> str:
        prefix = self[pair] = request_prefix(*pair)
        return prefix


def _request_texts(
    charges: Sequence[ChargeRequest],
    names: Sequence[str],
    steps: Sequence[int],
    metadata_texts: Sequence[str],
) -> list[str]:
    """Each charge's ``request_text``: a plain one's (no action, spender or metadata) as one
    concatenation."""
    prefixes = _Prefixes()
    return [
        prefixes[charge.customer, name] + str(amount) + _PLAIN_TAIL
        if charge.action is None and charge.spender is None and metadata == "{}"
        else request_text(
            prefixes[charge.customer, name], amount, charge.action, metadata, charge.spender
        )
        for charge, name, amount, metadata in zip(
            charges, names, steps, metadata_texts, strict=True
        )
    ]


def _entries(
    ledger: LedgerWrites, lean: LeanPlan, start: int, names: Sequence[str]
) -> Iterable[tuple[int, int, int, str, int]]:
    """The plan's entries in their primary key's order: each charge's draws, then its leg on the
    unit's consumption account. Each entry's id: its transaction's id's first, then one per leg
    (migration 0030)."""
    columns = lean.columns
    count = len(columns)
    steps = columns.steps
    into_of = {
        name: ledger.system_account(CONSUMPTION, name) for name in {u.name for u in columns.units}
    }
    intos = [into_of[unit.name] for unit in columns.units]
    ids = range(start, start + count)
    per = ENTRY_IDS_PER_TRANSACTION
    if not lean.split:
        # The common case: one draw a charge; both legs' rows by ``zip``, interleaved.
        draws = zip(
            range(start * per, (start + count) * per, per), ids, lean.accounts, names,
            [-amount for amount in steps], strict=True,
        )  # fmt: skip
        into = zip(
            range(start * per + 1, (start + count) * per, per), ids, intos, names, steps,
            strict=True,
        )  # fmt: skip
        return chain.from_iterable(zip(draws, into, strict=True))
    rows: list[tuple[int, int, int, str, int]] = []
    for position, (transaction_id, name, amount, account) in enumerate(
        zip(ids, names, steps, lean.accounts, strict=True)
    ):
        first = transaction_id * per
        drawn = ((account, amount),) if account else lean.split[position]
        rows.extend(
            (first + leg, transaction_id, grant, name, -part)
            for leg, (grant, part) in enumerate(drawn)
        )
        rows.append((first + len(drawn), transaction_id, intos[position], name, amount))
    return rows


class LazyOutcomes(Mapping[int, Outcome]):
    """The outcomes of a lean batch by the charges' indexes in their batch, each ``Charge``
    built when it is first read."""

    __slots__ = ("_built", "_lean", "_now", "_position_of", "_start")

    def __init__(self, lean: LeanPlan, start: int, now: datetime) -> None:
        self._lean = lean
        self._start = start
        self._now = now
        indexes = lean.columns.indexes
        self._position_of = dict(zip(indexes, range(len(indexes)), strict=True))
        self._built: dict[int, Charge] = {}

    def __getitem__(self, index: int) -> Charge:
        built = self._built.get(index)
        if built is None:
            built = self._built[index] = self._charge(self._position_of[index])
        return built

    def __contains__(self, index: object) -> bool:
        return index in self._position_of

    def __iter__(self) -> Iterator[int]:
        return iter(self._position_of)

    def __len__(self) -> int:
        return len(self._position_of)

    def _charge(self, position: int) -> Charge:
        lean = self._lean
        columns = lean.columns
        unit = columns.units[position]
        charge = columns.charges[position]
        return Charge(
            id=self._start + position,
            customer=charge.customer,
            unit=unit.name,
            amount=unit.to_quantity(columns.steps[position]),
            action=charge.action,
            draws=tuple(
                Draw(account_id, unit.to_quantity(part))
                for account_id, part in lean.draws(position)
            ),
            created_at=self._now,
            metadata=columns.metadata(position),
            member=None,
            available_after=unit.to_quantity(lean.available_after[position]),
            spender=charge.spender,
            debt=0,
        )
