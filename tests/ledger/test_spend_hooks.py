"""Spend hooks: told once per customer and unit a charge batch spent from, inside its
transaction, with the available steps before and after."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.engine import Connection

from creditkit import ChargeRequest, CreditKit, InsufficientCredits
from creditkit.ledger.repository import CustomerRow


def test_a_batch_tells_each_customer_and_unit_once(ck: CreditKit) -> None:
    told: list[tuple[str, str, int, int]] = []

    def hook(
        _connection: Connection,
        customer: CustomerRow,
        unit: str,
        before: int,
        after: int,
        _now: datetime,
    ) -> None:
        told.append((customer.external_id, unit, before, after))

    ck._ledger.add_spend_hook(hook)
    ck.grant("u1", 10, idempotency_key="g1")
    ck.grant("u2", 5, idempotency_key="g2")
    ck.charge_many(
        [
            ChargeRequest("u1", 3, "c1"),
            ChargeRequest("u1", 4, "c2"),
            ChargeRequest("u2", 9, "c3"),  # refused: nothing spent, nothing told
        ]
    )
    assert told == [("u1", "credits", 10, 3)]
    ck.charge("u1", 3, idempotency_key="c1")  # a replay spends nothing
    assert len(told) == 1


def test_a_hook_that_raises_rolls_back_the_charge(ck: CreditKit) -> None:
    def hook(*_args: object) -> None:
        raise InsufficientCredits("u1", "credits", 0, 0)

    ck.grant("u1", 10, idempotency_key="g1")
    ck._ledger.add_spend_hook(hook)
    with pytest.raises(InsufficientCredits):
        ck.charge("u1", 3, idempotency_key="c1")
    assert ck.balance("u1").available == 10
    assert not ck.recorded("c1")
