"""examples/agents: an orchestrator with sub-agents under a workspace with per-member budgets,
streaming calls on extended holds, a GPU worker on a lease; runs as written, on both
databases, and leaves the ledger it says."""

import importlib.util
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import ModuleType

from creditkit import CreditKit

EXAMPLE = Path(__file__).parents[2] / "examples" / "agents"
RUN_TIMEOUT_SECONDS = 120


def _scenario() -> ModuleType:
    spec = importlib.util.spec_from_file_location("agents_scenario", EXAMPLE / "scenario.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_scenario_leaves_the_ledger_it_says(database_url: str) -> None:
    lines: list[str] = []
    scenario = _scenario()
    ck: CreditKit = scenario.run(database_url, say=lines.append)
    try:
        text = "\n".join(lines)
        assert "searcher: streamed 18 chunks, 54 credits" in text
        assert "writer: streamed 25 chunks, 75 credits" in text
        assert "403 budget_exceeded: bob's cap 300, used 270" in text
        assert "research and everything under it: 219 credits" in text
        start, end = scenario.START, ck.now() + timedelta(seconds=1)
        by_spender = ck.usage_breakdown("acme", by="spender", start=start, end=end)
        assert [(g.key, g.spent) for g in by_spender.groups] == [
            ("triage", 270),
            ("research", 90),  # its own 10 and the GPU worker's lease, 80
            ("writer", 75),
            ("searcher", 54),
        ]
        [bob] = ck.budgets("acme", spender="bob")
        assert (bob.cap, bob.used) == (300, 270)
        alice = {budget.period: budget for budget in ck.budgets("acme", spender="alice")}
        assert (alice["month"].cap, alice["month"].used) == (1_500, 219)
        assert ck.holds("acme") == ()  # every hold of the run settled
        assert ck.balance("acme").available == 5_000 - 219 - 270
        assert ck.audit().ok
    finally:
        ck.close()


def test_the_scenario_runs_as_written(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE / "scenario.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "audit clean: True" in result.stdout
