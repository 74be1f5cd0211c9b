"""Two ``creditkit serve --payments stripe`` processes on one PostgreSQL database, through the
official SDK against the local fake of Stripe's API (tests/payments/fake_stripe.py): a pack's
checkout paid, its signed webhook sent to both processes at once, fulfils once; forged,
unsigned and stale webhooks are refused with nothing written; a refund takes back the unused
credits and returns their share of the price through Stripe's refunds."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from test_two_processes import create_admin_key, server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "payments"))
import fake_stripe
from payments_support import STRIPE_SECRET, stripe_event

from creditkit.payments.providers import SIGNATURE_HEADER, signature_header

pytestmark = pytest.mark.postgres

CHECKOUT = {
    "pack": "credits_500",
    "success_url": "https://app.test/paid",
    "cancel_url": "https://app.test/cancel",
}


def _events(database_url: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(sa.text("SELECT COUNT(*) FROM provider_events")).scalar_one()
            )
    finally:
        engine.dispose()


def test_a_pack_paid_on_stripe_is_granted_once_across_two_processes(
    postgres_url: str, tmp_path: Path
) -> None:
    secret = create_admin_key(postgres_url)
    headers = {"Authorization": f"Bearer {secret}"}
    with fake_stripe.running() as fake:
        payments = {
            "CREDITKIT_PAYMENTS": "stripe",
            "CREDITKIT_STRIPE_SECRET_KEY": "sk_test_fake",
            "CREDITKIT_STRIPE_WEBHOOK_SECRET": STRIPE_SECRET,
            "CREDITKIT_STRIPE_API_URL": fake.url,
        }
        with (
            server(postgres_url, tmp_path / "one.log", payments) as first,
            server(postgres_url, tmp_path / "two.log", payments) as second,
            httpx.Client(base_url=first, headers=headers, timeout=30) as client,
        ):
            assert "payments: Stripe (test mode)" in (tmp_path / "one.log").read_text()
            client.post("/v1/customers", json={"id": "alice"}, headers={"Idempotency-Key": "c"})
            before = client.get("/v1/customers/alice/balance").json()["available"]
            created = client.post(
                "/v1/customers/alice/checkout", json=CHECKOUT, headers={"Idempotency-Key": "k"}
            )
            assert created.status_code == 201, created.text
            session = created.json()
            assert session["provider"] == "stripe"
            assert session["url"].startswith("https://checkout.stripe.test/")
            paid = fake.pay(session["session_id"])

            # Forged, unsigned and stale: 400, nothing recorded, nothing granted.
            payload, good = stripe_event("checkout.session.completed", paid, "evt_paid")
            stale = signature_header(payload, STRIPE_SECRET, int(time.time()) - 3600)
            forged = signature_header(payload, "whsec_guess", int(time.time()))
            for bad in ({}, {SIGNATURE_HEADER: stale}, {SIGNATURE_HEADER: forged}):
                refused = httpx.post(
                    f"{first}/v1/payments/stripe/webhook", content=payload, headers=bad
                )
                assert refused.status_code == 400, refused.text
            assert _events(postgres_url) == 0
            assert client.get("/v1/customers/alice/balance").json()["available"] == before

            # The same signed event to both processes at the same moment.
            answers: list[httpx.Response] = []
            start = threading.Barrier(2)

            def send(url: str) -> None:
                start.wait()
                answers.append(
                    httpx.post(f"{url}/v1/payments/stripe/webhook", content=payload, headers=good)
                )

            threads = [threading.Thread(target=send, args=(url,)) for url in (first, second)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert sorted(answer.status_code for answer in answers) == [200, 200]
            assert sorted(answer.json()["applied"] for answer in answers) == [False, True]
            balance = client.get("/v1/customers/alice/balance").json()["available"]
            assert balance == before + 500
            payment = client.get(f"/v1/payments/{session['payment_id']}").json()
            assert payment["status"] == "succeeded"
            assert _events(postgres_url) == 1

            # Half spent, then refunded: the unused half taken back, half the price returned
            # through Stripe's refunds.
            spent = client.post(
                "/v1/charges",
                json={"customer": "alice", "amount": before + 250},
                headers={"Idempotency-Key": "spend"},
            )
            assert spent.status_code == 201, spent.text
            refund = client.post(
                f"/v1/payments/{session['payment_id']}/refund", headers={"Idempotency-Key": "r"}
            )
            assert refund.status_code == 200, refund.text
            assert refund.json()["credits"] == 250
            assert refund.json()["amount"] == {"amount_minor": 250, "currency": "USD"}
            [sent] = fake.calls("POST", "/v1/refunds")
            assert (sent.params["payment_intent"], sent.params["amount"]) == (
                paid["payment_intent"],
                "250",
            )
            assert client.get("/v1/customers/alice/balance").json()["available"] == 0
