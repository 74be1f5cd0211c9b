"""The ledger is a posting core and collaborators behind narrow ports, not a tower of mixins:
``LedgerService`` inherits nothing, each domain part is a class of its own that receives the
ports and the other parts it needs, no part reaches into another's internals, and the service's
methods delegate with the signatures of the parts that do the work."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import pytest

import creditkit.ledger
from creditkit.ledger import ports
from creditkit.ledger.corrections import Corrections
from creditkit.ledger.grant_postings import GrantPostings
from creditkit.ledger.grants import Grants
from creditkit.ledger.hold_excess import HoldExcess
from creditkit.ledger.hold_reads import HoldReads
from creditkit.ledger.hold_settlements import HoldSettlements
from creditkit.ledger.holds import Holds
from creditkit.ledger.moves import Moves
from creditkit.ledger.postings import LedgerPostings
from creditkit.ledger.reversals import Reversals
from creditkit.ledger.service import LedgerService
from creditkit.ledger.spenders import Spenders
from creditkit.ledger.statements import Statements

LEDGER = Path(creditkit.ledger.__file__).parent
COLLABORATORS: tuple[type[Any], ...] = (
    Grants,
    GrantPostings,
    HoldReads,
    HoldExcess,
    Holds,
    HoldSettlements,
    Moves,
    Corrections,
    Spenders,
    Reversals,
    Statements,
)
#: The posting core's own chain: the kernel, the timeline, the write path, the writer.
CORE_LAYERS_MAX = 4
#: What a collaborator may not import: the core's classes (it gets the core as ports).
CORE_MODULES = frozenset(
    {"creditkit.ledger.postings", "creditkit.ledger.writes", "creditkit.ledger.timeline"}
)
PORTS = (ports.LedgerReads, ports.Postings, ports.SpendRules)


def _module_of(cls: type[Any]) -> Path:
    return Path(inspect.getfile(cls))


def _private_reaches(path: Path) -> list[str]:
    """``self._part._name``: a part's private attribute reached through another part."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        owner = node.value
        if (
            isinstance(owner, ast.Attribute)
            and isinstance(owner.value, ast.Name)
            and owner.value.id == "self"
        ):
            found.append(f"{path.name}:{node.lineno} self.{owner.attr}.{node.attr}")
    return found


def _parameters(function: Any) -> list[tuple[str, Any, Any]]:
    signature = inspect.signature(function)
    return [(p.name, p.kind, p.default) for p in signature.parameters.values() if p.name != "self"]


def test_the_service_inherits_nothing() -> None:
    assert LedgerService.__mro__ == (LedgerService, object)


@pytest.mark.parametrize("part", COLLABORATORS, ids=lambda part: part.__name__)
def test_each_collaborator_stands_alone(part: type[Any]) -> None:
    assert part.__mro__ == (part, object)


def test_the_posting_core_is_a_short_chain() -> None:
    assert len(LedgerPostings.__mro__) - 1 <= CORE_LAYERS_MAX


def test_the_finder_sees_a_reach_into_another_part(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("a = self._grants._draw\nb = self._grants.draw\nc = self._x\n")
    assert _private_reaches(sample) == ["sample.py:1 self._grants._draw"]


@pytest.mark.parametrize("part", COLLABORATORS, ids=lambda part: part.__name__)
def test_no_collaborator_reaches_into_another(part: type[Any]) -> None:
    assert _private_reaches(_module_of(part)) == []


@pytest.mark.parametrize("part", COLLABORATORS, ids=lambda part: part.__name__)
def test_no_collaborator_imports_the_core(part: type[Any]) -> None:
    tree = ast.parse(_module_of(part).read_text(encoding="utf-8"))
    imported = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module is not None
    }
    assert imported & CORE_MODULES == set()


@pytest.mark.parametrize("port", PORTS, ids=lambda port: port.__name__)
def test_the_core_answers_each_port_as_declared(port: type[Any]) -> None:
    declared = [
        name
        for name, member in vars(port).items()
        if inspect.isfunction(member) and not name.startswith("_")
    ]
    assert declared
    for name in declared:
        assert _parameters(getattr(LedgerPostings, name)) == _parameters(getattr(port, name)), name


def test_the_service_delegates_with_the_parts_signatures() -> None:
    parts: tuple[type[Any], ...] = (*COLLABORATORS, LedgerPostings)
    delegated = 0
    for name, member in vars(LedgerService).items():
        if name.startswith("_") or not inspect.isfunction(member):
            continue
        owners = [part for part in parts if callable(getattr(part, name, None))]
        assert owners, f"LedgerService.{name} delegates to no part"
        assert _parameters(member) == _parameters(getattr(owners[0], name)), name
        delegated += 1
    assert delegated >= 40
