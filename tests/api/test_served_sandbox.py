"""A served sandbox (real ``creditkit serve --payments sandbox`` processes): the forgery of issue
11 (an unauthenticated ``POST /v1/payments/sandbox/webhook`` for a pending checkout, signed with
the old constant secret or not at all) is refused and grants nothing; two servers give
different session ids to their first payment; without a provider chosen, serve refuses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
from test_two_processes import create_admin_key, server, source_environment

from creditkit.payments.providers import SIGNATURE_HEADER, signature_header

CHECKOUT = {
    "pack": "credits_500",
    "success_url": "https://app.test/paid",
    "cancel_url": "https://app.test/cancel",
}


def _pending_checkout(client: httpx.Client) -> tuple[int, str]:
    created = client.post("/v1/customers", json={"id": "alice"}, headers={"Idempotency-Key": "c"})
    assert created.status_code in (200, 201), created.text
    session = client.post(
        "/v1/customers/alice/checkout", json=CHECKOUT, headers={"Idempotency-Key": "k1"}
    )
    assert session.status_code == 201, session.text
    body = session.json()
    return body["payment_id"], body["session_id"]


def test_a_forged_sandbox_webhook_is_refused_and_grants_nothing(tmp_path: Path) -> None:
    session_ids = []
    for name in ("one", "two"):
        database_url = f"sqlite:///{tmp_path / name}.db"
        secret = create_admin_key(database_url)
        with (
            server(database_url, tmp_path / f"{name}.log") as url,
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {secret}"}) as client,
        ):
            payment_id, session_id = _pending_checkout(client)
            session_ids.append(session_id)
            before = client.get("/v1/customers/alice/balance").json()["available"]
            payload = json.dumps(
                {
                    "id": "evt_forged",
                    "type": "checkout.session.completed",
                    "data": {"object": {"id": session_id, "payment_status": "paid"}},
                }
            ).encode()
            for headers in ({SIGNATURE_HEADER: signature_header(payload, "whsec_sandbox", 0)}, {}):
                forged = httpx.post(
                    f"{url}/v1/payments/sandbox/webhook", content=payload, headers=headers
                )
                assert forged.status_code == 400, forged.text
                assert forged.headers["content-type"] == "application/problem+json"
            assert client.get(f"/v1/payments/{payment_id}").json()["status"] == "pending"
            assert client.get("/v1/customers/alice/balance").json()["available"] == before
            log = (tmp_path / f"{name}.log").read_text()
            assert "payments: SANDBOX. Payments are simulated" in log
    assert session_ids[0] != session_ids[1]


def test_serve_refuses_to_start_without_a_payment_provider(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "creditkit.cli", "serve", "--port", "1"]
    finished = subprocess.run(
        [*command, "--database-url", f"sqlite:///{tmp_path / 'x.db'}"],
        env={
            name: value
            for name, value in source_environment().items()
            if name != "CREDITKIT_PAYMENTS"
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 1
    assert finished.stderr.startswith("creditkit: payments: choose who takes payments")
    assert "Traceback" not in finished.stderr
