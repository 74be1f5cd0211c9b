"""The client's ledger reads (``Client``'s methods: see client.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from creditkit.client.encode import spender_query, time_json, v1_path
from creditkit.client.wire import Wire
from creditkit.ledger.schemas import AuditReport, Balance, HistoryPage


class ClientHistory:
    """The ledger's reads over HTTP: balances, history, the audit."""

    _wire: Wire

    def balance(
        self,
        customer: str,
        *,
        unit: str = "credits",
        action: str | None = None,
        spender: str | None = None,
    ) -> Balance:
        query = {"unit": unit}
        if action is not None:
            query["action"] = action
        if spender is not None:
            query["spender"] = spender
        return self._wire.read(v1_path("customers", customer, "balance"), Balance, query)

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
        """The customer's transactions, newest first; pass ``next_cursor`` for older ones. Only
        those of ``kinds``, of ``action``, created in [``start``, ``end``) when given; of
        ``spender`` (``subtree``: and every spender under it)."""
        query: dict[str, Any] = {"unit": unit, "limit": limit}
        if cursor is not None:
            query["cursor"] = cursor
        if kinds is not None:
            # Imported here: the ledger's checks load the store, which importing the client must
            # not (tests/client/test_client_alone.py).
            from creditkit.ledger.checks import check_kinds

            check_kinds(kinds)  # as the kit refuses them: the API would name ``kind[i]``
            query["kind"] = [str(kind) for kind in kinds]
        if action is not None:
            query["action"] = action
        if start is not None:
            query["start"] = time_json(start, "start")
        if end is not None:
            query["end"] = time_json(end, "end")
        query.update(spender_query(spender, subtree))
        return self._wire.read(v1_path("customers", customer, "history"), HistoryPage, query)

    def audit(self) -> AuditReport:
        """The ledger's audit (``GET /v1/audit``, an admin key): ``.ok`` or ``.problems``."""
        return self._wire.read(v1_path("audit"), AuditReport)
