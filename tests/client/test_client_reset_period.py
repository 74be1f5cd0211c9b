"""``reset_period`` over HTTP returns what the embedded ``CreditKit`` returns (its replay of the
same idempotency key), and refuses as it does."""

from __future__ import annotations

import pytest

from creditkit import CreditKit, InvalidRequest
from creditkit.client import Client


def test_a_reset_over_http_equals_the_kits_replay(client: Client, kit: CreditKit) -> None:
    client.create_customer("ada")
    kit.subscribe("ada", "pro", collected_elsewhere=True)
    client.charge("ada", 500, idempotency_key="c1")
    reset = client.reset_period("ada", reason="billing dispute", idempotency_key="r1")
    assert reset == kit.reset_period("ada", reason="billing dispute", idempotency_key="r1")
    assert reset.allowance_period_start == kit.now()
    assert client.balance("ada").available == 2000
    item = next(item for item in client.history("ada").items if item.kind.value == "period_reset")
    assert (item.amount, item.metadata["reason"]) == (1500, "billing dispute")
    with pytest.raises(InvalidRequest) as blank:
        client.reset_period("ada", reason="", idempotency_key="r2")
    assert blank.value.field == "reason"
    assert kit.audit().ok
