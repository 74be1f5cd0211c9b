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

Anything else (a refusal, overage, debt, scopes, members, late usage, replays, a key used
twice in the batch) is the reference path's: ``plan`` answers None and ``ChargeBatch`` runs the
batch the reference way, inside the same transaction, since nothing was written here yet. The
reference path is what every rule is written in; this one is proven equal to it for the charges
it takes (tests/ledger/test_lean.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from creditkit.errors import CreditKitError, InvariantViolation
from creditkit.ledger import repository
from creditkit.ledger.kernel import CONSUMPTION, LEG_AMOUNT_MAX, Spend
from creditkit.ledger.repository import CustomerRow, GrantRow
from creditkit.ledger.schemas import Charge, Draw
from creditkit.ledger.spending import SpendState
from creditkit.store.flavor import ENTRY_IDS_PER_TRANSACTION, Flavor

if TYPE_CHECKING:
    from creditkit.ledger.batch import _Prepared
    from creditkit.ledger.grants import LedgerGrants

Outcome = Charge | CreditKitError

_INSERT_TRANSACTIONS = (
    "INSERT INTO transactions (id, idempotency_key, kind, status, customer_id, counterparty_id,"
    " unit, amount, action, hold_id, member, spender, request, outcome, metadata, created_at,"
    " occurred_at, reverses_id) VALUES (?, ?, 'charge', 'applied', ?, NULL, ?, ?, ?, NULL, NULL,"
    " ?, ?, NULL, ?, ?, NULL, NULL)"
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


def is_plain(item: _Prepared) -> bool:
    """A charge this path may take, by what it asks (its customer and grants are looked at in
    ``plan``)."""
    charge = item.charge
    return charge.member is None and charge.occurred_at is None and charge.allow_debt is False


@dataclass(slots=True)
class LeanPlan:
    """A batch of plain charges decided, in columns (one position per charge, in order)."""

    items: list[_Prepared]
    customers: list[CustomerRow]
    #: Each charge's draws: (grant account id, steps), in burn-down order.
    draws: list[tuple[tuple[int, int], ...]]
    #: The customer's grants' steps left in the unit right after each charge.
    available_after: list[int]
    #: By (customer id, unit): steps available before the batch and after it.
    spent: dict[tuple[int, str], tuple[CustomerRow, int, int]]
    #: Each charge's spender (None: the customer itself).
    spenders: list[str | None]
    #: The budget usage the charges counted (``SpendState.drain``), written with their rows.
    budget_usage: list[tuple[int, str, str, str, datetime, int]]


def plan(
    ledger: LedgerGrants,
    connection: Connection,
    prepared: Sequence[_Prepared],
    locked: Mapping[str, CustomerRow],
    grants: Mapping[tuple[int, str], list[GrantRow]],
    now: datetime,
) -> LeanPlan | None:
    """Every charge of ``prepared`` decided on columns of integers, or None as soon as one of
    them is not plain, would not be fully paid by its customer's grants or is refused by a
    budget (the reference path then decides the batch: nothing was written here, and what was
    counted is in a ``SpendState`` of this plan's own). ``grants`` are live and in burn-down
    order; they are not changed."""
    state = SpendState()
    spenders: list[str | None] = []
    left: dict[tuple[int, str], list[int]] = {}
    first_live: dict[tuple[int, str], int] = {}
    keys: set[str] = set()
    customers: list[CustomerRow] = []
    draws: list[tuple[tuple[int, int], ...]] = []
    available_after: list[int] = []
    totals: dict[tuple[int, str], list[int]] = {}
    owners: dict[tuple[int, str], CustomerRow] = {}
    for item in prepared:
        customer = locked.get(item.charge.customer)
        key = item.request.key
        if customer is None or key in keys or not is_plain(item):
            return None
        keys.add(key)
        pair = (customer.id, item.unit.name)
        column = left.get(pair)
        if column is None:
            rows = grants[pair]
            if any(grant.applies_to is not None for grant in rows):
                return None
            column = left[pair] = [grant.remaining for grant in rows]
            first_live[pair] = 0
            total = sum(column)
            totals[pair] = [total, total]
            owners[pair] = customer
        steps = item.steps
        pair_totals = totals[pair]
        if steps > pair_totals[1]:
            return None  # a refusal, overage or debt: the reference path's
        spender = item.charge.spender
        if (spender is not None or customer.budgeted) and not _budgets_allow(
            ledger, connection, state, customer, item, now
        ):
            return None
        pair_totals[1] -= steps
        rows = grants[pair]
        position = first_live[pair]
        if column[position] >= steps:
            # The common case: the first grant with credits pays it all.
            column[position] -= steps
            drawn: tuple[tuple[int, int], ...] = ((rows[position].account_id, steps),)
        else:
            drawn = _take(column, rows, position, steps)
        while position < len(column) - 1 and column[position] == 0:
            position += 1
        first_live[pair] = position
        customers.append(customer)
        spenders.append(spender)
        draws.append(drawn)
        available_after.append(pair_totals[1])
    spent = {
        pair: (owners[pair], before, after)
        for pair, (before, after) in totals.items()
        if after < before
    }
    return LeanPlan(
        list(prepared), customers, draws, available_after, spent, spenders, state.drain()
    )


def _budgets_allow(
    ledger: LedgerGrants,
    connection: Connection,
    state: SpendState,
    customer: CustomerRow,
    item: _Prepared,
    now: datetime,
) -> bool:
    """The reference rule for a spend the grants pay in full: every budget on the path from
    the charge's spender (or the customer's own) has room, and counts it in ``state``."""
    spender = None
    if item.charge.spender is not None:
        try:
            spender = ledger.spender_for_spend(
                connection, state, customer, item.charge.spender, item.unit.name, now
            )
        except CreditKitError:
            return False  # not a spender of the customer: the reference path answers it
    checked = ledger.check_spend(
        connection, state, customer, item.unit, item.steps, now,
        spender=spender, shortfall=0, allow_debt=False, refusal=_no_shortfall,
    )  # fmt: skip
    return not isinstance(checked, CreditKitError)


def _no_shortfall(_debt_room: int) -> CreditKitError:
    raise InvariantViolation("a lean charge is paid by its grants", "a shortfall was refused")


def _take(
    column: list[int], rows: Sequence[GrantRow], start: int, steps: int
) -> tuple[tuple[int, int], ...]:
    """Draws ``steps`` over several grants from ``start`` on, in burn-down order."""
    drawn: list[tuple[int, int]] = []
    need = steps
    for position in range(start, len(column)):
        part = min(column[position], need)
        if part > 0:
            column[position] -= part
            need -= part
            drawn.append((rows[position].account_id, part))
            if need == 0:
                return tuple(drawn)
    raise InvariantViolation("a lean charge within what its grants hold", f"{need} steps short")


def write(
    ledger: LedgerGrants, connection: Connection, flavor: Flavor, lean: LeanPlan, now: datetime
) -> LazyOutcomes:
    """The plan's transactions and entries in one ``executemany`` each (SQLite: this is the only
    writer, and transactions are never deleted, so the ids above the largest are free), then
    what every spending transaction tells: the ``recorded`` hooks (usage rollups) and the spend
    hooks, in the reference path's order."""
    cursor = flavor.cursor(connection)
    try:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM transactions")
        start = int(cursor.fetchone()[0]) + 1
        created_at = flavor.time_in(now)
        consumption: dict[str, int] = {}
        prefixes: dict[tuple[str, str], str] = {}
        transactions: list[tuple[Any, ...]] = []
        # Each entry's id: its transaction's new id's first, then one per leg (migration 0032).
        entries: list[tuple[int, int, int, str, int]] = []
        spends: list[Spend] = []
        for position, (item, customer, drawn, spender) in enumerate(
            zip(lean.items, lean.customers, lean.draws, lean.spenders, strict=True)
        ):
            transaction_id = start + position
            charge = item.charge
            unit = item.unit.name
            steps = item.steps
            metadata = item.request.fields["metadata"]
            metadata_text = "{}" if not metadata else repository.encode_json(metadata)
            prefix = prefixes.get((charge.customer, unit))
            if prefix is None:
                prefix = prefixes[(charge.customer, unit)] = request_prefix(charge.customer, unit)
            transactions.append(
                (
                    transaction_id,
                    item.request.key,
                    customer.id,
                    unit,
                    steps,
                    charge.action,
                    spender,
                    request_text(prefix, steps, charge.action, metadata_text, spender),
                    metadata_text,
                    created_at,
                )
            )
            drawn_total = 0
            entry_id = transaction_id * ENTRY_IDS_PER_TRANSACTION
            for account_id, part in drawn:
                if not 0 < part <= LEG_AMOUNT_MAX:
                    raise InvariantViolation("amount within limits", f"a draw of {part}")
                drawn_total += part
                entries.append((entry_id, transaction_id, account_id, unit, -part))
                entry_id += 1
            if drawn_total != steps:
                raise InvariantViolation("balanced", f"{drawn_total} drawn for {steps}")
            account = consumption.get(unit)
            if account is None:
                account = consumption[unit] = ledger.system_account(CONSUMPTION, unit)
            entries.append((entry_id, transaction_id, account, unit, steps))
            spends.append(
                Spend(
                    transaction_id, customer.id, unit, steps, charge.action, None, metadata, now,
                    spender,
                )
            )  # fmt: skip
        cursor.executemany(_INSERT_TRANSACTIONS, transactions)
        cursor.executemany(_INSERT_ENTRIES, entries)
    finally:
        cursor.close()
    flavor.add_budget_usage(connection, lean.budget_usage)
    ledger.record_spends(connection, spends)
    for (_customer_id, unit), (customer, before, after) in lean.spent.items():
        ledger.spent(connection, customer, unit, before, after, now)
    return LazyOutcomes(lean, start, now)


class LazyOutcomes(Mapping[int, Outcome]):
    """The outcomes of a lean batch by the charges' indexes in their batch, each ``Charge``
    built when it is first read."""

    __slots__ = ("_built", "_lean", "_now", "_position_of", "_start")

    def __init__(self, lean: LeanPlan, start: int, now: datetime) -> None:
        self._lean = lean
        self._start = start
        self._now = now
        self._position_of = {item.index: position for position, item in enumerate(lean.items)}
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
        item = lean.items[position]
        unit = item.unit
        charge = item.charge
        return Charge(
            id=self._start + position,
            customer=charge.customer,
            unit=unit.name,
            amount=unit.to_quantity(item.steps),
            action=charge.action,
            draws=tuple(
                Draw(account_id, unit.to_quantity(part))
                for account_id, part in lean.draws[position]
            ),
            created_at=self._now,
            metadata=item.request.fields["metadata"],
            member=None,
            available_after=unit.to_quantity(lean.available_after[position]),
            spender=lean.spenders[position],
            debt=0,
        )
