"""A new user's path, as the README tells it, with no edits: a fresh ``git clone`` of this
repository, ``make demo``, the README's embedded example as written, then ``make serve`` on a
free port and docs/api.md's curl session against it (its two blanks filled as a reader would:
the admin key serve printed, and the port chosen); ``make serve`` with a seed's catalog, and
``.venv/bin/creditkit link`` making links to the port it was given; and the README's install
from the clone into a fresh virtual environment outside it, then the README's snippets run from
empty folders with that install.

The clone reuses the venv that runs this suite rather than installing another (minutes, and the
network): its ``.venv`` is a link to it, ``INSTALLED`` names a stamp newer than the clone's
pyproject.toml so that make's real ``demo`` and ``serve`` targets run without reinstalling, and
``PYTHONPATH`` puts the clone's own ``src`` first, so the code run is the clone's. It clones the
committed HEAD: what a new user gets. About 40 seconds; ``first_hour`` marks it."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
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
#: A Python block with the line above it, where a partial one says so (as tests/docs reads them).
SNIPPET = re.compile(r"(?P<before>[^\n]*)\n```python\n(?P<code>.*?)\n```", re.DOTALL)
SKIP_MARKER = "<!-- skip: partial"

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


@contextmanager
def _make_serve(
    clone: Path, environment: dict[str, str], *variables: str
) -> Iterator[tuple[int, str]]:
    """``make serve PORT=… [VARIABLE=…]`` in the clone: its port and the admin key it printed."""
    port = _free_port()
    process = subprocess.Popen(
        ["make", "serve", f"PORT={port}", *variables],
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


@pytest.fixture(scope="module")
def served(clone: Path, environment: dict[str, str]) -> Iterator[tuple[int, str]]:
    """``make serve PORT=…`` in the clone: its port and the admin key it printed."""
    with _make_serve(clone, environment) as (port, key):
        yield port, key


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


def _section(text: str, title: str) -> str:
    """A README section: from its ``## title`` to the next ``## ``."""
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : None if end == -1 else end]


def _outside_environment(venv: Path) -> dict[str, str]:
    """A shell in the app's virtual environment: nothing of the checkout on the path."""
    variables = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("CREDITKIT_") and name not in {"PYTHONPATH", "VIRTUAL_ENV"}
    }
    path = os.pathsep.join([str(venv / "bin"), variables.get("PATH", "")])
    return {**variables, "PATH": path, "VIRTUAL_ENV": str(venv)}


@pytest.fixture(scope="module")
def installed(clone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's install, as a new user's app runs it: a fresh virtual environment outside
    the checkout, then the README's own pip command, from the folder that holds the clone (it
    names it ``creditkit/``). The package is built from the clone and installed as the README
    says; its dependencies, which the index would give, are this suite's, reached through a
    ``.pth`` line and ``--no-deps`` (fast, and no network beyond the configured index)."""
    readme = (clone / "README.md").read_text(encoding="utf-8")
    block = SHELL_BLOCK.search(_section(readme, "Install it in your app"))
    assert block is not None, "README.md's install section holds no shell block"
    command = shlex.split(block[1].splitlines()[0], comments=True)
    assert command[:2] == ["pip", "install"] and command[2].endswith("[engine]"), command
    venv = tmp_path_factory.mktemp("app") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=60)
    site_packages = subprocess.run(
        [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True, timeout=STEP_TIMEOUT_SECONDS,
    ).stdout.strip()  # fmt: skip
    dependencies = sysconfig.get_path("purelib")  # a plain path: its .pth files are not read
    (Path(site_packages) / "suite-dependencies.pth").write_text(dependencies + "\n")
    _run([*command, "--no-deps", "--quiet"], clone.parent, _outside_environment(venv))
    return venv


def test_the_readme_install_then_its_snippets_from_any_folder(
    clone: Path, installed: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    environment = _outside_environment(installed)
    python = str(installed / "bin" / "python")
    where = _run(
        [python, "-c", "import creditkit; print(creditkit.__file__)"], Path("/"), environment
    )
    assert where.startswith(str(installed)), f"creditkit is not the installed one: {where}"
    # After make demo the README says the command is .venv/bin/creditkit; here, the app's venv's.
    assert _run([str(installed / "bin" / "creditkit"), "--version"], Path("/"), environment)
    readme = (clone / "README.md").read_text(encoding="utf-8")
    blocks = [
        match["code"]
        for match in SNIPPET.finditer(_section(readme, "Use it"))
        if not match["before"].startswith(SKIP_MARKER)
    ]
    assert len(blocks) >= 2, "README.md's 'Use it' lost its runnable snippets"
    outputs = []
    for number, code in enumerate(blocks):
        folder = tmp_path_factory.mktemp(f"snippet{number}")  # empty, outside the checkout
        (folder / "snippet.py").write_text(code, encoding="utf-8")
        outputs.append(_run([python, "snippet.py"], folder, environment))
    assert outputs[0].splitlines()[-1] == "60 True"  # the README's own comment says so


def test_make_serve_takes_a_catalog_and_link_follows_its_port(
    clone: Path, environment: dict[str, str], tmp_path: Path
) -> None:
    """``make serve PORT=… CATALOG=…`` serves a seed's catalog; ``.venv/bin/creditkit link``
    afterwards (as the README says to run the CLI) makes links to that port, with no
    ``CREDITKIT_PORT`` anywhere. A ledger of its own (the environment's database URL, which
    both commands read alike) keeps it apart from the other serve of this module."""
    separate = {**environment, "CREDITKIT_DATABASE_URL": f"sqlite:///{tmp_path / 'seed.db'}"}
    seed = "CATALOG=examples/seed_002_devops_agent/catalog.yaml"
    with _make_serve(clone, separate, seed) as (port, key):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/catalog/plans", headers={"Authorization": f"Bearer {key}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            plans = [plan["id"] for plan in json.load(answer)]
        assert plans == ["free", "starter", "professional", "business"]  # seed 002's tiers
        _run(
            ["curl", "-sf", f"localhost:{port}/v1/customers", "-H", f"Authorization: Bearer {key}",
             "-H", "Idempotency-Key: create-dev", "-H", "Content-Type: application/json",
             "-d", '{"id": "dev"}'],
            clone, separate,
        )  # fmt: skip
        link = _run([".venv/bin/creditkit", "link", "dev"], clone, separate)
    assert link.startswith(f"http://127.0.0.1:{port}/app/session?code="), link
