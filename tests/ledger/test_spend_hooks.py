"""Spend hooks: told once per customer and unit a charge batch spent from, inside its
transaction, with the available steps before and after."""

from __future__ import annotations

import pytest

from creditkit import ChargeRequest, InsufficientCredits, ManualClock
from creditkit.ledger.kernel import LedgerHooks, SpendHook
from creditkit.ledger.service import LedgerService
from creditkit.store.database import Database
from creditkit.store.migrate import upgrade_to_head
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork


def ledger_with(database_url: str, hook: SpendHook) -> LedgerService:
    """A ledger with only ``hook`` connected (as ``CreditKit`` connects alerts and top-ups)."""
    database = Database(database_url)
    upgrade_to_head(database.engine)
    ledger = LedgerService(database, ManualClock(), {"credits": 0})
    ledger.connect(LedgerHooks(spend=(hook,)))
    for customer in ("u1", "u2"):
        ledger.create_customer(customer)
    return ledger


def grant(ledger: LedgerService, customer: str, amount: int, key: str) -> None:
    ledger.grant(
        customer, amount, unit="credits", source="purchase", idempotency_key=key, priority=None,
        effective_at=None, expires_at=None, transferable=None, cost_basis=None, metadata=None,
    )  # fmt: skip


def test_a_batch_tells_each_customer_and_unit_once(database_url: str) -> None:
    told: list[tuple[str, str, int, int]] = []
    units_of_work: list[UnitOfWork] = []

    def hook(
        context: UnitOfWork, customer: CustomerRow, unit: str, before: int, after: int
    ) -> None:
        told.append((customer.external_id, unit, before, after))
        units_of_work.append(context)

    ledger = ledger_with(database_url, hook)
    grant(ledger, "u1", 10, "g1")
    grant(ledger, "u2", 5, "g2")
    ledger.charge_many(
        [
            ChargeRequest("u1", 3, "c1"),
            ChargeRequest("u1", 4, "c2"),
            ChargeRequest("u2", 9, "c3"),  # refused: nothing spent, nothing told
        ]
    )
    assert told == [("u1", "credits", 10, 3)]
    # The hook gets the spending transaction's unit of work: the customer it spent for, at the
    # ledger's now, never a replay.
    (context,) = units_of_work
    assert list(context.customers) == ["u1"]
    assert context.now == ledger.now()
    assert not context.replay
    ledger.charge_many([ChargeRequest("u1", 3, "c1")])  # a replay spends nothing
    assert len(told) == 1


def test_a_hook_that_raises_rolls_back_the_charge(database_url: str) -> None:
    def hook(*_args: object) -> None:
        raise InsufficientCredits("u1", "credits", 0, 0)

    ledger = ledger_with(database_url, hook)
    grant(ledger, "u1", 10, "g1")
    with pytest.raises(InsufficientCredits):
        ledger.charge_many([ChargeRequest("u1", 3, "c1")])
    assert ledger.balance("u1", "credits").available == 10
    assert not ledger.recorded("c1")
