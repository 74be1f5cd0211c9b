"""The FastAPI dependency: one line on a route reserves before the handler, commits after it,
releases when it raises, and answers 402 problem+json when credits are short."""

# No ``from __future__ import annotations``: FastAPI reads the handlers' annotations at run
# time, and they name ``ledger``, a local of ``build``.
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Header, HTTPException
from fastapi.testclient import TestClient
from outages import Outage, ledger_busy, refused

from creditkit import CreditKit, HoldOutcome, ManualClock, TransactionKind
from creditkit.client import Client
from creditkit.integrations import Meter, Metering
from creditkit.integrations.fastapi import credits_required, install


def user(x_user: Annotated[str, Header()]) -> str:
    """The host app's own lookup of who is calling."""
    return x_user


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert (problem["status"], problem["code"]) == (status, code)
    return problem


def build(ledger: Metering, *, installed: bool = True) -> FastAPI:
    app = FastAPI()
    if installed:
        install(app)
    app.state.ran = 0

    chat_credits = credits_required(ledger, action="chat_message", customer=user)

    @app.post("/chat", dependencies=[chat_credits])
    def chat() -> dict[str, str]:
        app.state.ran += 1
        return {"answer": "hello"}

    @app.post("/summarize")
    def summarize(
        meter: Annotated[
            Meter, credits_required(ledger, action="chat_message", customer=user, estimate=20)
        ],
        pages: int,
    ) -> dict[str, int]:
        if pages > 20:
            raise HTTPException(413, "too long")
        meter.actual = pages
        return {"pages": pages}

    return app


@pytest.fixture
def http(ledger: Metering) -> Iterator[TestClient]:
    with TestClient(build(ledger)) as client:
        yield client


def test_a_route_that_answers_is_charged_its_price(http: TestClient, kit: CreditKit) -> None:
    response = http.post("/chat", headers={"X-User": "ada"})
    assert response.status_code == 200, response.text
    assert kit.balance("ada").available == 99
    assert kit.balance("ada").held == 0


def test_the_handler_commits_what_the_work_cost(http: TestClient, kit: CreditKit) -> None:
    response = http.post("/summarize", params={"pages": 3}, headers={"X-User": "ada"})
    assert response.status_code == 200, response.text
    assert kit.balance("ada").available == 97


def test_a_handler_that_raises_is_not_charged(http: TestClient, kit: CreditKit) -> None:
    response = http.post("/summarize", params={"pages": 30}, headers={"X-User": "ada"})
    assert response.status_code == 413
    assert kit.balance("ada").available == 100
    # The hold is one history line, released: its reserve and release are its parts.
    line = kit.history("ada").items[0]
    assert line.hold is not None and line.hold.outcome is HoldOutcome.RELEASED
    assert [part.kind for part in line.hold.parts] == [
        TransactionKind.RESERVE,
        TransactionKind.RELEASE,
    ]


def test_short_credits_are_a_402_problem_and_the_handler_does_not_run(
    ledger: Metering, kit: CreditKit
) -> None:
    kit.charge("ada", 100, idempotency_key="spend-all")
    app = build(ledger)
    with TestClient(app) as http:
        response = http.post("/chat", headers={"X-User": "ada"})
    assert response.status_code == 402
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "insufficient_credits"
    assert (problem["available"], problem["required"], problem["unit"]) == (0, 1, "credits")
    assert [pack["id"] for pack in problem["packs"]] == ["credits_500", "credits_2000"]
    assert problem["upgrade_to"] == "pro"
    assert app.state.ran == 0


def test_without_install_a_refusal_is_still_a_402(ledger: Metering, kit: CreditKit) -> None:
    kit.charge("ada", 100, idempotency_key="spend-all")
    with TestClient(build(ledger, installed=False)) as http:
        response = http.post("/chat", headers={"X-User": "ada"})
    assert response.status_code == 402
    assert "0 credits available" in response.json()["detail"]


@pytest.mark.parametrize("installed", [True, False])
def test_past_the_rate_limit_the_route_answers_429_with_retry_after(
    kit: CreditKit,
    client_of: Callable[[httpx.BaseTransport], Client],
    clock: ManualClock,
    installed: bool,
) -> None:
    clock.set(clock().replace(second=45))
    for _request in range(30):  # the free plan's 30 a minute, used up
        kit.hit_rate_limit("ada")
    app = build(client_of(httpx.HTTPTransport()), installed=installed)
    with TestClient(app) as http:
        response = http.post("/chat", headers={"X-User": "ada"})
    assert response.status_code == 429, response.text
    assert response.headers["retry-after"] == "15"
    if installed:
        problem = assert_problem(response, 429, "rate_limited")
        assert (problem["limit_per_minute"], problem["retry_after_seconds"]) == (30, 15)
    assert app.state.ran == 0
    assert kit.balance("ada").held == 0


def test_a_busy_ledger_is_a_503_with_retry_after(
    kit: CreditKit, client_of: Callable[[httpx.BaseTransport], Client]
) -> None:
    app = build(client_of(Outage("/v1/holds", ledger_busy)))
    with TestClient(app) as http:
        response = http.post("/chat", headers={"X-User": "ada"})
    problem = assert_problem(response, 503, "ledger_busy")
    assert response.headers["retry-after"] == "1"
    assert problem["attempts"] == 8
    assert app.state.ran == 0


def test_a_commit_the_service_does_not_answer_is_a_503(
    kit: CreditKit, client_of: Callable[[httpx.BaseTransport], Client]
) -> None:
    outage = Outage("/commit", refused)
    app = build(client_of(outage))
    with TestClient(app) as http:
        response = http.post("/chat", headers={"X-User": "ada"})
    problem = assert_problem(response, 503, "service_unreachable")
    assert "127.0.0.1" not in problem["detail"]  # the service's address is the app's own
    assert app.state.ran == 1
    assert outage.paths[-1].endswith("/commit")
    assert kit.balance("ada").held == 1  # until the hold times out


def test_an_unknown_customer_is_a_404_problem(ledger: Metering) -> None:
    with TestClient(build(ledger)) as http:
        response = http.post("/chat", headers={"X-User": "nobody"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "unknown_customer"
