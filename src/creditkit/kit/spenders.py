"""The kit's spenders, budgets and debt limits (``CreditKit``'s methods: see kit/__init__.py)."""

from __future__ import annotations

from creditkit.errors import Quantity
from creditkit.kit.parts import KitParts
from creditkit.ledger.schemas import Budget, DebtLimit, Spender


class KitSpenders(KitParts):
    """Spenders, their budgets, and the debt limit."""

    def create_spender(
        self, customer: str, spender: str, *, kind: str, parent: str | None = None
    ) -> Spender:
        """Adds a spender (a member, an API key, an agent, a project: ``kind`` is the host
        app's word) under the customer, or under ``parent``, at most 8 levels deep. The
        spender's id is its own idempotency key. A workspace member is one already, of kind
        ``member``."""
        return self._ledger.create_spender(customer, spender, kind=kind, parent=parent)

    def spenders(self, customer: str, *, limit: int = 1_000) -> tuple[Spender, ...]:
        """The customer's spenders, oldest first."""
        return self._ledger.spenders(customer, limit)

    def set_budget(
        self,
        customer: str,
        amount: Quantity | str | None,
        *,
        idempotency_key: str,
        spender: str | None = None,
        unit: str | None = None,
        period: str = "month",
    ) -> Budget | None:
        """Caps what ``spender`` (None: the customer itself) may spend of ``unit`` per
        ``period`` (``hour``, ``day``, ``week``, ``month`` or ``lifetime``; UTC boundaries,
        weeks from Monday). A spend must fit every budget from its spender up to the customer,
        else ``BudgetExceeded``. ``amount`` None removes the budget."""
        return self._ledger.set_budget(
            customer, amount, spender=spender, unit=unit or "credits", period=period,
            idempotency_key=idempotency_key,
        )  # fmt: skip

    def budgets(
        self, customer: str, *, spender: str | None = None, unit: str = "credits"
    ) -> tuple[Budget, ...]:
        """The budgets of ``spender`` (None: the customer's own), the plan's defaults for its
        kind included, each with what its current period used (open holds included)."""
        return self._ledger.budgets(customer, spender, unit)

    def set_debt_limit(
        self,
        customer: str,
        amount: Quantity | str,
        *,
        idempotency_key: str,
        unit: str | None = None,
    ) -> DebtLimit:
        """How far below zero the customer may go when a spend asks for it (``allow_debt``);
        overrides the plan's ``debt_limit`` (default 0: no debt)."""
        return self._ledger.set_debt_limit(
            customer, amount, unit=unit or "credits", idempotency_key=idempotency_key
        )
