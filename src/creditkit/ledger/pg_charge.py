"""PostgreSQL's fast path for a batch of charges: one call of the database function
``creditkit_charge`` (migrations 0027, 0031; a charge alone: ``creditkit_charge_lone``, 0033)
does what the Python path (``ChargeBatch``) does in several round trips, for the charges whose
rules it implements, and the Python path does the rest.

What the function decides: the customers locked (all of the batch's, in id order), nothing due
for any of them, then for each charge in turn the spender's path and its budgets, the grants
that apply to the action in burn-down order, the transaction, its entries, the budgets' use and
the usage rollup; it reads each customer's grants once and writes the batch's rows in one
statement per table. A key recorded already fails the transaction's insert, and the batch is run
again in replay mode (the Python path), as for any write. It stops at the first charge
it would not apply (a shortfall, a budget that would refuse, an unknown customer or spender)
and returns the ones it applied. Everything else stays the Python path's, the reference:

- the charges from the first the function did not apply, run by ``ChargeBatch`` in the same
  database transaction (they see the function's rows), refusals and debt included;
- a whole batch with due work, a key twice, a replay run, more than ``CHARGES_MAX`` charges,
  a member, a rate-limited charge, or a spender where a plan sets default budgets.

Results are identical either way (tests/ledger/test_pg_charge_equivalence.py): the same rows,
entries, balances and outcomes. The hooks other domains register (alerts, auto top-up, the
usage rollups of the catalog's dimensions) are told by Python after the call, in the same
transaction, as the Python path tells them; the function counts the plain usage rollup itself
(``Spend.rolled_up``).

Off with ``CREDITKIT_PG_CHARGE_FUNCTION=0`` in the environment, or ``set_enabled(False)``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.engine import Connection

from creditkit.errors import CreditKitError, InvariantViolation
from creditkit.ledger.checks import check_time
from creditkit.ledger.kernel import Spend
from creditkit.ledger.late_usage import counted_moment
from creditkit.ledger.repository import encode_json
from creditkit.ledger.schemas import Charge, ChargeRequest, Draw, Unit
from creditkit.ledger.spending import PERIODS, period_starts
from creditkit.ledger.values import CONSUMPTION, Request
from creditkit.ledger.writes import LedgerWrites
from creditkit.store.unit_of_work import CustomerRow

Outcome = Charge | CreditKitError


def _statement(function: str) -> str:
    # The arrays in binary (%b): psycopg dumps a text array's elements with a regex each in the
    # text format, about twice the client CPU of the binary one for a batch of 2.
    return (
        "SELECT charge_position, status, transaction_id, customer_id, customer_kind,"
        f" next_due_at, budgeted, draw_accounts, draw_amounts, available_after FROM {function}("
        "%s::timestamptz, %b::timestamptz[], %b::text[], %b::text[], %b::text[], %b::text[],"
        " %b::bigint[], %b::text[], %b::text[], %b::text[], %b::text[], %b::timestamptz[],"
        " %b::text[], %b::bigint[])"
    )


#: The batch's function, and a lone charge's: the same rules, but for one charge a statement
#: per table and charge is less server work than the batch's statements (migration 0031).
_STATEMENT = _statement("creditkit_charge")
_STATEMENT_ONE = _statement("creditkit_charge_one")
#: A batch of exactly one charge: ``creditkit_charge_one``'s rules with scalar arguments
#: (migration 0033), since psycopg dumps each array element by element in Python, which was
#: most of a lone charge's client CPU; the period bounds are the function's to work out.
_STATEMENT_LONE = (
    "SELECT charge_position, status, transaction_id, customer_id, customer_kind,"
    " next_due_at, budgeted, draw_accounts, draw_amounts, available_after FROM"
    " creditkit_charge_lone(%s::timestamptz, %s::text, %s::text, %s::text, %s::bigint,"
    " %s::text, %s::text, %s::text, %s::text, %s::timestamptz, %s::text, %s::bigint)"
)

_enabled = os.environ.get("CREDITKIT_PG_CHARGE_FUNCTION", "1") != "0"

#: The most charges a batch may have to go through the function. It decides them in memory
#: (each customer's grants read once) and writes them in one statement per table, which beats
#: 0027's statement per charge from two charges on; but from about eight the Python path's
#: multi-row statements cost the server less (bench/pg_charge_batch.py), and with 8 threads on
#: one hot customer, client and server sharing the cores, they measured faster in
#: charge_throughput (hot 1.21 against 1.67 in one run with every batch through the function).
#: The writer's bound on one transaction's operations is above it (a check in ``coalescing``).
CHARGES_MAX = 4


def set_enabled(enabled: bool) -> None:
    """Turns the fast path on or off for this process (tests run both paths with it)."""
    global _enabled
    _enabled = enabled


def enabled() -> bool:
    return _enabled


class Prepared(Protocol):
    """A charge that passed input checks (``batch._Prepared``)."""

    @property
    def index(self) -> int: ...
    @property
    def charge(self) -> ChargeRequest: ...
    @property
    def unit(self) -> Unit: ...
    @property
    def steps(self) -> int: ...
    @property
    def request(self) -> Request: ...


def charge_in_database(
    ledger: LedgerWrites, prepared: Sequence[Prepared], connection: Connection, replay: bool
) -> tuple[dict[int, Outcome], list[Prepared]] | None:
    """The outcomes of the charges the function applied, by index, and the charges left for
    the Python path (in order); None when the whole batch is the Python path's."""
    if (
        not _enabled
        or replay
        or not 0 < len(prepared) <= CHARGES_MAX
        or connection.dialect.name != "postgresql"
    ):
        return None
    now = ledger.now()
    eligible = _eligible_prefix(ledger, prepared, now)
    if not eligible:
        return None
    items = [item for item, _occurred in eligible]
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if len(prepared) == 1:
            cursor.execute(_STATEMENT_LONE, _lone_arguments(ledger, items[0], eligible[0][1], now))
        else:
            cursor.execute(
                _STATEMENT_ONE if len(items) == 1 else _STATEMENT,
                _batch_arguments(ledger, prepared, eligible, now),
            )
        rows: list[Any] = list(cursor.fetchall())
    finally:
        cursor.close()
    if rows and rows[0][0] == 0:
        return None  # due work: nothing was written
    outcomes = _applied(ledger, connection, items, rows, eligible, now)
    return outcomes, list(prepared[len(rows) :])


def _scope(ledger: LedgerWrites, action: str | None) -> str:
    """The names a grant's scope may match for ``action``, as the function takes them."""
    return "[]" if action is None else encode_json(sorted(ledger.action_scope(action)))


def _lone_arguments(
    ledger: LedgerWrites, item: Prepared, occurred: datetime | None, now: datetime
) -> tuple[Any, ...]:
    """``creditkit_charge_lone``'s arguments, in its order."""
    charge, fields = item.charge, item.request.fields
    return (
        now,
        item.request.key,
        charge.customer,
        item.unit.name,
        item.steps,
        charge.action,
        fields.get("spender"),
        item.request.encode(),
        encode_json(fields["metadata"]),
        occurred,
        _scope(ledger, charge.action),
        ledger.system_account(CONSUMPTION, item.unit.name),
    )


def _batch_arguments(
    ledger: LedgerWrites,
    prepared: Sequence[Prepared],
    eligible: list[tuple[Prepared, datetime | None]],
    now: datetime,
) -> tuple[Any, ...]:
    """``creditkit_charge``'s (and ``creditkit_charge_one``'s) arguments, in their order: the
    eligible charges' columns, and every customer of the batch to lock."""
    items = [item for item, _occurred in eligible]
    scopes: dict[str | None, str] = {}
    for item in items:
        if item.charge.action not in scopes:
            scopes[item.charge.action] = _scope(ledger, item.charge.action)
    starts = period_starts(now)
    return (
        now,
        [starts[period] for period in PERIODS],
        sorted({item.charge.customer for item in prepared}),
        [item.request.key for item in items],
        [item.charge.customer for item in items],
        [item.unit.name for item in items],
        [item.steps for item in items],
        [item.charge.action for item in items],
        [item.request.fields.get("spender") for item in items],
        [item.request.encode() for item in items],
        [encode_json(item.request.fields["metadata"]) for item in items],
        [occurred for _item, occurred in eligible],
        [scopes[item.charge.action] for item in items],
        [ledger.system_account(CONSUMPTION, item.unit.name) for item in items],
    )


def _eligible_prefix(
    ledger: LedgerWrites, prepared: Sequence[Prepared], now: datetime
) -> list[tuple[Prepared, datetime | None]]:
    """The batch's first charges whose rules the function implements, each with the moment
    its usage counts at; empty when the batch has a key twice (a repeat's answer is the
    first's, which the Python path keeps)."""
    keys = {item.request.key for item in prepared}
    if len(keys) != len(prepared):
        return []
    spenders_allowed = not ledger.has_default_budgets()
    eligible: list[tuple[Prepared, datetime | None]] = []
    for item in prepared:
        charge = item.charge
        if charge.member is not None or charge.rate_limited:
            break
        if charge.spender is not None and not spenders_allowed:
            break
        occurred: datetime | None = None
        if charge.occurred_at is not None:
            try:
                occurred = counted_moment(
                    check_time(charge.occurred_at, "occurred_at"), now, ledger.late_usage_window
                )
            except CreditKitError:
                break  # the Python path answers it (an input error, not recorded)
        eligible.append((item, occurred))
    return eligible


def _applied(
    ledger: LedgerWrites,
    connection: Connection,
    items: list[Prepared],
    rows: list[Any],
    eligible: list[tuple[Prepared, datetime | None]],
    now: datetime,
) -> dict[int, Outcome]:
    """The applied charges' outcomes, with the hooks told as ``ChargeBatch`` tells them: the
    ``recorded`` hooks of every charge, then the ``spend`` hooks once per customer and unit."""
    outcomes: dict[int, Outcome] = {}
    spends: list[Spend] = []
    spent: dict[tuple[str, str], list[Any]] = {}
    for position, row in enumerate(rows, start=1):
        (at, status, transaction_id, customer_id, kind, next_due_at, budgeted) = row[:7]
        accounts, amounts, available_after = row[7], row[8], row[9]
        if at != position or status != "applied":
            raise InvariantViolation("the function applies charges in order", f"{at} {status}")
        item = items[position - 1]
        charge, unit = item.charge, item.unit
        spender = item.request.fields.get("spender")
        metadata = item.request.fields["metadata"]
        spends.append(
            Spend(
                transaction_id, customer_id, unit.name, item.steps, charge.action, None,
                metadata, now, spender, counted_at=eligible[position - 1][1], rolled_up=True,
            )
        )  # fmt: skip
        outcomes[item.index] = Charge(
            id=transaction_id,
            customer=charge.customer,
            unit=unit.name,
            amount=unit.to_quantity(item.steps),
            action=charge.action,
            draws=tuple(
                Draw(account, unit.to_quantity(part))
                for account, part in zip(accounts, amounts, strict=True)
            ),
            created_at=now,
            metadata=metadata,
            member=None,
            available_after=unit.to_quantity(available_after),
            spender=spender,
            debt=0,
        )
        customer = CustomerRow(customer_id, charge.customer, kind, next_due_at, bool(budgeted))
        pair = (charge.customer, unit.name)
        drawn = sum(amounts)
        if drawn:
            totals = spent.setdefault(pair, [customer, 0, 0])
            totals[1] += drawn
            totals[2] = available_after
    ledger.record_spends(connection, spends)
    for (_external_id, unit_name), (customer, drawn, after) in spent.items():
        ledger.spent(connection, customer, unit_name, after + drawn, after, now)
    return outcomes
