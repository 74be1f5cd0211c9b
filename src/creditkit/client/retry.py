"""When and how long the client waits before trying a call again.

Retried: a connection that failed or timed out, a 429 (the plan's rate limit) and a 503 (the
ledger busy, a restarting server, a database switching to its standby). Never any other status:
a 4xx is an answer, and asking again gets the same one. Retrying a write is safe because every
attempt carries the same Idempotency-Key, so the server applies it once.

Two bounds hold together: the number of retries, and the seconds waited between attempts in
all; whichever is reached first hands the last answer (or failure) to the caller.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from creditkit.errors import require

#: Retries after the first attempt, by default and at most. Six rides through a database
#: failover of several seconds (each 503 says to come back in a second).
RETRIES_MAX_DEFAULT = 6
RETRIES_MAX_LIMIT = 10
#: The seconds one call may spend waiting between its attempts, in all, by default and at most.
RETRY_WAIT_SECONDS_MAX_DEFAULT = 30.0
RETRY_WAIT_SECONDS_MAX_LIMIT = 300.0
#: The first wait of the exponential backoff, doubled at each retry up to the ceiling.
BACKOFF_SECONDS_FIRST = 0.25
BACKOFF_SECONDS_MAX = 8.0
#: The longest ``Retry-After`` the client waits for: a longer one goes back to the caller
#: (a plan's minute window, an outage) rather than blocking a request thread.
RETRY_AFTER_SECONDS_MAX = 30.0
RETRIED_STATUSES = frozenset({429, 503})
#: Transport failures worth another attempt (not, e.g., a malformed URL).
RETRIED_TRANSPORT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class RetryBudget:
    """What one call may still wait between its attempts: ``take`` a wait before sleeping it."""

    def __init__(self, wait_seconds_max: float) -> None:
        require(wait_seconds_max >= 0, "a wait budget is not negative", str(wait_seconds_max))
        self._left_seconds = wait_seconds_max

    def take(self, wait_seconds: float) -> bool:
        """True (and the wait counted) when ``wait_seconds`` fits in what is left."""
        if wait_seconds > self._left_seconds:
            return False
        self._left_seconds -= wait_seconds
        return True


def backoff_seconds(retry: int, chance: random.Random) -> float:
    """The wait before retry number ``retry`` (0 first): exponential, capped, and drawn from
    its upper half so that clients refused together do not come back together."""
    require(retry >= 0, "retries are counted from 0", f"retry {retry}")
    ceiling = min(BACKOFF_SECONDS_MAX, BACKOFF_SECONDS_FIRST * 2.0**retry)
    return ceiling / 2 + chance.uniform(0, ceiling / 2)


def retry_after_seconds(response: httpx.Response, now: datetime | None = None) -> float | None:
    """The response's ``Retry-After`` in seconds (a number or an HTTP date), None without one."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())
