"""The ledger's reads: a customer's balance (what it may spend now, and why) and its history
(transactions as lines, a hold's parts in one line).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.errors import (
    InvalidRequest,
    Quantity,
    present,
)
from creditkit.ledger import (
    history_lines,
    history_repository,
    hold_repository,
    repository,
    spender_repository,
)
from creditkit.ledger.checks import (
    HISTORY_PAGE_SIZE_MAX,
    NAME_LENGTH_MAX,
    check_text,
)
from creditkit.ledger.history_lines import HISTORY_HOLD_PARTS_MAX
from creditkit.ledger.hold_reads import HoldReads
from creditkit.ledger.hold_repository import HoldRow
from creditkit.ledger.ports import LedgerReads, SpendRules
from creditkit.ledger.repository import GrantRow, TransactionRow
from creditkit.ledger.schemas import (
    Balance,
    Draw,
    Expiry,
    GrantBalance,
    HistoryItem,
    HistoryPage,
    TransactionKind,
    Unit,
)
from creditkit.ledger.spending import CUSTOMER, SpendState, applies, check_spender, path_budgets
from creditkit.ledger.values import burn_down_key
from creditkit.store.database import Database
from creditkit.store.unit_of_work import CustomerRow

#: Spenders a subtree filter may cover.
SUBTREE_SPENDERS_MAX = 1_000


class Statements:
    """Balances and history, read through the ``LedgerReads`` port (catching a customer's due
    work up first) and the spend rules (what budgets leave)."""

    def __init__(
        self, database: Database, reads: LedgerReads, rules: SpendRules, hold_reads: HoldReads
    ) -> None:
        self._database = database
        self._reads = reads
        self._rules = rules
        self._hold_reads = hold_reads

    def balance(
        self, customer: str, unit: str, action: str | None = None, spender: str | None = None
    ) -> Balance:
        """What the customer may spend of ``unit`` now; with ``action``, only the credits that
        may pay for it; with ``spender``, capped by what the budgets on its path leave."""
        unit_ = self._reads.unit(unit)
        if action is not None:
            check_text(action, "action", NAME_LENGTH_MAX)
        if spender is not None:
            check_spender(spender)
        now = self._reads.now()
        budget_left: int | None = None
        for _attempt in range(2):
            with self._database.read() as connection:
                row = repository.read_customer(connection, customer)
                if row.next_due_at is not None and row.next_due_at <= now:
                    due = True
                else:
                    due = False
                    grants = repository.grants_with_credits(connection, row.id, unit)
                    held = hold_repository.held_total(connection, row.id, unit)
                    headroom = self._rules.headroom(connection, row, unit, now)
                    debt = spender_repository.debt_account(connection, row.id, unit)
                    budget_left = self._budget_left(connection, row, unit_, spender, now)
            if not due:
                break
            # Holds that timed out give their credits back at once, not at the next write;
            # then the read is made again on the swept ledger.
            self._reads.sweep_now(customer)
        else:
            raise AssertionError("a sweep leaves nothing due at the moment it swept")
        if action is not None:
            scope = self._rules.action_scope(action)
            grants = [grant for grant in grants if applies(grant, scope)]
        live = self._reads.live_in_order(grants, now)
        upcoming = sorted((g for g in grants if g.effective_at > now), key=burn_down_key)
        expiring = [g for g in live if g.expires_at is not None]
        next_expiry = None
        if expiring:
            soonest = min(g.expires_at for g in expiring if g.expires_at is not None)
            next_expiry = Expiry(
                soonest,
                unit_.to_quantity(sum(g.remaining for g in expiring if g.expires_at == soonest)),
            )

        def view(grant: GrantRow) -> GrantBalance:
            return GrantBalance(
                grant_id=grant.account_id,
                source=grant.source,
                priority=grant.priority,
                remaining=unit_.to_quantity(grant.remaining),
                effective_at=grant.effective_at,
                expires_at=grant.expires_at,
                transferable=grant.transferable,
                applies_to=None if grant.applies_to is None else tuple(sorted(grant.applies_to)),
            )

        available = sum(g.remaining for g in live)
        if spender is not None and budget_left is not None:
            # What the spender may spend; the customer's own credits stay what they are, with
            # its own budgets' room in ``budget_left``.
            available = min(available, budget_left)

        return Balance(
            customer=customer,
            unit=unit,
            available=unit_.to_quantity(available),
            held=unit_.to_quantity(held),
            grants=tuple(view(g) for g in live),
            upcoming=tuple(view(g) for g in upcoming),
            next_expiry=next_expiry,
            as_of=now,
            unlimited=headroom is None,
            overage_available=unit_.to_quantity(headroom or 0),
            debt=unit_.to_quantity(-debt[1]) if debt is not None and debt[1] else 0,
            action=action,
            spender=spender,
            budget_left=None if budget_left is None else unit_.to_quantity(budget_left),
        )

    def _budget_left(
        self,
        connection: Connection,
        customer: CustomerRow,
        unit: Unit,
        spender: str | None,
        now: datetime,
    ) -> int | None:
        """What the budgets on the path from ``spender`` (None: the customer) leave at ``now``;
        None when no budget applies."""
        if spender is None and not customer.budgeted:
            return None
        state = SpendState()
        row = (
            None
            if spender is None
            else self._rules.spender_row(connection, state, customer, spender)
        )
        defaults: dict[str, Sequence[tuple[str, int]]] = (
            {}
            if row is None
            else self._rules.path_defaults(connection, state, customer, row, unit, now)
        )
        path = (CUSTOMER,) if row is None else row.path_up
        lines = path_budgets(connection, state, customer, unit.name, path, defaults, now)
        return min((line.left for line in lines), default=None)

    def history(
        self,
        customer: str,
        unit: str,
        limit: int,
        cursor: str | None,
        filters: history_repository.HistoryFilters = history_repository.NO_HISTORY_FILTERS,
        spender: str | None = None,
        subtree: bool = False,
    ) -> HistoryPage:
        """A page of history; with ``spender``, only its transactions (``subtree``: and those
        of every spender under it)."""
        unit_ = self._reads.unit(unit)
        if spender is not None:
            check_spender(spender)
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not 1 <= limit <= HISTORY_PAGE_SIZE_MAX
        ):
            raise InvalidRequest("limit", f"must be an int from 1 to {HISTORY_PAGE_SIZE_MAX}")
        before_id = None
        if cursor is not None:
            if (
                not isinstance(cursor, str)
                or not cursor.startswith("t")
                or not cursor[1:].isdigit()
            ):
                raise InvalidRequest("cursor", "is not a cursor this ledger returned")
            before_id = int(cursor[1:])
        self._reads.sweep_if_due(customer)
        with self._database.read() as connection:
            row = repository.read_customer(connection, customer)
            if spender is not None:
                filters = dataclasses.replace(
                    filters, spenders=self.spenders_of(connection, row, spender, subtree)
                )
            recorded = history_repository.history_transactions(
                connection, row.id, unit, before_id, limit + 1, filters
            )
            page = recorded[:limit]
            hold_ids = sorted({t.hold_id for t in page if t.hold_id is not None})
            # A hold's line stands at its newest transaction the history shows (on this page
            # or an earlier one): its older transactions are in that line, not lines of their
            # own, so a hold is never split across pages.
            newest = history_repository.newest_hold_transactions(connection, hold_ids, filters)
            shown = [t for t in page if t.hold_id is None or newest.get(t.hold_id) == t.id]
            holds = hold_repository.read_holds(
                connection, [t.hold_id for t in shown if t.hold_id is not None]
            )
            parts = history_repository.hold_transactions(
                connection, sorted(holds), HISTORY_HOLD_PARTS_MAX + 1
            )
            ids = {t.id for t in shown} | {p.id for rows in parts.values() for p in rows}
            legs = repository.entries_of(connection, sorted(ids))
            names = self._counterparty_names(connection, shown, row.id)
            commit_draws = self._history_commit_draws(connection, holds, parts)
        by_transaction: dict[int, list[Any]] = {}
        for leg in legs:
            by_transaction.setdefault(leg.transaction_id, []).append(leg)
        now = self._reads.now()
        items = []
        for recorded_transaction in shown:
            moved = history_lines.movement(by_transaction.get(recorded_transaction.id, []), row.id)
            amount = unit_.to_quantity(recorded_transaction.amount)
            change, draws = moved.change, moved.draws
            detail = None
            hold_id = recorded_transaction.hold_id
            if hold_id is not None:
                rows = parts[hold_id]
                detail, change, draws = history_lines.hold_detail(
                    unit_,
                    holds[hold_id],
                    rows[:HISTORY_HOLD_PARTS_MAX],
                    by_transaction,
                    commit_draws,
                    row.id,
                    len(rows) <= HISTORY_HOLD_PARTS_MAX,
                    now,
                )
                amount = detail.amount
            items.append(
                HistoryItem(
                    transaction_id=recorded_transaction.id,
                    kind=recorded_transaction.kind,
                    amount=amount,
                    available_change=self._signed_quantity(unit_, change),
                    created_at=recorded_transaction.created_at,
                    action=recorded_transaction.action,
                    draws=tuple(
                        Draw(grant_id, unit_.to_quantity(part)) for grant_id, part in draws
                    ),
                    counterparty=names.get(recorded_transaction.id),
                    hold_id=hold_id,
                    metadata=recorded_transaction.metadata,
                    hold=detail,
                    spender=recorded_transaction.spender,
                    token_price=history_lines.token_price(recorded_transaction.metadata),
                )
            )
        next_cursor = f"t{page[-1].id}" if len(recorded) > limit else None
        return HistoryPage(tuple(items), next_cursor)

    def _history_commit_draws(
        self,
        connection: Connection,
        holds: Mapping[int, HoldRow],
        parts: Mapping[int, Sequence[TransactionRow]],
    ) -> dict[int, list[tuple[int, int]]]:
        """The grants each commit the page's hold lines show spent."""
        return self._hold_reads.commit_draws(
            connection,
            [
                part.id
                for hold_id in holds
                for part in parts[hold_id][:HISTORY_HOLD_PARTS_MAX]
                if part.kind is TransactionKind.COMMIT
            ],
        )

    def spenders_of(
        self, connection: Connection, customer: CustomerRow, spender: str, subtree: bool
    ) -> tuple[str, ...]:
        """The spender, and with ``subtree`` every spender under it (at most
        ``SUBTREE_SPENDERS_MAX``: a read beyond is refused, never cut short silently)."""
        row = self._rules.spender_row(connection, SpendState(), customer, spender)
        if not subtree:
            return (spender,)
        found = spender_repository.subtree_ids(
            connection, customer.id, row, SUBTREE_SPENDERS_MAX + 1
        )
        if len(found) > SUBTREE_SPENDERS_MAX:
            raise InvalidRequest(
                "subtree", f"more than {SUBTREE_SPENDERS_MAX} spenders: name a smaller subtree"
            )
        return tuple(found)

    @staticmethod
    def _signed_quantity(unit: Unit, steps: int) -> Quantity:
        if steps >= 0:
            return unit.to_quantity(steps)
        return -unit.to_quantity(-steps)

    @staticmethod
    def _counterparty_names(
        connection: Connection, page: Sequence[TransactionRow], customer_id: int
    ) -> dict[int, str]:
        names: dict[int, str] = {}
        ids = {
            t.id: (t.counterparty_id if t.customer_id == customer_id else t.customer_id)
            for t in page
            if t.counterparty_id is not None
        }
        if not ids:
            return names
        external = repository.external_ids(connection, list(set(ids.values())))
        for transaction_id, other in ids.items():
            names[transaction_id] = external[present(other, "a counterparty")]
        return names
