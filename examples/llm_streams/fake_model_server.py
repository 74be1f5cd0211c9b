"""A fake model provider on a loopback port, for examples and tests that stream model answers
without the network: an OpenAI-style Chat Completions stream (``POST /v1/chat/completions``)
and an Anthropic-style Messages stream (``POST /v1/messages``), both as server-sent events.

    with FakeModelServer(reply="The answer is forty-two.") as server:
        post(f"{server.url}/v1/chat/completions", {...})

It counts tokens plainly, so that a test knows what a real provider would bill: every
whitespace-separated word of the prompt (system and messages) is one input token, every word of
the reply one output token, sent as one chunk. The reply stops at the request's ``max_tokens``
(``max_completion_tokens`` for OpenAI), as a real model's does. ``cache_read_tokens`` of the
prompt's tokens are reported as read from the provider's prompt cache. Chunks are written as
soon as they are made: nothing waits.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

#: A request body the server reads at most (a prompt larger than this is refused).
REQUEST_BYTES_MAX = 1_000_000
#: Words a reply has at most, whatever the request's max_tokens.
REPLY_WORDS_MAX = 10_000


class FakeModelServer:
    """The server, started by ``with`` (or ``start``) on ``127.0.0.1`` and a free port."""

    def __init__(self, reply: str = "Hello from the fake model.", cache_read_tokens: int = 0):
        words = reply.split()
        if not words or len(words) > REPLY_WORDS_MAX:
            raise ValueError(f"reply: must have 1 to {REPLY_WORDS_MAX} words")
        if cache_read_tokens < 0:
            raise ValueError("cache_read_tokens: must be 0 or more")
        self.reply_words = words
        self.cache_read_tokens = cache_read_tokens
        #: The bodies of the requests served, in order (what the client sent).
        self.requests: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeModelServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def answer(self, body: dict[str, Any], max_tokens_field: str) -> tuple[list[str], int, bool]:
        """The reply's words for ``body``, its input tokens, and whether max_tokens cut it."""
        limit = body.get(max_tokens_field, body.get("max_tokens"))
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ValueError(f"{max_tokens_field}: must be a whole number of 1 or more")
        words = self.reply_words[:limit] if limit is not None else self.reply_words
        return words, _prompt_tokens(body), len(words) < len(self.reply_words)


def _prompt_tokens(body: dict[str, Any]) -> int:
    """One token a word of the system prompt and of every message's text."""
    texts: list[str] = []
    system = body.get("system")
    if isinstance(system, str):
        texts.append(system)
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(
                part["text"]
                for part in content
                if isinstance(part, dict) and isinstance(part.get("text"), str)
            )
    return sum(len(text.split()) for text in texts)


def _openai_events(
    server: FakeModelServer, body: dict[str, Any]
) -> list[tuple[str | None, dict[str, Any] | str]]:
    words, input_tokens, cut = server.answer(body, "max_completion_tokens")
    model = body.get("model", "fake")
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model}

    def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {**base, "choices": [choice]}

    events: list[tuple[str | None, dict[str, Any] | str]] = [
        (None, chunk({"role": "assistant", "content": ""}, None))
    ]
    for position, word in enumerate(words):
        events.append((None, chunk({"content": word if position == 0 else f" {word}"}, None)))
    events.append((None, chunk({}, "length" if cut else "stop")))
    options = body.get("stream_options") or {}
    if options.get("include_usage"):
        usage = {
            "prompt_tokens": input_tokens,
            "completion_tokens": len(words),
            "total_tokens": input_tokens + len(words),
            "prompt_tokens_details": {"cached_tokens": min(server.cache_read_tokens, input_tokens)},
        }
        events.append((None, {**base, "choices": [], "usage": usage}))
    events.append((None, "[DONE]"))
    return events


def _anthropic_events(
    server: FakeModelServer, body: dict[str, Any]
) -> list[tuple[str | None, dict[str, Any] | str]]:
    words, input_tokens, cut = server.answer(body, "max_tokens")
    cached = min(server.cache_read_tokens, input_tokens)
    message = {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "fake"),
        "content": [],
        "stop_reason": None,
        "usage": {
            # Anthropic counts cached prompt tokens apart from the (uncached) input tokens.
            "input_tokens": input_tokens - cached,
            "cache_read_input_tokens": cached,
            "cache_creation_input_tokens": 0,
            "output_tokens": 1,
        },
    }
    events: list[tuple[str | None, dict[str, Any] | str]] = [
        ("message_start", {"type": "message_start", "message": message}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    for position, word in enumerate(words):
        text = word if position == 0 else f" {word}"
        delta = {"type": "text_delta", "text": text}
        events.append(
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        )
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    stop = {"stop_reason": "max_tokens" if cut else "end_turn", "stop_sequence": None}
    events.append(
        (
            "message_delta",
            {"type": "message_delta", "delta": stop, "usage": {"output_tokens": len(words)}},
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


ROUTES = {"/v1/chat/completions": _openai_events, "/v1/messages": _anthropic_events}


def _handler_for(server: FakeModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            route = ROUTES.get(self.path)
            if route is None:
                self._refuse(404, f"no route {self.path}")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > REQUEST_BYTES_MAX:
                self._refuse(413, f"a request is at most {REQUEST_BYTES_MAX} bytes")
                return
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(body, dict) or body.get("stream") is not True:
                    raise ValueError("stream: this fake server answers only streams (true)")
                events = route(server, body)
            except ValueError as error:
                self._refuse(400, str(error))
                return
            server.requests.append(body)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            for name, data in events:
                text = data if isinstance(data, str) else json.dumps(data)
                prefix = f"event: {name}\n" if name is not None else ""
                self.wfile.write(f"{prefix}data: {text}\n\n".encode())
                self.wfile.flush()
            self.close_connection = True

        def _refuse(self, status: int, message: str) -> None:
            payload = json.dumps({"error": {"type": "invalid_request_error", "message": message}})
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload.encode())

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: a test's output shows no request lines."""

    return Handler


def stream_events(
    url: str, body: dict[str, Any], timeout_seconds: float = 10
) -> Iterator[tuple[str | None, Any]]:
    """POSTs ``body`` to ``url`` and yields each server-sent event as ``(event, data)``: the
    event's name (None for OpenAI's unnamed chunks) and its data parsed from JSON (the text
    ``[DONE]`` as it is). What a provider's SDK does, in a few lines of the standard library."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Accept": "text/event-stream"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout_seconds) as response:
        name: str | None = None
        for raw in response:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                text = line.removeprefix("data: ")
                yield name, (text if text == "[DONE]" else json.loads(text))
                name = None
