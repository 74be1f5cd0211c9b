"""PostgreSQL's charge function and the Python path leave identical ledgers.

One seeded random schedule (charges alone and in batches, through spenders under budgets at
three levels and on the customer, scoped grants and actions, debt asked for within a limit,
late usage, refusals, replays of a recorded key and conflicts under one, a key twice in a
batch, grants that expire and clock moves that make work due) runs on two fresh databases: one
with the database function on, one with it off. Every outcome, and the transactions, entries,
accounts, budget usage and usage rollups, must be the same, row for row. A spy checks that the
function did apply charges in the first run, so that the comparison is not of the Python path
with itself.

A second schedule leans on one hot customer with batches of tens of charges, as the writer
coalesces them: shortfalls, refusals, replays and budgets mid-batch, scoped grants among them.
"""

from __future__ import annotations

import dataclasses
import os
import random
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from creditkit import ChargeRequest, CreditKit, CreditKitError, ManualClock
from creditkit.ledger import pg_charge

pytestmark = pytest.mark.postgres

POSTGRES_ADMIN_URL = os.environ.get(
    "CREDITKIT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STEPS = 70
CUSTOMERS = ("c0", "c1")
#: c0's spender tree: team > agent > bot.
SPENDERS = (None, "team", "agent", "bot")
ACTIONS = (None, "text", "image")

_DUMPS = {
    "transactions": "SELECT id, idempotency_key, kind, status, customer_id, unit, amount,"
    " action, member, spender, request, outcome, metadata::text, created_at, occurred_at"
    " FROM transactions ORDER BY id",
    # In posting order; their ids may differ where a failed insert used up sequence values.
    "entries": "SELECT transaction_id, account_id, unit, amount FROM entries ORDER BY id",
    "accounts": "SELECT id, kind, unit, customer_id, balance FROM accounts ORDER BY id",
    "budget_usage": "SELECT customer_id, spender, unit, period, period_start, used"
    " FROM budget_usage ORDER BY 1, 2, 3, 4, 5",
    "usage_rollups": "SELECT * FROM usage_rollups ORDER BY 1, 2, 3, 4, 5, 6",
}


def _admin() -> psycopg.Connection[Any]:
    return psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True)


@pytest.fixture
def two_databases(postgres_template: str) -> Iterator[tuple[str, str]]:
    names = [f"creditkit_test_{uuid.uuid4().hex[:12]}" for _twice in range(2)]
    with _admin() as admin:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    base = POSTGRES_ADMIN_URL.rpartition("/")[0]
    yield f"{base}/{names[0]}", f"{base}/{names[1]}"
    with _admin() as admin:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclasses.dataclass(frozen=True)
class Schedule:
    """How a random schedule leans: the share of its steps that are batches, their sizes, the
    share of charges on c0, the share that reuse a key, the largest charge and the grants'
    sizes."""

    batch_share: float
    batch_sizes: tuple[int, int]
    hot_share: float
    reuse_share: float
    amount_max: int = 40
    grant_sizes: tuple[int, int] = (10, 120)
    budget_share: float = 0.02
    budget_caps: tuple[int, int] = (20, 200)


MIXED = Schedule(batch_share=0.15, batch_sizes=(2, 8), hot_share=0.5, reuse_share=0.125)
HOT = Schedule(
    batch_share=0.5, batch_sizes=(10, 60), hot_share=0.9, reuse_share=0.005, amount_max=6,
    grant_sizes=(100, 800), budget_share=0.04, budget_caps=(100, 600),
)  # fmt: skip


def _request(
    rng: random.Random, keys: list[tuple[str, dict[str, Any]]], n: int, schedule: Schedule
) -> ChargeRequest:
    """A new charge, or (``reuse_share`` of the time) a key used before: the same request (a
    replay) or another amount under it (a conflict)."""
    if keys and rng.random() < schedule.reuse_share:
        key, fields = rng.choice(keys)
        if rng.random() < 0.5:
            fields = fields | {"amount": fields["amount"] + 1}
        return ChargeRequest(idempotency_key=key, **fields)
    customer = "c0" if rng.random() < schedule.hot_share else "c1"
    fields: dict[str, Any] = {
        "customer": customer,
        "amount": rng.randint(1, schedule.amount_max),
        "action": rng.choice(ACTIONS),
        "spender": rng.choice(SPENDERS) if customer == "c0" else None,
        "allow_debt": rng.random() < 0.2,
        "metadata": {"n": n} if rng.random() < 0.3 else {},
    }
    key = f"charge-{n}"
    keys.append((key, fields))
    return ChargeRequest(idempotency_key=key, **fields)


def _outcome(outcome: object) -> str:
    if isinstance(outcome, CreditKitError):
        return f"{type(outcome).__name__}: {outcome}"
    return repr(outcome) + f" available_after={outcome.available_after!r}"  # type: ignore[attr-defined]


def _setup(ck: CreditKit) -> None:
    for customer in CUSTOMERS:
        ck.create_customer(customer)
    ck.create_spender("c0", "team", kind="team")
    ck.create_spender("c0", "agent", kind="agent", parent="team")
    ck.create_spender("c0", "bot", kind="agent", parent="agent")
    ck.set_debt_limit("c0", 25, idempotency_key="debt-c0")


def _step(
    ck: CreditKit, clock: ManualClock, rng: random.Random, n: int, keys: list[Any],
    schedule: Schedule,
) -> str:  # fmt: skip
    """One step of the schedule; what it answered, as text."""
    roll = rng.random()
    try:
        if roll < 0.2:
            customer = rng.choice(CUSTOMERS)
            expires = clock() + timedelta(hours=rng.randint(1, 30)) if rng.random() < 0.4 else None
            scope = rng.choice([None, None, ["text"], ["image"]])
            grant = ck.grant(
                customer, rng.randint(*schedule.grant_sizes), idempotency_key=f"grant-{n}",
                priority=rng.randint(0, 2), expires_at=expires, applies_to=scope,
            )  # fmt: skip
            return f"grant {grant!r}"
        if roll < 0.2 + schedule.budget_share:
            spender = rng.choice(SPENDERS)
            period = rng.choice(["hour", "day", "month", "lifetime"])
            ck.set_budget(
                "c0", rng.randint(*schedule.budget_caps), spender=spender, period=period,
                idempotency_key=f"budget-{n}",
            )  # fmt: skip
            return "budget"
        if roll < 0.28 + schedule.budget_share:
            clock.advance(timedelta(minutes=rng.randint(5, 400)))
            return "tick"
        if roll < 0.28 + schedule.budget_share + schedule.batch_share:
            size = rng.randint(*schedule.batch_sizes)
            batch = [_request(rng, keys, n * 100 + i, schedule) for i in range(size)]
            if rng.random() < 0.2:
                batch.append(batch[0])  # a key twice in one batch
            return " | ".join(_outcome(outcome) for outcome in ck.charge_many(batch))
        request = _request(rng, keys, n * 100, schedule)
        if rng.random() < 0.1:
            late = clock() - timedelta(minutes=rng.randint(1, 50))
            request = dataclasses.replace(request, occurred_at=late)
        return _outcome(ck.charge_many([request])[0])
    except CreditKitError as error:
        return f"{type(error).__name__}: {error}"


def _run(
    url: str, seed: int, function_on: bool, schedule: Schedule = MIXED
) -> tuple[list[str], dict[str, list[Any]]]:
    pg_charge.set_enabled(function_on)
    clock = ManualClock(START)
    ck = CreditKit(url, units={"credits": 0}, clock=clock)
    try:
        _setup(ck)
        rng = random.Random(seed)
        keys: list[Any] = []
        answers = [_step(ck, clock, rng, n, keys, schedule) for n in range(STEPS)]
    finally:
        with suppress(Exception):
            ck.close()
        pg_charge.set_enabled(True)
    with psycopg.connect(url) as connection:
        dumps = {name: connection.execute(query).fetchall() for name, query in _DUMPS.items()}
    return answers, dumps


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_function_and_the_python_path_leave_identical_ledgers(
    two_databases: tuple[str, str], seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    applied: list[int] = []
    #: Charges alone that the function (``creditkit_charge_lone``) applied.
    lone_applied: list[int] = []
    real: Callable[..., Any] = pg_charge.charge_in_database

    def spy(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        if found is not None:
            applied.append(len(found[0]))
            prepared = args[1]
            if len(prepared) == 1 and found[0]:
                lone_applied.append(prepared[0].index)
        return found

    monkeypatch.setattr(pg_charge, "charge_in_database", spy)
    # Batches of any size through the function, so that its batch rules are compared too.
    monkeypatch.setattr(pg_charge, "CHARGES_MAX", 10_000)
    with_function = _run(two_databases[0], seed, function_on=True)
    assert sum(applied) >= 5, "the function applied charges"
    assert len(lone_applied) >= 5, "the function for a charge alone applied charges"
    applied_by_function = sum(applied)
    without_function = _run(two_databases[1], seed, function_on=False)
    assert sum(applied) == applied_by_function, "the second run is the Python path's alone"
    answers_on, dumps_on = with_function
    answers_off, dumps_off = without_function
    for n, (on, off) in enumerate(zip(answers_on, answers_off, strict=True)):
        assert on == off, f"step {n}"
    for name in _DUMPS:
        assert dumps_on[name] == dumps_off[name], name
    refusals = sum("Insufficient" in answer or "Budget" in answer for answer in answers_on)
    assert refusals > 0, "the schedule met refusals"


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_hot_batches_leave_identical_ledgers(
    two_databases: tuple[str, str], seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of tens of charges, mostly on one customer, through the function."""
    calls: list[tuple[int, int]] = []
    real: Callable[..., Any] = pg_charge.charge_in_database

    def spy(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        if found is not None:
            calls.append((len(found[0]), len(found[1])))
        return found

    monkeypatch.setattr(pg_charge, "charge_in_database", spy)
    # Past the function's bound, so that its batch rules are compared on tens of charges.
    monkeypatch.setattr(pg_charge, "CHARGES_MAX", 256)
    answers_on, dumps_on = _run(two_databases[0], seed, function_on=True, schedule=HOT)
    assert max(applied for applied, _rest in calls) >= 10, "the function applied a hot batch"
    assert any(applied and rest for applied, rest in calls), "a batch stopped mid-way"
    calls_with_function = len(calls)
    answers_off, dumps_off = _run(two_databases[1], seed, function_on=False, schedule=HOT)
    assert len(calls) == calls_with_function, "the second run is the Python path's alone"
    for n, (on, off) in enumerate(zip(answers_on, answers_off, strict=True)):
        assert on == off, f"step {n}"
    for name in _DUMPS:
        assert dumps_on[name] == dumps_off[name], name
    assert any("Insufficient" in answer for answer in answers_on), "shortfalls met"
    assert any("Budget" in answer for answer in answers_on), "budgets refused"
