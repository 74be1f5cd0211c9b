"""``@creditkit/client`` as a Node project installs it: the tarball ``make typescript`` builds
(``npm pack`` of clients/typescript), installed into a fresh CommonJS project (``npm init -y``,
``require``) and a fresh ES module project (``"type": "module"``, ``import``), each checked by
``tsc --strict`` against the package's own types and run against a served creditkit.

The install is ``--offline`` (tests reach only the loopback): beside the tarball, the package's
runtime dependencies are packed from clients/typescript/node_modules, that ``npm ci`` installed
from its lock, where a user's ``npm install`` would fetch the same versions from the registry."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from test_two_processes import create_admin_key, server
from test_typescript_client import NPM_TIMEOUT_SECONDS, PACKAGE, _installed, _npm

NODE_TIMEOUT_SECONDS = 120
#: The package's runtime dependencies (package-lock.json's entries not marked dev or peer).
RUNTIME_DEPENDENCIES_MAX = 20

#: The same program in both module systems: a customer (the example catalog gives 100
#: credits on sign-up), a grant of 10, a charge of 3, the balance left.
PROGRAM = """
const credits = new Client(process.env.CREDITKIT_URL!, process.env.CREDITKIT_API_KEY!);
async function main(): Promise<void> {{
  const customer = `{kind}-${{globalThis.crypto.randomUUID().slice(0, 8)}}`;
  await credits.createCustomer(customer);
  await credits.grant(customer, 10);
  const charge = await credits.charge(customer, {{ amount: 3, action: "from_{kind}" }});
  const balance = await credits.balance(customer);
  const available = String(balance.available);
  console.log(JSON.stringify({{ charged: String(charge.amount), available }}));
}}
main().catch((error: unknown) => {{
  console.error(error);
  process.exit(1);
}});
"""


def _pack(folder: Path, destination: Path) -> None:
    subprocess.run(
        [_npm(), "pack", "--pack-destination", str(destination), "--silent"],
        cwd=folder,
        check=True,
        capture_output=True,
        timeout=NPM_TIMEOUT_SECONDS,
    )


@pytest.fixture(scope="module")
def tarballs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The package as ``npm pack`` makes it (its prepack builds both module systems), then its
    runtime dependencies at the lock's versions."""
    _installed()
    destination = tmp_path_factory.mktemp("pack")
    _pack(PACKAGE, destination)
    lock = json.loads((PACKAGE / "package-lock.json").read_text())
    runtime = [
        name
        for name, entry in lock["packages"].items()
        if name and not entry.get("dev") and not entry.get("peer") and not entry.get("devOptional")
    ]
    assert 0 < len(runtime) <= RUNTIME_DEPENDENCIES_MAX, runtime
    for name in runtime:
        _pack(PACKAGE / name, destination)
    (packed,) = destination.glob("creditkit-client-*.tgz")
    return [packed, *sorted(set(destination.glob("*.tgz")) - {packed})]


def _project(root: Path, tarballs: list[Path], module: bool) -> Path:
    root.mkdir()
    subprocess.run([_npm(), "init", "-y"], cwd=root, check=True, capture_output=True)
    manifest = json.loads((root / "package.json").read_text())
    assert manifest.get("type", "commonjs") == "commonjs", "npm init -y makes a CommonJS project"
    if module:
        manifest["type"] = "module"
        (root / "package.json").write_text(json.dumps(manifest, indent=2))
    subprocess.run(
        [_npm(), "install", "--offline", "--no-audit", "--no-fund", *map(str, tarballs)],
        cwd=root,
        check=True,
        capture_output=True,
        timeout=NPM_TIMEOUT_SECONDS,
    )
    return root


def _compile_and_run(root: Path, source: str, entry: str, url: str, secret: str) -> dict[str, str]:
    (root / entry).write_text(source)
    # tsc --strict with NodeNext: the package's types for this project's module system.
    tsconfig = {
        "compilerOptions": {
            "strict": True,
            "target": "ES2022",
            "module": "NodeNext",
            "moduleResolution": "NodeNext",
            "types": [],
            "lib": ["ES2022", "DOM"],
        },
        "files": [entry, "node-globals.d.ts"],
    }
    (root / "node-globals.d.ts").write_text(
        "declare const process: { env: Record<string, string | undefined>;"
        " exit(code: number): never };\n"
    )
    (root / "tsconfig.json").write_text(json.dumps(tsconfig))
    tsc = PACKAGE / "node_modules" / ".bin" / "tsc"
    compiled = subprocess.run(
        [str(tsc), "-p", "."],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_SECONDS,
    )
    assert compiled.returncode == 0, f"tsc --strict:\n{compiled.stdout}{compiled.stderr}"
    program = entry.replace(".ts", ".js")
    finished = subprocess.run(
        ["node", program],
        cwd=root,
        env={**os.environ, "CREDITKIT_URL": url, "CREDITKIT_API_KEY": secret},
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_SECONDS,
    )
    assert finished.returncode == 0, f"node {program}:\n{finished.stdout}{finished.stderr}"
    result: dict[str, str] = json.loads(finished.stdout.strip().splitlines()[-1])
    return result


def test_the_tarball_is_required_and_imported_by_fresh_projects(
    tarballs: list[Path], tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'package.db'}"
    secret = create_admin_key(database_url)
    common = _project(tmp_path / "commonjs", tarballs, module=False)
    esm = _project(tmp_path / "esm", tarballs, module=True)
    required = 'import creditkit = require("@creditkit/client");\nconst { Client } = creditkit;\n'
    imported = 'import { Client } from "@creditkit/client";\n'
    with server(database_url, tmp_path / "serve.log") as url:
        from_require = _compile_and_run(
            common, required + PROGRAM.format(kind="cjs"), "main.ts", url, secret
        )
        from_import = _compile_and_run(
            esm, imported + PROGRAM.format(kind="esm"), "main.ts", url, secret
        )
    assert from_require == {"charged": "3", "available": "107"}
    assert from_import == {"charged": "3", "available": "107"}
    # The CommonJS project really loaded the package with require(), not through a loader.
    assert 'require("@creditkit/client")' in (common / "main.js").read_text()
    assert (
        not (common / "node_modules" / "@creditkit" / "client" / "dist" / "cjs" / "index.js")
        .read_text()
        .startswith("export")
    )
