"""Agent trees on PostgreSQL: 16 real threads each reserve through an agent, nest a sub-agent's
hold under it, commit the child in parts, extend the parent and settle both, every call twice
under its key, against budgets at four levels (the customer, a team, each agent, each sub-agent).

What must hold however they interleave: no level ever passes its cap, each key applies exactly
once, every budget's use at the end is exactly what its subtree spent (what every hold did not
spend was given back, once), and ``audit()`` finds nothing wrong. No test sleeps: threads start
at a barrier and every loop is bounded.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from creditkit import CreditKit, CreditKitError, ManualClock

#: Over 20 s on a loaded machine: run by `make test-slow`.
pytestmark = [pytest.mark.postgres, pytest.mark.slow]

T = TypeVar("T")

WAIT_TIMEOUT_SECONDS = 120
THREADS = 16
TREES_PER_THREAD = 6
SEED = 20_261_208
GRANTED = 5_000
BUDGETS = {"": 1_500, "team": 1_200, "agent_a": 500, "agent_b": 500, "sub_a": 150, "sub_b": 150}
PATHS = {
    "agent_a": ("agent_a", "team", ""),
    "agent_b": ("agent_b", "team", ""),
    "sub_a": ("sub_a", "agent_a", "team", ""),
    "sub_b": ("sub_b", "agent_b", "team", ""),
}
#: The refusals an agent tree may meet under these budgets.
EXPECTED = {"budget_exceeded", "hold_amount_exceeded", "hold_parent_exceeded"}


def _twice(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Sends a write twice under its key: the second answer is the first's."""
    first = call(*args, **kwargs)
    assert call(*args, **kwargs) == first
    return first


def _tree(ck: CreditKit, worker: int, step: int, rng: random.Random, spent: Counter[str]) -> None:
    """One agent tree: its spending is added to ``spent`` per budget level once applied."""
    agent = rng.choice(["agent_a", "agent_b"])
    sub = "sub_" + agent[-1]
    key = f"w{worker}-{step}"
    try:
        parent = _twice(ck.reserve, "org", rng.randint(20, 60), spender=agent, idempotency_key=key)
    except CreditKitError as error:
        assert error.code in EXPECTED, error
        return
    parent_id = parent.id
    committed = {agent: 0, sub: 0}
    try:
        child = _twice(
            ck.reserve, "org", rng.randint(5, 20), spender=sub, parent=parent_id,
            idempotency_key=f"{key}-child",
        )  # fmt: skip
        child_id = child.id
        part = rng.randint(1, 5)
        _twice(ck.commit, child_id, part, final=False, idempotency_key=f"{key}-part")
        committed[sub] += part
        _twice(ck.extend, parent_id, rng.randint(1, 30), idempotency_key=f"{key}-extend")
        rest = rng.randint(0, 4)
        _twice(ck.commit, child_id, rest, idempotency_key=f"{key}-child-final")
        committed[sub] += rest
        last = rng.randint(0, 15)
        _twice(ck.commit, parent_id, last, idempotency_key=f"{key}-final")
        committed[agent] += last
    except CreditKitError as error:
        assert error.code in EXPECTED, error
        # The tree is released whole: each open child first, then the parent.
        _twice(ck.release, parent_id, idempotency_key=f"{key}-release")
    for spender, amount in committed.items():
        for level in PATHS[spender]:
            spent[level] += amount


def test_agent_trees_under_budgets_never_pass_a_level_and_give_back_exactly(
    postgres_url: str,
) -> None:
    ck = CreditKit(postgres_url, clock=ManualClock())
    try:
        ck.create_customer("org")
        ck.grant("org", GRANTED, idempotency_key="grant")
        ck.create_spender("org", "team", kind="project")
        for agent in ("agent_a", "agent_b"):
            ck.create_spender("org", agent, kind="agent", parent="team")
            ck.create_spender("org", "sub_" + agent[-1], kind="sub_agent", parent=agent)
        for spender, cap in BUDGETS.items():
            ck.set_budget("org", cap, spender=spender or None, idempotency_key=f"b-{spender}")
        barrier = threading.Barrier(THREADS)
        totals: list[Counter[str]] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def work(worker: int) -> None:
            try:
                rng = random.Random(SEED + worker)
                spent: Counter[str] = Counter()
                barrier.wait(WAIT_TIMEOUT_SECONDS)
                for step in range(TREES_PER_THREAD):
                    _tree(ck, worker, step, rng, spent)
                with lock:
                    totals.append(spent)
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT_TIMEOUT_SECONDS)
        assert not errors, errors
        assert len(totals) == THREADS
        spent = sum(totals, Counter())
        for level, cap in BUDGETS.items():
            assert spent[level] <= cap, (level, spent[level], cap)
            # Every hold is closed: what a level used is exactly what its subtree spent.
            assert [budget.used for budget in ck.budgets("org", spender=level or None)] == [
                spent[level]
            ], level
        assert ck.holds("org", status="active", limit=100) == ()
        assert ck.balance("org").available == GRANTED - spent[""]
        assert spent["sub_a"] + spent["sub_b"] > 0
        report = ck.audit()
        assert report.ok, report.problems
    finally:
        ck.close()
