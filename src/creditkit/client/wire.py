"""``Wire``: the client's HTTP calls to the API, tried again on a failed connection, a 429 or a
503, and their answers decoded into creditkit's types (or the error they stand for)."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import httpx

from creditkit.client.decode import Mismatch, decode
from creditkit.client.errors import ApiError, ServiceUnreachable
from creditkit.client.problems import error_from_problem
from creditkit.client.retry import (
    RETRIED_STATUSES,
    RETRIED_TRANSPORT_ERRORS,
    RETRIES_MAX_DEFAULT,
    RETRIES_MAX_LIMIT,
    RETRY_AFTER_SECONDS_MAX,
    RETRY_WAIT_SECONDS_MAX_DEFAULT,
    RETRY_WAIT_SECONDS_MAX_LIMIT,
    RetryBudget,
    backoff_seconds,
    retry_after_seconds,
)
from creditkit.entitlements.schemas import Decision
from creditkit.errors import InvalidRequest

#: Seconds one attempt may take (connect, send, wait, read), by default and at most.
TIMEOUT_SECONDS_DEFAULT = 10.0
TIMEOUT_SECONDS_MAX = 300.0

T = TypeVar("T")


class Wire:
    """The API at ``base_url`` called with ``api_key``; the settings are ``Client``'s."""

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
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InvalidRequest("base_url", "must start with http:// or https://")
        if not api_key:
            raise InvalidRequest("api_key", "must not be empty")
        if not 0 < timeout_seconds <= TIMEOUT_SECONDS_MAX:
            raise InvalidRequest("timeout_seconds", f"must be 0 < t <= {TIMEOUT_SECONDS_MAX}")
        if isinstance(retries_max, bool) or not 0 <= retries_max <= RETRIES_MAX_LIMIT:
            raise InvalidRequest("retries_max", f"must be 0 to {RETRIES_MAX_LIMIT}")
        if isinstance(retry_wait_seconds_max, bool) or not (
            0 <= retry_wait_seconds_max <= RETRY_WAIT_SECONDS_MAX_LIMIT
        ):
            raise InvalidRequest(
                "retry_wait_seconds_max", f"must be 0 to {RETRY_WAIT_SECONDS_MAX_LIMIT:g}"
            )
        self.base_url = base_url.rstrip("/")
        self._retries_max = retries_max
        self._retry_wait_seconds_max = retry_wait_seconds_max
        self._sleep = sleep
        self._chance = random.Random()
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=timeout_seconds,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def read(self, path: str, kind: type[T], query: Mapping[str, Any] | None = None) -> T:
        answer: T = decoded(self.call("GET", path, query=query), kind)
        return answer

    def read_list(
        self, path: str, item: type[T], query: Mapping[str, Any] | None = None
    ) -> list[T]:
        return decoded_list(self.call("GET", path, query=query), item)

    def write(
        self,
        method: str,
        path: str,
        kind: type[T],
        body: Mapping[str, Any] | None,
        idempotency_key: str | None,
    ) -> T:
        key = idempotency_key or str(uuid.uuid4())
        answer: T = decoded(self.call(method, path, body, idempotency_key=key), kind)
        return answer

    def decided(
        self, method: str, path: str, body: Mapping[str, Any], idempotency_key: str | None
    ) -> Decision:
        """An entitlement write: the API's 403 ``limit_reached`` is the kit's refused Decision."""
        try:
            return self.write(method, path, Decision, body, idempotency_key)
        except ApiError as error:
            if error.problem != "limit_reached":
                raise
            refused: Decision = decoded({**error.facts, "allowed": False}, Decision)
            return refused

    def removed(self, path: str) -> bool:
        """A DELETE that answers ``{"removed": true|false}``."""
        answer = self.call("DELETE", path)
        removed: bool = decoded(answer.get("removed") if isinstance(answer, dict) else answer, bool)
        return removed

    def call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        query: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """The parsed JSON of a successful answer (None for 204); else the error it stands
        for, raised."""
        response = self._send(method, path, body, query, idempotency_key)
        if response.status_code == 204:
            return None
        try:
            parsed = json.loads(response.content, parse_float=Decimal)
        except ValueError:
            parsed = None
        if response.is_success:
            return parsed
        raise error_from_problem(response.status_code, parsed, response.text)

    def _send(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        query: Mapping[str, Any] | None,
        idempotency_key: str | None,
    ) -> httpx.Response:
        """Sends, and sends again (the same request, the same key) after a failed connection,
        a 429 or a 503, waiting ``Retry-After`` or a backoff in between."""
        headers = {} if idempotency_key is None else {"Idempotency-Key": idempotency_key}
        budget = RetryBudget(self._retry_wait_seconds_max)
        for retry in range(self._retries_max + 1):
            last = retry == self._retries_max
            try:
                response = self._http.request(
                    method, path, json=body, params=query, headers=headers
                )
            except RETRIED_TRANSPORT_ERRORS as failure:
                wait = backoff_seconds(retry, self._chance)
                if last or not budget.take(wait):
                    raise ServiceUnreachable(self.base_url, retry + 1, repr(failure)) from failure
                self._sleep(wait)
                continue
            if response.status_code not in RETRIED_STATUSES or last:
                return response
            told = retry_after_seconds(response)
            if told is not None and told > RETRY_AFTER_SECONDS_MAX:
                return response
            wait = backoff_seconds(retry, self._chance) if told is None else told
            if not budget.take(wait):
                return response
            self._sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")


def decoded(value: Any, kind: Any) -> Any:
    """``value`` as ``kind``; an answer of another shape is an ``ApiError``."""
    try:
        return decode(value, kind)
    except Mismatch as mismatch:
        raise ApiError(200, "response_invalid", str(mismatch), {}) from None


def decoded_list(value: Any, item: type[T]) -> list[T]:
    items: list[T] = decoded(value, list[item])  # type: ignore[valid-type]
    return items
