"""Analytics by kind of spender: how much of what every customer consumed went through agents,
API keys or members, and how much customers spent themselves, from the rollups and the edges'
rows alike."""

from __future__ import annotations

from datetime import timedelta

from creditkit import CreditKit, ManualClock


def test_consumption_by_spender_kind_across_customers(kit: CreditKit, clock: ManualClock) -> None:
    start = clock() - timedelta(minutes=30)
    for customer in ("c1", "c2"):
        kit.create_customer(customer)
        kit.grant(customer, 1_000, idempotency_key=f"{customer}-grant")
        kit.create_spender(customer, "bot", kind="agent")
        kit.create_spender(customer, "sub", kind="sub_agent", parent="bot")
    kit.create_spender("c2", "key", kind="api_key")
    kit.charge("c1", 10, spender="bot", idempotency_key="a")
    kit.charge("c2", 20, spender="sub", idempotency_key="b")
    clock.advance(hours=2)  # into a whole hour of the rollups, then an edge
    kit.charge("c2", 5, spender="bot", idempotency_key="c")
    kit.charge("c2", 7, spender="key", idempotency_key="d")
    kit.charge("c1", 3, idempotency_key="e")
    figures = kit.analytics(start=start, end=clock() + timedelta(minutes=1))
    assert [(g.key, int(g.spent), g.charges) for g in figures.consumed_by_spender_kind] == [
        ("sub_agent", 20, 1),
        ("agent", 15, 2),
        ("api_key", 7, 1),
        (None, 3, 1),
    ]
    assert sum(g.spent for g in figures.consumed_by_spender_kind) == figures.consumed
