"""Holds that nest, stretch and settle in parts, through the HTTP ``Client``: the same answers
and the same typed refusals as the embedded ``CreditKit``."""

from __future__ import annotations

import pytest

from creditkit import (
    CreditKit,
    HoldHasOpenChildren,
    HoldParentExceeded,
    HoldStatus,
    IdempotencyConflict,
)
from creditkit.client import Client


def test_nested_extended_and_partly_committed_holds_over_http(
    client: Client, kit: CreditKit
) -> None:
    client.create_customer("ada")
    client.grant("ada", 100, idempotency_key="g1")
    parent = client.reserve("ada", 60, idempotency_key="p")
    child = client.reserve("ada", 20, parent=parent.id, idempotency_key="c")
    assert (child.parent_id, child.remaining, child.expires_at) == (
        parent.id,
        20,
        kit.hold(child.id).expires_at,
    )
    with pytest.raises(HoldParentExceeded) as short:
        client.reserve("ada", 41, parent=parent.id, idempotency_key="c2")
    assert (short.value.parent_id, short.value.available, short.value.requested) == (
        parent.id,
        40,
        41,
    )
    extended = client.extend(child.id, 10, timeout_seconds=600, idempotency_key="x")
    assert extended == kit.extend(child.id, 10, timeout_seconds=600, idempotency_key="x")
    assert (extended.amount, extended.remaining) == (30, 30)
    with pytest.raises(IdempotencyConflict):
        client.extend(child.id, 11, timeout_seconds=600, idempotency_key="x")
    part = client.commit(child.id, 12, final=False, idempotency_key="part")
    assert (part.amount, kit.hold(child.id).remaining) == (12, 18)
    with pytest.raises(HoldHasOpenChildren) as open_children:
        client.commit(parent.id, 1, idempotency_key="p-commit")
    assert open_children.value.children == [child.id]
    released = client.release(parent.id, idempotency_key="p-release")
    assert released.status is HoldStatus.RELEASED
    assert kit.hold(child.id).status is HoldStatus.RELEASED
    assert client.balance("ada").available == 188  # 100 granted + the plan's 100, less 12
    assert kit.audit().ok
