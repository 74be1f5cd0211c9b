"""``Client``: the engine behind ``creditkit serve``, called over HTTP with the same methods,
arguments, return types and errors as the embedded ``CreditKit``.

This module makes the client: its settings, its ``Wire`` (wire.py: the HTTP calls, their
retries and the decoding of answers) and its lifecycle. Its public methods live with their
domain, one module each, as the kit's do: ``credits``, ``holds``, ``corrections``,
``spenders``, ``history``, ``subscriptions``, ``entitlements``, ``payments``, ``notify``,
``usage`` and ``sessions``. Each is a class over the wire alone (what a request sends is in
encode.py), that ``Client`` inherits; they share no method and call none of each other's. The
interface they make up, with the kit's, is declared once as ``CreditsApi`` (protocol.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from creditkit.client.corrections import ClientCorrections
from creditkit.client.credits import ClientCredits
from creditkit.client.entitlements import ClientEntitlements
from creditkit.client.history import ClientHistory
from creditkit.client.holds import ActionCostCache, ClientHolds
from creditkit.client.notify import ClientNotify
from creditkit.client.payments import ClientPayments
from creditkit.client.retry import RETRIES_MAX_DEFAULT, RETRY_WAIT_SECONDS_MAX_DEFAULT
from creditkit.client.sessions import ClientSessions
from creditkit.client.spenders import ClientSpenders
from creditkit.client.subscriptions import ClientSubscriptions
from creditkit.client.usage import ClientUsage
from creditkit.client.wire import TIMEOUT_SECONDS_DEFAULT, Wire
from creditkit.clock import Clock, system_clock


class Client(
    ClientCredits,
    ClientHolds,
    ClientCorrections,
    ClientSpenders,
    ClientHistory,
    ClientSubscriptions,
    ClientEntitlements,
    ClientPayments,
    ClientNotify,
    ClientUsage,
    ClientSessions,
):
    """The HTTP API at ``base_url`` (``http://127.0.0.1:8000``), called with ``api_key`` (a
    secret key ``ck_secret_…``, or a customer session token for that customer's reads).

    Each method is ``CreditKit``'s: the same arguments (every write's ``idempotency_key`` is
    optional here: the client makes one per call), the same frozen dataclasses with exact
    amounts, the same ``CreditKitError`` subclasses. A failed connection, a 429 and a 503 are
    tried again, at most ``retries_max`` times and waiting at most ``retry_wait_seconds_max`` in
    all, with the same Idempotency-Key: a write is applied once however often it is sent.
    ``sleep`` waits between attempts (tests pass their own); ``transport`` is httpx's (tests,
    proxies); ``clock`` dates the catalog's action costs the client keeps (tests pass a
    ``ManualClock``).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_seconds: float = TIMEOUT_SECONDS_DEFAULT,
        retries_max: int = RETRIES_MAX_DEFAULT,
        retry_wait_seconds_max: float = RETRY_WAIT_SECONDS_MAX_DEFAULT,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Clock = system_clock,
    ) -> None:
        self._wire = Wire(
            base_url,
            api_key,
            timeout_seconds=timeout_seconds,
            retries_max=retries_max,
            retry_wait_seconds_max=retry_wait_seconds_max,
            transport=transport,
            sleep=sleep,
        )
        self.base_url = self._wire.base_url
        self._action_costs = ActionCostCache(self._wire, clock)

    def close(self) -> None:
        """Closes the connections."""
        self._wire.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
