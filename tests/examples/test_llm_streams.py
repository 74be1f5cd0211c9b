"""examples/llm_streams: an OpenAI-style and an Anthropic-style answer streamed from the fake
model provider and billed by their tokens through ``metered_tokens``; each moves the balance
by exactly the price of the tokens the provider reported, on both databases, and runs as
written. The expected price is worked out here from genai-prices' own calculator, apart from
creditkit's pricing: the USD, times the markup 1.25, times 1,000 credits a dollar, rounded up
to the cent."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from genai_prices import Usage, calc_price

from creditkit import CreditKit, TransactionKind

EXAMPLE = Path(__file__).parents[2] / "examples" / "llm_streams"
RUN_TIMEOUT_SECONDS = 120


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"llm_streams_{name}", EXAMPLE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SERVER = _module("fake_model_server")


@pytest.fixture
def served() -> Iterator[Any]:
    """The fake provider, answering what each example asks for with its own reply."""
    servers: list[Any] = []

    def serve(reply: str, cache_read_tokens: int = 0) -> Any:
        servers.append(SERVER.FakeModelServer(reply, cache_read_tokens=cache_read_tokens).start())
        return servers[-1]

    yield serve
    for server in servers:
        server.stop()


def _credits(example: ModuleType, usage: Usage, provider: str) -> Decimal:
    price = calc_price(
        usage, example.MODEL, provider_id=provider, genai_request_timestamp=example.START
    )
    credits = price.total_price * Decimal("1.25") * 1000
    return credits.quantize(Decimal("0.01"), rounding=ROUND_CEILING)


def _charged(ck: CreditKit, customer: str) -> Decimal:
    [commit] = [i for i in ck.history(customer).items if i.kind is TransactionKind.COMMIT]
    assert commit.metadata["token_price"]["model"]  # the price it was charged at, recorded
    return Decimal(commit.amount)


def test_the_openai_stream_is_billed_its_reported_tokens(database_url: str, served: Any) -> None:
    example = _module("openai_stream")
    server = served(example.REPLY)
    lines: list[str] = []
    ck: CreditKit = example.run(database_url, server.url, say=lines.append)
    try:
        input_tokens = len(example.PROMPT.split())
        output_tokens = len(example.REPLY.split())
        expected = _credits(
            example, Usage(input_tokens=input_tokens, output_tokens=output_tokens), "openai"
        )
        assert expected > 0
        assert _charged(ck, "alice") == expected
        assert ck.balance("alice").available == 100 - expected
        # 32 output tokens held at first, 88 streamed: grown twice, by 32 each time.
        assert f"streamed {output_tokens} chunks; the hold grew 2 times" in lines
        assert ck.holds("alice") == ()
        assert ck.audit().ok
    finally:
        ck.close()


def test_the_anthropic_stream_is_billed_its_reported_tokens(database_url: str, served: Any) -> None:
    example = _module("anthropic_stream")
    server = served(example.REPLY, example.CACHE_READ_TOKENS)
    ck: CreditKit = example.run(database_url, server.url, say=lambda _line: None)
    try:
        input_tokens = len(example.SYSTEM.split()) + len(example.PROMPT.split())
        usage = Usage(
            input_tokens=input_tokens,  # genai-prices counts cache reads within the input
            cache_read_tokens=example.CACHE_READ_TOKENS,
            output_tokens=len(example.REPLY.split()),
        )
        expected = _credits(example, usage, "anthropic")
        assert expected > 0
        assert _charged(ck, "bob") == expected
        assert ck.balance("bob").available == 100 - expected
        assert ck.holds("bob") == ()
        assert ck.audit().ok
    finally:
        ck.close()


@pytest.mark.parametrize("name", ["openai_stream", "anthropic_stream"])
def test_the_examples_run_as_written(tmp_path: Path, name: str) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE / f"{name}.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "audit clean: True" in result.stdout
