"""Writes through the API: exactly once per Idempotency-Key, holds end to end, rate limits
shared through the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import sqlalchemy as sa
from api_helpers import Api, assert_problem, write
from fastapi.testclient import TestClient
from test_two_processes import window_counts

from creditkit import CreditKit, ManualClock, Money
from creditkit.server import create_app


def test_customer_and_subscription_writes_replay_their_first_response(api: Api) -> None:
    created = api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    again = api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    assert created.status_code == again.status_code == 201
    assert created.json() == again.json()
    assert_problem(
        api.client.post("/v1/customers", json={"id": "u2"}, headers=write(api.admin, "c")),
        409,
        "idempotency_conflict",
    )
    upgrade = api.client.post(
        "/v1/customers/u1/subscription/change", json={"plan": "pro"}, headers=write(api.admin, "p")
    )
    replay = api.client.post(
        "/v1/customers/u1/subscription/change", json={"plan": "pro"}, headers=write(api.admin, "p")
    )
    assert upgrade.status_code == replay.status_code == 200
    assert upgrade.json() == replay.json()
    assert upgrade.json()["plan"] == "pro"
    # Upgraded once: the allowance was raised by the difference once, not twice.
    assert api.kit.balance("u1").available == 2000


def test_a_hold_is_reserved_committed_and_read_back(api: Api) -> None:
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    hold = api.client.post(
        "/v1/holds",
        json={"customer": "u1", "amount": 40, "timeout_seconds": 60},
        headers=write(api.admin, "h"),
    )
    assert hold.status_code == 201, hold.text
    hold_id = hold.json()["id"]
    assert api.client.get("/v1/customers/u1/balance", headers=api.admin).json()["held"] == 40
    charge = api.client.post(
        f"/v1/holds/{hold_id}/commit", json={"amount": 25}, headers=write(api.admin, "h-commit")
    )
    assert charge.status_code == 200 and charge.json()["amount"] == 25
    assert api.client.get(f"/v1/holds/{hold_id}", headers=api.admin).json()["status"] == "committed"
    assert_problem(
        api.client.post(f"/v1/holds/{hold_id}/release", headers=write(api.admin, "h-release")),
        409,
        "hold_already_committed",
    )
    assert api.kit.balance("u1").available == 75


def test_a_plans_rate_limit_refuses_with_retry_after_then_resets(
    api: Api, clock: ManualClock
) -> None:
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    clock.set(clock().replace(second=45))
    statuses = [
        api.client.post(
            "/v1/charges", json={"customer": "u1", "amount": 1}, headers=write(api.admin, f"k{n}")
        ).status_code
        for n in range(31)
    ]
    assert statuses == [201] * 30 + [429]  # the free plan: 30 a minute
    refused = api.client.post(
        "/v1/charges", json={"customer": "u1", "amount": 1}, headers=write(api.admin, "late")
    )
    body = assert_problem(refused, 429, "rate_limited")
    assert refused.headers["retry-after"] == "15"
    assert body["limit_per_minute"] == 30
    clock.advance(seconds=15)
    fresh = api.client.post(
        "/v1/charges", json={"customer": "u1", "amount": 1}, headers=write(api.admin, "next")
    )
    assert fresh.status_code == 201
    assert api.kit.balance("u1").available == 100 - 31


def test_two_apps_on_one_database_share_the_rate_window(api: Api, clock: ManualClock) -> None:
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    clock.set(clock().replace(second=0))
    other_kit = CreditKit(api.kit.database.url, catalog=api.kit.catalog, clock=clock)
    with TestClient(create_app(other_kit), raise_server_exceptions=False) as other:
        clients = [api.client, other]
        statuses = [
            clients[n % 2]
            .post(
                "/v1/charges",
                json={"customer": "u1", "amount": 1},
                headers=write(api.admin, f"k{n}"),
            )
            .status_code
            for n in range(32)
        ]
    other_kit.close()
    assert statuses.count(201) == 30
    assert statuses[-2:] == [429, 429]


def test_removing_a_member_says_whether_the_user_was_one(api: Api) -> None:
    """(``DELETE …/limits/{limit}/resources/{id}`` answers the same way: tests/client.)"""
    for customer, kind in (("w1", "workspace"), ("u1", "user")):
        api.client.post(
            "/v1/customers",
            json={"id": customer, "kind": kind, "subscribe": kind == "workspace"},
            headers=write(api.admin, customer),
        )
    added = api.client.put(
        "/v1/customers/w1/members/u1", json={"role": "owner"}, headers=write(api.admin, "m")
    )
    assert added.status_code == 200, added.text
    first = api.client.delete("/v1/customers/w1/members/u1", headers=api.admin)
    assert (first.status_code, first.json()) == (200, {"removed": True})
    again = api.client.delete("/v1/customers/w1/members/u1", headers=api.admin)
    assert (again.status_code, again.json()) == (200, {"removed": False})


def test_a_grant_carries_the_cost_basis_it_is_given(api: Api) -> None:
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    paid = {"amount_minor": 499, "currency": "USD"}
    grant = api.client.post(
        "/v1/customers/u1/grants",
        json={"amount": 50, "cost_basis": paid},
        headers=write(api.admin, "g1"),
    )
    assert grant.status_code == 201, grant.text
    assert grant.json()["cost_basis"] == paid
    recorded = api.kit.grant("u1", 50, idempotency_key="g1", cost_basis=Money(499, "USD"))
    assert recorded.cost_basis == Money(499, "USD")  # the kit's replay: the grant as written
    refusals = [
        ({"pack": "credits_500", "cost_basis": paid}, "cost_basis"),
        (
            {"amount": 5, "cost_basis": {"amount_minor": 4.99, "currency": "USD"}},
            "cost_basis.amount_minor",
        ),
        (
            {"amount": 5, "cost_basis": {"amount_minor": -1, "currency": "USD"}},
            "cost_basis.amount_minor",
        ),
    ]
    for n, (body, field) in enumerate(refusals):
        refused = assert_problem(
            api.client.post(
                "/v1/customers/u1/grants", json=body, headers=write(api.admin, f"x{n}")
            ),
            422,
            "invalid_request",
        )
        assert refused["invalid_params"][0]["name"] == field


def test_a_retry_of_an_applied_charge_replays_past_the_rate_limit(
    api: Api, clock: ManualClock
) -> None:
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    clock.set(clock().replace(second=0))
    first = api.client.post(
        "/v1/charges", json={"customer": "u1", "amount": 1}, headers=write(api.admin, "k0")
    )
    for n in range(1, 31):
        api.client.post(
            "/v1/charges", json={"customer": "u1", "amount": 1}, headers=write(api.admin, f"k{n}")
        )
    retry = api.client.post(
        "/v1/charges", json={"customer": "u1", "amount": 1}, headers=write(api.admin, "k0")
    )
    assert retry.status_code == 201
    # The same charge; what it says is left is what is left at the retry (later charges moved
    # it), and a retry crosses no alert threshold.
    balance_left = ("available_after", "alert_crossed", "replayed")
    replayed = {name: value for name, value in retry.json().items() if name not in balance_left}
    assert replayed == {n: v for n, v in first.json().items() if n not in balance_left}
    assert [retry.json()[name] for name in balance_left] == [70, None, True]
    assert [first.json()[name] for name in balance_left] == [99, False, False]
    assert api.kit.balance("u1").available == 100 - 30


def test_a_rate_limited_charge_costs_one_commit(api: Api, clock: ManualClock) -> None:
    """The plan's rate-limit count is written in the charge's own transaction: one commit per
    request, the count included (and a refused charge counts too)."""
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    clock.set(clock().replace(second=0))
    with write_commits(api.kit) as commits:
        charged = api.client.post(
            "/v1/charges", json={"customer": "u1", "amount": 1}, headers=write(api.admin, "k1")
        )
        refused = api.client.post(
            "/v1/charges", json={"customer": "u1", "amount": 500}, headers=write(api.admin, "k2")
        )
    assert (charged.status_code, refused.status_code) == (201, 402)
    assert len(commits) == 2
    statuses = [
        api.client.post(
            "/v1/charges", json={"customer": "u1", "amount": 1}, headers=write(api.admin, f"n{n}")
        ).status_code
        for n in range(29)
    ]
    # 30 a minute: the two above counted, so the 29th of these is the 31st request.
    assert statuses == [201] * 28 + [429]


def test_a_rate_limited_hold_costs_one_commit_and_keeps_its_key_free(
    api: Api, clock: ManualClock
) -> None:
    """A reserve counts against the plan's rate limit in its own transaction, as a charge does:
    one commit per request. Past the limit: 429 with Retry-After, the count kept and the key
    left free (the same request goes through once the window has moved); a retry of a reserve
    that went through gets its first answer, not a 429."""
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    clock.set(clock().replace(second=50))

    def reserve(key: str) -> httpx.Response:
        return api.client.post(
            "/v1/holds",
            json={"customer": "u1", "amount": 1, "timeout_seconds": 600},
            headers=write(api.admin, key),
        )

    with write_commits(api.kit) as commits:
        first = reserve("h0")
    assert first.status_code == 201, first.text
    assert len(commits) == 1
    statuses = [reserve(f"h{n}").status_code for n in range(1, 31)]
    assert statuses == [201] * 29 + [429]  # the free plan: 30 a minute
    refused = reserve("late")
    body = assert_problem(refused, 429, "rate_limited")
    assert refused.headers["retry-after"] == "10"
    assert body["limit_per_minute"] == 30
    retry = reserve("h0")
    assert (retry.status_code, retry.json()) == (201, first.json())
    assert api.kit.balance("u1").held == 30
    # Every request counted, the refused ones and the retry too.
    assert sum(window_counts(api.kit, "u1")) == 33
    clock.advance(seconds=10)
    again = reserve("late")
    assert again.status_code == 201, again.text
    assert api.kit.balance("u1").held == 31


@contextmanager
def write_commits(kit: CreditKit) -> Iterator[list[int]]:
    """The write transactions committed while the block runs (one item each). Reads
    (authentication, the 402's offers) commit nothing, so they are not counted."""
    commits: list[int] = []

    def listener(connection: sa.Connection) -> None:
        if not connection.get_execution_options().get("creditkit_read_only"):
            commits.append(1)

    sa.event.listen(kit.database.engine, "commit", listener)
    try:
        yield commits
    finally:
        sa.event.remove(kit.database.engine, "commit", listener)
