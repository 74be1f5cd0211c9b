from datetime import timedelta
from decimal import Decimal

import pytest

from creditkit import (
    CreditKit,
    GrantSource,
    InvalidAmount,
    InvalidRequest,
    ManualClock,
    Money,
    UnknownCustomer,
    UnknownUnit,
)


def test_grant_adds_available_credits_and_reports_itself(ck: CreditKit) -> None:
    grant = ck.grant("u1", 100, idempotency_key="g1", cost_basis=Money(999, "usd"))
    assert grant.amount == 100
    assert grant.source is GrantSource.PURCHASE
    assert grant.cost_basis == Money(999, "USD")
    assert grant.expires_at is None
    balance = ck.balance("u1")
    assert balance.available == 100
    assert [(g.grant_id, g.remaining) for g in balance.grants] == [(grant.id, 100)]


@pytest.mark.parametrize(
    ("source", "priority", "transferable"),
    [
        ("allowance", 10, False),
        ("promo", 20, False),
        ("earned", 30, False),
        ("gift", 40, True),
        ("purchase", 50, True),
        ("refund", 50, False),
        ("adjustment", 50, False),
        ("migration", 50, False),
    ],
)
def test_defaults_by_source(ck: CreditKit, source: str, priority: int, transferable: bool) -> None:
    grant = ck.grant("u1", 1, source=source, idempotency_key=f"g-{source}")
    assert (grant.priority, grant.transferable) == (priority, transferable)


def test_explicit_priority_and_transferable_override_defaults(ck: CreditKit) -> None:
    grant = ck.grant("u1", 5, source="promo", priority=1, transferable=True, idempotency_key="g1")
    assert (grant.priority, grant.transferable) == (1, True)


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        (0, "positive"),
        (-5, "positive"),
        (1.5, "float"),
        (True, "int"),
        ("abc", "not a number"),
        (Decimal("1.5"), "decimal places"),
        ("NaN", "finite"),
        (10**16, "at most"),
    ],
)
def test_invalid_amounts_name_the_field_and_write_nothing(
    ck: CreditKit, amount: object, reason: str
) -> None:
    with pytest.raises(InvalidAmount) as refused:
        ck.grant("u1", amount, idempotency_key="g1")  # type: ignore[arg-type]
    assert refused.value.field == "amount"
    assert reason in refused.value.reason
    assert ck.history("u1").items == ()
    # The key was not spent by the refusal of bad input.
    assert ck.grant("u1", 1, idempotency_key="g1").amount == 1


def test_scaled_unit_is_exact(ck: CreditKit) -> None:
    ck.grant("u1", "1.50", unit="usd", idempotency_key="g1")
    ck.grant("u1", Decimal("0.25"), unit="usd", idempotency_key="g2")
    ck.grant("u1", 2, unit="usd", idempotency_key="g3")
    ck.charge("u1", "0.05", unit="usd", idempotency_key="c1")
    assert ck.balance("u1", unit="usd").available == Decimal("3.70")
    with pytest.raises(InvalidAmount, match="more decimal places"):
        ck.charge("u1", "0.001", unit="usd", idempotency_key="c2")


def test_units_never_mix(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    assert ck.balance("u1", unit="usd").available == 0
    with pytest.raises(UnknownUnit) as unknown:
        ck.grant("u1", 1, unit="gems", idempotency_key="g2")
    assert unknown.value.field == "unit"


def test_unknown_customer(ck: CreditKit) -> None:
    with pytest.raises(UnknownCustomer) as unknown:
        ck.grant("nobody", 1, idempotency_key="g1")
    assert unknown.value.customer == "nobody"


def test_invalid_source_priority_and_times(ck: CreditKit, clock: ManualClock) -> None:
    with pytest.raises(InvalidRequest) as refused:
        ck.grant("u1", 1, source="bonus", idempotency_key="g1")
    assert refused.value.field == "source"
    with pytest.raises(InvalidRequest) as refused:
        ck.grant("u1", 1, priority=10**9, idempotency_key="g1")
    assert refused.value.field == "priority"
    with pytest.raises(InvalidRequest) as refused:
        ck.grant("u1", 1, expires_at=clock(), idempotency_key="g1")
    assert refused.value.field == "expires_at"
    with pytest.raises(InvalidRequest) as refused:
        ck.grant("u1", 1, expires_at=clock().replace(tzinfo=None), idempotency_key="g1")
    assert refused.value.field == "expires_at"


def test_future_grant_counts_from_effective_at(ck: CreditKit, clock: ManualClock) -> None:
    starts = clock() + timedelta(days=1)
    grant = ck.grant("u1", 40, effective_at=starts, idempotency_key="g1")
    balance = ck.balance("u1")
    assert balance.available == 0
    assert [g.grant_id for g in balance.upcoming] == [grant.id]
    clock.set(starts)
    assert ck.balance("u1").available == 40


def test_customers_are_created_once(ck: CreditKit) -> None:
    first = ck.customer("w1")
    again = ck.create_customer("w1", kind="workspace")
    assert again == first
    with pytest.raises(InvalidRequest) as refused:
        ck.create_customer("u3", kind="team")
    assert refused.value.field == "kind"
