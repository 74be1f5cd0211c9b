"""What a hold counts against budgets, and what it gives back when it closes.

A root hold counts what it holds against every budget on its spender's path up to the customer
(the customer's own budgets alone when it names no spender), as a new spend would. A child hold
draws from its parent's credits, which its parent's budgets counted when the parent reserved
them: it counts only against the levels of its own spender's path that no hold above it counts
(a sub-agent's own budgets, and those between it and its parent's spender). A child that names
no spender holds as its parent's spender, so it counts against nothing more.

Each reserve or extend counts its steps in the periods of its own instant. When a hold closes
(final commit, release, expiry, a parent's cascade), what it did not spend goes back to the
same levels, newest funding first: what the hold spent is the oldest of what it counted, so no
period gets back more than it was counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.engine import Connection

from creditkit.errors import present
from creditkit.ledger import hold_repository, spender_repository
from creditkit.ledger.checks import HOLD_TREE_LEVELS_MAX
from creditkit.ledger.hold_repository import HoldRow
from creditkit.ledger.spending import CUSTOMER, PERIODS, period_bounds
from creditkit.store.unit_of_work import CustomerRow


def _spender_path(
    connection: Connection, customer: CustomerRow, spender: str | None
) -> tuple[str, ...]:
    if spender is None:
        return (CUSTOMER,)
    row = spender_repository.read_spender(connection, customer.id, spender)
    return (CUSTOMER,) if row is None else row.path_up


def hold_levels(
    connection: Connection, customer: CustomerRow, spender: str | None, parent_id: int | None
) -> tuple[str, ...]:
    """The budget levels a hold of ``spender`` under ``parent_id`` counts against (see the
    module's rule). Bounded: a tree has at most ``HOLD_TREE_LEVELS_MAX`` levels."""
    path = _spender_path(connection, customer, spender)
    covered: set[str] = set()
    above = parent_id
    for _level in range(HOLD_TREE_LEVELS_MAX):
        if above is None:
            break
        row = present(hold_repository.read_hold(connection, above), "a hold's parent exists")
        covered.update(_spender_path(connection, customer, row.spender))
        above = row.parent_id
    return tuple(level for level in path if level not in covered)


def give_back_hold(
    connection: Connection, customer: CustomerRow, hold: HoldRow, steps: int
) -> None:
    """``steps`` the hold counted and did not spend go back to its budget levels, in the
    periods they were counted in, newest funding first."""
    give_back_holds(connection, customer, [(hold, steps)])


def give_back_holds(
    connection: Connection, customer: CustomerRow, closing: Sequence[tuple[HoldRow, int]]
) -> None:
    """``give_back_hold`` for many holds of ``customer`` (a sweep's chunk of timed-out holds, a
    parent's released children) in a few statements whatever their number: the spenders'
    paths and the holds' ancestors read once each, every hold's extends in one statement, and
    one update per usage row. Summing what goes back to a row before the update writes the same
    as giving each hold back in turn, since each give-back stops at zero and none is negative:
    ``max(0, max(0, used - a) - b) = max(0, used - a - b)``."""
    closing = [(hold, steps) for hold, steps in closing if steps > 0]
    if not closing:
        return
    levels_of = _levels_of_holds(connection, customer, [hold for hold, _steps in closing])
    counted = [
        (hold, steps)
        for hold, steps in closing
        if levels_of[hold.account_id]
        and not (levels_of[hold.account_id] == (CUSTOMER,) and not customer.budgeted)
    ]
    if not counted:
        return
    extensions = hold_repository.extensions_newest_first_of(
        connection, [hold.account_id for hold, _steps in counted]
    )
    returned: dict[str, dict[tuple[str, str, datetime], int]] = {}
    for hold, steps in counted:
        of_unit = returned.setdefault(hold.unit, {})
        raised = extensions.get(hold.account_id, [])
        # The reserve's own steps: what the hold holds less what its extends added.
        reserved = (hold.created_at, hold.amount_held - sum(amount for _at, amount in raised))
        for created_at, amount in [*raised, reserved]:
            part = min(steps, amount)
            for period in PERIODS:
                start = period_bounds(period, created_at)[0]
                for level in levels_of[hold.account_id]:
                    key = (level, period, start)
                    of_unit[key] = of_unit.get(key, 0) + part
            steps -= part
            if steps == 0:
                break
    for unit, of_unit in returned.items():
        spender_repository.give_back_usage_many(connection, customer.id, unit, of_unit)


def _levels_of_holds(
    connection: Connection, customer: CustomerRow, found: Sequence[HoldRow]
) -> dict[int, tuple[str, ...]]:
    """``hold_levels`` of each hold: each spender's path read once, and the holds' ancestors
    one statement per tree level (at most ``HOLD_TREE_LEVELS_MAX``)."""
    known: dict[int, HoldRow] = {hold.account_id: hold for hold in found}
    wanted = {hold.parent_id for hold in found if hold.parent_id is not None}
    for _level in range(HOLD_TREE_LEVELS_MAX):
        missing = [hold_id for hold_id in wanted if hold_id not in known]
        if missing:
            known.update(hold_repository.read_holds(connection, missing))
        parents: set[int] = set()
        for hold_id in wanted:
            parent_id = present(known.get(hold_id), "a hold's parent exists").parent_id
            if parent_id is not None:
                parents.add(parent_id)
        wanted = parents
        if not wanted:
            break
    paths: dict[str | None, tuple[str, ...]] = {}

    def path_of(spender: str | None) -> tuple[str, ...]:
        if spender not in paths:
            paths[spender] = _spender_path(connection, customer, spender)
        return paths[spender]

    levels: dict[int, tuple[str, ...]] = {}
    for hold in found:
        covered: set[str] = set()
        above = hold.parent_id
        for _level in range(HOLD_TREE_LEVELS_MAX):
            if above is None:
                break
            row = known[above]
            covered.update(path_of(row.spender))
            above = row.parent_id
        levels[hold.account_id] = tuple(
            level for level in path_of(hold.spender) if level not in covered
        )
    return levels
