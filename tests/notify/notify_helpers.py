"""What the notify tests share: a catalog with alerts, and a real HTTP receiver for webhooks
that records each request and answers as told."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler

from creditkit.notify.outbound import OutboundPolicy

START = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
#: The receivers of these tests listen on 127.0.0.1 over plain http, which the default policy
#: refuses (tests/notify/test_outbound_policy.py): they turn the development setting on.
RECEIVERS_ON_THIS_MACHINE = OutboundPolicy(allow_private=True)

#: free warns at 5 credits left (seed 002); pro at 50%, 80% and 100% of its 100-credit allowance.
ALERTS_CATALOG = """
units:
  credits: {scale: 0}
plans:
  free:
    name: Free
    default: true
    rank: 0
    prices: {month: {amount: 0, currency: USD}}
    allowance: {amount: 20, unit: credits}
    alerts: {credits_left: 5}
  pro:
    name: Pro
    rank: 1
    prices: {month: {amount: 1000, currency: USD}}
    allowance: {amount: 100, unit: credits}
    alerts: {percent_used: [50, 80, 100]}
  quiet:
    name: Quiet
    rank: 2
    prices: {month: {amount: 2000, currency: USD}}
    allowance: {amount: 1000, unit: credits}
"""


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What the server was sent, in order; ``statuses`` are answered one per request (then
    200)."""

    url: str
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: Received) -> int:
        with self.lock:
            self.received.append(request)
            return self.statuses.pop(0) if self.statuses else 200


def handler(receiver: Callable[[], Receiver]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            status = receiver().answer(Received(self.path, dict(self.headers.items()), body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return  # quiet: pytest shows what failed

    return Handler
