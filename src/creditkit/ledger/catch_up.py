"""What a charge does when it finds its customer behind: a backlog of timed-out holds.

A charge sweeps at most ``SWEEP_ITEMS_PER_TRANSACTION_MAX`` due items in its own transaction
(the timeline, in order, as every write does). When more timed-out holds are left after that,
it does not wait for them: it counts what they will give back as available (a hold past its
timeout holds nothing), read in one set-based statement, and leaves their releases to the
worker and to the writes after it, each still written as of its own timeout.

Why count rather than release them first: releasing is the ledger's history (a transaction,
its entries, a settlement, an event per hold), so its cost grows with the backlog; the sum is
one aggregate. Why this is exactly the ledger of an on-time sweep: a hold's release moves its
credits back to the grants it drew from, by legs that depend on that hold (its draws, its
tree's commits, its grants' expiries) and on nothing written after its timeout, so it writes
the same rows whether it runs before the charge or after it. The charge's read sees each grant
with what the pending releases give back to it (the burn-down order, the balance it answers,
a refusal's figures: all as if swept), and its legs are written against the grants' accounts
as they are. That is only sound when the charge never takes credits still inside a timed-out
hold, so the charge runs ahead of its backlog only when:

- what is left due is timed-out holds (and expired grants) alone: no renewal or other domain's
  work falls due before now (their order against the timeouts matters);
- every live grant the pending releases give back to already holds, in its account, all the
  customer's charges of that unit in the batch could take from it (the accounts never go below
  zero, and no draw depends on credits not yet back);
- nothing is given back to an unlimited plan's issuance (its headroom reads what it issued);
- no budget the charges check is one the pending holds count against (a budget refusal would
  depend on the give-back).

Otherwise it commits its chunk and runs again (``CatchingUp``), as every other write does:
bounded work under the lock in each transaction, but the charge then waits for the chunks it
depends on. The worker's ``expire`` catches customers up as soon as their holds time out, so
a charge rarely finds a backlog at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from creditkit.ledger.repository import GrantRow, _grant_from
from creditkit.ledger.schemas import HoldStatus, TransactionKind
from creditkit.store.flavor import GRANT_COLUMNS, flavor_of
from creditkit.store.tables import UtcDateTime, accounts, entries, grants, holds, transactions
from creditkit.store.unit_of_work import CustomerRow

#: Grants a backlog may give back to for a charge to run ahead of it (their rows are read in one
#: statement); past that, the charge waits for the backlog.
PENDING_GRANTS_MAX = 1_000


@dataclass(frozen=True, slots=True)
class Demand:
    """What a batch of charges may take from one customer: steps per unit (at most: a refused
    charge takes none), and whether any of them checks a spender's budgets."""

    steps: dict[str, int] = field(default_factory=dict)
    spenders: bool = False


def demand_of(charges: Iterable[tuple[str, str, int, bool]]) -> dict[str, Demand]:
    """(customer, unit, steps, names a spender or member) of each charge, by customer."""
    found: dict[str, Demand] = {}
    for customer, unit, steps, with_spender in charges:
        demand = found.setdefault(customer, Demand())
        demand.steps[unit] = demand.steps.get(unit, 0) + steps
        if with_spender and not demand.spenders:
            found[customer] = Demand(demand.steps, True)
    return found


@dataclass(frozen=True, slots=True)
class Backlog:
    """What a customer's timed-out holds left for later give back: steps per live grant (by
    account id), each grant as its account holds it now; whether any gives back to an
    unlimited plan's issuance; whether any is left at all, and whether any is a spender's."""

    returns: dict[int, int]
    grants: dict[int, _Grant]
    to_issuance: bool
    holds: bool
    spenders: bool

    def allows(self, customer: CustomerRow, demand: Demand) -> bool:
        """The charges of ``demand`` may run ahead of this backlog (the module's rules): the
        customer's own budgets count every hold, a spender's budgets its own spenders'."""
        if self.to_issuance:
            return False
        if (customer.budgeted and self.holds) or (demand.spenders and self.spenders):
            return False
        for grant_id, steps in self.returns.items():
            grant = self.grants[grant_id]
            if steps > 0 and demand.steps.get(grant.unit, 0) > grant.remaining:
                return False
        return True

    def effective(self, unit: str, rows: list[GrantRow]) -> list[GrantRow]:
        """``rows`` (the customer's grants of ``unit`` with credits, as read now) with what the
        pending releases give back added: new rows, so the caller's are left as read."""
        by_id = {row.account_id: row for row in rows}
        for grant_id in self.returns:
            grant = self.grants[grant_id]
            if grant.unit == unit and grant_id not in by_id:
                by_id[grant_id] = grant.row
        return [
            GrantRow(
                row.account_id,
                row.remaining + self.returns.get(row.account_id, 0),
                row.source,
                row.priority,
                row.effective_at,
                row.expires_at,
                row.transferable,
                row.applies_to,
            )
            for row in by_id.values()
        ]


@dataclass(frozen=True, slots=True)
class _Grant:
    unit: str
    row: GrantRow

    @property
    def remaining(self) -> int:
        return self.row.remaining


def _returns_statement() -> sa.Select[Any]:
    """The statement of ``pending_returns``, built once (parameters ``customer_id``, ``now``)."""
    child = holds.alias("child")
    child_account = accounts.alias("child_account")
    # What each timed-out root's tree holds: the root's account and its active children's
    # (through ``ix_holds_root_active``), read per root rather than joined, so that the
    # statement follows the indexes from the customer's active holds outwards.
    children_kept = (
        sa.select(sa.func.coalesce(sa.func.sum(child_account.c.balance), 0))
        .select_from(child.join(child_account, child_account.c.id == child.c.account_id))
        .where(child.c.root_id == holds.c.account_id, child.c.status == HoldStatus.ACTIVE)
        .scalar_subquery()
    )
    roots = (
        sa.select(
            holds.c.account_id.label("root_id"),
            holds.c.reserve_transaction_id,
            (accounts.c.balance + children_kept).label("kept"),
        )
        .select_from(holds.join(accounts, accounts.c.id == holds.c.account_id))
        .where(
            holds.c.customer_id == sa.bindparam("customer_id"),
            holds.c.status == HoldStatus.ACTIVE,
            holds.c.parent_id.is_(None),
            holds.c.expires_at <= sa.bindparam("now", type_=UtcDateTime),
        )
        .cte("roots")
    )
    # What each root drew: its reserve's entries (through the hold's own row), and its applied
    # extends' (through ``ix_transactions_hold_writes``).
    reserve_entries = sa.select(
        roots.c.root_id, roots.c.kept, entries.c.id, entries.c.account_id, entries.c.amount
    ).select_from(roots.join(entries, entries.c.transaction_id == roots.c.reserve_transaction_id))
    extend_entries = (
        sa.select(
            transactions.c.hold_id,
            roots.c.kept,
            entries.c.id,
            entries.c.account_id,
            entries.c.amount,
        )
        .select_from(
            transactions.join(entries, entries.c.transaction_id == transactions.c.id).join(
                roots, roots.c.root_id == transactions.c.hold_id
            )
        )
        .where(
            # Looked up root by root (``IN``), with the index's own condition as text: a
            # planner uses a partial index only when the statement states its condition with
            # the same constants.
            transactions.c.hold_id.in_(sa.select(roots.c.root_id)),
            sa.text("transactions.kind IN ('extend', 'commit')"),
            transactions.c.kind == TransactionKind.EXTEND.value,
            transactions.c.status == "applied",
        )
    )
    funding = sa.union_all(reserve_entries, extend_entries).subquery("funding")
    drawn = (
        sa.select(
            funding.c.root_id,
            funding.c.kept,
            funding.c.account_id,
            sa.func.sum(-funding.c.amount).label("part"),
            sa.func.min(funding.c.id).label("first_entry"),
        )
        .where(funding.c.amount < 0)
        .group_by(funding.c.root_id, funding.c.kept, funding.c.account_id)
        .subquery("drawn")
    )
    ordered = sa.select(
        drawn.c.root_id,
        drawn.c.kept,
        drawn.c.account_id,
        drawn.c.part,
        sa.func.sum(drawn.c.part)
        .over(partition_by=drawn.c.root_id, order_by=drawn.c.first_entry)
        .label("upto"),
        sa.func.sum(drawn.c.part).over(partition_by=drawn.c.root_id).label("total"),
    ).subquery("ordered")
    # What the tree consumed is ``total - kept``, taken from the first draws: a draw gets back
    # what the draws up to it took beyond that, at most its own part.
    consumed = ordered.c.total - ordered.c.kept
    back = sa.case(
        (ordered.c.upto - consumed <= 0, sa.literal(0)),
        (ordered.c.upto - consumed >= ordered.c.part, ordered.c.part),
        else_=ordered.c.upto - consumed,
    )
    return (
        sa.select(
            ordered.c.account_id,
            accounts.c.kind,
            grants.c.expires_at,
            sa.func.sum(back).label("back"),
        )
        .select_from(
            ordered.join(accounts, accounts.c.id == ordered.c.account_id).outerjoin(
                grants, grants.c.account_id == ordered.c.account_id
            )
        )
        .group_by(ordered.c.account_id, accounts.c.kind, grants.c.expires_at)
    )


_RETURNS = _returns_statement()


def pending_returns(connection: Connection, customer_id: int, now: datetime) -> Backlog:
    """What the customer's active holds that timed out at or before ``now`` give back when they
    are released, in three statements whatever their number: per root hold, what its tree
    holds (every hold below a timed-out root timed out too: a child never outlives its
    parent) goes back to what the root drew, in the order drawn, what the tree consumed taken
    from the first draws (as ``LedgerTimeline.closing_legs`` does). A timed-out child of a
    live parent gives back to its parent: nothing a charge reads."""
    rows = connection.execute(_RETURNS, {"customer_id": customer_id, "now": now}).all()
    returns: dict[int, int] = {}
    to_issuance = False
    for row in rows:
        if not row.back:
            continue
        if row.kind != "grant":
            to_issuance = True
        elif row.expires_at is None or row.expires_at > now:
            # A grant expired by now got the credits back and lost them at its expiry.
            returns[row.account_id] = int(row.back)
    left = connection.execute(
        sa.select(
            sa.func.count(),
            sa.func.count(transactions.c.spender),
        )
        .select_from(holds.join(transactions, transactions.c.id == holds.c.reserve_transaction_id))
        .where(
            holds.c.customer_id == customer_id,
            holds.c.status == HoldStatus.ACTIVE,
            holds.c.expires_at <= now,
        )
    ).one()
    if len(returns) > PENDING_GRANTS_MAX:
        # Read no more grants than that in one statement: the charge waits for the backlog.
        return Backlog({}, {}, True, True, True)
    return Backlog(
        returns, _grants_by_id(connection, list(returns)), to_issuance, left[0] > 0, left[1] > 0
    )


def _grants_by_id(connection: Connection, grant_ids: list[int]) -> dict[int, _Grant]:
    if not grant_ids:
        return {}
    flavor = flavor_of(connection)
    marks = ", ".join([flavor.placeholder] * len(grant_ids))
    rows = flavor.fetch(
        connection,
        f"SELECT {GRANT_COLUMNS} FROM accounts a JOIN grants g ON g.account_id = a.id"
        f" WHERE a.id IN ({marks})",
        tuple(grant_ids),
    )
    return {row[0]: _Grant(row[1], _grant_from(flavor, row)) for row in rows}
