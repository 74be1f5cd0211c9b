"""creditkit's layers, and a test that no module imports from a layer above its own.

A module may import from its own layer and from any layer below, never from one above: the
ledger knows nothing of subscriptions, a service nothing of the HTTP API, the API nothing of the
server that mounts it. From the bottom up (README.md, "Layout", says the same):

0. foundation: errors, amounts, clock, the store (tables, database, migrations), the outbox
   (event types, and the write of an event in the transaction of its change), the derived
   idempotency keys, the value types of token pricing, the sealing of secrets at rest;
1. the ledger: grants, holds, charges, transfers, corrections, history;
2. the catalog and pricing: plans, packs, actions, units and what a model call costs;
3. subscriptions and API keys;
4. entitlements, usage, payments (a payment renews a subscription);
5. notify (webhooks, alerts, the worker) and analytics, which read every service;
6. metering: ``metered``, ``metered_tokens``, ``lease``, the surface the kit and the client share;
7. the kit (``CreditKit``) and the client (``Client``);
8. the HTTP API's routers, and the events stream (which ingests through the kit);
9. the web pages (on the API's sessions and problems), and the integrations (FastAPI, Flask:
   the API's problem bodies around an app's metered routes);
10. the server: the API and the pages assembled on one app, and its settings;
11. the commands (``creditkit``: serve, worker, demo, import) and the package's own names.

Each module's layer is the one of the longest prefix of its name in ``LAYERS``; a module no
prefix names fails the test, so that a new package is placed on purpose.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import creditkit

SOURCE = Path(creditkit.__file__).parent

#: Module name prefix: layer (0 the lowest). The longest matching prefix wins.
LAYERS: dict[str, int] = {
    "creditkit.errors": 0,
    "creditkit.amounts": 0,
    "creditkit.clock": 0,
    "creditkit.engine_extra": 0,
    "creditkit.version": 0,
    "creditkit.derived_keys": 0,
    "creditkit.store": 0,
    "creditkit.outbox": 0,
    # The value types of token pricing, that a charge records (TokenPrice) and the catalog
    # declares (TokenPricing): they import nothing of creditkit but errors.
    "creditkit.pricing.schemas": 0,
    # Sealing secrets at rest, and its errors: API keys and webhook endpoints both seal theirs,
    # and a migration refuses to run without the key.
    "creditkit.notify.errors": 0,
    "creditkit.notify.sealing": 0,
    # The events stream's refusals, that the client rebuilds from an answer's body as it does
    # every package's errors: like them, it imports nothing of creditkit but errors.
    "creditkit.events.errors": 0,
    # Its operator reads as values (the kit's and the client's), importing nothing of creditkit.
    "creditkit.events.schemas": 0,
    # The parked events' table and its writes: the store and the outbox only, so that the kit
    # lists what the workers parked in its database.
    "creditkit.events.repository": 0,
    "creditkit.ledger": 1,
    "creditkit.catalog": 2,
    "creditkit.pricing": 2,
    "creditkit.subscriptions": 3,
    "creditkit.keys": 3,
    "creditkit.entitlements": 4,
    "creditkit.usage": 4,
    "creditkit.payments": 4,
    "creditkit.notify": 5,
    "creditkit.analytics": 5,
    "creditkit.metering": 6,
    "creditkit.kit": 7,
    "creditkit.client": 7,
    "creditkit.api": 8,
    "creditkit.events": 8,
    "creditkit.web": 9,
    "creditkit.integrations": 9,
    "creditkit.server": 10,
    # `creditkit events`: the command that runs the stream's nodes with the server's settings.
    "creditkit.events.command": 11,
    "creditkit.cli": 11,
    "creditkit.cli_errors": 11,
    "creditkit.command": 11,
    "creditkit.demo": 11,
    "creditkit.importer": 11,
    # The package itself: ``from creditkit import CreditKit, Client, ...`` names every layer.
    "creditkit": 11,
}


@dataclass(frozen=True, slots=True)
class Edge:
    importer: str
    imported: str
    line: int


def module_name(path: Path, source: Path = SOURCE) -> str:
    parts = list(path.relative_to(source.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    """The layer of the longest prefix in ``LAYERS`` that names ``module`` or a package of it
    (``creditkit`` alone names the package's ``__init__`` only)."""
    parts = module.split(".")
    for end in range(len(parts), 1, -1):
        layer = LAYERS.get(".".join(parts[:end]))
        if layer is not None:
            return layer
    return LAYERS["creditkit"] if module == "creditkit" else None


def module_path(module: str, source: Path) -> Path | None:
    base = source.parent.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imports_of(path: Path, source: Path = SOURCE) -> list[Edge]:
    """Every ``import creditkit...`` and ``from creditkit... import`` in the file (relative ones
    resolved), at any depth: an import inside a function or under TYPE_CHECKING still ties the
    layers together. ``from package import name`` counts as importing ``package.name`` when that
    is a module, and ``package`` otherwise."""
    importer = module_name(path, source)
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    edges = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            edges += [Edge(importer, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                packages = package.split(".")
                base = packages[: len(packages) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                is_module = module_path(submodule, source) is not None
                edges.append(Edge(importer, submodule if is_module else target, node.lineno))
    return [edge for edge in edges if edge.imported.split(".")[0] == "creditkit"]


def upward_imports(source: Path = SOURCE) -> list[str]:
    upward = []
    for path in sorted(source.rglob("*.py")):
        for edge in imports_of(path, source):
            importer_layer, imported_layer = layer_of(edge.importer), layer_of(edge.imported)
            assert importer_layer is not None and imported_layer is not None, edge
            if imported_layer > importer_layer:
                upward.append(
                    f"{edge.importer} (layer {importer_layer}) imports {edge.imported} "
                    f"(layer {imported_layer}) at line {edge.line}"
                )
    return upward


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(
        module_name(path) for path in SOURCE.rglob("*.py") if layer_of(module_name(path)) is None
    )
    assert unplaced == []


def test_no_import_runs_up_the_layers() -> None:
    assert upward_imports() == []


def test_an_upward_import_is_found_at_any_depth_and_relative(tmp_path: Path) -> None:
    """The walk is held to a small tree with one upward import of each shape, and one legal."""
    source = tmp_path / "creditkit"
    (source / "ledger").mkdir(parents=True)
    (source / "api").mkdir()
    for package in (source, source / "ledger", source / "api"):
        (package / "__init__.py").write_text("")
    (source / "api" / "problems.py").write_text("")
    (source / "ledger" / "kernel.py").write_text(
        "from creditkit.errors import InvalidRequest\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    import creditkit.kit\n"
        "def late():\n"
        "    from ..api import problems\n"
    )
    (source / "errors.py").write_text("")
    assert upward_imports(source) == [
        "creditkit.ledger.kernel (layer 1) imports creditkit.kit (layer 7) at line 4",
        "creditkit.ledger.kernel (layer 1) imports creditkit.api.problems (layer 8) at line 6",
    ]


def test_a_module_no_prefix_names_has_no_layer() -> None:
    assert layer_of("creditkit.nowhere") is None
    assert layer_of("creditkit") == 11
    assert layer_of("creditkit.pricing.schemas") == 0
    assert layer_of("creditkit.pricing.service") == 2
    assert layer_of("creditkit.events.command") == 11
    assert layer_of("creditkit.events.worker") == 8
