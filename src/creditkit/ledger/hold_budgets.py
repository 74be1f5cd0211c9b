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

from sqlalchemy.engine import Connection

from creditkit.errors import present
from creditkit.ledger import hold_repository, spender_repository
from creditkit.ledger.checks import HOLD_TREE_LEVELS_MAX
from creditkit.ledger.hold_repository import HoldRow
from creditkit.ledger.repository import CustomerRow
from creditkit.ledger.spending import CUSTOMER, PERIODS, period_bounds


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
    if steps <= 0:
        return
    levels = hold_levels(connection, customer, hold.spender, hold.parent_id)
    if not levels or (levels == (CUSTOMER,) and not customer.budgeted):
        return
    extensions = hold_repository.extensions_newest_first(connection, hold.account_id)
    # The reserve's own steps: what the hold holds less what its extends added.
    reserved = (hold.created_at, hold.amount_held - sum(amount for _at, amount in extensions))
    for created_at, amount in [*extensions, reserved]:
        part = min(steps, amount)
        starts = [(period, period_bounds(period, created_at)[0]) for period in PERIODS]
        spender_repository.give_back_usage(connection, customer.id, hold.unit, levels, starts, part)
        steps -= part
        if steps == 0:
            break
