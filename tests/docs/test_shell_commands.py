"""Every ``creditkit …`` command the docs show runs as written.

A fenced sh/bash/console block of README.md or docs/*.md that holds ``creditkit`` commands runs
them in order, each block in a fresh directory (so a fresh SQLite ledger, ``creditkit.db``), with
no ``CREDITKIT_*`` setting from the caller's environment; each must exit 0. A file a document
shows for its commands is written beside them when the line above its block says
``<!-- file: NAME -->``. A block that cannot run here says why just above itself:
``<!-- skip: serves (…) -->`` for a command that runs until stopped, ``<!-- skip: illustrative
(…) -->`` for one that names the reader's own servers or ids. Commands quoted in the prose
(`` `creditkit keys create --name NAME …` ``) are checked against the CLI's own parser, their
upper-case placeholders filled in."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from creditkit.cli.parser import build_parser

ROOT = Path(__file__).parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CREDITKIT = Path(sys.executable).parent / "creditkit"
FENCE = re.compile(
    r"(?P<before>[^\n]*)\n(?P<indent>[ ]*)```(?P<language>[a-z]*)\n(?P<body>.*?)\n(?P=indent)```",
    re.DOTALL,
)
SHELLS = {"sh", "bash", "console", "shell"}
SKIP = re.compile(r"<!-- skip: (serves|illustrative) \((?P<reason>[^)]+)\) -->")
FILE = re.compile(r"<!-- file: (?P<name>[\w.-]+) -->")
INLINE = re.compile(r"`(creditkit [a-z][^`]*)`")
PLACEHOLDER = re.compile(r"\b[A-Z][A-Z_]+\b")
TIMEOUT_SECONDS = 60


def _commands(body: str) -> list[str]:
    """The block's ``creditkit`` commands: continuation lines joined, comments and prompts
    dropped."""
    logical = re.sub(r"\\\n\s*", " ", body)
    found = []
    for line in logical.splitlines():
        command = line.strip().removeprefix("$ ")
        command = re.split(r"\s+#", command, maxsplit=1)[0].strip()
        if command.split(" ", 1)[0].endswith("creditkit"):
            found.append(command)
    return found


def _blocks() -> list[tuple[str, list[str], dict[str, str], str | None]]:
    """Each shell block with commands: its name, commands, the document's files, skip reason."""
    found = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        fences = list(FENCE.finditer(text))
        files = {
            named["name"]: fence["body"] + "\n"
            for fence in fences
            if (named := FILE.search(fence["before"])) is not None
        }
        for fence in fences:
            commands = _commands(fence["body"]) if fence["language"] in SHELLS else []
            if not commands:
                continue
            line = text.count("\n", 0, fence.start("body")) + 1
            skip = SKIP.search(fence["before"])
            reason = None if skip is None else f"{skip[1]}: {skip['reason']}"
            found.append((f"{document.relative_to(ROOT)}:{line}", commands, files, reason))
    return found


BLOCKS = _blocks()


def _inline_commands() -> list[tuple[str, str]]:
    found = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for match in INLINE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{document.relative_to(ROOT)}:{line}", " ".join(match[1].split())))
    return found


INLINE_COMMANDS = _inline_commands()


def test_the_documents_show_commands_that_run() -> None:
    assert len([block for block in BLOCKS if block[3] is None]) >= 3


@pytest.mark.parametrize(
    ("name", "commands", "files", "skip"), BLOCKS, ids=[block[0] for block in BLOCKS]
)
def test_the_block_runs(
    tmp_path: Path, name: str, commands: list[str], files: dict[str, str], skip: str | None
) -> None:
    if skip is not None:
        pytest.skip(f"{name} is marked {skip}")
    for file_name, content in files.items():
        (tmp_path / file_name).write_text(content, encoding="utf-8")
    environment = {
        variable: value
        for variable, value in os.environ.items()
        if not variable.startswith("CREDITKIT_")
    }
    for command in commands:
        words = shlex.split(command)
        result = subprocess.run(
            [str(CREDITKIT), *words[1:]],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
        assert result.returncode == 0, f"{name}: {command}\n{result.stdout}\n{result.stderr}"


def test_prose_quotes_commands() -> None:
    assert len(INLINE_COMMANDS) >= 10


@pytest.mark.parametrize(
    ("name", "command"), INLINE_COMMANDS, ids=[name for name, _command in INLINE_COMMANDS]
)
def test_a_quoted_command_parses(name: str, command: str) -> None:
    # Optional parts in brackets are taken; a placeholder (CUSTOMER, KEY_ID) gets a value.
    filled = PLACEHOLDER.sub("1", command.replace("[", "").replace("]", ""))
    words = shlex.split(filled)[1:]
    if words and words[-1] == "…":
        words = words[:-1]
    if len(words) == 1:  # a command named in a sentence ("run `creditkit worker`"): it exists
        choices = re.search(r"\{([^}]*)\}", build_parser().format_usage())
        assert choices is not None
        assert words[0] in choices[1].split(","), f"{name}: there is no `creditkit {words[0]}`"
        return
    try:
        build_parser().parse_args(words)
    except SystemExit as refused:
        pytest.fail(f"{name}: `{command}` is refused by the CLI (exit {refused.code})")
