"""Session tokens: one customer only, within their permissions; in a workspace, buying, changing
the plan, gifting and managing members are for its owner and admins."""

from __future__ import annotations

import pytest
from api_helpers import Api, assert_problem, write

from creditkit import ManualClock


@pytest.fixture
def people(api: Api) -> Api:
    """Users u1 (owner of w1), u2 (editor of w1), u3 (admin of w1), u4 (outsider); w1 on the
    team plan; 500 purchased credits for u1 and for w1."""
    admin = api.admin
    for user in ("u1", "u2", "u3", "u4"):
        api.client.post("/v1/customers", json={"id": user}, headers=write(admin, f"c-{user}"))
    api.client.post(
        "/v1/customers", json={"id": "w1", "kind": "workspace"}, headers=write(admin, "c-w1")
    )
    api.client.post(
        "/v1/customers/w1/subscription",
        json={"plan": "team", "collected_elsewhere": True},
        headers=write(admin, "s-w1"),
    )
    for user, role in (("u1", "owner"), ("u2", "editor"), ("u3", "admin")):
        response = api.client.put(
            f"/v1/customers/w1/members/{user}", json={"role": role}, headers=write(admin, user)
        )
        assert response.status_code == 200, response.text
    for customer in ("u1", "w1"):
        api.client.post(
            f"/v1/customers/{customer}/grants",
            json={"amount": 500},
            headers=write(admin, f"g-{customer}"),
        )
    return api


READS = [
    "/v1/customers/{c}",
    "/v1/customers/{c}/balance",
    "/v1/customers/{c}/history",
    "/v1/customers/{c}/subscription",
    "/v1/customers/{c}/limits",
    "/v1/customers/{c}/billing-lines",
]


def test_a_token_reads_its_own_customer_and_no_other(people: Api) -> None:
    token = people.token("u1")
    for path in READS:
        assert people.client.get(path.format(c="u1"), headers=token).status_code == 200, path
        assert_problem(
            people.client.get(path.format(c="u4"), headers=token), 403, "customer_forbidden"
        )


def test_a_token_never_charges_grants_or_creates(people: Api) -> None:
    token = people.token("u1")
    attempts = [
        ("/v1/charges", {"customer": "u1", "amount": 1}),
        ("/v1/holds", {"customer": "u1", "amount": 1}),
        ("/v1/customers/u1/grants", {"amount": 1000}),
        ("/v1/customers", {"id": "u9"}),
        ("/v1/customers/u1/subscription", {"plan": "team"}),
    ]
    for path, body in attempts:
        assert_problem(
            people.client.post(path, json=body, headers=write(token, path)),
            403,
            "secret_key_required",
        )
    assert people.kit.balance("u1").available == 600


def test_a_token_gifts_its_own_credits_only(people: Api) -> None:
    token = people.token("u1")
    gift = people.client.post(
        "/v1/transfers",
        json={"from_customer": "u1", "to_customer": "u4", "amount": 50},
        headers=write(token, "gift-1"),
    )
    assert gift.status_code == 201, gift.text
    assert_problem(
        people.client.post(
            "/v1/transfers",
            json={"from_customer": "u4", "to_customer": "u1", "amount": 10},
            headers=write(token, "gift-2"),
        ),
        403,
        "customer_forbidden",
    )
    read_only = people.token("u1", permissions=["read"])
    assert_problem(
        people.client.post(
            "/v1/transfers",
            json={"from_customer": "u1", "to_customer": "u4", "amount": 10},
            headers=write(read_only, "gift-3"),
        ),
        403,
        "permission_missing",
    )
    assert people.kit.balance("u4").available == 100 + 50


@pytest.mark.parametrize(
    ("user", "may_manage"), [("u1", True), ("u3", True), ("u2", False), ("u4", None)]
)
def test_in_a_workspace_only_the_owner_and_admins_buy_and_manage(
    people: Api, user: str, may_manage: bool | None
) -> None:
    token = people.token("w1", user=user)
    balance = people.client.get("/v1/customers/w1/balance", headers=token)
    change = people.client.post(
        "/v1/customers/w1/subscription/change",
        json={"plan": "pro"},
        headers=write(token, f"change-{user}"),
    )
    member = people.client.put(
        "/v1/customers/w1/members/u4", json={"role": "viewer"}, headers=write(token, f"m-{user}")
    )
    gift = people.client.post(
        "/v1/transfers",
        json={"from_customer": "w1", "to_customer": "u4", "amount": 5},
        headers=write(token, f"gift-{user}"),
    )
    if may_manage is None:  # not a member: nothing at all
        for response in (balance, change, member, gift):
            assert_problem(response, 403, "member_required")
        return
    assert balance.status_code == 200
    if may_manage:
        assert change.status_code == 200, change.text
        assert member.status_code == 200, member.text
        assert gift.status_code == 201, gift.text
    else:
        for response in (change, member, gift):
            assert_problem(response, 403, "role_insufficient")


def test_a_workspace_token_must_name_its_member(people: Api) -> None:
    assert_problem(
        people.client.get("/v1/customers/w1/balance", headers=people.token("w1")),
        403,
        "member_required",
    )


def test_an_expired_or_tampered_token_is_401(people: Api, clock: ManualClock) -> None:
    token = people.token("u1", ttl_seconds=60)
    assert people.client.get("/v1/customers/u1/balance", headers=token).status_code == 200
    tampered = {"Authorization": token["Authorization"][:-2] + "xx"}
    assert_problem(
        people.client.get("/v1/customers/u1/balance", headers=tampered), 401, "unauthorized"
    )
    clock.advance(seconds=60)
    assert_problem(
        people.client.get("/v1/customers/u1/balance", headers=token), 401, "unauthorized"
    )


def test_a_backend_issues_tokens_and_a_token_cannot(people: Api) -> None:
    issued = people.client.post(
        "/v1/customers/u1/session-tokens",
        json={"ttl_seconds": 120},
        headers=write(people.admin, "t1"),
    )
    assert issued.status_code == 201, issued.text
    token = {"Authorization": f"Bearer {issued.json()['token']}"}
    assert people.client.get("/v1/customers/u1/balance", headers=token).status_code == 200
    assert_problem(
        people.client.post("/v1/customers/u1/session-tokens", json={}, headers=write(token, "t2")),
        403,
        "secret_key_required",
    )
    assert_problem(
        people.client.post(
            "/v1/customers/u1/session-tokens",
            json={"ttl_seconds": 7200},
            headers=write(people.admin, "t3"),
        ),
        422,
        "invalid_request",
    )


def test_a_tokens_idempotency_keys_are_its_customers_own(people: Api) -> None:
    """The same key from two customers' browsers is two writes, and neither sees the other's."""
    for customer in ("u1", "w1"):
        token = people.token(customer, user="u1" if customer == "w1" else None)
        gift = people.client.post(
            "/v1/transfers",
            json={"from_customer": customer, "to_customer": "u4", "amount": 7},
            headers=write(token, "same-key"),
        )
        assert gift.status_code == 201, gift.text
    assert people.kit.balance("u4").available == 100 + 14
