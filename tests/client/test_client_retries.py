"""Retries: a failed connection, a lost answer, a 429 and a 503 are tried again with the same
Idempotency-Key (so a write is applied once), within bounds; no other refusal is."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from waiting import Waits

from creditkit import (
    CreditKit,
    InsufficientCredits,
    InvalidRequest,
    LedgerBusy,
    ManualClock,
    TransactionKind,
)
from creditkit.client import Client, RateLimited, ServiceUnreachable
from creditkit.client.retry import (
    BACKOFF_SECONDS_FIRST,
    BACKOFF_SECONDS_MAX,
    RETRIES_MAX_DEFAULT,
    RETRIES_MAX_LIMIT,
    RETRY_WAIT_SECONDS_MAX_LIMIT,
    retry_after_seconds,
)

#: An answer the server never got to give: the connection was refused before sending.
REFUSED = "refused"
#: The server applied the request, and its answer was lost on the way back.
LOST = "lost"
LEDGER_BUSY = httpx.Response(
    503,
    headers={"Retry-After": "1", "Content-Type": "application/problem+json"},
    json={"status": 503, "code": "ledger_busy", "detail": "busy", "attempts": 8},
)


class Faults(httpx.BaseTransport):
    """The real transport with failures in front of it: each scripted fault takes one attempt,
    in order; after them, requests go through. ``requests`` records every attempt."""

    def __init__(self, *faults: str | httpx.Response) -> None:
        self._real = httpx.HTTPTransport()
        self._faults = list(faults)
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        fault = self._faults.pop(0) if self._faults else None
        if fault == REFUSED:
            raise httpx.ConnectError("connection refused", request=request)
        if fault == LOST:
            answer = self._real.handle_request(request)
            answer.read()
            answer.close()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        if isinstance(fault, httpx.Response):
            return fault
        return self._real.handle_request(request)

    def keys(self) -> set[str | None]:
        return {request.headers.get("Idempotency-Key") for request in self.requests}


def backoff_ceiling(retry: int) -> float:
    return min(BACKOFF_SECONDS_MAX, BACKOFF_SECONDS_FIRST * 2**retry)


def test_a_charge_whose_answers_were_lost_is_applied_once(
    kit: CreditKit, base_url: str, secret: str, waits: Waits
) -> None:
    kit.create_customer("ada")
    faults = Faults(LOST, LOST)
    with Client(base_url, secret, transport=faults, sleep=waits) as client:
        charge = client.charge("ada", 5)
    assert len(faults.requests) == 3
    assert len(faults.keys()) == 1  # one key, made once, sent with every attempt
    charges = [i for i in kit.history("ada").items if i.kind is TransactionKind.CHARGE]
    assert [item.transaction_id for item in charges] == [charge.id]
    assert kit.balance("ada").available == 95
    assert len(waits) == 2
    for retry, wait in enumerate(waits):
        assert backoff_ceiling(retry) / 2 <= wait <= backoff_ceiling(retry)


def test_refused_connections_and_a_busy_ledger_are_tried_again(
    kit: CreditKit, base_url: str, secret: str, waits: Waits
) -> None:
    kit.create_customer("ada")
    faults = Faults(REFUSED, LEDGER_BUSY)
    with Client(base_url, secret, transport=faults, sleep=waits) as client:
        hold = client.reserve("ada", 10, idempotency_key="job-1")
    assert hold == kit.hold(hold.id)
    assert faults.keys() == {"job-1"}
    assert len(waits) == 2
    assert BACKOFF_SECONDS_FIRST / 2 <= waits[0] <= BACKOFF_SECONDS_FIRST
    assert waits[1] == 1.0  # the 503's Retry-After


def test_a_rate_limit_is_waited_out_as_retry_after_says(
    kit: CreditKit, client: Client, clock: ManualClock, waits: Waits
) -> None:
    kit.create_customer("ada")
    clock.advance(seconds=50)  # the minute's window ends in 10 seconds
    for request in range(30):  # the free plan's rate_limit_per_minute
        client.charge("ada", 1, idempotency_key=f"c{request}")
    assert waits == []
    client.charge("ada", 1, idempotency_key="c30")
    assert waits == [10.0]
    assert kit.balance("ada").available == 100 - 31


def test_a_rate_limit_longer_than_the_client_waits_goes_to_the_caller(
    kit: CreditKit, client: Client, waits: Waits
) -> None:
    kit.create_customer("ada")
    for request in range(30):
        client.charge("ada", 1, idempotency_key=f"c{request}")
    with pytest.raises(RateLimited) as limited:
        client.charge("ada", 1, idempotency_key="c30")
    assert limited.value.status == 429
    assert limited.value.retry_after_seconds == 60
    assert waits == []


def test_other_refusals_are_answers_not_retried(
    kit: CreditKit, base_url: str, secret: str, waits: Waits
) -> None:
    kit.create_customer("ada")
    faults = Faults()
    with Client(base_url, secret, transport=faults, sleep=waits) as client:
        with pytest.raises(InsufficientCredits):
            client.charge("ada", 500)
        with pytest.raises(InvalidRequest):
            client.charge("ada", action="chat_message", quantity=0)
    assert len(faults.requests) == 2
    assert waits == []


def test_retries_are_bounded_and_back_off(base_url: str, secret: str, waits: Waits) -> None:
    faults = Faults(*[REFUSED] * 4)
    client = Client(base_url, secret, transport=faults, retries_max=3, sleep=waits)
    with client, pytest.raises(ServiceUnreachable) as unreachable:
        client.balance("ada")
    assert unreachable.value.attempts == 4
    assert len(faults.requests) == 4
    assert len(waits) == 3
    for retry, wait in enumerate(waits):
        assert backoff_ceiling(retry) / 2 <= wait <= backoff_ceiling(retry)


def test_a_database_failover_of_several_seconds_is_ridden_through_by_default(
    kit: CreditKit, base_url: str, secret: str, waits: Waits
) -> None:
    """A server whose database switches to its standby answers 503 with Retry-After: 1 until
    the standby is promoted; with its defaults the client waits that out, one key throughout."""
    kit.create_customer("ada")
    faults = Faults(*[LEDGER_BUSY] * RETRIES_MAX_DEFAULT)
    with Client(base_url, secret, transport=faults, sleep=waits) as client:
        charge = client.charge("ada", 5, idempotency_key="during-failover")
    assert waits == [1.0] * RETRIES_MAX_DEFAULT
    assert faults.keys() == {"during-failover"}
    charges = [i for i in kit.history("ada").items if i.kind is TransactionKind.CHARGE]
    assert [item.transaction_id for item in charges] == [charge.id]


def test_the_seconds_waited_are_bounded_beside_the_retries(
    kit: CreditKit, base_url: str, secret: str, waits: Waits
) -> None:
    kit.create_customer("ada")
    faults = Faults(*[LEDGER_BUSY] * 5)
    budgeted = Client(
        base_url, secret, transport=faults, retries_max=10, retry_wait_seconds_max=2.5, sleep=waits
    )
    with budgeted, pytest.raises(LedgerBusy):
        budgeted.charge("ada", 5)
    assert waits == [1.0, 1.0]  # a third second would pass the 2.5 s budget
    assert len(faults.requests) == 3
    assert kit.balance("ada").available == 100


def test_no_wait_budget_means_no_wait_after_a_failed_connection(
    base_url: str, secret: str, waits: Waits
) -> None:
    faults = Faults(*[REFUSED] * 3)
    client = Client(base_url, secret, transport=faults, retry_wait_seconds_max=0, sleep=waits)
    with client, pytest.raises(ServiceUnreachable) as unreachable:
        client.balance("ada")
    assert unreachable.value.attempts == 1
    assert waits == []


def test_a_server_that_is_not_there_is_unreachable(waits: Waits) -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]  # free, and closed once the block ends
    client = Client(f"http://127.0.0.1:{port}", "ck_secret_x", retries_max=1, sleep=waits)
    with client, pytest.raises(ServiceUnreachable) as unreachable:
        client.balance("ada")
    assert unreachable.value.attempts == 2
    assert len(waits) == 1


def test_retry_after_is_seconds_or_an_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    later = now + timedelta(seconds=42)
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "7"})) == 7.0
    date = later.strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": date}), now) == 42.0
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "soon"})) is None
    assert retry_after_seconds(httpx.Response(429)) is None


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"retries_max": RETRIES_MAX_LIMIT + 1}, "retries_max"),
        ({"retry_wait_seconds_max": -1}, "retry_wait_seconds_max"),
        ({"retry_wait_seconds_max": RETRY_WAIT_SECONDS_MAX_LIMIT + 1}, "retry_wait_seconds_max"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"base_url": "localhost:8000"}, "base_url"),
    ],
)
def test_a_client_outside_its_bounds_is_refused(options: dict[str, object], field: str) -> None:
    arguments: dict[str, object] = {"base_url": "http://127.0.0.1:8000", "api_key": "k"}
    arguments.update(options)
    with pytest.raises(InvalidRequest) as refused:
        Client(**arguments)  # type: ignore[arg-type]
    assert refused.value.field == field
