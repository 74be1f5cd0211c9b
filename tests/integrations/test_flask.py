"""The Flask decorator (seed 002's ``/api/chat``): reserve before the view, commit after a
response below 400, release after an error, 402 problem+json when credits are short."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from flask import Flask, jsonify, request
from flask.testing import FlaskClient
from outages import Outage, ledger_busy, refused
from werkzeug.test import TestResponse

from creditkit import CreditKit, InvalidRequest, ManualClock
from creditkit.client import Client
from creditkit.integrations import Metering
from creditkit.integrations.flask import credits_required, current_meter


class ToolCrashed(Exception):
    pass


def build(ledger: Metering) -> Flask:
    app = Flask(__name__)
    app.testing = True

    def current_user() -> str:
        return request.headers["X-User"]

    @app.post("/api/chat")
    @credits_required(ledger, action="chat_message", customer=current_user, estimate=5)
    def chat() -> object:
        message = request.get_json()["message"]
        if message == "crash":
            raise ToolCrashed
        if message == "":
            return jsonify(error="empty message"), 400
        current_meter().actual = 5 if "deploy" in message else 1
        return jsonify(answer="done")

    return app


@pytest.fixture
def http(ledger: Metering) -> Iterator[FlaskClient]:
    with build(ledger).test_client() as client:
        yield client


def chat(http: FlaskClient, message: str) -> tuple[int, object]:
    response = http.post("/api/chat", json={"message": message}, headers={"X-User": "ada"})
    return response.status_code, response.get_json()


def test_each_message_costs_what_the_view_says(http: FlaskClient, kit: CreditKit) -> None:
    assert chat(http, "status of the cluster") == (200, {"answer": "done"})
    assert kit.balance("ada").available == 99
    assert chat(http, "deploy the api")[0] == 200
    assert kit.balance("ada").available == 94


def test_an_error_response_or_an_exception_is_not_charged(
    http: FlaskClient, kit: CreditKit
) -> None:
    assert chat(http, "")[0] == 400
    with pytest.raises(ToolCrashed):
        chat(http, "crash")
    assert kit.balance("ada").available == 100
    assert kit.balance("ada").held == 0


def test_short_credits_are_a_402_problem(http: FlaskClient, kit: CreditKit) -> None:
    kit.charge("ada", 97, idempotency_key="spend")
    response = http.post("/api/chat", json={"message": "hi"}, headers={"X-User": "ada"})
    assert response.status_code == 402
    assert response.mimetype == "application/problem+json"
    problem = response.get_json(force=True)
    assert problem["code"] == "insufficient_credits"
    assert (problem["available"], problem["required"]) == (3, 5)
    assert problem["upgrade_to"] == "pro"
    assert problem["packs"][0] == {
        "id": "credits_500",
        "name": "500 credits",
        "amount": 500,
        "price": {"amount_minor": 500, "currency": "USD"},
    }


def test_no_meter_outside_a_metered_view() -> None:
    with Flask(__name__).test_request_context(), pytest.raises(InvalidRequest):
        current_meter()


def assert_problem(response: TestResponse, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.mimetype == "application/problem+json"
    problem: dict[str, Any] = response.get_json(force=True)
    assert (problem["status"], problem["code"]) == (status, code)
    return problem


def test_past_the_rate_limit_the_view_answers_429_with_retry_after(
    kit: CreditKit, client_of: Callable[[httpx.BaseTransport], Client], clock: ManualClock
) -> None:
    clock.set(clock().replace(second=45))
    for _request in range(30):  # the free plan's 30 a minute, used up
        kit.hit_rate_limit("ada")
    with build(client_of(httpx.HTTPTransport())).test_client() as http:
        response = http.post("/api/chat", json={"message": "crash"}, headers={"X-User": "ada"})
    problem = assert_problem(response, 429, "rate_limited")  # the view did not run: no crash
    assert response.headers["Retry-After"] == "15"
    assert problem["retry_after_seconds"] == 15


def test_a_busy_ledger_is_a_503_with_retry_after(
    kit: CreditKit, client_of: Callable[[httpx.BaseTransport], Client]
) -> None:
    with build(client_of(Outage("/v1/holds", ledger_busy))).test_client() as http:
        response = http.post("/api/chat", json={"message": "crash"}, headers={"X-User": "ada"})
    assert_problem(response, 503, "ledger_busy")
    assert response.headers["Retry-After"] == "1"


def test_a_commit_the_service_does_not_answer_is_a_503(
    kit: CreditKit, client_of: Callable[[httpx.BaseTransport], Client]
) -> None:
    with build(client_of(Outage("/commit", refused))).test_client() as http:
        response = http.post("/api/chat", json={"message": "hi"}, headers={"X-User": "ada"})
    assert_problem(response, 503, "service_unreachable")
    assert kit.balance("ada").held == 5  # until the hold times out


def test_an_unknown_customer_is_a_404_problem(http: FlaskClient) -> None:
    response = http.post("/api/chat", json={"message": "hi"}, headers={"X-User": "nobody"})
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert response.get_json()["code"] == "unknown_customer"
