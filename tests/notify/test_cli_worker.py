"""``creditkit worker``: one round with ``--once``, on the database the environment names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from notify_helpers import ALERTS_CATALOG, RECEIVERS_ON_THIS_MACHINE, Receiver

from creditkit import CreditKit, InvalidRequest
from creditkit.cli import main
from creditkit.server.serve import Settings, open_kit


def test_one_round_delivers_and_reports(
    database_url: str, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(ALERTS_CATALOG)
    with CreditKit(database_url, catalog=catalog, webhook_policy=RECEIVERS_ON_THIS_MACHINE) as ck:
        ck.register_webhook_endpoint(receiver.url, idempotency_key="e1")
        ck.create_customer("ada")  # customer.created, credits.granted (the allowance)
        ck.charge("ada", 20, idempotency_key="c1")  # credits.low, then credits.depleted
    monkeypatch.setenv("CREDITKIT_DATABASE_URL", database_url)
    # The receiver is on this machine: the development setting, announced on stderr.
    monkeypatch.setenv("CREDITKIT_ALLOW_PRIVATE_WEBHOOKS", "true")
    assert main(["worker", "--once", "--catalog", str(catalog)]) == 0
    printed = capsys.readouterr()
    assert "4 events fanned out; deliveries: 4 delivered" in printed.out
    assert "PRIVATE TARGETS ALLOWED" in printed.err
    assert [json.loads(r.body)["type"] for r in receiver.received] == [
        "customer.created",
        "credits.granted",
        "credits.low",
        "credits.depleted",
    ]


def test_a_bad_poll_interval_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker", "--poll-seconds", "0"]) == 2
    assert "--poll-seconds" in capsys.readouterr().err


def test_webhooks_rotate_prints_the_new_secret_once(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with CreditKit(database_url) as ck:
        registered = ck.register_webhook_endpoint("https://example.com/a", idempotency_key="e1")
    monkeypatch.setenv("CREDITKIT_DATABASE_URL", database_url)
    endpoint_id = str(registered.endpoint.id)
    assert main(["webhooks", "rotate", endpoint_id, "--idempotency-key", "r1"]) == 0
    printed = capsys.readouterr()
    with CreditKit(database_url) as ck:
        rotated = ck.rotate_webhook_secret(registered.endpoint.id, idempotency_key="r1")
    assert printed.out == f"endpoint {endpoint_id} (https://example.com/a): {rotated.secret}\n"
    assert "the previous one also signs until" in printed.err
    assert main(["webhooks", "rotate", "999"]) == 1
    assert capsys.readouterr().err == "creditkit: no webhook endpoint 999\n"


def test_secret_key_prints_a_key_that_serve_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["secret-key"]) == 0
    key = capsys.readouterr().out.strip()
    assert Fernet(key)  # 32 url-safe base64 bytes


def test_serve_and_worker_refuse_postgresql_without_a_secret_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CREDITKIT_SECRET_KEY")
    unreachable = "postgresql://nobody@127.0.0.1:1/none"  # refused before any connection
    settings = Settings.resolve({"database_url": unreachable, "payments": "sandbox"}, {}, None)
    with pytest.raises(InvalidRequest, match="set CREDITKIT_SECRET_KEY") as refused:
        open_kit(settings)
    assert refused.value.field == "secret_key"
    assert main(["worker", "--once", "--database-url", unreachable]) == 1
    assert capsys.readouterr().err.startswith("creditkit: secret_key: set CREDITKIT_SECRET_KEY")
