"""A customer's time zone over HTTP: stated at creation or by PUT .../time-zone, shown by the
customer read; an unknown zone is a 422 problem+json naming ``time_zone``, with nothing
written."""

from __future__ import annotations

from typing import Any

from api_helpers import Api, assert_problem, write


def named_time_zone(problem: dict[str, Any]) -> bool:
    return [param["name"] for param in problem["invalid_params"]] == ["time_zone"]


def test_the_time_zone_is_stated_read_and_cleared(api: Api) -> None:
    created = api.client.post(
        "/v1/customers",
        json={"id": "tokyo", "time_zone": "Asia/Tokyo"},
        headers=write(api.admin, "c1"),
    )
    assert created.status_code == 201, created.text
    assert created.json()["time_zone"] == "Asia/Tokyo"
    read = api.client.get("/v1/customers/tokyo", headers=api.admin)
    assert read.json()["time_zone"] == "Asia/Tokyo"
    for key in ("z1", "z1"):  # the same key again changes nothing
        moved = api.client.put(
            "/v1/customers/tokyo/time-zone",
            json={"time_zone": "Europe/Paris"},
            headers=write(api.admin, key),
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["time_zone"] == "Europe/Paris"
    cleared = api.client.put(
        "/v1/customers/tokyo/time-zone", json={"time_zone": None}, headers=write(api.admin, "z2")
    )
    assert cleared.json()["time_zone"] is None
    assert api.kit.customer("tokyo").time_zone is None


def test_an_unknown_zone_is_a_problem_naming_time_zone(api: Api) -> None:
    refused = api.client.post(
        "/v1/customers",
        json={"id": "mars", "time_zone": "Mars/Olympus_Mons"},
        headers=write(api.admin, "c1"),
    )
    assert named_time_zone(assert_problem(refused, 422, "invalid_request"))
    assert api.client.get("/v1/customers/mars", headers=api.admin).status_code == 404
    api.kit.create_customer("ada")
    refused = api.client.put(
        "/v1/customers/ada/time-zone",
        json={"time_zone": "Mars/Olympus_Mons"},
        headers=write(api.admin, "z1"),
    )
    assert named_time_zone(assert_problem(refused, 422, "invalid_request"))
    assert api.kit.customer("ada").time_zone is None
