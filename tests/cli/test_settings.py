"""Every command reads its settings as serve does (a flag, then $CREDITKIT_…, then --config,
then the defaults), through one reader; and what serve was given reaches the commands run
after it: ``creditkit link`` makes links to the port serve answers on."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import COMMAND, clean_environment, one_line, run

from creditkit import CreditKit
from creditkit.cli.options import settings_of
from creditkit.cli.parser import build_parser

SERVE_START_SECONDS = 30


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    """Every runnable command's words (``serve``, ``keys list``, …)."""
    found = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found = True
            for name, subparser in action.choices.items():
                yield from _commands(subparser, (*path, name))
    if not found:
        yield path


def _flags(words: tuple[str, ...]) -> set[str]:
    parser = build_parser()
    for word in words:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[word]
    return {option for action in parser._actions for option in action.option_strings}


POSITIONALS = {
    "link": ["ann"],
    "import": ["users.csv"],
    "keys revoke": ["key_1"],
    "keys create": ["--name", "app"],
    "webhooks rotate": ["7"],
    "revoke-sessions": ["ann"],
    "reset-period": ["ann", "--reason", "support", "--idempotency-key", "reset-1"],
}
#: ``demo`` writes a scripted month to a new ledger of its own: its --database-url is where,
#: not the settings serve reads.
WITH_DATABASE = [
    words
    for words in _commands(build_parser())
    if "--database-url" in _flags(words) and words != ("demo",)
]


def test_the_commands_that_find_the_ledger_are_known() -> None:
    names = {" ".join(words) for words in WITH_DATABASE}
    assert {"serve", "worker", "link", "migrate", "import", "keys list"} <= names


@pytest.mark.parametrize("words", WITH_DATABASE, ids=[" ".join(w) for w in WITH_DATABASE])
def test_every_command_reads_settings_alike(
    words: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "--config" in _flags(words), "a command that takes settings takes --config too"
    config = tmp_path / "creditkit.toml"
    config.write_text('database_url = "sqlite:///from-config.db"\nport = 8765\n', encoding="utf-8")
    argv = [*words, *POSITIONALS.get(" ".join(words), []), "--config", str(config)]
    for name in list(os.environ):
        if name.startswith("CREDITKIT_"):
            monkeypatch.delenv(name)

    def settings(*more: str) -> tuple[str, int]:
        read = settings_of(build_parser().parse_args([*argv, *more]))
        return read.database_url, read.port

    assert settings() == ("sqlite:///from-config.db", 8765)
    monkeypatch.setenv("CREDITKIT_DATABASE_URL", "sqlite:///from-environment.db")
    monkeypatch.setenv("CREDITKIT_PORT", "8123")
    assert settings() == ("sqlite:///from-environment.db", 8123)
    from_flags = settings("--database-url", "sqlite:///from-flag.db")
    assert from_flags[0] == "sqlite:///from-flag.db"
    if "--port" in _flags(words):
        assert settings("--port", "9001")[1] == 9001


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[int]:
    """``creditkit serve`` on a port of its own, as ``make serve PORT=…`` runs it, in
    ``tmp_path`` (its default ledger, creditkit.db, there)."""
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [COMMAND, "serve", "--payments", "sandbox", "--port", str(port)],
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
        env=clean_environment(),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + SERVE_START_SECONDS
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "creditkit serve did not answer"
                time.sleep(0.1)  # a real server starting, not the clock under test
        yield port
    finally:
        process.terminate()
        process.wait(SERVE_START_SECONDS)
        log.close()


def test_link_makes_links_to_the_port_serve_was_given(served: int, tmp_path: Path) -> None:
    with CreditKit(f"sqlite:///{tmp_path / 'creditkit.db'}") as kit:
        kit.create_customer("ann")
    link = run("link", "ann", cwd=tmp_path)
    assert link.returncode == 0, link.stderr
    assert link.stdout.startswith(f"http://127.0.0.1:{served}/app/session?code=")
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with browser.open(link.stdout.strip(), timeout=10) as page:
        # The link names the account it opens at that serve, and asks first.
        assert page.status == 200 and b"Continue to ann" in page.read()
    origin = f"http://127.0.0.1:{served}"
    confirmed = urllib.request.Request(
        f"{origin}/app/session",
        data=urllib.parse.urlencode({"code": link.stdout.strip().split("code=")[1]}).encode(),
        headers={"Origin": origin},
    )
    with browser.open(confirmed, timeout=10) as page:
        # Confirmed: the customer's pages (its session cookie, then /app).
        assert page.status == 200 and page.url.endswith("/app")
    # A port given to link itself (its flag, $CREDITKIT_PORT, --config) is still the one used.
    assert run("link", "ann", cwd=tmp_path, CREDITKIT_PORT="8123").stdout.startswith(
        "http://127.0.0.1:8123/"
    )
    assert run("link", "ann", "--port", "8124", cwd=tmp_path).stdout.startswith(
        "http://127.0.0.1:8124/"
    )


@pytest.mark.parametrize(
    "arguments",
    [
        ("serve", "--payments", "sandbox"),
        ("worker", "--once"),
        ("keys", "list"),
        ("link", "ann"),
        ("migrate",),
        ("import", "users.csv"),
    ],
    ids=lambda arguments: arguments[0],
)
def test_a_bare_file_name_as_the_database_url(tmp_path: Path, arguments: tuple[str, ...]) -> None:
    """The mistake is the missing sqlite:///, whatever the command (serve used to answer that
    PostgreSQL needs a secret key)."""
    (tmp_path / "users.csv").write_text("customer,plan\nann,free\n", encoding="utf-8")
    line = one_line(run(*arguments, "--database-url", "credits.db", cwd=tmp_path))
    assert "database_url" in line and "sqlite:///credits.db" in line, line
    assert "SECRET_KEY" not in line and "PostgreSQL needs" not in line
    assert not (tmp_path / "credits.db").exists()
