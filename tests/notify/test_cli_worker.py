"""``creditkit worker``: one round with ``--once``, on the database the environment names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from notify_helpers import ALERTS_CATALOG, Receiver

from creditkit import CreditKit
from creditkit.cli import main


def test_one_round_delivers_and_reports(
    database_url: str, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(ALERTS_CATALOG)
    with CreditKit(database_url, catalog=catalog) as ck:
        ck.register_webhook_endpoint(receiver.url, idempotency_key="e1")
        ck.create_customer("ada")
        ck.charge("ada", 20, idempotency_key="c1")  # credits.low, then credits.depleted
    monkeypatch.setenv("CREDITKIT_DATABASE_URL", database_url)
    assert main(["worker", "--once", "--catalog", str(catalog)]) == 0
    assert "2 events fanned out; deliveries: 2 delivered" in capsys.readouterr().out
    assert [json.loads(r.body)["type"] for r in receiver.received] == [
        "credits.low",
        "credits.depleted",
    ]


def test_a_bad_poll_interval_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker", "--poll-seconds", "0"]) == 2
    assert "--poll-seconds" in capsys.readouterr().err
