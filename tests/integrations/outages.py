"""A ``Client`` whose service fails on one path: the real service behind a transport that
answers the requests to that path with a fault (a 503, a refused connection)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

#: What the API answers when the database kept reporting lock conflicts.
LEDGER_BUSY_BODY = {
    "type": "https://creditkit.dev/problems/ledger_busy",
    "title": "Ledger busy",
    "status": 503,
    "detail": "gave up after 8 attempts on lock conflicts",
    "code": "ledger_busy",
    "attempts": 8,
}


def ledger_busy(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        503,
        headers={"Retry-After": "1", "Content-Type": "application/problem+json"},
        json=LEDGER_BUSY_BODY,
        request=request,
    )


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


class Outage(httpx.BaseTransport):
    """The real transport, except for requests whose path ends with ``path_end``: ``fault``
    answers those. ``paths`` records every request's path."""

    def __init__(self, path_end: str, fault: Callable[[httpx.Request], httpx.Response]) -> None:
        self._real = httpx.HTTPTransport()
        self._path_end = path_end
        self._fault = fault
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if request.url.path.endswith(self._path_end):
            return self._fault(request)
        return self._real.handle_request(request)
