"""What the CLI tests share: the installed command, run as a user runs it, in a process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

COMMAND = str(Path(sys.executable).with_name("creditkit"))
TIMEOUT_SECONDS = 60


def clean_environment() -> dict[str, str]:
    """This process's environment without creditkit's settings: a test gives its own."""
    return {name: value for name, value in os.environ.items() if not name.startswith("CREDITKIT")}


def run(*arguments: str, cwd: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COMMAND, *arguments],
        cwd=cwd,
        env={**clean_environment(), **environment},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )


def one_line(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode != 0, result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("creditkit: ")
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]
    return lines[0]
