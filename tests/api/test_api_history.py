"""The history through the API: filters by kind (repeated), action and time, a cursor through
filtered pages, and gifts sent and received."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from api_helpers import Api, assert_problem, write

from creditkit import ManualClock, TransactionKind


def _history(api: Api, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    answer = api.client.get("/v1/customers/ada/history", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.fixture
def gifts(api: Api, clock: ManualClock) -> Api:
    """ada (the free plan's 100 credits, and a purchase of 20) charges, gifts bob 5, is gifted 3
    back, charges again: one hour apart."""
    for customer in ("ada", "bob"):
        api.client.post("/v1/customers", json={"id": customer}, headers=write(api.admin, customer))
        api.kit.grant(customer, 20, idempotency_key=f"buy-{customer}", source="purchase")
    steps = [
        ("/v1/charges", {"customer": "ada", "action": "chat_message"}),
        ("/v1/transfers", {"from_customer": "ada", "to_customer": "bob", "amount": 5}),
        ("/v1/transfers", {"from_customer": "bob", "to_customer": "ada", "amount": 3}),
        ("/v1/charges", {"customer": "ada", "action": "document_summary"}),
    ]
    for index, (path, body) in enumerate(steps):
        clock.advance(hours=1)
        answer = api.client.post(path, json=body, headers=write(api.admin, f"step-{index}"))
        assert answer.status_code == 201, answer.text
    return api


def test_gifts_sent_and_received(gifts: Api) -> None:
    token = gifts.token("ada")
    page = _history(gifts, token, kind="transfer")
    assert [
        (item["kind"], item["counterparty"], item["amount"], item["available_change"])
        for item in page["items"]
    ] == [("transfer", "bob", 3, 3), ("transfer", "bob", 5, -5)]
    assert page["next_cursor"] is None


def test_kinds_action_and_time_filter_as_the_kit_does(gifts: Api, clock: ManualClock) -> None:
    start = clock() - timedelta(hours=2)  # the gift to bob
    end = clock()  # the last charge, excluded
    cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"kind": ["charge", "grant"]}, {"kinds": ["charge", "grant"]}),
        ({"action": "chat_message"}, {"action": "chat_message"}),
        ({"start": start.isoformat(), "end": end.isoformat()}, {"start": start, "end": end}),
        ({"kind": "charge", "start": start.isoformat()}, {"kinds": ["charge"], "start": start}),
    ]
    for params, arguments in cases:
        page = _history(gifts, gifts.admin, **params)
        expected = gifts.kit.history("ada", **arguments)
        assert [item["transaction_id"] for item in page["items"]] == [
            item.transaction_id for item in expected.items
        ], params
        assert page["items"], params
    window = _history(gifts, gifts.admin, start=start.isoformat(), end=end.isoformat())
    assert [item["kind"] for item in window["items"]] == ["transfer", "transfer"]


def test_a_cursor_pages_through_a_filtered_history(gifts: Api) -> None:
    seen: list[int] = []
    params: dict[str, Any] = {"kind": ["grant", "charge"], "limit": 1}
    while True:
        page = _history(gifts, gifts.admin, **params)
        seen += [item["transaction_id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    whole = gifts.kit.history("ada", kinds=["grant", "charge"])
    assert seen == [item.transaction_id for item in whole.items]
    assert len(seen) == 4  # the allowance, the purchase and the two charges


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("kind=bogus", "kind[0]"),
        ("kind=charge&kind=gift", "kind[1]"),
        ("kind=" + "&kind=".join(["charge"] * (len(TransactionKind) + 1)), "kind"),
        ("action=", "action"),
        ("start=2026-01-01T00:00:00", "start"),  # no zone
        ("start=yesterday", "start"),
        ("start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z", "end"),
    ],
)
def test_bad_filters_are_problems_naming_the_parameter(api: Api, query: str, field: str) -> None:
    api.client.post("/v1/customers", json={"id": "ada"}, headers=write(api.admin, "ada"))
    answer = api.client.get(f"/v1/customers/ada/history?{query}", headers=api.admin)
    problem = assert_problem(answer, 422, "invalid_request")
    assert [item["name"] for item in problem["invalid_params"]] == [field]
