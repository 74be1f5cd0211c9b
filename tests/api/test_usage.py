"""Usage summaries, breakdowns, series and batch event ingestion through the API."""

from __future__ import annotations

from datetime import timedelta

from api_helpers import Api, assert_problem, write

from creditkit import ManualClock


def test_events_are_charged_one_outcome_each_and_replayed(api: Api) -> None:
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    events = [
        {"customer": "u1", "action": "chat_message", "idempotency_key": "e1"},
        {"customer": "u1", "action": "document_summary", "quantity": 2, "idempotency_key": "e2"},
        {"customer": "u1", "action": "teleport", "idempotency_key": "e3"},
        {"customer": "u1", "action": "image_generation", "quantity": 50, "idempotency_key": "e4"},
    ]
    first = api.client.post("/v1/events", json={"events": events}, headers=write(api.admin, "b1"))
    assert first.status_code == 200, first.text
    results = first.json()["results"]
    assert [result["status"] for result in results] == [201, 201, 422, 402]
    assert results[1]["charge"]["amount"] == 10
    assert results[2]["error"]["invalid_params"][0]["name"] == "events[2].action"
    assert results[3]["error"]["code"] == "insufficient_credits"
    # Another batch key: each event's own key makes the replay.
    again = api.client.post("/v1/events", json={"events": events}, headers=write(api.admin, "b2"))
    # The first outcomes, but for the balance left, which says what is left at the replay.
    firsts, replays = first.json()["results"], again.json()["results"]
    assert [r["charge"]["available_after"] for r in firsts[:2]] == [99, 89]
    assert [r["charge"]["available_after"] for r in replays[:2]] == [89, 89]
    assert [r["charge"]["replayed"] for r in firsts[:2] + replays[:2]] == [False] * 2 + [True] * 2
    for result in firsts[:2] + replays[:2]:
        for name in ("available_after", "alert_crossed", "replayed"):
            result["charge"].pop(name, None)
    assert replays == firsts
    assert api.kit.balance("u1").available == 100 - 11
    too_many = [dict(events[0], idempotency_key=f"x{n}") for n in range(1_001)]
    assert_problem(
        api.client.post("/v1/events", json={"events": too_many}, headers=write(api.admin, "b3")),
        422,
        "invalid_request",
    )


def test_an_event_of_an_unknown_customer_fails_only_itself(api: Api) -> None:
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    events = [
        {"customer": "nobody", "action": "chat_message", "idempotency_key": "e1"},
        {"customer": "u1", "action": "chat_message", "idempotency_key": "e2"},
    ]
    answer = api.client.post("/v1/events", json={"events": events}, headers=write(api.admin, "b"))
    assert answer.status_code == 200, answer.text
    first, second = answer.json()["results"]
    assert (first["status"], first["error"]["code"]) == (404, "unknown_customer")
    assert second["status"] == 201
    assert api.kit.balance("u1").available == 99


def test_a_dashboard_reads_summary_breakdown_and_series(api: Api, clock: ManualClock) -> None:
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    start = clock()
    for day, action in enumerate(("chat_message", "document_summary", "chat_message")):
        api.client.post(
            "/v1/charges",
            json={"customer": "u1", "action": action},
            headers=write(api.admin, f"k{day}"),
        )
        clock.advance(days=1)
    token = api.token("u1")
    summary = api.client.get("/v1/customers/u1/usage/summary", headers=token).json()
    assert (summary["spent"], summary["charges"], summary["available"]) == (7, 3, 93)
    window = {"start": start.isoformat(), "end": (start + timedelta(days=3)).isoformat()}
    breakdown = api.client.get(
        "/v1/customers/u1/usage/breakdown", params={"by": "action", **window}, headers=token
    ).json()
    assert [(group["key"], group["spent"]) for group in breakdown["groups"]] == [
        ("document_summary", 5),
        ("chat_message", 2),
    ]
    series = api.client.get("/v1/customers/u1/usage/series", params=window, headers=token).json()
    assert [point["spent"] for point in series["points"]][-3:] == [1, 5, 1]
    assert_problem(
        api.client.get(
            "/v1/customers/u1/usage/series",
            params={"start": window["end"], "end": window["start"]},
            headers=token,
        ),
        422,
        "invalid_request",
    )
    assert_problem(
        api.client.get(
            "/v1/customers/u1/usage/summary", params={"start": window["start"]}, headers=token
        ),
        422,
        "invalid_request",
    )


def test_a_breakdown_by_a_metadata_key(api: Api, clock: ManualClock) -> None:
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    start = clock()
    for index, (action, agent) in enumerate(
        [("chat_message", "Einstein"), ("document_summary", "Newton"), ("chat_message", None)]
    ):
        metadata = {} if agent is None else {"agent": agent}
        answer = api.client.post(
            "/v1/charges",
            json={"customer": "u1", "action": action, "metadata": metadata},
            headers=write(api.admin, f"k{index}"),
        )
        assert answer.status_code == 201, answer.text
    window = {"start": start.isoformat(), "end": (start + timedelta(days=1)).isoformat()}
    token = api.token("u1")
    path = "/v1/customers/u1/usage/breakdown"
    answer = api.client.get(
        path, params={"by": "dimension", "dimension": "agent", **window}, headers=token
    )
    assert answer.status_code == 200, answer.text
    breakdown = answer.json()
    assert (breakdown["by"], breakdown["dimension"]) == ("dimension", "agent")
    assert [(group["key"], group["spent"]) for group in breakdown["groups"]] == [
        ("Newton", 5),
        ("Einstein", 1),
        (None, 1),
    ]
    assert breakdown["groups"][0]["share"] == "0.7143"
    by_action = api.client.get(path, params={"by": "action", **window}, headers=token).json()
    assert by_action["dimension"] is None
    for params in (
        {"by": "dimension"},
        {"by": "dimension", "dimension": "a-b"},
        {"by": "dimension", "dimension": "a" * 65},
        {"by": "action", "dimension": "agent"},
    ):
        problem = assert_problem(
            api.client.get(path, params={**params, **window}, headers=token),
            422,
            "invalid_request",
        )
        assert [item["name"] for item in problem["invalid_params"]] == ["dimension"], params
