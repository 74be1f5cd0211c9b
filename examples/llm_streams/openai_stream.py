"""A chat answer streamed from an OpenAI-style Chat Completions API, billed by its tokens:
the request's prompt and a guess at the answer are held, the hold grows as the answer streams
past the guess, and the final chunk's usage is what is charged.

The model provider is a fake one on a loopback port (fake_model_server.py): no network.

Run: python examples/llm_streams/openai_stream.py
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fake_model_server import FakeModelServer, stream_events

from creditkit import CreditKit, ManualClock

CATALOG = Path(__file__).with_name("catalog.yaml")
START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
MODEL = "gpt-4o"
PROMPT = "Explain in plain words why a ledger should never use floating point numbers for money."
REPLY = " ".join(["Floating point cannot hold most decimal fractions exactly, so sums drift."] * 8)
#: The answer's length the hold is first priced for (the request allows more: max tokens).
OUTPUT_TOKENS_GUESS = 32
MAX_OUTPUT_TOKENS = 512


def run(database_url: str, model_url: str, say: Callable[[str], object] = print) -> CreditKit:
    """Streams one answer from the provider at ``model_url`` for a customer and bills it;
    returns the CreditKit (tests read it)."""
    ck = CreditKit(database_url, catalog=CATALOG, clock=ManualClock(START))
    ck.create_customer("alice")  # the free plan's 100 credits
    say(f"alice has {ck.balance('alice').available} credits")
    body = {
        "model": MODEL,
        "stream": True,
        "stream_options": {"include_usage": True},  # the last chunk says what the call used
        "max_completion_tokens": MAX_OUTPUT_TOKENS,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    # What the call may use, priced and held: the prompt (a word a token here: use the model's
    # tokenizer in real life) and a guess at the answer, below max_completion_tokens.
    request = {
        "model": MODEL,
        "provider": "openai",
        "input_tokens": len(PROMPT.split()),
        "output_tokens": OUTPUT_TOKENS_GUESS,
    }
    answer: list[str] = []
    with ck.metered_tokens("alice", "chat", request, idempotency_key="chat-1") as meter:
        say(f"held {meter.hold.amount if meter.hold else 0} credits for the call")
        for _event, chunk in stream_events(f"{model_url}/v1/chat/completions", body):
            if chunk == "[DONE]":
                break
            for choice in chunk["choices"]:
                if choice["delta"].get("content"):
                    answer.append(choice["delta"]["content"])
                    meter.seen(1)  # a chunk a token: the hold grows before the answer passes it
            if chunk.get("usage"):
                meter.usage = chunk["usage"]
    charge = meter.charge
    say(f"streamed {len(answer)} chunks; the hold grew {meter.extends} times")
    say(f"charged {charge.amount if charge else 0} credits for {meter.usage}")
    say(f"alice has {ck.balance('alice').available} credits; audit clean: {ck.audit().ok}")
    return ck


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder, FakeModelServer(REPLY) as server:
        run(f"sqlite:///{folder}/streams.db", server.url).close()
    sys.exit(0)
