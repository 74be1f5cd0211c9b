"""Usage by spender and by subtree: ``usage_breakdown(by="spender")`` with each spender's kind,
and a ``spender`` (``subtree``) filter on breakdowns and summaries, read from the rollups'
whole hours and the ledger's rows at the edges alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from creditkit import CreditKit, InvalidRequest, ManualClock
from creditkit.usage import BreakdownBy, UsageGroup

START = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)  # the clock fixture's start (conftest)
#: From inside the first hour to inside the third: two partial edges around one whole hour.
RANGE = (START + timedelta(minutes=5), START + timedelta(hours=2, minutes=55))


def _tree(kit: CreditKit) -> None:
    kit.grant("u1", 1_000, idempotency_key="grant")
    kit.create_spender("u1", "einstein", kind="agent")
    kit.create_spender("u1", "einstein-search", kind="sub_agent", parent="einstein")
    kit.create_spender("u1", "curie", kind="agent")
    kit.create_spender("u1", "key-1", kind="api_key")


def _spend(kit: CreditKit, clock: ManualClock) -> None:
    """einstein 5 + 4, einstein-search 7 + a commit of 6, curie 3 + 9, key-1 1, the customer
    itself 2; then 50 by curie after the range."""
    clock.advance(minutes=10)  # 10:10, the first edge
    kit.charge("u1", 5, spender="einstein", idempotency_key="e1")
    kit.charge("u1", 3, spender="curie", idempotency_key="c1")
    kit.charge("u1", 2, idempotency_key="self")
    clock.advance(minutes=80)  # 11:30, the whole hour
    kit.charge("u1", 7, spender="einstein-search", idempotency_key="s1")
    kit.charge("u1", 4, spender="einstein", idempotency_key="e2")
    kit.charge("u1", 1, spender="key-1", idempotency_key="k1")
    hold = kit.reserve(
        "u1", 10, spender="einstein-search", idempotency_key="h1", timeout_seconds=7_200
    )
    clock.advance(minutes=80)  # 12:50, the last edge
    kit.commit(hold.id, 6, idempotency_key="h1-commit")
    kit.charge("u1", 9, spender="curie", idempotency_key="c2")
    clock.advance(minutes=10)  # 13:00, after the range
    kit.charge("u1", 50, spender="curie", idempotency_key="c3")


def _rows(groups: tuple[UsageGroup, ...]) -> list[tuple[str | None, str | None, int, int]]:
    return [(group.key, group.kind, int(group.spent), group.charges) for group in groups]


@pytest.fixture
def spent(kit: CreditKit, clock: ManualClock) -> CreditKit:
    _tree(kit)
    _spend(kit, clock)
    return kit


def test_by_spender_groups_who_spent_with_their_kinds(spent: CreditKit) -> None:
    breakdown = spent.usage_breakdown("u1", by="spender", start=RANGE[0], end=RANGE[1])
    assert breakdown.by is BreakdownBy.SPENDER
    assert (breakdown.spent, breakdown.charges) == (37, 8)
    assert _rows(breakdown.groups) == [
        ("einstein-search", "sub_agent", 13, 2),
        ("curie", "agent", 12, 2),
        ("einstein", "agent", 9, 2),
        (None, None, 2, 1),  # the customer itself
        ("key-1", "api_key", 1, 1),
    ]
    limited = spent.usage_breakdown("u1", by="spender", start=RANGE[0], end=RANGE[1], limit=2)
    assert (limited.others_spent, limited.others_charges) == (12, 4)


def test_a_subtree_filter_counts_the_spender_and_everyone_under_it(spent: CreditKit) -> None:
    subtree = spent.usage_breakdown(
        "u1", by="spender", start=RANGE[0], end=RANGE[1], spender="einstein", subtree=True
    )
    assert (subtree.spender, subtree.subtree) == ("einstein", True)
    assert (subtree.spent, subtree.charges) == (22, 4)
    assert _rows(subtree.groups) == [
        ("einstein-search", "sub_agent", 13, 2),
        ("einstein", "agent", 9, 2),
    ]
    alone = spent.usage_breakdown(
        "u1", by="action", start=RANGE[0], end=RANGE[1], spender="einstein"
    )
    assert (alone.spent, alone.charges) == (9, 2)
    whole = spent.usage_breakdown(
        "u1", by="spender", start=START, end=START + timedelta(hours=4), spender="curie"
    )
    assert _rows(whole.groups) == [("curie", "agent", 62, 3)]


def test_a_summary_of_a_spender_counts_its_spending_and_the_customer_s_balance(
    spent: CreditKit,
) -> None:
    everyone = spent.usage_summary("u1", period=RANGE)
    einstein = spent.usage_summary("u1", period=RANGE, spender="einstein", subtree=True)
    assert (everyone.spent, everyone.charges) == (37, 8)
    assert (einstein.spent, einstein.charges, einstein.spender) == (22, 4, "einstein")
    assert einstein.available == everyone.available  # the balance is the customer's
    assert einstein.granted == everyone.granted


def test_spender_filters_are_checked(spent: CreditKit) -> None:
    with pytest.raises(InvalidRequest) as raised:
        spent.usage_breakdown("u1", by="spender", start=RANGE[0], end=RANGE[1], subtree=True)
    assert raised.value.field == "subtree"
    with pytest.raises(InvalidRequest) as raised:
        spent.usage_summary("u1", spender="nobody")
    assert raised.value.field == "spender"
    with pytest.raises(InvalidRequest) as raised:
        spent.usage_breakdown("u1", by="spender", start=RANGE[0], end=RANGE[1], spender="")
    assert raised.value.field == "spender"
