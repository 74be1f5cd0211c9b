"""Webhook endpoints, the event log and alerts through the API."""

from __future__ import annotations

from datetime import timedelta

from api_helpers import Api, assert_problem, write

from creditkit.keys.schemas import Scope


def test_an_admin_registers_an_endpoint_and_reads_it_back(api: Api) -> None:
    registered = api.client.post(
        "/v1/webhook-endpoints",
        json={"url": "https://app.example/hooks", "event_types": ["credits.low"]},
        headers=write(api.admin, "hook-1"),
    )
    assert registered.status_code == 201, registered.text
    body = registered.json()
    assert body["secret"]
    endpoint_id = body["endpoint"]["id"]
    listed = api.client.get("/v1/webhook-endpoints", headers=api.admin).json()
    assert [item["id"] for item in listed] == [endpoint_id]
    assert "secret" not in listed[0]
    disabled = api.client.post(
        f"/v1/webhook-endpoints/{endpoint_id}/disable", headers=write(api.admin, "d")
    )
    assert disabled.json()["enabled"] is False
    assert (
        api.client.delete(f"/v1/webhook-endpoints/{endpoint_id}", headers=api.admin).status_code
        == 204
    )
    assert_problem(
        api.client.get(f"/v1/webhook-endpoints/{endpoint_id}", headers=api.admin),
        404,
        "webhook_endpoint_not_found",
    )
    writer = api.key(Scope.WRITE)
    assert_problem(
        api.client.get("/v1/webhook-endpoints", headers=writer), 403, "scope_insufficient"
    )


def test_spending_past_the_plans_thresholds_is_in_the_event_log(api: Api) -> None:
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    # The example's free plan: 100 credits, alerts at 10 left and at 50/80/100% used.
    for n, amount in enumerate((55, 40, 5)):
        charged = api.client.post(
            "/v1/charges",
            json={"customer": "u1", "amount": amount},
            headers=write(api.admin, f"k{n}"),
        )
        assert charged.status_code == 201
    events = api.client.get("/v1/events", params={"customer": "u1"}, headers=api.admin).json()
    types = [event["type"] for event in events]
    assert types.count("alert.triggered") >= 3
    assert "credits.low" in types
    assert "credits.depleted" in types


def test_a_customers_own_thresholds_replace_the_plans(api: Api) -> None:
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    set_alerts = api.client.put(
        "/v1/customers/u1/alerts", json={"credits_left": 70}, headers=api.admin
    )
    assert set_alerts.status_code == 200, set_alerts.text
    assert set_alerts.json()["source"] == "customer"
    assert api.client.get("/v1/customers/u1/alerts", headers=api.admin).json()["credits_left"] == 70
    cleared = api.client.delete("/v1/customers/u1/alerts", headers=api.admin)
    assert cleared.json()["source"] == "plan"
    assert_problem(
        api.client.put("/v1/customers/u1/alerts", json={"credits_left": 1.5}, headers=api.admin),
        422,
        "invalid_request",
    )


def test_an_admin_rotates_a_secret_once_per_key(api: Api) -> None:
    registered = api.client.post(
        "/v1/webhook-endpoints",
        json={"url": "https://app.example/hooks"},
        headers=write(api.admin, "hook-1"),
    ).json()
    path = f"/v1/webhook-endpoints/{registered['endpoint']['id']}/rotate-secret"
    assert_problem(api.client.post(path, headers=api.admin), 422, "invalid_request")
    rotated = api.client.post(path, headers=write(api.admin, "rotate-1"))
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["secret"].startswith("whsec_") and body["secret"] != registered["secret"]
    expires_at = body["endpoint"]["previous_secret_expires_at"]
    assert expires_at == (api.kit.now() + timedelta(hours=24)).isoformat().replace("+00:00", "Z")
    assert api.client.post(path, headers=write(api.admin, "rotate-1")).json() == body
    assert_problem(
        api.client.post(path, headers=write(api.key(Scope.WRITE), "rotate-2")),
        403,
        "scope_insufficient",
    )
    assert_problem(
        api.client.post("/v1/webhook-endpoints/999/rotate-secret", headers=write(api.admin, "r")),
        404,
        "webhook_endpoint_not_found",
    )
