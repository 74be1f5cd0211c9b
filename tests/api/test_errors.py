"""Every refusal is problem+json naming its reason (and its field, for bad input)."""

from __future__ import annotations

from api_helpers import Api, assert_problem, write

from creditkit.keys.schemas import Scope


def test_a_write_without_a_key_is_401(api: Api) -> None:
    response = api.client.post(
        "/v1/charges", json={"customer": "u1", "amount": 1}, headers={"Idempotency-Key": "k"}
    )
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_an_unknown_key_is_401(api: Api) -> None:
    response = api.client.get(
        "/v1/customers/u1/balance", headers={"Authorization": "Bearer ck_secret_nope"}
    )
    assert_problem(response, 401, "unauthorized")


def test_a_revoked_key_is_401(api: Api) -> None:
    created = api.kit.keys.create_key("soon revoked", Scope.READ)
    headers = {"Authorization": f"Bearer {created.secret}"}
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    assert api.client.get("/v1/customers/u1/balance", headers=headers).status_code == 200
    assert api.kit.keys.revoke(created.key.key_id)
    assert_problem(api.client.get("/v1/customers/u1/balance", headers=headers), 401, "unauthorized")


def test_a_key_without_the_scope_is_403(api: Api) -> None:
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    reader = api.key(Scope.READ)
    body = assert_problem(
        api.client.post(
            "/v1/charges", json={"customer": "u1", "amount": 1}, headers=write(reader, "k")
        ),
        403,
        "scope_insufficient",
    )
    assert body["required_scope"] == "charge"
    charger = api.key(Scope.CHARGE)
    assert_problem(
        api.client.post("/v1/customers/u1/grants", json={"amount": 5}, headers=write(charger, "g")),
        403,
        "scope_insufficient",
    )
    ok = api.client.post(
        "/v1/charges", json={"customer": "u1", "amount": 1}, headers=write(charger, "k")
    )
    assert ok.status_code == 201


def test_bad_input_is_422_naming_the_field(api: Api) -> None:
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    cases = [
        ({"customer": "u1", "amount": 1.5}, "amount"),
        ({"customer": "u1", "amount": "1.5"}, "amount"),  # credits have no decimals
        ({"customer": "u1", "amount": -3}, "amount"),
        ({"customer": "u1", "action": "no_such_action"}, "action"),
        ({"customer": "u1", "amount": 1, "surprise": True}, "surprise"),
        ({"amount": 1}, "customer"),
    ]
    for index, (body, field) in enumerate(cases):
        response = api.client.post("/v1/charges", json=body, headers=write(api.admin, f"k{index}"))
        problem = assert_problem(response, 422, problem_code(response.json()))
        assert problem["invalid_params"][0]["name"] == field, problem
    missing_key = api.client.post(
        "/v1/charges", json={"customer": "u1", "amount": 1}, headers=api.admin
    )
    problem = assert_problem(missing_key, 422, "invalid_request")
    assert problem["invalid_params"][0]["name"] == "Idempotency-Key"
    assert api.kit.balance("u1").available == 100  # nothing was charged


def problem_code(body: dict[str, object]) -> str:
    code = body["code"]
    assert isinstance(code, str)
    return code


def test_short_credits_is_402_with_what_would_cover_it(api: Api) -> None:
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    body = assert_problem(
        api.client.post(
            "/v1/charges", json={"customer": "u1", "amount": 600}, headers=write(api.admin, "k")
        ),
        402,
        "insufficient_credits",
    )
    assert body["available"] == 100
    assert body["required"] == 600
    # 500 short: the cheapest packs of at least 500 credits, and the plan whose allowance covers.
    assert [pack["id"] for pack in body["packs"]] == [
        "credits_500",
        "credits_2000",
        "credits_10000",
    ]
    assert body["upgrade_to"] == "pro"
    replay = api.client.post(
        "/v1/charges", json={"customer": "u1", "amount": 600}, headers=write(api.admin, "k")
    )
    assert_problem(replay, 402, "insufficient_credits")


def test_the_same_key_for_another_request_is_409(api: Api) -> None:
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    first = api.client.post(
        "/v1/charges", json={"customer": "u1", "amount": 3}, headers=write(api.admin, "k")
    )
    again = api.client.post(
        "/v1/charges", json={"customer": "u1", "amount": 3}, headers=write(api.admin, "k")
    )
    assert first.status_code == again.status_code == 201
    # The same charge; a replay says what is left now, and is marked replayed.
    left = {"available_after": 97, "alert_crossed": None, "replayed": True}
    assert {**first.json(), **left} == again.json()
    body = assert_problem(
        api.client.post(
            "/v1/charges", json={"customer": "u1", "amount": 4}, headers=write(api.admin, "k")
        ),
        409,
        "idempotency_conflict",
    )
    assert body["idempotency_key"] == "k"
    assert api.kit.balance("u1").available == 97


def test_unknown_things_are_404(api: Api) -> None:
    assert_problem(
        api.client.get("/v1/customers/nobody/balance", headers=api.admin), 404, "unknown_customer"
    )
    assert_problem(api.client.get("/v1/holds/999", headers=api.admin), 404, "hold_not_found")
    assert_problem(api.client.get("/v1/nothing-here", headers=api.admin), 404, "not_found")


def test_an_entitlement_refusal_is_403_with_upgrade_to(api: Api) -> None:
    api.client.post(
        "/v1/customers", json={"id": "w1", "kind": "workspace"}, headers=write(api.admin, "w")
    )
    for user in ("u1", "u2"):
        api.client.post(
            "/v1/customers", json={"id": user, "subscribe": False}, headers=write(api.admin, user)
        )
    owner = api.client.put(
        "/v1/customers/w1/members/u1", json={"role": "owner"}, headers=write(api.admin, "m1")
    )
    assert owner.status_code == 200 and owner.json()["allowed"]
    body = assert_problem(
        api.client.put(
            "/v1/customers/w1/members/u2", json={"role": "editor"}, headers=write(api.admin, "m2")
        ),
        403,
        "limit_reached",
    )
    assert body["upgrade_to"] == "team"
    feature = api.client.get("/v1/customers/w1/entitlements/images", headers=api.admin).json()
    assert feature == {
        "allowed": False,
        "reason": "feature_not_in_plan",
        "upgrade_to": "pro",
        "used": None,
        "limit": None,
    }


def test_a_body_that_is_not_json_is_400_malformed_request(api: Api) -> None:
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    response = api.client.post(
        "/v1/charges",
        content=b'{"customer": "u1", "amount": 1',
        headers={**write(api.admin, "broken"), "Content-Type": "application/json"},
    )
    problem = assert_problem(response, 400, "malformed_request")
    assert "JSON" in problem["detail"]


def test_reasons_carry_no_library_prefix(api: Api) -> None:
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    response = api.client.post(
        "/v1/charges", json={"customer": "u1", "amount": 1.5}, headers=write(api.admin, "f")
    )
    assert response.status_code == 422
    assert "Value error" not in response.text
