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
from creditkit.ledger.batch import ChargeBatch

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


def _mixed_schedule(seed: int) -> list[list[ChargeRequest]]:
    """Batches of mostly plain charges with the charges the lean path stops at placed at every
    boundary: a replayed key first, in the middle and last; a short charge in the middle with
    plain charges on the same customer after it; charges with metadata, a spender (with
    budgets that refuse some), a workspace member, a member named on a customer that is no
    workspace, and a key used twice in the batch."""
    rng = random.Random(1000 + seed)
    used: list[str] = []
    batches: list[list[ChargeRequest]] = []
    for batch in range(10):
        size = rng.choice([6, 12, 30])
        requests = [
            ChargeRequest(rng.choice(CUSTOMERS), rng.choice([1, 2, 3]), f"m{batch}-{index}")
            for index in range(size)
        ]
        middle = size // 2
        # A short charge mid-batch, then plain charges on the same customer that go through.
        requests[middle] = ChargeRequest("s", 50, f"m{batch}-short")
        requests.insert(middle + 1, ChargeRequest("s", 1, f"m{batch}-after-short"))
        requests.insert(middle + 3, ChargeRequest("s", 1, f"m{batch}-after-short-2"))
        for _ in range(rng.randint(2, 5)):
            at = rng.randrange(len(requests))
            customer = rng.choice(["c", "w", "a"])
            requests[at] = ChargeRequest(
                customer, rng.choice([1, 2, 5]), f"m{batch}-odd-{at}",
                metadata=rng.choice([{}, {"n": at}]),
                spender=rng.choice([None, "team", "agent"]) if customer == "c" else None,
                member="m1" if customer == "w" or rng.random() < 0.1 else None,
            )  # fmt: skip
        if rng.random() < 0.5:
            requests.insert(rng.randrange(len(requests)), requests[0])  # a key twice
        if used:
            for at in sorted(rng.sample([0, len(requests) // 2, len(requests)], rng.randint(1, 3))):
                replayed = rng.choice(used)
                requests.insert(
                    at, next(r for b in batches for r in b if r.idempotency_key == replayed)
                )
        used.extend(request.idempotency_key for request in requests)
        batches.append(requests)
    return batches


def _setup(kit: CreditKit, clock: ManualClock) -> None:
    kit.create_customer("s")
    kit.grant("s", 40, idempotency_key="g-s")
    kit.create_customer("w", kind="workspace")
    kit.grant("w", 500, idempotency_key="g-w")
    kit.create_spender("w", "m1", kind="member")
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
    kit.create_spender("c", "team", kind="project")
    kit.create_spender("c", "agent", kind="agent", parent="team")
    kit.set_budget("c", 30, spender="team", period="day", idempotency_key="budget-team")
    kit.set_budget("c", 6, spender="agent", period="hour", idempotency_key="budget-agent")


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
                                spender=request.spender, member=request.member,
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


@pytest.mark.parametrize("seed", range(4))
def test_mixed_batches_take_the_lean_path_for_their_plain_charges(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches where replays, short charges and charges that are not plain sit among plain
    ones: the same answers and rows as one by one, and the lean path took the plain charges
    of those batches (a batch that fell back whole would leave the lean count at nothing)."""
    # The keys each path took (a batch whose first run met a replayed key runs again in
    # replay mode, so a key may be counted in both runs).
    lean_keys: set[str] = set()
    decided_keys: set[str] = set()
    plan, decide = lean.plan, ChargeBatch._decide

    def spy_plan(*args: Any) -> Any:
        made = plan(*args)
        if made is not None:
            lean_keys.update(charge.idempotency_key for charge in made.columns.charges)
        return made

    def spy_decide(self: ChargeBatch, run: Any, items: Any) -> None:
        decided_keys.update(item.request.key for item in items)
        decide(self, run, items)

    monkeypatch.setattr(lean, "plan", spy_plan)
    monkeypatch.setattr(ChargeBatch, "_decide", spy_decide)
    schedule = _mixed_schedule(seed)
    batched = _run(tmp_path / "batched.db", schedule, one_by_one=False)
    for number, batch in enumerate(schedule):
        own = {r.idempotency_key for r in batch if r.idempotency_key.startswith(f"m{number}-")}
        plain = {
            r.idempotency_key
            for r in batch
            if r.idempotency_key in own and r.customer != "s" and r.member is None
            and r.spender is None and not r.metadata
        }  # fmt: skip
        # The reference path decided some of the batch, yet the lean path took most of its
        # plain charges: a batch that fell back whole would leave none to the lean path.
        assert own & decided_keys, number
        assert len(plain & lean_keys) > len(plain) / 2, (number, plain - lean_keys)
    single = _run(tmp_path / "single.db", schedule, one_by_one=True)
    assert batched == single
    assert _dump(tmp_path / "batched.db") == _dump(tmp_path / "single.db")
