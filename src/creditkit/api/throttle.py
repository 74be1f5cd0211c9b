"""Throttling of failed authentication per client address.

Every refused key, session token or console sign-in counts into the address's one-minute window
in the database (``auth_failures``), so that the count holds across every serving process.
Past ``FAILURES_PER_MINUTE_MAX`` in a window, the address is answered 429 with ``Retry-After``
until the window ends, before its credentials are looked at: guessing keys gains nothing, and a
valid key is not told apart from a wrong one meanwhile. A process that saw an address fail in
the current window reads the shared count before each of its requests (other addresses cost no
read); one that has not learns it from its own first failure, so across N processes an address
gets at most N attempts past the limit per window.

The client address is the connection's peer (behind a proxy, run uvicorn with
``--forwarded-allow-ips`` so that it is the client's)."""

from __future__ import annotations

import threading
from contextvars import ContextVar
from datetime import datetime, timedelta

from starlette.types import ASGIApp, Receive, Scope, Send

from creditkit.api.problems import ApiProblem
from creditkit.errors import InvalidRequest
from creditkit.keys import repository
from creditkit.kit import CreditKit

FAILURES_PER_MINUTE_MAX = 20
WINDOW_SECONDS = 60
#: Addresses this process remembers as throttled at once.
THROTTLED_REMEMBERED_MAX = 10_000
ADDRESS_LENGTH_MAX = 64

#: The address of the request being served (set by ``ClientAddress``).
client_address: ContextVar[str | None] = ContextVar("creditkit_client_address", default=None)


class ClientAddress:
    """ASGI middleware putting the connection's peer address in ``client_address``."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        token = client_address.set(None if not client else str(client[0])[:ADDRESS_LENGTH_MAX])
        try:
            await self._app(scope, receive, send)
        finally:
            client_address.reset(token)


class FailedAuthThrottle:
    """``failures_per_minute_max`` failed authentications an address may make per minute
    (``FAILURES_PER_MINUTE_MAX``: the documented number)."""

    def __init__(
        self, kit: CreditKit, failures_per_minute_max: int = FAILURES_PER_MINUTE_MAX
    ) -> None:
        if not 1 <= failures_per_minute_max <= 2**31 - 1:
            raise InvalidRequest("auth_failures_per_minute_max", "must be 1 to 2147483647")
        self._kit = kit
        self._failures_max = failures_per_minute_max
        self._lock = threading.Lock()
        self._throttled_until: dict[str, datetime] = {}
        #: Addresses that failed here, by the window they failed in.
        self._suspect: dict[str, datetime] = {}

    def check(self) -> None:
        """Raises 429 when the current request's address is throttled."""
        address = client_address.get()
        if address is None:
            return
        with self._lock:
            until = self._throttled_until.get(address)
            failed_in = self._suspect.get(address)
        if until is None and failed_in is None:
            return  # no failure from this address here: nothing to compare with the clock
        now = self._kit.now()
        start = now.replace(second=0, microsecond=0)
        if until is not None and now < until:
            raise _too_many(until, now, self._failures_max)
        if failed_in == start:
            with self._kit.database.read() as connection:
                count = repository.auth_failures_in(connection, address, start)
            if count > self._failures_max:
                raise self._throttled(address, start, now)

    def failed(self) -> None:
        """Counts a failed authentication of the current request's address; raises 429 when
        that took it past the limit."""
        address = client_address.get()
        if address is None:
            return
        now = self._kit.now()
        start = now.replace(second=0, microsecond=0)
        count = self._kit.database.unit_of_work(
            lambda: now,
            lambda context: repository.count_auth_failure(context.connection, address, start),
        )
        with self._lock:
            if len(self._suspect) >= THROTTLED_REMEMBERED_MAX:
                self._suspect.clear()
            self._suspect[address] = start
        if count > self._failures_max:
            raise self._throttled(address, start, now)

    def _throttled(self, address: str, start: datetime, now: datetime) -> ApiProblem:
        until = start + timedelta(seconds=WINDOW_SECONDS)
        with self._lock:
            if len(self._throttled_until) >= THROTTLED_REMEMBERED_MAX:
                self._throttled_until.clear()
            self._throttled_until[address] = until
        return _too_many(until, now, self._failures_max)


def _too_many(until: datetime, now: datetime, limit: int) -> ApiProblem:
    """The 429, in the shape of a plan's rate limit (``limit_per_minute``,
    ``retry_after_seconds``): a client handles both alike."""
    retry_after = max(1, int((until - now).total_seconds() + 0.999))
    return ApiProblem(
        429,
        "authentication_throttled",
        f"more than {limit} failed authentications from this address in a minute: retry in"
        f" {retry_after} s",
        headers={"Retry-After": str(retry_after)},
        limit_per_minute=limit,
        retry_after_seconds=retry_after,
    )
