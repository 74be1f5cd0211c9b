from datetime import timedelta

import pytest

from creditkit import CreditKit, ManualClock


def test_expired_credits_stop_counting_at_expires_at_exactly(
    ck: CreditKit, clock: ManualClock
) -> None:
    expires_at = clock() + timedelta(days=30)
    ck.grant("u1", 50, source="allowance", expires_at=expires_at, idempotency_key="g1")
    clock.set(expires_at - timedelta(microseconds=1))
    balance = ck.balance("u1")
    assert balance.available == 50
    assert balance.next_expiry is not None
    assert (balance.next_expiry.expires_at, balance.next_expiry.amount) == (expires_at, 50)
    clock.set(expires_at)
    assert ck.balance("u1").available == 0


def test_sweep_writes_the_remainder_to_breakage_once(ck: CreditKit, clock: ManualClock) -> None:
    ck.grant(
        "u1", 50, source="allowance", expires_at=clock() + timedelta(days=1), idempotency_key="g1"
    )
    ck.grant("u2", 20, source="promo", expires_at=clock() + timedelta(days=2), idempotency_key="g2")
    ck.charge("u1", 15, idempotency_key="c1")
    clock.advance(days=3)
    report = ck.tick()
    assert (report.grants_expired, report.holds_expired) == (1 + 1, 0)
    assert ck.tick().grants_expired == 0
    item = ck.history("u1").items[0]
    assert (item.kind, item.amount, item.available_change) == ("expiry", 35, -35)
    assert ck.audit().ok


def test_a_charge_never_spends_expired_credits(ck: CreditKit, clock: ManualClock) -> None:
    ck.grant("u1", 50, expires_at=clock() + timedelta(hours=1), idempotency_key="g1")
    ck.grant("u1", 5, idempotency_key="g2")
    clock.advance(hours=1)
    charge = ck.charge("u1", 5, idempotency_key="c1")
    assert len(charge.draws) == 1
    kinds = [item.kind for item in ck.history("u1").items]
    assert kinds[:2] == ["charge", "expiry"]  # swept by the charge's own transaction


def test_history_pages_newest_first(ck: CreditKit) -> None:
    for number in range(7):
        ck.grant("u1", number + 1, idempotency_key=f"g{number}")
    first = ck.history("u1", limit=3)
    assert [item.amount for item in first.items] == [7, 6, 5]
    assert first.next_cursor is not None
    second = ck.history("u1", limit=3, cursor=first.next_cursor)
    assert [item.amount for item in second.items] == [4, 3, 2]
    assert second.next_cursor is not None
    last = ck.history("u1", limit=3, cursor=second.next_cursor)
    assert [item.amount for item in last.items] == [1]
    assert last.next_cursor is None


def test_expire_is_tick_under_its_deprecated_name(ck: CreditKit, clock: ManualClock) -> None:
    ck.grant("u1", 5, source="promo", expires_at=clock() + timedelta(days=1), idempotency_key="g")
    clock.advance(days=2)
    with pytest.warns(DeprecationWarning, match=r"call tick\(\)"):
        report = ck.expire()
    assert report.grants_expired == 1
    assert ck.tick().grants_expired == 0
