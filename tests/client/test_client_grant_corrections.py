"""Grant corrections over HTTP return exactly what the embedded ``CreditKit`` returns (its replay
of the same idempotency key), and refuse as it does."""

from __future__ import annotations

from datetime import timedelta

import pytest

from creditkit import CreditKit, InsufficientCredits, InvalidRequest
from creditkit.client import Client


def test_voids_and_expiry_changes_equal_the_kits_replays(client: Client, kit: CreditKit) -> None:
    client.create_customer("ada")
    grant = client.grant("ada", 40, idempotency_key="g1", expires_at=kit.now() + timedelta(days=9))
    voided = client.void_grant(grant.id, 15, reason="granted twice", idempotency_key="v1")
    assert voided == kit.void_grant(grant.id, 15, reason="granted twice", idempotency_key="v1")
    assert voided.amount == 15
    later = kit.now() + timedelta(days=40)
    moved = client.change_grant_expiry(grant.id, later, reason="goodwill", idempotency_key="e1")
    assert moved == kit.change_grant_expiry(
        grant.id, later, reason="goodwill", idempotency_key="e1"
    )
    assert (moved.amount, moved.expires_at) == (25, later)
    never = client.change_grant_expiry(moved.id, None, reason="forever", idempotency_key="e2")
    assert never.expires_at is None
    rest = client.void_grant(never.id, reason="closed account", idempotency_key="v2")
    assert (rest.amount, client.history("ada").items[0].metadata["reason"]) == (
        25,
        "closed account",
    )
    with pytest.raises(InsufficientCredits):
        client.void_grant(never.id, 1, reason="r", idempotency_key="v3")
    with pytest.raises(InvalidRequest) as past:
        client.change_grant_expiry(
            grant.id, kit.now() - timedelta(days=1), reason="r", idempotency_key="e3"
        )
    assert past.value.field == "expires_at"
    assert kit.audit().ok
