"""A ``spender`` in every integration: ``metered`` holds as the spender (its budgets count the
hold), FastAPI's and Flask's ``credits_required`` take the spender from the request and answer
a full budget with 403 problem+json ``budget_exceeded`` (the handler does not run)."""

# No ``from __future__ import annotations``: FastAPI reads the handlers' annotations at run
# time.
from typing import Annotated

import pytest
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient
from flask import Flask, jsonify, request

from creditkit import BudgetExceeded, CreditKit
from creditkit.integrations import Metering
from creditkit.integrations import fastapi as fastapi_integration
from creditkit.integrations import flask as flask_integration


@pytest.fixture
def agents(kit: CreditKit) -> CreditKit:
    """ada's agent ``einstein`` may spend 3 credits a day (chat_message costs 1)."""
    kit.create_spender("ada", "einstein", kind="agent")
    kit.set_budget("ada", 3, spender="einstein", period="day", idempotency_key="einstein-day")
    return kit


def test_metered_holds_as_the_spender_within_its_budget(
    ledger: Metering, agents: CreditKit
) -> None:
    with ledger.metered(
        "ada", "chat_message", 2, spender="einstein", idempotency_key="m1"
    ) as meter:
        assert meter.hold is not None and meter.hold.spender == "einstein"
        meter.actual = 1
    assert meter.charge is not None and meter.charge.amount == 1
    # The commit is the spender's spending: its history and its budget count it.
    history = agents.history("ada", spender="einstein", kinds=["commit"])
    assert [item.transaction_id for item in history.items] == [meter.charge.id]
    with pytest.raises(BudgetExceeded) as refused:
        ledger.metered("ada", "chat_message", 3, spender="einstein", idempotency_key="m2").start()
    assert (refused.value.spender, refused.value.cap, refused.value.used) == ("einstein", 3, 1)
    [budget] = agents.budgets("ada", spender="einstein")
    assert budget.used == 1  # the refused hold counted nothing


def _fastapi(ledger: Metering) -> FastAPI:
    def user(x_user: Annotated[str, Header()]) -> str:
        return x_user

    def agent(x_agent: Annotated[str | None, Header()] = None) -> str | None:
        return x_agent

    app = FastAPI()
    fastapi_integration.install(app)
    app.state.ran = 0
    gate = fastapi_integration.credits_required(
        ledger, action="chat_message", customer=user, spender=agent
    )

    @app.post("/chat", dependencies=[gate])
    def chat() -> dict[str, str]:
        app.state.ran += 1
        return {"answer": "hello"}

    return app


def test_fastapi_charges_the_spender_and_a_full_budget_is_a_403(
    ledger: Metering, agents: CreditKit
) -> None:
    app = _fastapi(ledger)
    with TestClient(app) as http:
        for _ in range(3):
            answered = http.post("/chat", headers={"x-user": "ada", "x-agent": "einstein"})
            assert answered.status_code == 200, answered.text
        refused = http.post("/chat", headers={"x-user": "ada", "x-agent": "einstein"})
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert (problem["code"], problem["spender"], problem["cap"]) == (
            "budget_exceeded",
            "einstein",
            3,
        )
        assert http.post("/chat", headers={"x-user": "ada"}).status_code == 200  # no spender
    assert app.state.ran == 4
    [charge, *_] = agents.history("ada", spender="einstein").items
    assert charge.spender == "einstein"


def test_flask_charges_the_spender_and_a_full_budget_is_a_403(
    ledger: Metering, agents: CreditKit
) -> None:
    app = Flask(__name__)

    @app.post("/chat")
    @flask_integration.credits_required(
        ledger,
        action="chat_message",
        customer=lambda: request.headers["x-user"],
        spender=lambda: request.headers.get("x-agent"),
    )
    def chat() -> object:
        return jsonify(answer="hello")

    http = app.test_client()
    headers = {"x-user": "ada", "x-agent": "einstein"}
    assert [http.post("/chat", headers=headers).status_code for _ in range(4)] == [
        200,
        200,
        200,
        403,
    ]
    refused = http.post("/chat", headers=headers)
    assert refused.mimetype == "application/problem+json"
    assert refused.get_json()["spender"] == "einstein"
    [budget] = agents.budgets("ada", spender="einstein")
    assert budget.used == 3
