"""GET /v1/session: a browser holding only a customer session token learns whose it is (its
customer, member, permissions, expiry); a secret key, a missing or an expired token is refused
with problem+json."""

from __future__ import annotations

from api_helpers import Api, assert_problem, write

from creditkit import ManualClock


def test_a_session_token_learns_its_customer(api: Api) -> None:
    api.client.post("/v1/customers", json={"id": "ada"}, headers=write(api.admin, "c"))
    issued = api.kit.keys.issue_session("ada", permissions=["read", "buy"], ttl_seconds=600)
    answer = api.client.get("/v1/session", headers={"Authorization": f"Bearer {issued.token}"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "customer": "ada",
        "user": None,
        "permissions": ["buy", "read"],
        "expires_at": issued.expires_at.isoformat().replace("+00:00", "Z"),
    }


def test_other_credentials_are_refused_as_problems(api: Api, clock: ManualClock) -> None:
    api.client.post("/v1/customers", json={"id": "ada"}, headers=write(api.admin, "c"))
    assert_problem(api.client.get("/v1/session", headers=api.admin), 403, "session_token_required")
    assert_problem(api.client.get("/v1/session"), 401, "unauthorized")
    token = api.token("ada", ttl_seconds=60)
    clock.advance(seconds=61)
    assert_problem(api.client.get("/v1/session", headers=token), 401, "unauthorized")
