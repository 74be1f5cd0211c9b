"""No ``assert`` statement in src/creditkit: ``python -O`` strips them, so an invariant written
as one is not checked where it matters. Invariants raise (``creditkit.errors.require`` and
``present``); caller input raises ``InvalidRequest`` naming the field."""

from __future__ import annotations

import ast
from pathlib import Path

import creditkit

SOURCE = Path(creditkit.__file__).parent


def _asserts_in(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]


def test_no_assert_statements_in_the_source() -> None:
    found = [
        f"{path.relative_to(SOURCE.parent)}:{line}"
        for path in sorted(SOURCE.rglob("*.py"))
        for line in _asserts_in(path)
    ]
    assert found == [], "assert statements (use creditkit.errors.require / present): " + ", ".join(
        found
    )


def test_the_walk_sees_the_source() -> None:
    """The first test passes vacuously if the walk finds nothing: it must find the package's
    modules, the ledger's included."""
    modules = list(SOURCE.rglob("*.py"))
    assert SOURCE / "errors.py" in modules and SOURCE / "ledger" / "kernel.py" in modules
    assert len(modules) > 50


def test_the_walk_finds_an_assert(tmp_path: Path) -> None:
    """The detector itself: an assert nested in a function and a class is found."""
    module = tmp_path / "module.py"
    module.write_text("class A:\n    def f(self):\n        if True:\n            assert 1\n")
    assert _asserts_in(module) == [4]
