"""The customer's time zone through the Client answers as the embedded kit does."""

from __future__ import annotations

import pytest

from creditkit import CreditKit, InvalidRequest
from creditkit.client import Client


def test_the_time_zone_equals_the_kits(client: Client, kit: CreditKit) -> None:
    created = client.create_customer("tokyo", time_zone="Asia/Tokyo")
    assert created == kit.customer("tokyo")
    assert created.time_zone == "Asia/Tokyo"
    moved = client.set_time_zone("tokyo", "Europe/Paris", idempotency_key="z1")
    assert moved == kit.customer("tokyo")
    assert moved.time_zone == "Europe/Paris"
    assert client.set_time_zone("tokyo", None, idempotency_key="z2").time_zone is None
    with pytest.raises(InvalidRequest) as refused:
        client.set_time_zone("tokyo", "Mars/Olympus_Mons", idempotency_key="z3")
    assert refused.value.field == "time_zone"
    with pytest.raises(InvalidRequest) as refused:
        client.create_customer("mars", time_zone="Mars/Olympus_Mons")
    assert refused.value.field == "time_zone"
