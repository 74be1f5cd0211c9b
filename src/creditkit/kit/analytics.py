"""The kit's operator reads (``CreditKit``'s methods: see kit/__init__.py)."""

from __future__ import annotations

from datetime import datetime

from creditkit.analytics.schemas import Analytics, CustomerPage
from creditkit.kit.parts import KitParts


class KitAnalytics(KitParts):
    """The operator's reads, for its console (see docs/analytics.md)."""

    def analytics(self, *, start: datetime, end: datetime, unit: str = "credits") -> Analytics:
        """The operator's figures, all customers together: MRR and ARR, subscribers by plan and
        free-to-paid conversion as of now; revenue by plan and by pack, overage billed,
        credits consumed (by action) and expired over [start, end) (at most 366 days); the
        credit liability of ``unit`` now; and the margin against the unit's catalog ``cost``.
        Money is by currency, exact. Does every customer's due work first, as ``tick``.
        Raises ``InvalidRequest`` naming ``start`` or ``end``."""
        self._catalog_required()
        return self._analytics.analytics(start, end, unit)

    def customers(
        self,
        *,
        search: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        unit: str = "credits",
    ) -> CustomerPage:
        """Customers whose id contains ``search`` (any case; ``%`` and ``_`` match themselves),
        newest first, ``limit`` (1 to 200) a page: each with its kind, creation time, plan and
        available credits of ``unit``. Pass ``next_cursor`` for older ones. Raises
        ``InvalidRequest`` naming ``search``, ``limit`` or ``cursor``."""
        return self._analytics.customers(search, limit, cursor, unit)
