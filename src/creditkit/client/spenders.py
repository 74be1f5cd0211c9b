"""The client's spenders, budgets and debt limits (``Client``'s methods: see client.py)."""

from __future__ import annotations

from creditkit.client.encode import amount_json, v1_path
from creditkit.client.wire import Wire
from creditkit.errors import Quantity
from creditkit.ledger.schemas import Budget, DebtLimit, Spender


class ClientSpenders:
    """Spenders, their budgets, and the debt limit, over HTTP."""

    _wire: Wire

    def create_spender(
        self, customer: str, spender: str, *, kind: str, parent: str | None = None
    ) -> Spender:
        """Adds a spender under the customer or under ``parent`` (``CreditKit.create_spender``);
        its id is its own idempotency key."""
        body = {"id": spender, "kind": kind, "parent": parent}
        path = v1_path("customers", customer, "spenders")
        return self._wire.write("POST", path, Spender, body, f"spender:{customer}:{spender}")

    def spenders(self, customer: str, *, limit: int = 1_000) -> tuple[Spender, ...]:
        found = self._wire.read_list(v1_path("customers", customer, "spenders"), Spender)
        return tuple(found[:limit])

    def set_budget(
        self,
        customer: str,
        amount: Quantity | str | None,
        *,
        idempotency_key: str | None = None,
        spender: str | None = None,
        unit: str | None = None,
        period: str = "month",
    ) -> Budget | None:
        """Caps what ``spender`` (None: the customer) may spend per ``period``; ``amount``
        None removes the budget (``CreditKit.set_budget``)."""
        body = {
            "amount": None if amount is None else amount_json(amount),
            "spender": spender,
            "unit": unit or "credits",
            "period": period,
        }
        path = v1_path("customers", customer, "budgets")
        return self._wire.write("PUT", path, Budget | None, body, idempotency_key)  # type: ignore[arg-type]

    def budgets(
        self, customer: str, *, spender: str | None = None, unit: str = "credits"
    ) -> tuple[Budget, ...]:
        query = {"unit": unit} | ({} if spender is None else {"spender": spender})
        return tuple(self._wire.read_list(v1_path("customers", customer, "budgets"), Budget, query))

    def set_debt_limit(
        self,
        customer: str,
        amount: Quantity | str,
        *,
        idempotency_key: str | None = None,
        unit: str | None = None,
    ) -> DebtLimit:
        """How far below zero the customer may go on purpose (``CreditKit.set_debt_limit``)."""
        body = {"amount": amount_json(amount), "unit": unit or "credits"}
        path = v1_path("customers", customer, "debt-limit")
        return self._wire.write("PUT", path, DebtLimit, body, idempotency_key)
