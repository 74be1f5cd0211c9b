"""A chat answer streamed from an Anthropic-style Messages API, billed by its tokens: the
request's maximum (its prompt and its ``max_tokens``) is held, so the answer can never pass the
hold; the usage the stream reports (input and cache reads in ``message_start``, output in
``message_delta``) is what is charged, and the rest of the hold goes back.

The model provider is a fake one on a loopback port (fake_model_server.py): no network.

Run: python examples/llm_streams/anthropic_stream.py
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from fake_model_server import FakeModelServer, stream_events

from creditkit import CreditKit, ManualClock

CATALOG = Path(__file__).with_name("catalog.yaml")
START = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
MODEL = "claude-sonnet-4-20250514"
SYSTEM = "You are a careful accountant. Answer in two sentences at most."
PROMPT = "Why does a prepaid credit ledger hold credits before a model call rather than after?"
REPLY = (
    "Holding first sets the credits aside while the call runs, so the customer cannot spend"
    " them twice. What the call did not use goes back as soon as it ends."
)
MAX_TOKENS = 256
#: Prompt tokens the provider read from its prompt cache (the system prompt, sent before).
CACHE_READ_TOKENS = 12


def run(database_url: str, model_url: str, say: Callable[[str], object] = print) -> CreditKit:
    """Streams one answer from the provider at ``model_url`` for a customer and bills it;
    returns the CreditKit (tests read it)."""
    ck = CreditKit(database_url, catalog=CATALOG, clock=ManualClock(START))
    ck.create_customer("bob")  # the free plan's 100 credits
    body = {
        "model": MODEL,
        "stream": True,
        "max_tokens": MAX_TOKENS,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    # The most the call can use, priced and held: the prompt (a word a token here: use the
    # model's tokenizer in real life) and max_tokens.
    request = {
        "model": MODEL,
        "provider": "anthropic",
        "input_tokens": len(SYSTEM.split()) + len(PROMPT.split()),
        "output_tokens": MAX_TOKENS,
    }
    usage: dict[str, Any] = {}
    with ck.metered_tokens("bob", "chat", request, idempotency_key="message-1") as meter:
        say(f"held {meter.hold.amount if meter.hold else 0} credits (the prompt and max_tokens)")
        for event, data in stream_events(f"{model_url}/v1/messages", body):
            if event == "message_start":
                usage.update(data["message"]["usage"])
            elif event == "content_block_delta":
                meter.seen(1)  # a delta a token
            elif event == "message_delta":
                usage.update(data["usage"])  # the output tokens, counted to the end
            elif event == "message_stop":
                meter.usage = usage
    charge = meter.charge
    say(f"streamed {meter.output_tokens_seen} deltas; charged {charge.amount if charge else 0}")
    say(f"for {usage}")
    say(f"bob has {ck.balance('bob').available} credits; audit clean: {ck.audit().ok}")
    return ck


if __name__ == "__main__":
    with (
        tempfile.TemporaryDirectory() as folder,
        FakeModelServer(REPLY, cache_read_tokens=CACHE_READ_TOKENS) as server,
    ):
        run(f"sqlite:///{folder}/streams.db", server.url).close()
    sys.exit(0)
