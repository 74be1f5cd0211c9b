"""usage_breakdown: a range's spending per action, catalog category or workspace member."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from creditkit import CreditKit, InvalidRequest, ManualClock
from creditkit.usage import BreakdownBy, UsageGroup

START = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)  # the clock fixture's start (conftest)
DAY = (START, START + timedelta(days=1))


def _spend(kit: CreditKit) -> None:
    """ask_anything 3 x 1, generate_image 2 x 5, agent_message 1 x 2, run_task 4 x 3, translate
    2 x 1, and 6 credits without an action."""
    uses = [("ask_anything", 3), ("generate_image", 2), ("agent_message", 1), ("run_task", 4)]
    uses.append(("translate", 2))
    for action, times in uses:
        for n in range(times):
            kit.charge("u1", action=action, idempotency_key=f"{action}-{n}")
    kit.charge("u1", 6, idempotency_key="plain")


def _rows(groups: tuple[UsageGroup, ...]) -> list[tuple[str | None, int, int]]:
    return [(group.key, int(group.spent), group.charges) for group in groups]


def test_by_action_largest_first_with_labels_and_shares(kit: CreditKit) -> None:
    _spend(kit)
    breakdown = kit.usage_breakdown("u1", by="action", start=DAY[0], end=DAY[1])
    assert breakdown.by is BreakdownBy.ACTION
    assert (breakdown.spent, breakdown.charges) == (35, 13)
    assert _rows(breakdown.groups) == [
        ("run_task", 12, 4),
        ("generate_image", 10, 2),
        (None, 6, 1),
        ("ask_anything", 3, 3),
        ("translate", 2, 2),  # ties on spending: more charges first
        ("agent_message", 2, 1),
    ]
    assert breakdown.groups[0].label == "Run a task"
    assert breakdown.groups[2].label is None
    assert breakdown.groups[0].share == Decimal("0.3429")  # 12 / 35, half up
    assert (breakdown.others_spent, breakdown.others_charges) == (0, 0)


def test_by_category_maps_actions_through_the_catalog(kit: CreditKit) -> None:
    _spend(kit)
    breakdown = kit.usage_breakdown("u1", by="category", start=DAY[0], end=DAY[1])
    # translate has no category: it joins the plain charge in the None group.
    assert _rows(breakdown.groups) == [
        ("agents", 14, 5),
        ("images", 10, 2),
        (None, 8, 3),
        ("chat", 3, 3),
    ]


def test_by_member_of_a_workspace(kit: CreditKit) -> None:
    kit.add_member("w1", "u1", "owner")
    kit.add_member("w1", "u2", "editor")
    kit.charge("w1", 7, member="u2", idempotency_key="editor-1")
    kit.charge("w1", 2, member="u1", idempotency_key="owner-1")
    kit.charge("w1", 3, idempotency_key="unattributed")
    breakdown = kit.usage_breakdown("w1", by="member", start=DAY[0], end=DAY[1])
    assert _rows(breakdown.groups) == [("u2", 7, 1), (None, 3, 1), ("u1", 2, 1)]


def test_the_limit_keeps_the_largest_and_totals_the_rest(kit: CreditKit) -> None:
    _spend(kit)
    breakdown = kit.usage_breakdown("u1", by="action", start=DAY[0], end=DAY[1], limit=2)
    assert _rows(breakdown.groups) == [("run_task", 12, 4), ("generate_image", 10, 2)]
    assert (breakdown.others_spent, breakdown.others_charges) == (13, 7)


def test_only_the_range_and_only_spending_counts(kit: CreditKit, clock: ManualClock) -> None:
    kit.charge("u1", action="run_task", idempotency_key="before")
    clock.advance(days=1)
    hold = kit.reserve("u1", 9, idempotency_key="hold", action="generate_image")
    kit.commit(hold.id, 5, idempotency_key="commit")
    kit.reserve("u1", 4, idempotency_key="open-hold", action="run_task")
    kit.grant("u1", 50, idempotency_key="pack")
    clock.advance(days=1)
    kit.charge("u1", action="run_task", idempotency_key="after")
    second_day = (START + timedelta(days=1), START + timedelta(days=2))
    breakdown = kit.usage_breakdown("u1", by="action", start=second_day[0], end=second_day[1])
    assert _rows(breakdown.groups) == [("generate_image", 5, 1)]  # the commit, not the holds


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"by": "day"}, "by"),
        ({"by": "action", "limit": 0}, "limit"),
        ({"by": "action", "limit": 501}, "limit"),
        ({"by": "action", "end": START}, "end"),
        ({"by": "action", "start": START.replace(tzinfo=None)}, "start"),
        ({"by": "action", "unit": "gold"}, "unit"),
    ],
)
def test_bad_requests_name_the_field(
    kit: CreditKit, options: dict[str, object], field: str
) -> None:
    arguments: dict[str, object] = {"start": DAY[0], "end": DAY[1], **options}
    with pytest.raises(InvalidRequest) as refused:
        kit.usage_breakdown("u1", **arguments)  # type: ignore[arg-type]
    assert refused.value.field == field


def test_categories_need_a_catalog(make_kit: Callable[..., CreditKit]) -> None:
    bare = make_kit()
    bare.create_customer("u1")
    with pytest.raises(InvalidRequest) as refused:
        bare.usage_breakdown("u1", by="category", start=DAY[0], end=DAY[1])
    assert refused.value.field == "by"
