"""Every fenced Python block in README.md and docs/*.md runs as written, each in a fresh, empty
directory outside the repository (so a fresh ledger, and nothing of the checkout's beside it: a
catalog is named as a reader can from any folder, ``creditkit.example_catalog(...)``). A block
that is deliberately partial says so just above itself with ``<!-- skip: partial (why) -->``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(?P<before>[^\n]*)\n```python\n(?P<code>.*?)\n```", re.DOTALL)
SKIP_MARKER = "<!-- skip: partial"
TIMEOUT_SECONDS = 120


def _blocks() -> list[tuple[str, str, bool]]:
    found = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start("code"))
            name = f"{document.relative_to(ROOT)}:{line}"
            found.append((name, match["code"], match["before"].startswith(SKIP_MARKER)))
    return found


BLOCKS = _blocks()


def test_the_documents_hold_python_blocks() -> None:
    assert len([name for name, _code, skipped in BLOCKS if not skipped]) >= 3


@pytest.mark.parametrize(("name", "code", "skipped"), BLOCKS, ids=[b[0] for b in BLOCKS])
def test_the_block_runs(tmp_path: Path, name: str, code: str, skipped: bool) -> None:
    if skipped:
        pytest.skip(f"{name} is marked partial")
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, f"{name}:\n{result.stderr}"
