from datetime import timedelta

from creditkit import CreditKit, ManualClock


def _remaining(ck: CreditKit, customer: str = "u1") -> list[tuple[int, int]]:
    return [(g.grant_id, int(g.remaining)) for g in ck.balance(customer).grants]


def test_lowest_priority_number_burns_first(ck: CreditKit) -> None:
    purchase = ck.grant("u1", 10, source="purchase", idempotency_key="g1")
    allowance = ck.grant("u1", 10, source="allowance", idempotency_key="g2")
    charge = ck.charge("u1", 12, idempotency_key="c1")
    assert [(d.grant_id, d.amount) for d in charge.draws] == [(allowance.id, 10), (purchase.id, 2)]
    assert _remaining(ck) == [(purchase.id, 8)]


def test_soonest_expiry_first_and_never_expiring_last(ck: CreditKit, clock: ManualClock) -> None:
    never = ck.grant("u1", 5, priority=1, idempotency_key="g1")
    later = ck.grant(
        "u1", 5, priority=1, expires_at=clock() + timedelta(days=9), idempotency_key="g2"
    )
    sooner = ck.grant(
        "u1", 5, priority=1, expires_at=clock() + timedelta(days=3), idempotency_key="g3"
    )
    assert [g for g, _ in _remaining(ck)] == [sooner.id, later.id, never.id]
    charge = ck.charge("u1", 11, idempotency_key="c1")
    assert [(d.grant_id, d.amount) for d in charge.draws] == [
        (sooner.id, 5),
        (later.id, 5),
        (never.id, 1),
    ]


def test_oldest_first_when_priority_and_expiry_tie(ck: CreditKit, clock: ManualClock) -> None:
    older = ck.grant("u1", 5, idempotency_key="g1")
    clock.advance(hours=1)
    newer = ck.grant("u1", 5, idempotency_key="g2")
    charge = ck.charge("u1", 7, idempotency_key="c1")
    assert [(d.grant_id, d.amount) for d in charge.draws] == [(older.id, 5), (newer.id, 2)]


def test_priority_beats_expiry(ck: CreditKit, clock: ManualClock) -> None:
    expiring_purchase = ck.grant(
        "u1", 5, source="purchase", expires_at=clock() + timedelta(days=1), idempotency_key="g1"
    )
    allowance = ck.grant("u1", 5, source="allowance", idempotency_key="g2")
    charge = ck.charge("u1", 6, idempotency_key="c1")
    assert [d.grant_id for d in charge.draws] == [allowance.id, expiring_purchase.id]


def test_history_shows_the_grants_that_paid(ck: CreditKit) -> None:
    first = ck.grant("u1", 3, source="allowance", idempotency_key="g1")
    second = ck.grant("u1", 10, idempotency_key="g2")
    ck.charge("u1", 5, action="ask_anything", idempotency_key="c1")
    item = ck.history("u1").items[0]
    assert item.kind == "charge"
    assert item.action == "ask_anything"
    assert item.available_change == -5
    assert [(d.grant_id, d.amount) for d in item.draws] == [(first.id, 3), (second.id, 2)]
