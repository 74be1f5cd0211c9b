"""Every user mistake: one line ``creditkit: …`` on stderr, a non-zero exit, no traceback; the
traceback only with ``--debug``. Run as the user runs it: the installed command, in a process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import TIMEOUT_SECONDS, one_line, run

CLIENT_SCRIPT = Path(__file__).parents[2] / "examples" / "integrations" / "client_script.py"


@pytest.mark.parametrize(
    "arguments",
    [
        ("serve", "--catalog", "nope.yaml"),
        ("worker", "--once", "--catalog", "nope.yaml"),
        ("import", "users.csv", "--catalog", "nope.yaml"),
    ],
)
def test_a_missing_catalog_file(tmp_path: Path, arguments: tuple[str, ...]) -> None:
    (tmp_path / "users.csv").write_text("customer\nann\n", encoding="utf-8")
    one_line(run(*arguments, cwd=tmp_path), "--catalog", "nope.yaml", "bundled")


def test_a_missing_csv(tmp_path: Path) -> None:
    one_line(run("import", "users.csv", cwd=tmp_path), "users.csv", "columns")


def test_a_path_for_a_database_url(tmp_path: Path) -> None:
    line = one_line(run("keys", "list", "--database-url", "credits.db", cwd=tmp_path))
    assert "sqlite:///credits.db" in line
    assert not (tmp_path / "credits.db").exists()


def test_an_unreachable_postgresql(tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"postgresql://postgres@127.0.0.1:{port}/creditkit"
    one_line(run("migrate", "--database-url", url, cwd=tmp_path), "refused", "running")


def test_a_missing_postgresql_database(tmp_path: Path) -> None:
    url = "postgresql://postgres:secret@127.0.0.1:5432/creditkit_no_such_database"
    line = one_line(run("keys", "list", "--database-url", url, cwd=tmp_path), "does not exist")
    assert "secret" not in line


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = run("--debug", "import", "users.csv", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_a_wrong_flag_is_one_line_too(tmp_path: Path) -> None:
    one_line(run("serve", "--port", "eighty", cwd=tmp_path), "--port", "--help")


def test_serve_on_a_taken_port_fails_before_serving(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--payments", "sandbox", "--port", str(port), cwd=tmp_path)
    line = one_line(result, str(port), "--port")
    assert "serving" not in line


def test_demo_refuses_a_ledger_with_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'real.db'}"
    assert run("import", "users.csv", "--database-url", url, cwd=tmp_path).returncode != 0
    (tmp_path / "users.csv").write_text("customer,credits\nalice,5\n", encoding="utf-8")
    assert run("import", "users.csv", "--database-url", url, cwd=tmp_path).returncode == 0
    one_line(run("demo", "--database-url", url, cwd=tmp_path), "already holds customers")
    listed = run("link", "bob", "--database-url", url, cwd=tmp_path)
    one_line(listed, "bob")  # the demo wrote nothing: no bob


def test_the_client_script_without_a_key(tmp_path: Path) -> None:
    clean = {name: value for name, value in os.environ.items() if name != "CREDITKIT_API_KEY"}
    result = subprocess.run(
        [sys.executable, str(CLIENT_SCRIPT)],
        env=clean,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    one_line(result, "CREDITKIT_API_KEY")


def test_version_help_and_defaults(tmp_path: Path) -> None:
    assert run("--version", cwd=tmp_path).stdout.startswith("creditkit ")
    top = run("--help", cwd=tmp_path).stdout
    assert "`" not in top
    serve_help = " ".join(run("serve", "--help", cwd=tmp_path).stdout.split())
    assert "else 127.0.0.1" in serve_help and "else 8000" in serve_help


def test_every_command_defaults_to_one_database(tmp_path: Path) -> None:
    (tmp_path / "users.csv").write_text("customer,plan\nann,free\n", encoding="utf-8")
    result = run("import", "users.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.endswith("\n")  # the progress bar ends its line
    assert (tmp_path / "creditkit.db").exists()
    assert not (tmp_path / "credits.db").exists()
    assert run("migrate", cwd=tmp_path).stdout == "sqlite:///creditkit.db: schema is up to date\n"
    link = run("link", "ann", cwd=tmp_path, CREDITKIT_PORT="8123")
    assert link.stdout.startswith("http://127.0.0.1:8123/app/session?code=ckx_")


def test_the_import_doc_runs_as_written(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "docs" / "import.md").read_text(encoding="utf-8")
    example = text.split("```\ncustomer,")[1].split("```")[0]
    (tmp_path / "users.csv").write_text("customer," + example, encoding="utf-8")
    first = run("import", "users.csv", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "2 rows: 2 customers created, 2 subscribed, 1 granted" in first.stdout
    again = run("import", "users.csv", cwd=tmp_path)
    assert "0 customers created, 0 subscribed, 0 granted, 2 already done" in again.stdout
