"""The TypeScript client (clients/typescript, npm ``@creditkit/client``) against a live
``creditkit serve --payments sandbox`` on SQLite: its types are the ones openapi-typescript
makes from today's OpenAPI document, it compiles under ``tsc --strict``, and its node tests
(``npm test``: the seed 001 and seed 003 flows, retries, errors, middleware, webhooks) and the
blocks of docs/typescript.md pass against one server started here for the whole run.

Node and npm are part of the project's tooling (``make test`` installs the package's lock):
without them these tests fail rather than skip."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

from test_two_processes import create_admin_key, server

from creditkit import CreditKit
from creditkit.server import create_app

PACKAGE = Path(__file__).resolve().parents[2] / "clients" / "typescript"
DOCUMENT = PACKAGE.parents[1] / "docs" / "typescript.md"
#: docs/typescript.md's blocks, written where ``npm test`` compiles and runs them.
DOCS_TESTS = PACKAGE / "test" / "docs"
BLOCK = re.compile(r"(?P<before>[^\n]*)\n```ts\n(?P<code>.*?)\n```", re.DOTALL)
SKIP_MARKER = "<!-- skip: partial"
#: The package's entry points as a reader imports them, and as its own tests reach its sources.
IMPORTS = {
    '"@creditkit/client"': '"../../src/index.js"',
    '"@creditkit/client/express"': '"../../src/express.js"',
    '"@creditkit/client/next"': '"../../src/next.js"',
    '"@creditkit/client/webhooks"': '"../../src/webhooks.js"',
}
NPM_TIMEOUT_SECONDS = 600
NODE_TESTS_TIMEOUT_SECONDS = 300
#: The fake model provider the streaming tests (test/metered_tokens.test.ts) call, and the
#: answer it streams them: ten words, ten output tokens.
FAKE_MODEL_SERVER = PACKAGE.parents[1] / "examples" / "llm_streams" / "fake_model_server.py"
FAKE_MODEL_REPLY = "The fake model streams ten words of answer for you."


def _npm() -> str:
    npm = shutil.which("npm")
    assert npm is not None, "npm is not installed: the TypeScript client's tests need node >= 20"
    return npm


def _installed() -> Path:
    """clients/typescript/node_modules, installed from the lock file if it is not yet."""
    stamp = PACKAGE / "node_modules" / ".package-lock.json"
    lock = PACKAGE / "package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(
            [_npm(), "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=PACKAGE,
            check=True,
            timeout=NPM_TIMEOUT_SECONDS,
        )
    return PACKAGE / "node_modules" / ".bin"


def _fake_model_server() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fake_model_server", FAKE_MODEL_SERVER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_its_types_are_generated_from_todays_document(tmp_path: Path) -> None:
    kit = CreditKit(f"sqlite:///{tmp_path / 'document.db'}")
    document = create_app(kit).openapi()
    kit.close()
    tools = _installed()
    (tmp_path / "openapi.json").write_text(json.dumps(document, indent=1))
    generated = tmp_path / "openapi.ts"
    subprocess.run(
        [str(tools / "openapi-typescript"), str(tmp_path / "openapi.json"), "-o", str(generated)],
        cwd=PACKAGE,
        check=True,
        capture_output=True,
        timeout=NPM_TIMEOUT_SECONDS,
    )
    committed = (PACKAGE / "src" / "openapi.ts").read_text()
    assert generated.read_text() == committed, (
        "clients/typescript/src/openapi.ts is stale: run `npm run generate` there on the"
        " document (GET /openapi.json) and commit it"
    )


def _write_document_blocks() -> int:
    """Each block of docs/typescript.md not marked partial as a node test file of its own."""
    shutil.rmtree(DOCS_TESTS, ignore_errors=True)
    DOCS_TESTS.mkdir()
    text = DOCUMENT.read_text(encoding="utf-8")
    written = 0
    for match in BLOCK.finditer(text):
        if match["before"].startswith(SKIP_MARKER):
            continue
        code = match["code"]
        for published, source in IMPORTS.items():
            code = code.replace(f"from {published};", f"from {source};")
        line = text.count("\n", 0, match.start("code")) + 1
        (DOCS_TESTS / f"typescript_md_line_{line}.test.ts").write_text(code + "\n")
        written += 1
    return written


def test_node_tests_pass_against_a_served_sandbox(tmp_path: Path) -> None:
    _installed()
    assert _write_document_blocks() >= 3
    database_url = f"sqlite:///{tmp_path / 'typescript.db'}"
    secret = create_admin_key(database_url)
    catalog = PACKAGE / "test" / "catalog.yaml"
    with (
        server(database_url, tmp_path / "serve.log", catalog=catalog) as url,
        _fake_model_server().FakeModelServer(FAKE_MODEL_REPLY) as model,
    ):
        finished = subprocess.run(
            [_npm(), "test"],
            cwd=PACKAGE,
            env={
                **os.environ,
                "CREDITKIT_URL": url,
                "CREDITKIT_ADMIN_KEY": secret,
                "CREDITKIT_API_KEY": secret,
                "MODEL_URL": model.url,
            },
            capture_output=True,
            text=True,
            timeout=NODE_TESTS_TIMEOUT_SECONDS,
            check=False,
        )
    output = f"{finished.stdout[-6000:]}\n{finished.stderr[-3000:]}"
    assert finished.returncode == 0, f"npm test:\n{output}"
    assert "# fail 0" in finished.stdout
