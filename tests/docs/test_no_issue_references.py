"""Docs speak to users: no page, example or docstring refers to the project's own history
("issue 4", "issues 12 and 13", "#12"), which a reader has no way to look up."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
#: What users read: the README, docs/, examples/ (code and READMEs), and the package's source,
#: whose docstrings are its reference.
READ_BY_USERS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").rglob("*.md")),
    *sorted(
        path
        for path in (ROOT / "examples").rglob("*")
        if path.suffix in {".md", ".py", ".yaml", ".ts", ".tsx", ".js", ".html"}
        and "node_modules" not in path.parts
    ),
    *sorted((ROOT / "src" / "creditkit").rglob("*.py")),
]
ISSUE_REFERENCE = re.compile(r"\b(?:issues?|ticket|PR)\s*#?\d+\b|(?<![\w&/])#\d+\b", re.IGNORECASE)


def test_the_pattern_finds_what_it_forbids() -> None:
    for text in ("payments, issue 4.", "(Issue #12)", "see #7", "issues 12 and 13"):
        assert ISSUE_REFERENCE.search(text), text
    for text in ("color: #fff", "&#39;", "http://x/#top", "a 402 answer", "step 4"):
        assert not ISSUE_REFERENCE.search(text), text


def test_no_doc_or_example_mentions_an_issue() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in READ_BY_USERS
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ISSUE_REFERENCE.search(line)
    ]
    assert found == [], "\n".join(found)
