"""``charge_many`` against charging one by one: for the same random schedule (customers mixed in
a batch, charges their grants cannot pay, an unknown customer, keys used twice in a batch and
keys replayed from an earlier batch, several grants per customer burnt down in priority and
expiry order, a budget that refuses), each charge gets the answer the one-by-one charge gets,
and the two databases hold the same rows in every ledger table, ids included.

Batches of plain charges take the lean columnar path on SQLite and the rest the reference path,
so the schedule runs both; a spy checks that the columnar path did take some batches.
"""

from __future__ import annotations

import dataclasses
import random
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from creditkit import Charge, ChargeRequest, CreditKit, CreditKitError, ManualClock
from creditkit.ledger import lean

TABLES = (
    "transactions",
    "entries",
    "accounts",
    "grants",
    "usage_rollups",
    "budget_usage",
    "customers",
)
CUSTOMERS = ("a", "b", "c")


def _schedule(seed: int) -> list[list[ChargeRequest]]:
    rng = random.Random(seed)
    used: list[str] = []
    batches: list[list[ChargeRequest]] = []
    for batch in range(14):
        requests = []
        for index in range(rng.choice([1, 3, 8, 20, 40])):
            roll = rng.random()
            if used and roll < 0.08:
                key = rng.choice(used)  # a replay: of this batch's keys or an earlier one's
            else:
                key = f"k{batch}-{index}"
                used.append(key)
            customer = "nobody" if rng.random() < 0.02 else rng.choice(CUSTOMERS)
            requests.append(
                ChargeRequest(
                    customer,
                    rng.choice([1, 1, 2, 3, 5, 8, 30]),
                    key,
                    action=rng.choice([None, None, "ask"]),
                    metadata=rng.choice([{}, {}, {"n": index}]),
                )
            )
        batches.append(requests)
    return batches


def _setup(kit: CreditKit, clock: ManualClock) -> None:
    for customer in CUSTOMERS:
        kit.create_customer(customer)
        for n, (amount, priority, hours) in enumerate(
            [(60, 1, 30), (40, 0, None), (90, 2, 70), (25, 1, 10)]
        ):
            kit.grant(
                customer, amount, idempotency_key=f"g-{customer}-{n}", priority=priority,
                expires_at=None if hours is None else clock() + timedelta(hours=hours),
            )  # fmt: skip
    kit.set_budget("b", 120, period="day", idempotency_key="budget-b")


def _answer(outcome: Charge | CreditKitError, replay: bool) -> Any:
    if isinstance(outcome, CreditKitError):
        return (type(outcome).__name__, str(outcome))
    if replay:
        # A replay's answer is its first charge's; what it says is left is what is left when
        # it is answered, which one by one is later than in the batch.
        return dataclasses.replace(outcome, replayed=False, available_after=0)
    return (outcome, outcome.available_after)


def _run(path: Path, schedule: list[list[ChargeRequest]], one_by_one: bool) -> list[Any]:
    clock = ManualClock()
    answers: list[Any] = []
    with CreditKit(f"sqlite:///{path}", clock=clock) as kit:
        _setup(kit, clock)
        seen: set[str] = set()
        for requests in schedule:
            if one_by_one:
                outcomes: list[Charge | CreditKitError] = []
                for request in requests:
                    try:
                        outcomes.append(
                            kit.charge(
                                request.customer, request.amount,
                                idempotency_key=request.idempotency_key,
                                action=request.action, metadata=request.metadata,
                            )
                        )  # fmt: skip
                    except CreditKitError as error:
                        outcomes.append(error)
            else:
                outcomes = list(kit.charge_many(requests))
            for request, outcome in zip(requests, outcomes, strict=True):
                answers.append(_answer(outcome, request.idempotency_key in seen))
                seen.add(request.idempotency_key)
            # Expiries run before the next batch on both sides, at the same moment.
            clock.advance(timedelta(hours=7))
            kit.tick()
        assert kit.audit().ok
    return answers


def _dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as raw:
        return {
            table: raw.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall() for table in TABLES
        }


@pytest.mark.parametrize("seed", range(5))
def test_charge_many_leaves_the_ledger_charging_one_by_one_leaves(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[int] = []
    plan = lean.plan

    def spy(*args: Any) -> Any:
        decided = plan(*args)
        if decided is not None and len(decided.columns) > 1:
            taken.append(len(decided.columns))
        return decided

    monkeypatch.setattr(lean, "plan", spy)
    schedule = _schedule(seed)
    batched = _run(tmp_path / "batched.db", schedule, one_by_one=False)
    assert taken, "no batch took the columnar path"
    single = _run(tmp_path / "single.db", schedule, one_by_one=True)
    assert batched == single
    assert _dump(tmp_path / "batched.db") == _dump(tmp_path / "single.db")
