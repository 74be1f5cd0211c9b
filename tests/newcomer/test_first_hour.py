"""A new user's path, as the README tells it, with no edits: a fresh ``git clone`` of this
repository, ``make demo``, the README's embedded example as written, then ``make serve`` on a
free port and docs/api.md's curl session against it (its two blanks filled as a reader would:
the admin key serve printed, and the port chosen).

The clone reuses the venv that runs this suite rather than installing another (minutes, and the
network): its ``.venv`` is a link to it, ``INSTALLED`` names a stamp newer than the clone's
pyproject.toml so that make's real ``demo`` and ``serve`` targets run without reinstalling, and
``PYTHONPATH`` puts the clone's own ``src`` first, so the code run is the clone's. It clones the
committed HEAD: what a new user gets. About 20 seconds; ``first_hour`` marks it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
VENV = Path(sys.executable).parent.parent
#: Each step's bound; the whole path stays under a minute.
STEP_TIMEOUT_SECONDS = 40
SERVE_START_SECONDS = 20
ADMIN_KEY = re.compile(r"created an admin API key \(shown once, store it\): (\S+)")
#: Fenced blocks at the start of a line (an indented one, in a list, is another's).
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)\n```$", re.DOTALL | re.MULTILINE)
SHELL_BLOCK = re.compile(r"^```sh\n(.*?)\n```$", re.DOTALL | re.MULTILINE)

pytestmark = pytest.mark.first_hour


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (ROOT / ".git").exists():
        pytest.fail(f"{ROOT} is not a git checkout: a new user's path starts from a clone")
    where = tmp_path_factory.mktemp("newcomer") / "creditkit"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(where)], check=True, timeout=60)
    (where / ".venv").symlink_to(VENV)
    return where


@pytest.fixture(scope="module")
def environment(clone: Path) -> dict[str, str]:
    stamp = clone.parent / "installed-stamp"
    stamp.touch()  # newer than the clone's pyproject.toml: make does not reinstall
    os.utime(stamp, (time.time() + 60, time.time() + 60))
    variables = {name: value for name, value in os.environ.items() if name != "CREDITKIT_PORT"}
    return {**variables, "PYTHONPATH": str(clone / "src"), "MAKEFLAGS": f"INSTALLED={stamp}"}


def _run(command: list[str], clone: Path, environment: dict[str, str]) -> str:
    result = subprocess.run(
        command,
        cwd=clone,
        env=environment,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def served(clone: Path, environment: dict[str, str]) -> Iterator[tuple[int, str]]:
    """``make serve PORT=…`` in the clone: its port and the admin key it printed."""
    port = _free_port()
    process = subprocess.Popen(
        ["make", "serve", f"PORT={port}"],
        cwd=clone,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # make's children end with it
    )
    try:
        assert process.stdout is not None
        key = None
        deadline = time.monotonic() + SERVE_START_SECONDS
        said: list[str] = []
        while key is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            said.append(line)
            found = ADMIN_KEY.search(line)
            key = None if found is None else found[1]
        assert key is not None, "make serve printed no admin key:\n" + "".join(said)
        _wait_for_health(port, deadline)
        yield port, key
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STEP_TIMEOUT_SECONDS)


def _wait_for_health(port: int, deadline: float) -> None:
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # a real server starting, not the clock under test


def test_make_demo_runs_in_a_fresh_clone(clone: Path, environment: dict[str, str]) -> None:
    output = _run(["make", "demo"], clone, environment)
    assert "audit: ok" in output


def test_the_readme_embedded_example_runs_as_written(
    clone: Path, environment: dict[str, str]
) -> None:
    readme = (clone / "README.md").read_text(encoding="utf-8")
    use_it = readme[readme.index("## Use it") :]
    example = PYTHON_BLOCK.search(use_it)
    assert example is not None, "README.md's 'Use it' holds no Python block"
    (clone / "example.py").write_text(example[1], encoding="utf-8")
    output = _run([".venv/bin/python", "example.py"], clone, environment)
    assert output.splitlines()[-1] == "60 True"  # the README's own comment says so


def test_make_serve_answers_the_api_docs_curl_charge(
    clone: Path, environment: dict[str, str], served: tuple[int, str]
) -> None:
    port, key = served
    api = (clone / "docs" / "api.md").read_text(encoding="utf-8")
    session = next(block for block in SHELL_BLOCK.findall(api) if "/v1/charges" in block)
    # The two blanks the doc leaves to the reader: the key serve printed, and the port chosen.
    script = "\n".join(line for line in session.splitlines() if not line.startswith("KEY="))
    script = script.replace("localhost:8000", f"localhost:{port}")
    output = _run(["bash", "-euo", "pipefail", "-c", script], clone, {**environment, "KEY": key})
    # The free plan's 100 credits, less the image the charge generated (10 credits).
    assert '"available_after":90' in output.replace(" ", "")
    assert output.rstrip().endswith("}") and '"available":90' in output.replace(" ", "")
