"""The kit's ledger reads (``CreditKit``'s methods: see kit/__init__.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from creditkit.kit.parts import KitParts
from creditkit.ledger.audit import audit
from creditkit.ledger.checks import check_history_filters
from creditkit.ledger.coalescing import GroupCommitStats
from creditkit.ledger.schemas import AuditReport, Balance, HistoryPage


class KitHistory(KitParts):
    """The ledger's reads: balances, history, what a key recorded, the audit."""

    def balance(
        self,
        customer: str,
        *,
        unit: str = "credits",
        action: str | None = None,
        spender: str | None = None,
    ) -> Balance:
        """What the customer may spend of ``unit`` now, and what it owes (``.debt``). With
        ``action``: only credits that may pay for it; with ``spender``: capped by what the
        budgets on its path leave (``.budget_left``)."""
        return self._ledger.balance(customer, unit, action, spender)

    def recorded(self, idempotency_key: str) -> bool:
        """Whether a write under this key has been recorded, applied or refused: a retry of it
        would replay, not write."""
        return self._ledger.recorded(idempotency_key)

    def history(
        self,
        customer: str,
        *,
        unit: str = "credits",
        limit: int = 50,
        cursor: str | None = None,
        kinds: Sequence[str] | None = None,
        action: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        spender: str | None = None,
        subtree: bool = False,
    ) -> HistoryPage:
        """The customer's transactions, newest first; pass ``next_cursor`` for older ones.

        Only transactions of ``kinds`` (``TransactionKind`` values, e.g. ``["transfer"]``), of
        ``action``, created in [``start``, ``end``) when given; a cursor stays valid with other
        filters (it marks a place in the history, not a result set). A transfer's item names
        the other customer in ``counterparty``; ``available_change`` is negative for the sender
        and positive for the recipient. Raises ``InvalidRequest`` naming ``kinds``, ``action``,
        ``start``, ``end``, ``limit`` or ``cursor``. ``spender``: only its transactions;
        ``subtree``: and those of every spender under it (up to 1,000 spenders)."""
        filters = check_history_filters(kinds, action, start, end)
        return self._ledger.history(customer, unit, limit, cursor, filters, spender, subtree)

    def group_commit_stats(self) -> GroupCommitStats | None:
        """How well this process's writes shared transactions (group commit): transactions
        committed, the operations they held, the most in one. None with ``group_commit=False``."""
        return self._ledger.group_commit_stats()

    def audit(self) -> AuditReport:
        """Checks every rule of the double entry against the rows; ``.ok`` or ``.problems``."""
        with self._database.read() as connection:
            return audit(connection)
