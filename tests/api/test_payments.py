"""Checkout, the sandbox's payment, webhooks, refunds, receipts and auto top-up through the API."""

from __future__ import annotations

from api_helpers import Api, assert_problem, write

URLS = {"success_url": "https://app.example/paid", "cancel_url": "https://app.example/"}


def test_a_pack_bought_through_checkout_is_granted_once_and_refundable(api: Api) -> None:
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    token = api.token("u1")
    session = api.client.post(
        "/v1/customers/u1/checkout", json={"pack": "credits_500", **URLS}, headers=write(token, "o")
    )
    assert session.status_code == 201, session.text
    body = session.json()
    assert body["amount"] == {"amount_minor": 500, "currency": "USD"}
    for _attempt in range(2):  # paying twice pays once
        paid = api.client.post(
            f"/v1/sandbox/checkouts/{body['session_id']}/pay",
            json={},
            headers=write(api.admin, "p"),
        )
        assert paid.status_code == 200, paid.text
    assert api.kit.balance("u1").available == 100 + 500
    payment = api.client.get(f"/v1/payments/{body['payment_id']}", headers=token).json()
    assert payment["status"] == "succeeded"
    receipts = api.client.get("/v1/customers/u1/receipts", headers=token).json()["items"]
    assert [receipt["total"]["amount_minor"] for receipt in receipts] == [500]
    refund = api.client.post(
        f"/v1/payments/{body['payment_id']}/refund", headers=write(api.admin, "r")
    )
    assert refund.status_code == 200, refund.text
    assert refund.json()["amount"] == {"amount_minor": 500, "currency": "USD"}
    assert api.kit.balance("u1").available == 100
    assert_problem(
        api.client.post(f"/v1/payments/{body['payment_id']}/refund", headers=write(token, "r2")),
        403,
        "secret_key_required",
    )


def test_a_token_buys_for_its_own_customer_only(api: Api) -> None:
    for customer in ("u1", "u2"):
        api.client.post("/v1/customers", json={"id": customer}, headers=write(api.admin, customer))
    assert_problem(
        api.client.post(
            "/v1/customers/u2/checkout",
            json={"pack": "credits_500", **URLS},
            headers=write(api.token("u1"), "o"),
        ),
        403,
        "customer_forbidden",
    )


def test_a_webhook_with_a_bad_signature_is_400_and_changes_nothing(api: Api) -> None:
    response = api.client.post(
        "/v1/payments/sandbox/webhook",
        content=b'{"id": "evt_forged", "type": "checkout.session.completed"}',
        headers={"Sandbox-Signature": "t=1,v1=00"},
    )
    assert_problem(response, 400, "webhook_rejected")
    assert_problem(
        api.client.post("/v1/payments/paypal/webhook", content=b"{}"), 422, "invalid_request"
    )


def test_an_auto_top_up_is_set_and_read_back(api: Api) -> None:
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    saved = api.client.put(
        "/v1/customers/u1/payment-method",
        json={"payment_method": "pm_card_visa"},
        headers=api.admin,
    )
    assert saved.status_code == 204, saved.text
    settings = api.client.put(
        "/v1/customers/u1/auto-top-up",
        json={"pack": "credits_500", "threshold": 20, "per_day_max": 2},
        headers=api.admin,
    )
    assert settings.status_code == 200, settings.text
    assert api.client.get("/v1/customers/u1/auto-top-up", headers=api.admin).json() == {
        "customer": "u1",
        "pack": "credits_500",
        "unit": "credits",
        "threshold": 20,
        "per_day_max": 2,
        "target": None,  # one pack a top-up (no balance to fill to)
    }
    api.client.post(
        "/v1/charges", json={"customer": "u1", "amount": 90}, headers=write(api.admin, "k")
    )
    with api.kit.worker() as worker:
        report = worker.run_once()
    assert report.payments_succeeded == 1
    assert api.kit.balance("u1").available == 10 + 500
    removed = api.client.delete("/v1/customers/u1/auto-top-up", headers=api.admin)
    assert removed.json() == {"removed": True}
    again = api.client.delete("/v1/customers/u1/auto-top-up", headers=api.admin)
    assert again.json() == {"removed": False}
    assert api.client.get("/v1/customers/u1/auto-top-up", headers=api.admin).json() is None


def test_subscribing_to_a_priced_plan_points_at_checkout_and_bills_nothing(api: Api) -> None:
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
    body = assert_problem(
        api.client.post(
            "/v1/customers/u1/subscription", json={"plan": "pro"}, headers=write(api.admin, "s")
        ),
        409,
        "checkout_required",
    )
    assert body["checkout"] == "/v1/customers/u1/checkout"
    assert api.kit.plan_of("u1").id == "free"
    lines = api.client.get("/v1/customers/u1/billing-lines", headers=api.admin)
    assert (lines.status_code, lines.json()) == (200, [])
    # Free plans need no checkout; a priced one the app collects itself is recorded for it.
    free = api.client.post(
        "/v1/customers/u1/subscription", json={"plan": "free"}, headers=write(api.admin, "f")
    )
    assert free.status_code == 200, free.text
    elsewhere = api.client.post(
        "/v1/customers/u1/subscription",
        json={"plan": "pro", "collected_elsewhere": True},
        headers=write(api.admin, "e"),
    )
    assert elsewhere.status_code == 200, elsewhere.text
    assert api.kit.plan_of("u1").id == "pro"
