"""The lean SQLite path (``ledger/lean.py``) against the reference path: for the same random
batches, the same answers and the same rows in every table; and the batch's answers behave as
the documented list."""

import json
import random
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from creditkit import (
    Charge,
    ChargeRequest,
    CreditKit,
    InsufficientCredits,
    InvalidAmount,
    ManualClock,
)
from creditkit.ledger import lean
from creditkit.ledger.schemas import TransactionKind
from creditkit.ledger.values import Request

TABLES = ("transactions", "entries", "accounts", "usage_rollups", "grants", "budget_usage")


def _dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as raw:
        return {
            table: raw.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall() for table in TABLES
        }


def _run(path: Path, schedule: list[list[ChargeRequest]], reference: bool) -> list[list[Any]]:
    clock = ManualClock()
    kit = CreditKit(f"sqlite:///{path}", clock=clock, units={"credits": 0, "usd": 2})
    answers: list[list[Any]] = []
    try:
        for customer in ("a", "b", "c"):
            kit.create_customer(customer)
            for n, (amount, priority, days) in enumerate([(40, 1, 3), (25, 0, None), (60, 2, 9)]):
                kit.grant(
                    customer, amount, idempotency_key=f"g-{customer}-{n}", priority=priority,
                    expires_at=None if days is None else clock() + timedelta(days=days),
                )  # fmt: skip
            kit.grant(customer, "3.50", unit="usd", idempotency_key=f"g-{customer}-usd")
        # Budgets: the customer's own on "b"; on "c", a team and an agent under it, each with
        # one, so that some charges are refused by one level or another.
        kit.set_budget("b", 150, period="hour", idempotency_key="budget-b")
        kit.create_spender("c", "team", kind="project")
        kit.create_spender("c", "agent", kind="agent", parent="team")
        kit.set_budget("c", 30, spender="team", period="day", idempotency_key="budget-team")
        kit.set_budget("c", 12, spender="agent", period="hour", idempotency_key="budget-agent")
        with pytest.MonkeyPatch.context() as patch:
            if reference:
                patch.setattr(lean, "plan", lambda *_args: None)
            for batch in schedule:
                outcomes = kit.charge_many(batch)
                answers.append([_comparable(outcome) for outcome in outcomes])
                clock.advance(timedelta(minutes=17))
        assert kit.audit().ok
    finally:
        kit.close()
    return answers


def _comparable(outcome: Any) -> Any:
    if isinstance(outcome, Charge):
        return (outcome, outcome.available_after)
    return (type(outcome).__name__, str(outcome))


def _schedule(seed: int) -> list[list[ChargeRequest]]:
    rng = random.Random(seed)
    batches = []
    for batch in range(12):
        size = rng.choice([1, 1, 2, 5, 9])
        requests = []
        for index in range(size):
            usd = rng.random() < 0.2
            customer = rng.choice(["a", "b", "c"])
            requests.append(
                ChargeRequest(
                    customer,
                    rng.choice(["0.25", "1.10"]) if usd else rng.randint(1, 13),
                    f"k{batch}-{index}" if rng.random() < 0.9 else f"k{batch}-0",
                    unit="usd" if usd else "credits",
                    action=rng.choice([None, "ask", 'q"uote ü']),
                    metadata=rng.choice([{}, {"n": index, "é": "x"}]),
                    spender=rng.choice([None, "team", "agent"]) if customer == "c" else None,
                )
            )
        batches.append(requests)
    return batches


@pytest.mark.parametrize("seed", range(6))
def test_lean_path_writes_what_the_reference_path_writes(tmp_path: Path, seed: int) -> None:
    schedule = _schedule(seed)
    answers = _run(tmp_path / "lean.db", schedule, reference=False)
    expected = _run(tmp_path / "reference.db", schedule, reference=True)
    assert answers == expected
    assert _dump(tmp_path / "lean.db") == _dump(tmp_path / "reference.db")


def test_lean_path_takes_plain_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lean path is the one plain charges take (the test above would pass without it)."""
    taken: list[int] = []
    plan = lean.plan

    def spy(*args: Any) -> Any:
        decided = plan(*args)
        taken.append(0 if decided is None else len(decided.columns))
        return decided

    monkeypatch.setattr(lean, "plan", spy)
    with CreditKit(f"sqlite:///{tmp_path / 'k.db'}") as kit:
        kit.create_customer("a")
        kit.grant("a", 10, idempotency_key="g")
        kit.create_spender("a", "agent", kind="agent")
        kit.set_budget("a", 5, spender="agent", idempotency_key="b")
        kit.charge_many([ChargeRequest("a", 2, "k1", spender="agent"), ChargeRequest("a", 3, "k2")])
        kit.charge_many([ChargeRequest("a", 9, "k3")])  # short: the reference path refuses it
        refused = kit.charge_many([ChargeRequest("a", 4, "k4", spender="agent")])  # over budget
        assert type(refused[0]).__name__ == "BudgetExceeded"
        assert [budget.used for budget in kit.budgets("a", spender="agent")] == [2]
    assert taken == [2, 0, 0]


def test_request_text_is_the_reference_encoding() -> None:
    for customer, unit, action, metadata, spender in [
        ("a", "credits", None, {}, None),
        ('q"uote\\ü\n', "usd", "ask ✓", {"n": 1, "é": [1, None]}, 'a"gent ✓'),
    ]:
        fields = {"customer": customer, "unit": unit, "amount": 7, "action": action}
        fields |= {"metadata": metadata} | ({} if spender is None else {"spender": spender})
        reference = Request("k", TransactionKind.CHARGE, fields).encode()
        text = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False)
        prefix = lean.request_prefix(customer, unit)
        assert lean.request_text(prefix, 7, action, text, spender) == reference


def test_batch_outcomes_behave_as_a_list(ck: CreditKit) -> None:
    ck.grant("u1", 10, idempotency_key="g1")
    outcomes = ck.charge_many(
        [ChargeRequest("u1", 2, "k1"), ChargeRequest("u1", 0, "k2"), ChargeRequest("u1", 3, "k3")]
    )
    assert len(outcomes) == 3
    listed = list(outcomes)
    assert outcomes == listed and listed == list(outcomes[:])
    assert isinstance(outcomes[1], InvalidAmount) and outcomes[-1] == listed[2]
    assert outcomes[1:] == listed[1:] and outcomes[::2] == [listed[0], listed[2]]
    assert list(outcomes.errors()) == [1]
    assert [c.amount for c in outcomes if isinstance(c, Charge)] == [2, 3]
    with pytest.raises(IndexError):
        outcomes[3]
    refused = ck.charge_many([ChargeRequest("u1", 1, "k4"), ChargeRequest("u1", 9, "k5")])
    assert list(refused.errors()) == [1] and isinstance(refused[1], InsufficientCredits)
