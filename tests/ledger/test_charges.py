import pytest

from creditkit import (
    Charge,
    ChargeRequest,
    CreditKit,
    InsufficientCredits,
    InvalidAmount,
    UnknownCustomer,
)


def test_charge_spends_and_refuses_when_short(ck: CreditKit) -> None:
    ck.grant("u1", 10, idempotency_key="g1")
    charge = ck.charge("u1", 4, action="ask_anything", idempotency_key="c1", metadata={"n": 1})
    assert (charge.amount, charge.action, charge.metadata) == (4, "ask_anything", {"n": 1})
    with pytest.raises(InsufficientCredits) as short:
        ck.charge("u1", 7, idempotency_key="c2")
    assert (short.value.available, short.value.required) == (6, 7)
    assert ck.balance("u1").available == 6
    assert ck.audit().ok


def test_charge_exactly_the_balance(ck: CreditKit) -> None:
    ck.grant("u1", 10, idempotency_key="g1")
    ck.charge("u1", 10, idempotency_key="c1")
    assert ck.balance("u1").available == 0
    with pytest.raises(InsufficientCredits):
        ck.charge("u1", 1, idempotency_key="c2")


def test_batch_outcomes_are_independent(ck: CreditKit) -> None:
    ck.grant("u1", 10, idempotency_key="g1")
    ck.grant("u2", 1, idempotency_key="g2")
    outcomes = ck.charge_many(
        [
            ChargeRequest("u1", 6, "b1"),
            ChargeRequest("u1", 6, "b2"),  # only 4 left: refused
            ChargeRequest("u1", 4, "b3"),  # still fits
            ChargeRequest("u2", 0, "b4"),  # bad input
            ChargeRequest("ghost", 1, "b5"),
            ChargeRequest("u2", 1, "b6"),
        ]
    )
    kinds = [type(outcome).__name__ for outcome in outcomes]
    assert kinds == [
        "Charge",
        "InsufficientCredits",
        "Charge",
        "InvalidAmount",
        "UnknownCustomer",
        "Charge",
    ]
    assert isinstance(outcomes[3], InvalidAmount)
    assert isinstance(outcomes[4], UnknownCustomer)
    assert ck.balance("u1").available == 0
    assert ck.balance("u2").available == 0
    assert ck.audit().ok


def test_batch_replays_and_repeats(ck: CreditKit) -> None:
    ck.grant("u1", 10, idempotency_key="g1")
    first = ck.charge("u1", 2, idempotency_key="k1")
    outcomes = ck.charge_many(
        [
            ChargeRequest("u1", 2, "k1"),  # replay of an earlier call
            ChargeRequest("u1", 3, "k2"),
            ChargeRequest("u1", 3, "k2"),  # the same key twice in one batch
            ChargeRequest("u1", 4, "k2"),  # ... with another amount: conflict
        ]
    )
    assert outcomes[0] == first
    assert outcomes[1] == outcomes[2]
    assert type(outcomes[3]).__name__ == "IdempotencyConflict"
    assert ck.balance("u1").available == 5


def test_batch_size_is_bounded(ck: CreditKit) -> None:
    with pytest.raises(ValueError, match="at most"):
        ck.charge_many([ChargeRequest("u1", 1, f"k{i}") for i in range(10_001)])


def test_a_charge_answers_with_the_balance_left(ck: CreditKit) -> None:
    ck.grant("u1", 10, idempotency_key="g1")
    first = ck.charge("u1", 3, idempotency_key="k1")
    assert first.available_after == 7
    batch = ck.charge_many([ChargeRequest("u1", 2, "k2"), ChargeRequest("u1", 4, "k3")])
    assert [c.available_after for c in batch if isinstance(c, Charge)] == [5, 1]
    hold = ck.reserve("u1", 1, idempotency_key="r1")
    committed = ck.commit(hold.id, 1, idempotency_key="c1")
    assert committed.available_after == 0
    # A retry is rebuilt from the rows: equal to the first answer; what it says is left is
    # what is left now.
    again = ck.charge("u1", 3, idempotency_key="k1")
    assert again == first and again.available_after == 0
    assert ck.commit(hold.id, 1, idempotency_key="c1").available_after == 0
