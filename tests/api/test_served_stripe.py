"""Two ``creditkit serve --payments stripe`` processes on one PostgreSQL database, through the
official SDK against the local fake of Stripe's API (tests/payments/fake_stripe.py), sharing a
clock file (``clock_file``) that the tests move instead of sleeping:

- a pack's checkout paid, its signed webhook sent to both processes at once, fulfils once;
  forged, unsigned and stale webhooks are refused with nothing written; a refund takes back the
  unused credits and returns their share of the price through Stripe's refunds;
- a plan renews over three periods through signed ``invoice.paid`` webhooks, each period the
  invoice's, its allowance granted once, and nothing billed or charged by creditkit itself;
- a failed invoice leaves the plan past due until the grace period ends, then the default plan;
- an auto top-up is an off-session PaymentIntent on the saved card, charged by the worker.

The processes are started once for the module; each test has its own customer.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from test_two_processes import create_admin_key, server, source_environment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "payments"))
import fake_stripe
from payments_support import STRIPE_SECRET, stripe_event

from creditkit.payments.providers import SIGNATURE_HEADER, signature_header
from creditkit.server.serve import example_catalog
from creditkit.subscriptions.periods import add_months

pytestmark = pytest.mark.postgres

URLS = {"success_url": "https://app.test/paid", "cancel_url": "https://app.test/cancel"}
#: The example catalog's numbers (src/creditkit/catalog/example.yaml).
FREE_ALLOWANCE = 100
PRO_ALLOWANCE = 2000
GRACE_PERIOD_DAYS = 7
WORKER_SECONDS_MAX = 60


@dataclass
class Served:
    first: str
    second: str
    client: httpx.Client
    fake: fake_stripe.FakeStripe
    database_url: str
    clock_file: Path
    environment: dict[str, str]

    def now(self) -> datetime:
        return datetime.fromisoformat(self.clock_file.read_text())

    def set_clock(self, moment: datetime) -> None:
        """Moves both processes' clock: the file is replaced whole, never read half written."""
        written = self.clock_file.with_suffix(".new")
        written.write_text(moment.isoformat())
        os.replace(written, self.clock_file)

    def webhook(self, url: str, event_type: str, item: dict[str, Any], event_id: str) -> Any:
        payload, headers = stripe_event(event_type, item, event_id)
        answer = httpx.post(f"{url}/v1/payments/stripe/webhook", content=payload, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def customer(self, name: str) -> None:
        created = self.client.post(
            "/v1/customers", json={"id": name}, headers={"Idempotency-Key": f"customer-{name}"}
        )
        assert created.status_code == 201, created.text

    def available(self, name: str) -> int:
        return int(self.client.get(f"/v1/customers/{name}/balance").json()["available"])

    def subscription(self, name: str) -> dict[str, Any]:
        answer = self.client.get(f"/v1/customers/{name}/subscription")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def receipts(self, name: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.client.get(f"/v1/customers/{name}/receipts").json()[
            "items"
        ]
        return items

    def run_worker(self) -> str:
        """``creditkit worker --once`` beside the servers, on their settings and clock."""
        finished = subprocess.run(
            [sys.executable, "-m", "creditkit.cli", "worker", "--once", "--database-url",
             self.database_url, "--catalog", example_catalog()],
            env={**source_environment(), **self.environment},
            capture_output=True, text=True, timeout=WORKER_SECONDS_MAX,
        )  # fmt: skip
        assert finished.returncode == 0, finished.stderr
        return finished.stdout


@pytest.fixture(scope="module")
def served(module_postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    logs = tmp_path_factory.mktemp("served_stripe")
    clock_file = logs / "clock"
    clock_file.write_text(datetime.now(UTC).replace(microsecond=0).isoformat())
    secret = create_admin_key(module_postgres_url)
    with fake_stripe.running() as fake:
        environment = {
            "CREDITKIT_PAYMENTS": "stripe",
            "CREDITKIT_STRIPE_SECRET_KEY": "sk_test_fake",
            "CREDITKIT_STRIPE_WEBHOOK_SECRET": STRIPE_SECRET,
            "CREDITKIT_STRIPE_API_URL": fake.url,
            "CREDITKIT_CLOCK_FILE": str(clock_file),
        }
        # The plans' Products and Prices first, as docs/payments.md's going live says.
        synced = subprocess.run(
            [sys.executable, "-m", "creditkit.cli", "stripe", "sync", "--database-url",
             module_postgres_url, "--catalog", example_catalog()],
            env={**source_environment(), **environment},
            capture_output=True, text=True, timeout=WORKER_SECONDS_MAX,
        )  # fmt: skip
        assert synced.returncode == 0, synced.stderr
        assert synced.stdout and all(
            line.endswith(": created") for line in synced.stdout.splitlines()
        )
        with (
            server(module_postgres_url, logs / "one.log", environment) as first,
            server(module_postgres_url, logs / "two.log", environment) as second,
            httpx.Client(
                base_url=first, headers={"Authorization": f"Bearer {secret}"}, timeout=30
            ) as client,
        ):
            started = (logs / "one.log").read_text()
            assert "payments: Stripe (test mode)" in started
            assert "WARNING" not in started  # every plan's Price is there
            assert f"clock: SIMULATED, read from {clock_file}" in started
            served = Served(
                first, second, client, fake, module_postgres_url, clock_file, environment
            )
            # Stripe's test clock is the processes' clock: a subscription starts at their now.
            fake.clock = served.now
            yield served


def _count(database_url: str, table: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def _subscribe_to_pro(served: Served, name: str) -> str:
    """``name`` on pro through a Stripe checkout; the Stripe subscription's id."""
    served.customer(name)
    created = served.client.post(
        f"/v1/customers/{name}/checkout",
        json={"plan": "pro", "interval": "month", **URLS},
        headers={"Idempotency-Key": f"plan-{name}"},
    )
    assert created.status_code == 201, created.text
    paid = served.fake.pay(created.json()["session_id"])
    assert served.webhook(served.first, "checkout.session.completed", paid, f"evt_plan_{name}")[
        "applied"
    ]
    assert served.subscription(name)["plan"] == "pro"
    return str(paid["subscription"])


def test_a_pack_paid_on_stripe_is_granted_once_across_two_processes(served: Served) -> None:
    client, fake = served.client, served.fake
    served.customer("alice")
    before = served.available("alice")
    events_before = _count(served.database_url, "provider_events")
    created = client.post(
        "/v1/customers/alice/checkout",
        json={"pack": "credits_500", **URLS},
        headers={"Idempotency-Key": "k"},
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
            f"{served.first}/v1/payments/stripe/webhook", content=payload, headers=bad
        )
        assert refused.status_code == 400, refused.text
    assert _count(served.database_url, "provider_events") == events_before
    assert served.available("alice") == before

    # The same signed event to both processes at the same moment: fulfilled once.
    answers: list[httpx.Response] = []
    start = threading.Barrier(2)

    def send(url: str) -> None:
        start.wait()
        answers.append(
            httpx.post(f"{url}/v1/payments/stripe/webhook", content=payload, headers=good)
        )

    threads = [threading.Thread(target=send, args=(url,)) for url in (served.first, served.second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(answer.status_code for answer in answers) == [200, 200]
    assert sorted(answer.json()["applied"] for answer in answers) == [False, True]
    assert served.available("alice") == before + 500
    payment = client.get(f"/v1/payments/{session['payment_id']}").json()
    assert payment["status"] == "succeeded"
    assert [receipt["kind"] for receipt in served.receipts("alice")] == ["purchase"]
    assert _count(served.database_url, "provider_events") == events_before + 1

    # Half spent, then refunded: the unused half taken back, half the price returned through
    # Stripe's refunds.
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
    assert served.available("alice") == 0


def test_a_plan_renews_over_three_periods_through_paid_invoices(served: Served) -> None:
    subscription_id = _subscribe_to_pro(served, "bob")
    first = served.subscription("bob")
    intents_before = len(served.fake.calls("POST", "/v1/payment_intents"))
    # Stripe's periods start a few seconds before ours (its subscription was made first): the
    # periods in creditkit become Stripe's.
    in_force_end = first["current_period_end"]
    start = datetime.fromisoformat(in_force_end) - timedelta(seconds=7)
    for number in (1, 2, 3):
        end = add_months(start, 1)
        served.set_clock(start + timedelta(hours=1))  # Stripe pays a renewal about an hour in
        # The clock is past the period's end, the invoice not paid yet: creditkit renews
        # nothing itself, bills no line and grants no allowance.
        lines = served.client.get("/v1/customers/bob/billing-lines").json()
        assert served.available("bob") == 0
        assert served.subscription("bob")["current_period_end"] == in_force_end
        if number == 1:
            # The worker finds nothing to charge: Stripe collects.
            served.run_worker()
            assert len(served.fake.calls("POST", "/v1/payment_intents")) == intents_before

        item = served.fake.invoice(subscription_id, start, end)
        assert served.webhook(served.first, "invoice.paid", item, f"evt_bob_{number}")["applied"]
        # The same invoice under another event id, to the other process: nothing twice.
        served.webhook(served.second, "invoice.paid", item, f"evt_bob_{number}_again")
        subscription = served.subscription("bob")
        assert subscription["status"] == "active"
        assert (
            datetime.fromisoformat(subscription["current_period_start"]),
            datetime.fromisoformat(subscription["current_period_end"]),
        ) == (start, end)
        assert served.available("bob") == PRO_ALLOWANCE
        renewed = served.client.get("/v1/customers/bob/billing-lines").json()
        assert len(renewed) == len(lines) + 1
        in_force_end = subscription["current_period_end"]
        start = end
    assert [receipt["kind"] for receipt in served.receipts("bob")] == ["subscription"] * 4


def test_a_failed_invoice_is_past_due_then_the_default_plan_after_grace(served: Served) -> None:
    subscription_id = _subscribe_to_pro(served, "carol")
    period_end = datetime.fromisoformat(served.subscription("carol")["current_period_end"])
    served.set_clock(period_end + timedelta(hours=1))
    item = served.fake.invoice(subscription_id, period_end, add_months(period_end, 1), paid=False)
    served.webhook(served.first, "invoice.payment_failed", item, "evt_carol_failed")
    subscription = served.subscription("carol")
    assert (subscription["plan"], subscription["status"]) == ("pro", "past_due")
    assert served.available("carol") == 0

    served.set_clock(served.now() + timedelta(days=GRACE_PERIOD_DAYS - 1))
    assert served.subscription("carol")["status"] == "past_due"
    served.set_clock(served.now() + timedelta(days=2))
    subscription = served.subscription("carol")
    assert (subscription["plan"], subscription["status"]) == ("free", "active")
    assert served.available("carol") == FREE_ALLOWANCE


def test_an_auto_top_up_is_an_off_session_payment_intent_on_the_saved_card(
    served: Served,
) -> None:
    client, fake = served.client, served.fake
    served.customer("dave")
    created = client.post(
        "/v1/customers/dave/checkout",
        json={"pack": "credits_500", **URLS},
        headers={"Idempotency-Key": "dave-pack"},
    )
    paid = fake.pay(created.json()["session_id"], payment_method="pm_card_mastercard")
    served.webhook(served.second, "checkout.session.completed", paid, "evt_dave_pack")
    settings = client.put(
        "/v1/customers/dave/auto-top-up",
        json={"pack": "credits_500", "threshold": 50, "per_day_max": 1},
    )
    assert settings.status_code == 200, settings.text
    available = served.available("dave")
    spent = client.post(
        "/v1/charges",
        json={"customer": "dave", "amount": available - 10},
        headers={"Idempotency-Key": "dave-spend"},
    )
    assert spent.status_code == 201, spent.text
    intents_before = len(fake.calls("POST", "/v1/payment_intents"))
    served.run_worker()
    [intent] = fake.calls("POST", "/v1/payment_intents")[intents_before:]
    assert {
        name: intent.params[name]
        for name in ("amount", "currency", "payment_method", "off_session", "confirm")
    } == {
        "amount": "500",
        "currency": "usd",
        "payment_method": "pm_card_mastercard",
        "off_session": "true",
        "confirm": "true",
    }
    assert intent.params["customer"] == paid["customer"]
    assert served.available("dave") == 10 + 500
    assert [receipt["kind"] for receipt in served.receipts("dave")] == ["top_up", "purchase"]
    # Run again: the top-up is made, nothing is charged twice.
    served.run_worker()
    assert len(fake.calls("POST", "/v1/payment_intents")) == intents_before + 1
