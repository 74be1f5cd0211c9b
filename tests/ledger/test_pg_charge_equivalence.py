"""PostgreSQL's charge function and the Python path leave identical ledgers.

One seeded random schedule (charges alone and in batches, through spenders under budgets at
three levels and on the customer, scoped grants and actions, debt asked for within a limit,
late usage, refusals, replays of a recorded key and conflicts under one, a key twice in a
batch, grants that expire and clock moves that make work due) runs on two fresh databases: one
with the database function on, one with it off. Every outcome, and the transactions, entries,
accounts, budget usage and usage rollups, must be the same, row for row. A spy checks that the
function did apply charges in the first run, so that the comparison is not of the Python path
with itself.
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


def _request(rng: random.Random, keys: list[tuple[str, dict[str, Any]]], n: int) -> ChargeRequest:
    """A new charge, or (one time in eight) a key used before: the same request (a replay) or
    another amount under it (a conflict)."""
    if keys and rng.random() < 0.125:
        key, fields = rng.choice(keys)
        if rng.random() < 0.5:
            fields = fields | {"amount": fields["amount"] + 1}
        return ChargeRequest(idempotency_key=key, **fields)
    customer = rng.choice(CUSTOMERS)
    fields: dict[str, Any] = {
        "customer": customer,
        "amount": rng.randint(1, 40),
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


def _step(ck: CreditKit, clock: ManualClock, rng: random.Random, n: int, keys: list[Any]) -> str:
    """One step of the schedule; what it answered, as text."""
    roll = rng.random()
    try:
        if roll < 0.2:
            customer = rng.choice(CUSTOMERS)
            expires = clock() + timedelta(hours=rng.randint(1, 30)) if rng.random() < 0.4 else None
            scope = rng.choice([None, None, ["text"], ["image"]])
            grant = ck.grant(
                customer, rng.randint(10, 120), idempotency_key=f"grant-{n}",
                priority=rng.randint(0, 2), expires_at=expires, applies_to=scope,
            )  # fmt: skip
            return f"grant {grant!r}"
        if roll < 0.22:
            spender = rng.choice(SPENDERS)
            period = rng.choice(["hour", "day", "month", "lifetime"])
            ck.set_budget(
                "c0", rng.randint(20, 200), spender=spender, period=period,
                idempotency_key=f"budget-{n}",
            )  # fmt: skip
            return "budget"
        if roll < 0.30:
            clock.advance(timedelta(minutes=rng.randint(5, 400)))
            return "tick"
        if roll < 0.45:
            batch = [_request(rng, keys, n * 100 + i) for i in range(rng.randint(2, 8))]
            if rng.random() < 0.2:
                batch.append(batch[0])  # a key twice in one batch
            return " | ".join(_outcome(outcome) for outcome in ck.charge_many(batch))
        request = _request(rng, keys, n * 100)
        if rng.random() < 0.1:
            late = clock() - timedelta(minutes=rng.randint(1, 50))
            request = dataclasses.replace(request, occurred_at=late)
        return _outcome(ck.charge_many([request])[0])
    except CreditKitError as error:
        return f"{type(error).__name__}: {error}"


def _run(url: str, seed: int, function_on: bool) -> tuple[list[str], dict[str, list[Any]]]:
    pg_charge.set_enabled(function_on)
    clock = ManualClock(START)
    ck = CreditKit(url, units={"credits": 0}, clock=clock)
    try:
        _setup(ck)
        rng = random.Random(seed)
        keys: list[Any] = []
        answers = [_step(ck, clock, rng, n, keys) for n in range(STEPS)]
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
    real: Callable[..., Any] = pg_charge.charge_in_database

    def spy(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        if found is not None:
            applied.append(len(found[0]))
        return found

    monkeypatch.setattr(pg_charge, "charge_in_database", spy)
    # Batches of any size through the function, so that its batch rules are compared too.
    monkeypatch.setattr(pg_charge, "CHARGES_MAX", 10_000)
    with_function = _run(two_databases[0], seed, function_on=True)
    assert sum(applied) >= 5, "the function applied charges"
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
