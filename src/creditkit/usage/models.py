"""Usage by model: for the charges and commits priced from model usage in a range, the tokens,
the model's cost in USD and the credits spent, per model, costliest first, each with the
spender that spent most on it (the dashboard's "Your costliest model this week")."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Final

from creditkit.catalog import Catalog
from creditkit.errors import Quantity
from creditkit.ledger import repository as ledger_repository
from creditkit.ledger.checks import EXTERNAL_ID_LENGTH_MAX, check_range, check_text
from creditkit.ledger.history_lines import token_price
from creditkit.ledger.service import LedgerService
from creditkit.pricing.schemas import TOKEN_KINDS
from creditkit.store.database import Database
from creditkit.usage import model_repository
from creditkit.usage.schemas import ModelUsage, ModelUsageLine

#: Priced spends one read sums, at most; a range with more says so (``complete`` false).
MODEL_USAGE_ROWS_MAX: Final = 50_000


@dataclass(slots=True)
class _Sums:
    provider: str | None = None
    calls: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_KINDS, 0))
    cost_usd: Decimal = Decimal(0)
    steps: int = 0
    by_spender: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class ModelUsageService:
    def __init__(self, ledger: LedgerService, database: Database, catalog: Catalog | None) -> None:
        self._ledger = ledger
        self._database = database
        self._actions = (
            ()
            if catalog is None
            else tuple(a.id for a in catalog.actions.values() if a.tokens is not None)
        )

    def by_model(self, customer: str, start: datetime, end: datetime, unit: str) -> ModelUsage:
        check_text(customer, "customer", EXTERNAL_ID_LENGTH_MAX)
        start, end = check_range(start, end)
        unit_ = self._ledger.unit(unit)
        with self._database.read() as connection:
            row = ledger_repository.read_customer(connection, customer)
            spends = model_repository.priced_spends(
                connection, row.id, unit_.name, start, end, self._actions,
                MODEL_USAGE_ROWS_MAX + 1,
            )  # fmt: skip
        sums: dict[str, _Sums] = defaultdict(_Sums)
        for spend in spends[:MODEL_USAGE_ROWS_MAX]:
            price = token_price(spend.metadata)
            if price is None:
                continue
            line = sums[price.model]
            line.provider = line.provider or price.provider
            line.calls += 1
            for kind, count in price.tokens.items():
                line.tokens[kind] = line.tokens.get(kind, 0) + count
            line.cost_usd += price.cost_usd
            line.steps += spend.amount
            line.by_spender[spend.spender or ""] += spend.amount
        lines = [self._line(model, line, unit_.to_quantity) for model, line in sums.items()]
        lines.sort(key=lambda line: (-line.spent, line.model))
        return ModelUsage(unit_.name, start, end, tuple(lines), len(spends) <= MODEL_USAGE_ROWS_MAX)

    @staticmethod
    def _line(model: str, sums: _Sums, quantity: Callable[[int], Quantity]) -> ModelUsageLine:
        top = max(sorted(sums.by_spender.items()), key=lambda item: item[1])[0]
        return ModelUsageLine(
            model=model,
            provider=sums.provider,
            calls=sums.calls,
            input_tokens=sums.tokens["input"],
            output_tokens=sums.tokens["output"],
            cache_read_tokens=sums.tokens["cache_read"],
            cache_write_tokens=sums.tokens["cache_write"],
            cost_usd=sums.cost_usd,
            spent=quantity(sums.steps),
            top_spender=top or None,
        )
