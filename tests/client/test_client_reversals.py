"""Reversals and late usage over HTTP return what the embedded ``CreditKit`` returns (its replay
of the same idempotency key), and refuse as it does, naming the field."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from creditkit import CreditKit, IdempotencyConflict, InvalidRequest
from creditkit.client import Client


def test_a_reversal_over_http_equals_the_kits_replay(client: Client, kit: CreditKit) -> None:
    client.create_customer("ada")
    client.grant("ada", 100, idempotency_key="g1")
    client.charge("ada", 30, idempotency_key="c1")
    before = client.balance("ada").available
    reversal = client.reverse_charge("c1", 10, reason="over-counted", idempotency_key="r1")
    replayed = kit.reverse_charge("c1", 10, reason="over-counted", idempotency_key="r1")
    assert reversal.id == replayed.id and reversal.amount == replayed.amount == 10
    assert (reversal.remaining, reversal.returned) == (replayed.remaining, replayed.returned)
    assert client.balance("ada").available == before + 10
    item = client.history("ada").items[0]
    assert (item.kind, item.metadata["charge_key"]) == ("reversal", "c1")
    with pytest.raises(IdempotencyConflict):
        client.reverse_charge("c1", 11, reason="over-counted", idempotency_key="r1")
    with pytest.raises(InvalidRequest) as too_much:
        client.reverse_charge("c1", 21, reason="r", idempotency_key="r2")
    assert too_much.value.field == "amount"
    with pytest.raises(InvalidRequest) as unknown:
        client.reverse_charge("nope", reason="r", idempotency_key="r3")
    assert unknown.value.field == "charge_key"
    assert kit.audit().ok


def test_late_usage_over_http(client: Client, kit: CreditKit, base_url: str, secret: str) -> None:
    client.create_customer("ada")
    client.grant("ada", 100, idempotency_key="g1")
    late = client.charge(
        "ada", 5, idempotency_key="c1", occurred_at=kit.now() - timedelta(minutes=30)
    )
    assert late.amount == 5
    with pytest.raises(InvalidRequest) as refused:
        client.charge("ada", 5, idempotency_key="c2", occurred_at=kit.now() - timedelta(hours=2))
    assert refused.value.field == "occurred_at"
    answer = httpx.post(
        f"{base_url}/v1/reversals",
        json={"charge_key": "c1", "reason": "r"},
        headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": "r1"},
    )
    assert answer.status_code == 201 and answer.json()["amount"] == 5
    bad = httpx.post(
        f"{base_url}/v1/reversals",
        json={"charge_key": "g1", "reason": "r"},
        headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": "r2"},
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert kit.audit().ok
