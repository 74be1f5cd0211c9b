"""The runnable examples in examples/integrations/, run: the FastAPI and Flask apps on both
ledgers, and the Client script against a real ``creditkit serve`` process."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from fastapi.testclient import TestClient

from creditkit import CreditKit, ManualClock
from creditkit.integrations import Metering
from creditkit.keys.schemas import Scope
from creditkit.server.serve import example_catalog

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples" / "integrations"
#: How long ``creditkit serve`` may take to answer its first request.
SERVE_START_SECONDS_MAX = 30.0


def example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def assistant_kit(database_url: str, clock: ManualClock) -> Iterator[CreditKit]:
    """The FastAPI example's kit: the bundled example catalog."""
    kit = CreditKit(database_url, catalog=example_catalog(), clock=clock)
    yield kit
    kit.close()


def test_the_fastapi_example(kit: CreditKit, ledger: Metering) -> None:
    app = example("fastapi_app").build_app(ledger)
    headers = {"X-User": "alice"}
    with TestClient(app) as http:
        assert http.post("/signup", headers=headers).json() == {"user": "alice", "credits": 100}
        assert http.post("/chat", json={"message": "hi"}, headers=headers).status_code == 200
        assert http.get("/balance", headers=headers).json()["credits"] == 99
        kit.charge("alice", 99, idempotency_key="spent-elsewhere")
        refused = http.post("/chat", json={"message": "hi"}, headers=headers)
    assert refused.status_code == 402
    assert refused.json()["upgrade_to"] == "pro"


def test_the_fastapi_examples_summary_commits_what_it_cost(
    assistant_kit: CreditKit,
) -> None:
    app = example("fastapi_app").build_app(assistant_kit)
    headers = {"X-User": "alice"}
    with TestClient(app) as http:
        http.post("/signup", headers=headers)
        summary = http.post("/summarize", json={"text": "x" * 2_500}, headers=headers)
        assert summary.json()["credits"] == 15  # 3 started thousands, 5 credits each
        assert assistant_kit.balance("alice").available == 85
        with pytest.raises(ValueError, match="too long"):
            http.post("/summarize", json={"text": "x" * 4_001}, headers=headers)
    assert assistant_kit.balance("alice").available == 85
    assert assistant_kit.balance("alice").held == 0


def test_the_flask_example(database_url: str, clock: ManualClock) -> None:
    module = example("flask_app")
    kit = CreditKit(database_url, catalog=module.CATALOG, clock=clock)
    headers = {"X-User": "dev@example.com"}
    with module.build_app(kit).test_client() as http:

        def chat(message: str) -> int:
            return http.post("/api/chat", json={"message": message}, headers=headers).status_code

        assert http.post("/api/signup", headers=headers).get_json() == {"credits": 20}
        assert (chat("deploy api"), chat("status?")) == (200, 200)
        assert http.get("/api/credits", headers=headers).get_json() == {"credits": 14}
        assert chat("") == 400  # an error answer is not charged
        assert chat("deploy all") == 200
        assert [chat("hi") for _message in range(5)] == [200] * 5
        refused_deploy = http.post("/api/chat", json={"message": "deploy"}, headers=headers)
        assert refused_deploy.status_code == 402  # 4 credits left: a deploy needs 5
        assert [chat("hi") for _message in range(4)] == [200] * 4
        assert http.get("/api/credits", headers=headers).get_json() == {"credits": 0}
        refused = http.post("/api/chat", json={"message": "hi"}, headers=headers)
    # Seed 002: "Chat blocked at 0 credits", and not before: every credit was spent on messages.
    assert refused.status_code == 402
    problem = refused.get_json(force=True)
    assert (problem["available"], problem["required"]) == (0, 1)
    assert problem["upgrade_to"] == "starter"
    assert kit.balance("dev@example.com").held == 0
    kit.close()


def test_the_flask_example_charges_messages_until_exactly_zero(
    database_url: str, clock: ManualClock
) -> None:
    """The seed's user sends 1-credit messages: 20 are answered, the 21st is the first 402."""
    module = example("flask_app")
    kit = CreditKit(database_url, catalog=module.CATALOG, clock=clock)
    headers = {"X-User": "ops@example.com"}
    with module.build_app(kit).test_client() as http:
        http.post("/api/signup", headers=headers)
        statuses = [
            http.post("/api/chat", json={"message": f"m{n}"}, headers=headers).status_code
            for n in range(21)
        ]
    assert statuses == [200] * 20 + [402]
    assert kit.balance("ops@example.com").available == 0
    kit.close()


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def creditkit_serve(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``creditkit serve`` in a process of its own on the test's database, with the bundled
    catalog; yields its base URL and a secret key."""
    kit = CreditKit(database_url)
    secret = kit.keys.create_key("example", Scope.ADMIN).secret
    kit.close()
    port = free_port()
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    with (tmp_path / "serve.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "creditkit.cli", "serve", "--payments", "sandbox",
             "--database-url", database_url, "--port", str(port)],
            cwd=tmp_path, env=environment, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_until_answering(base_url, process)
            yield base_url, secret
        finally:
            process.terminate()
            process.wait(SERVE_START_SECONDS_MAX)


def wait_until_answering(base_url: str, process: subprocess.Popen[bytes]) -> None:
    """A process starts on its own time: poll its health check, within a deadline."""
    deadline = time.monotonic() + SERVE_START_SECONDS_MAX
    while time.monotonic() < deadline:
        assert process.poll() is None, "creditkit serve exited"
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"creditkit serve did not answer within {SERVE_START_SECONDS_MAX}s")


def test_the_client_script_against_creditkit_serve(creditkit_serve: tuple[str, str]) -> None:
    base_url, secret = creditkit_serve
    said: list[str] = []
    example("client_script").run(base_url, secret, said.append)
    assert said[:5] == [
        "1. alice signed up: 100 credits (the free plan)",
        "2. an image (10 credits): 90 left",
        "3. a summary held 20, cost 7: 83 left",
        "4. 500 refused, 83 available: buy credits_500, credits_2000, credits_10000, or plan pro",
        "5. after buying a pack: 583 credits",
    ]
    again: list[str] = []
    example("client_script").run(base_url, secret, again.append)
    # Every write replayed its first outcome: the same balance, the same history.
    assert again[4:] == said[4:]
