"""Text the database cannot store (NUL) is refused by name before anything is written."""

from __future__ import annotations

import pytest

from creditkit import CreditKit, InvalidRequest


def test_nul_in_an_id_or_a_key_is_refused_by_name(ck: CreditKit) -> None:
    with pytest.raises(InvalidRequest) as raised:
        ck.create_customer("a\x00b")
    assert raised.value.field == "customer"
    ck.grant("u1", 5, idempotency_key="g1")
    with pytest.raises(InvalidRequest) as raised:
        ck.charge("u1", 1, idempotency_key="k\x00")
    assert raised.value.field == "idempotency_key"
    assert ck.balance("u1").available == 5
