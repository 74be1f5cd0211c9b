"""``pip install creditkit`` is the HTTP client alone; the engine is the ``engine`` extra.

The distribution is built from this checkout (``pip wheel --no-deps``, from a copy of its
sources, so the checkout gets no ``build/``) and installed without extras into a fresh venv,
resolving httpx from the package index ``make`` uses (pip's own configuration). In that venv the
client works against a creditkit served by this suite, none of the engine's libraries can be
imported, and the engine's entry points (``from creditkit import CreditKit``, the ``creditkit``
command) fail with the one error naming the extra. A build or install that cannot run fails
these tests; it never skips them. About 25 seconds, most of it the wheel's build environment.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from creditkit.engine_extra import ENGINE_MODULES, INSTALL_ENGINE

ROOT = Path(__file__).parents[2]
SOURCES = ("pyproject.toml", "README.md", "LICENSE")
#: Building the wheel installs setuptools into pip's build environment; installing resolves
#: httpx and its dependencies. Either may wait on the package index.
INSTALL_TIMEOUT_SECONDS = 120
RUN_TIMEOUT_SECONDS = 30
#: The base distribution's one library; flask is the app's own, for creditkit.integrations.flask.
BASE_MODULES = frozenset({"httpx"})
APP_MODULES = frozenset({"flask"})
#: The error's text after what needs the engine: the first engine library the import missed
#: (which one depends on import order), and the install command.
_ENGINE_MISSING = re.compile(
    "needs creditkit's engine, which is not installed"
    f" \\(no module named '(?:{'|'.join(sorted(ENGINE_MODULES))})'\\): {re.escape(INSTALL_ENGINE)}"
)


def _run(command: list[str], cwd: Path, timeout_seconds: int) -> subprocess.CompletedProcess[str]:
    """``command`` run outside this suite's venv: no PYTHONPATH, so only what it installs."""
    environment = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    return subprocess.run(
        command,
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout_seconds,
        check=False,
    )


def _succeeded(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def client_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with ``pip install creditkit`` (the wheel of this checkout, no extras);
    its ``bin`` folder."""
    where = tmp_path_factory.mktemp("client-install")
    source = where / "source"
    shutil.copytree(
        ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
    )
    for name in SOURCES:
        shutil.copy2(ROOT / name, source / name)
    wheels = where / "wheels"
    _succeeded(
        _run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
             str(wheels), str(source)],
            where,
            INSTALL_TIMEOUT_SECONDS,
        )
    )  # fmt: skip
    [wheel] = wheels.glob("creditkit-*.whl")
    venv = where / "venv"
    # Without a pip of its own (ensurepip takes longer than the rest): this suite's pip installs
    # into it, with the same configuration and index.
    _succeeded(
        _run(
            [sys.executable, "-m", "venv", "--without-pip", str(venv)],
            where,
            INSTALL_TIMEOUT_SECONDS,
        )
    )
    bin_folder = venv / "bin"
    _succeeded(
        _run(
            [sys.executable, "-m", "pip", "--python", str(bin_folder / "python"), "install",
             "--quiet", str(wheel)],
            where,
            INSTALL_TIMEOUT_SECONDS,
        )
    )  # fmt: skip
    return bin_folder


def _python(bin_folder: Path, code: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    # Run from the venv's folder, not the checkout: the checkout's sources stay out of sys.path.
    command = [str(bin_folder / "python"), "-c", code, *arguments]
    return _run(command, bin_folder.parent, RUN_TIMEOUT_SECONDS)


def test_the_base_install_has_httpx_and_none_of_the_engine(client_only: Path) -> None:
    code = (
        "import importlib.util, json, sys; "
        "print(json.dumps({name: importlib.util.find_spec(name) is not None "
        "for name in sys.argv[1:]}))"
    )
    names = sorted(ENGINE_MODULES | BASE_MODULES)
    importable = json.loads(_succeeded(_python(client_only, code, *names)))
    assert {name for name, found in importable.items() if found} == set(BASE_MODULES)
    for name in ("sqlalchemy", "psycopg", "alembic"):
        result = _python(client_only, f"import {name}")
        assert result.returncode == 1, name
        assert f"No module named '{name}'" in result.stderr, name


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The served kit on SQLite only (the PostgreSQL half adds nothing to an install's test)."""
    return f"sqlite:///{tmp_path / 'ledger.db'}"


def test_the_client_alone_calls_a_served_creditkit(
    client_only: Path, base_url: str, secret: str
) -> None:
    code = """
import sys
from creditkit.client import Client
with Client(sys.argv[1], sys.argv[2]) as client:
    client.create_customer("alice")
    answer = client.charge("alice", action="chat_message", idempotency_key="install-1")
    print(answer.available_after, client.balance("alice").available)
print(sorted(name for name in ("sqlalchemy", "psycopg", "alembic", "yaml") if name in sys.modules))
"""
    output = _succeeded(_python(client_only, code, base_url, secret))
    # The free plan's 100-credit allowance (tests/client/catalog.yaml), less one chat message.
    assert output.splitlines() == ["99 99", "[]"]


def test_the_embedded_kit_without_the_extra_names_the_extra(client_only: Path) -> None:
    result = _python(client_only, "from creditkit import CreditKit")
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert _ENGINE_MISSING.fullmatch(last_line.removeprefix("ModuleNotFoundError: CreditKit ")), (
        last_line
    )


def test_the_command_without_the_extra_prints_one_line(client_only: Path) -> None:
    for arguments in (["demo"], ["serve", "--port", "1"], ["--help"]):
        result = _run([str(client_only / "creditkit"), *arguments], client_only.parent, 30)
        assert result.returncode == 1, arguments
        assert result.stdout == "", arguments
        [line] = result.stderr.splitlines()
        assert _ENGINE_MISSING.fullmatch(line.removeprefix("creditkit: the creditkit command ")), (
            line
        )


def _imported_libraries() -> Iterator[str]:
    """The top-level names of the libraries ``src/creditkit`` imports (neither the standard
    library nor creditkit)."""
    for path in (ROOT / "src" / "creditkit").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top not in sys.stdlib_module_names and top != "creditkit":
                    yield top


def test_the_engine_modules_are_the_libraries_the_engine_imports() -> None:
    # So that a library the engine starts to use without listing it in ENGINE_MODULES (and in
    # pyproject.toml's engine extra) is caught here, not by a user's bare ModuleNotFoundError.
    assert set(_imported_libraries()) == ENGINE_MODULES | BASE_MODULES | APP_MODULES
