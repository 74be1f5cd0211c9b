"""An agent platform on creditkit: a workspace whose members run an orchestrator with
sub-agents, each a spender under its member, within per-member budgets; sub-agents stream LLM
answers on holds taken under the orchestrator's and extended as they grow, settled in parts; a
GPU worker spends on a lease under the same run; a member's agent stopped by its budget; then
the spending by spender and by subtree.

Run: python examples/agents/scenario.py
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from creditkit import BudgetExceeded, CreditKit, ManualClock

CATALOG = Path(__file__).with_name("catalog.yaml")
START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
WORKSPACE = "acme"
#: Credits a streamed answer may run to before its hold is extended again.
EXTEND_STEP = 40


def tokens(chunks: int, credits_per_chunk: int) -> Iterator[int]:
    """A streamed LLM answer: what each chunk costs (a real model's usage, in credits)."""
    yield from [credits_per_chunk] * chunks


def stream_on_hold(
    ck: CreditKit, hold_id: int, key: str, chunks: Iterator[int], capture_every: int
) -> int:
    """Spends a streaming answer on its hold: extends the hold before a chunk would pass it,
    captures every ``capture_every`` credits (partial commits), settles the rest at the end."""
    spent = captured = 0
    for cost in chunks:
        hold = ck.hold(hold_id)
        if spent - captured + cost > hold.remaining:
            ck.extend(hold_id, EXTEND_STEP, idempotency_key=f"{key}:extend:{spent}")
        spent += cost
        if spent - captured >= capture_every:
            ck.commit(
                hold_id, spent - captured, final=False, idempotency_key=f"{key}:capture:{spent}"
            )
            captured = spent
    ck.commit(hold_id, spent - captured, idempotency_key=f"{key}:final")
    return spent


def run(database_url: str, say: Callable[[str], object] = print) -> CreditKit:
    """Plays the scenario on ``database_url`` and returns the CreditKit (tests read it)."""
    clock = ManualClock(START)
    ck = CreditKit(database_url, catalog=CATALOG, clock=clock)

    say("1. A Team workspace (5,000 credits a month); Alice and Bob are members (spenders).")
    ck.create_customer(WORKSPACE, kind="workspace")
    for user, role in (("alice", "owner"), ("bob", "editor")):
        ck.create_customer(user, subscribe=False)
        ck.add_member(WORKSPACE, user, role)
    # Each member's own budget caps everything spent under it: its agents and theirs.
    ck.set_budget(WORKSPACE, 1_500, spender="alice", period="month", idempotency_key="alice-month")
    ck.set_budget(WORKSPACE, 300, spender="bob", period="month", idempotency_key="bob-month")
    for budget in (*ck.budgets(WORKSPACE, spender="alice"), *ck.budgets(WORKSPACE, spender="bob")):
        say(f"   {budget.spender}: {budget.cap} a {budget.period}")

    say("2. Alice's orchestrator and its sub-agents, and Bob's agent, each a spender.")
    ck.create_spender(WORKSPACE, "research", kind="agent", parent="alice")
    ck.create_spender(WORKSPACE, "searcher", kind="sub_agent", parent="research")
    ck.create_spender(WORKSPACE, "writer", kind="sub_agent", parent="research")
    ck.create_spender(WORKSPACE, "triage", kind="agent", parent="bob")
    ck.set_budget(WORKSPACE, 600, spender="research", period="hour", idempotency_key="r-hour")

    say("3. The orchestrator reserves 400 for the run; sub-agents hold under it and stream.")
    run_hold = ck.reserve(
        WORKSPACE, 400, spender="research", timeout_seconds=900, idempotency_key="run-1"
    )
    searched = 0
    for step, (agent, chunks) in enumerate((("searcher", 18), ("writer", 25))):
        child = ck.reserve(
            WORKSPACE,
            30,
            parent=run_hold.id,
            spender=agent,
            action="llm_call",
            idempotency_key=f"run-1:{agent}",
        )
        spent = stream_on_hold(ck, child.id, f"run-1:{agent}", tokens(chunks, 3), 25)
        searched += spent
        say(f"   {agent}: streamed {chunks} chunks, {spent} credits (held 30, extended as it grew)")
        clock.advance(minutes=2 + step)

    say("4. A GPU worker renders on a lease under the run (the run's spender's): it counts")
    say("   locally and reports in batches, never more than the lease past what the ledger knows.")
    with ck.lease(
        WORKSPACE, 60, batch=20, parent=run_hold.id, action="gpu_second", idempotency_key="gpu-1"
    ) as lease:
        for _second in range(40):
            lease.spend(2)
    say(f"   the run has {ck.hold(run_hold.id).remaining} of its 400 left")
    ck.commit(run_hold.id, 10, idempotency_key="run-1:final")  # the orchestrator's own calls
    say(f"   run settled: {searched} by sub-agents, 80 by the GPU worker, 10 by the orchestrator")

    say("5. Bob's triage agent runs into Bob's 300 a month: refused, naming the budget.")
    clock.advance(minutes=5)
    for call in range(4):
        try:
            ck.charge(WORKSPACE, 90, spender="triage", idempotency_key=f"triage-{call}")
        except BudgetExceeded as refused:
            say(
                f"   403 budget_exceeded: {refused.spender}'s cap {refused.cap}, used"
                f" {refused.used}, resets {refused.resets_at:%b %d}"
            )

    say("6. Who spent what this morning, and the research subtree.")
    start, end = START, clock() + timedelta(seconds=1)
    for group in ck.usage_breakdown(WORKSPACE, by="spender", start=start, end=end).groups:
        say(f"   {group.key or 'the workspace'} ({group.kind}): {group.spent} credits")
    tree = ck.usage_summary(WORKSPACE, period=(start, end), spender="research", subtree=True)
    say(f"   research and everything under it: {tree.spent} credits in {tree.charges} spends")
    say(f"   balance {ck.balance(WORKSPACE).available}; audit clean: {ck.audit().ok}")
    return ck


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        run(f"sqlite:///{folder}/agents.db").close()
    sys.exit(0)
