from datetime import timedelta

import pytest

from creditkit import (
    CreditKit,
    HoldAmountExceeded,
    IdempotencyConflict,
    InsufficientCredits,
    ManualClock,
)


def test_every_write_replays_its_first_outcome(ck: CreditKit, clock: ManualClock) -> None:
    grant = ck.grant("u1", 100, expires_at=clock() + timedelta(days=1), idempotency_key="g1")
    charge = ck.charge("u1", 5, action="a", idempotency_key="c1")
    hold = ck.reserve("u1", 20, idempotency_key="r1")
    committed = ck.commit(hold.id, 7, idempotency_key="r1-c")
    other = ck.reserve("u1", 3, idempotency_key="r2")
    released = ck.release(other.id, idempotency_key="r2-x")
    transfer = ck.transfer("u1", "u2", 10, idempotency_key="t1")
    clock.advance(hours=1)
    assert ck.grant("u1", 100, expires_at=grant.expires_at, idempotency_key="g1") == grant
    assert ck.charge("u1", 5, action="a", idempotency_key="c1") == charge
    assert ck.reserve("u1", 20, idempotency_key="r1") == hold
    assert ck.commit(hold.id, 7, idempotency_key="r1-c") == committed
    assert ck.release(other.id, idempotency_key="r2-x") == released
    assert ck.transfer("u1", "u2", 10, idempotency_key="t1") == transfer
    assert ck.balance("u1").available == 100 - 5 - 7 - 10
    assert ck.audit().ok


def test_a_refusal_replays_as_the_same_refusal(ck: CreditKit) -> None:
    ck.grant("u1", 3, idempotency_key="g1")
    with pytest.raises(InsufficientCredits) as first:
        ck.charge("u1", 5, idempotency_key="c1")
    ck.grant("u1", 100, idempotency_key="g2")
    with pytest.raises(InsufficientCredits) as again:
        ck.charge("u1", 5, idempotency_key="c1")
    assert again.value.to_fields() == first.value.to_fields()
    assert ck.balance("u1").available == 103


@pytest.mark.parametrize(
    ("second", "field"),
    [
        ({"customer": "u2", "amount": 5}, "customer"),
        ({"customer": "u1", "amount": 6}, "amount"),
        ({"customer": "u1", "amount": 5, "action": "b"}, "action"),
        ({"customer": "u1", "amount": 5, "metadata": {"x": 1}}, "metadata"),
    ],
)
def test_a_different_request_under_a_key_names_the_field(
    ck: CreditKit, second: dict[str, object], field: str
) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    ck.grant("u2", 100, idempotency_key="g2")
    ck.charge("u1", 5, action="a", idempotency_key="c1")
    second = {"action": "a", **second}
    with pytest.raises(IdempotencyConflict) as conflict:
        ck.charge(idempotency_key="c1", **second)  # type: ignore[arg-type]
    assert conflict.value.field == field
    assert ck.balance("u1").available == 95


def test_one_key_for_two_kinds_of_write_is_a_conflict(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="k1")
    with pytest.raises(IdempotencyConflict) as conflict:
        ck.charge("u1", 100, idempotency_key="k1")
    assert conflict.value.field == "operation"


def test_equal_amounts_in_other_spellings_are_the_same_request(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    hold = ck.reserve("u1", 10, idempotency_key="r1")
    first = ck.commit(hold.id, 4, idempotency_key="c1")
    assert ck.commit(hold.id, "4", idempotency_key="c1") == first


def test_a_kind_conflict_on_customer_creation(ck: CreditKit) -> None:
    with pytest.raises(IdempotencyConflict) as conflict:
        ck.create_customer("u1", kind="workspace")
    assert conflict.value.field == "kind"


def test_refusals_of_every_kind_of_write_are_recorded(ck: CreditKit) -> None:
    """A refused reserve, transfer or commit replays as the same refusal, even after the
    customer could afford it."""
    ck.grant("u1", 10, idempotency_key="g1")
    hold = ck.reserve("u1", 5, idempotency_key="r0")
    with pytest.raises(InsufficientCredits):
        ck.reserve("u1", 6, idempotency_key="r1")
    with pytest.raises(InsufficientCredits):
        ck.transfer("u1", "u2", 6, idempotency_key="t1")
    with pytest.raises(HoldAmountExceeded):
        ck.commit(hold.id, 6, idempotency_key="c1")
    ck.grant("u1", 100, idempotency_key="g2")
    with pytest.raises(InsufficientCredits):
        ck.reserve("u1", 6, idempotency_key="r1")
    with pytest.raises(InsufficientCredits):
        ck.transfer("u1", "u2", 6, idempotency_key="t1")
    with pytest.raises(HoldAmountExceeded):
        ck.commit(hold.id, 6, idempotency_key="c1")
    assert ck.balance("u1").available == 105
    assert ck.audit().ok
