"""The database and the clock are handed to each part at construction (the kit wires them), not
reached through the ledger: outside creditkit/ledger no code reads ``ledger.database`` or
``ledger.now``, so a part's collaborators are the ones its constructor names. And the clock the
parts are handed is checked as the ledger's is."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

import creditkit
from creditkit import InvalidRequest
from creditkit.clock import checked_clock

SOURCE = Path(creditkit.__file__).parent
#: What reaching through the ledger looks like: an attribute ``database`` or ``now`` of a name
#: or attribute called ``ledger`` or ``_ledger``.
REACHED = frozenset({"database", "now"})
LEDGER_NAMES = frozenset({"ledger", "_ledger"})


def _reaches_in(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or node.attr not in REACHED:
            continue
        owner = node.value
        name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
        if name in LEDGER_NAMES:
            found.append(node.lineno)
    return found


def test_the_finder_sees_a_reach_through_the_ledger(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("a = self._ledger.database\nb = ledger.now()\nc = self._database\n")
    assert _reaches_in(sample) == [1, 2]


def test_no_part_outside_the_ledger_reaches_its_database_or_clock() -> None:
    ledger = SOURCE / "ledger"
    found = [
        f"{path.relative_to(SOURCE.parent)}:{line}"
        for path in sorted(SOURCE.rglob("*.py"))
        if ledger not in path.parents
        for line in _reaches_in(path)
    ]
    assert found == []


def test_the_checked_clock_answers_in_utc_and_refuses_a_naive_time() -> None:
    east = timezone(timedelta(hours=2))
    assert checked_clock(lambda: datetime(2026, 1, 1, 2, tzinfo=east))() == datetime(
        2026, 1, 1, tzinfo=UTC
    )
    with pytest.raises(InvalidRequest) as refused:
        checked_clock(lambda: datetime(2026, 1, 1))()
    assert refused.value.field == "clock"
