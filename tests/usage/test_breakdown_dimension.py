"""usage_breakdown(by="dimension"): spending grouped by the value of one metadata key of the
charges ("Your top agent this week is Einstein")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from creditkit import CreditKit, InvalidRequest, ManualClock
from creditkit.usage import BreakdownBy, UsageGroup

START = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)  # the clock fixture's start (conftest)
DAY = (START, START + timedelta(days=1))

#: (amount, metadata) of u1's charges: see the expected groups below.
CHARGES: list[tuple[int, dict[str, Any]]] = [
    (5, {"agent": "Einstein", "community": "Cooking"}),
    (3, {"agent": "Einstein"}),
    (8, {"agent": "Newton", "community": "Cooking"}),
    (4, {"agent": "Curie"}),
    (4, {"agent": "Bohr", "community": "Travel"}),
    # None group: no such key, or a value that is neither a string nor a number.
    (2, {}),
    (1, {"agent": True}),
    (1, {"agent": None}),
    (1, {"agent": ["Einstein"]}),
    (1, {"agent": {"name": "Einstein"}}),
    # A number is grouped by its decimal text: 42 and "42" are one group.
    (3, {"agent": 42}),
    (2, {"agent": "42"}),
    (1, {"agent": 1.5}),
]


def _charge_all(kit: CreditKit) -> None:
    for index, (amount, metadata) in enumerate(CHARGES):
        kit.charge("u1", amount, metadata=metadata, idempotency_key=f"c{index}")


def _rows(groups: tuple[UsageGroup, ...]) -> list[tuple[str | None, Any, int]]:
    return [(group.key, group.spent, group.charges) for group in groups]


def test_groups_by_the_string_value_of_the_key(kit: CreditKit) -> None:
    _charge_all(kit)
    breakdown = kit.usage_breakdown(
        "u1", by="dimension", dimension="agent", start=DAY[0], end=DAY[1]
    )
    assert (breakdown.by, breakdown.dimension) == (BreakdownBy.DIMENSION, "agent")
    assert (breakdown.spent, breakdown.charges) == (36, 13)
    assert _rows(breakdown.groups) == [
        ("Einstein", 8, 2),
        ("Newton", 8, 1),  # ties on spending: more charges first
        (None, 6, 5),
        ("42", 5, 2),
        ("Bohr", 4, 1),  # ties on spending and charges: by key
        ("Curie", 4, 1),
        ("1.5", 1, 1),
    ]
    assert breakdown.groups[0].share == Decimal("0.2222")  # 8 / 36, half up
    assert all(group.label is None for group in breakdown.groups)
    assert (breakdown.others_spent, breakdown.others_charges) == (0, 0)


def test_another_key_of_the_same_charges(kit: CreditKit) -> None:
    _charge_all(kit)
    breakdown = kit.usage_breakdown(
        "u1", by="dimension", dimension="community", start=DAY[0], end=DAY[1]
    )
    assert _rows(breakdown.groups) == [(None, 19, 10), ("Cooking", 13, 2), ("Travel", 4, 1)]
    assert breakdown.groups[1].share == Decimal("0.3611")  # 13 / 36


def test_the_limit_keeps_the_largest_and_totals_the_rest(kit: CreditKit) -> None:
    _charge_all(kit)
    breakdown = kit.usage_breakdown(
        "u1", by="dimension", dimension="agent", start=DAY[0], end=DAY[1], limit=2
    )
    assert _rows(breakdown.groups) == [("Einstein", 8, 2), ("Newton", 8, 1)]
    assert (breakdown.others_spent, breakdown.others_charges) == (20, 10)


def test_a_commit_counts_with_its_own_value_else_its_holds(
    kit: CreditKit, clock: ManualClock
) -> None:
    kit.charge("u1", 1, metadata={"agent": "Before"}, idempotency_key="before")
    clock.advance(hours=1)
    plain = kit.reserve("u1", 10, metadata={"agent": "Einstein"}, idempotency_key="r1")
    kit.commit(plain.id, 3, idempotency_key="k1")
    renamed = kit.reserve("u1", 10, metadata={"agent": "Einstein"}, idempotency_key="r2")
    kit.commit(renamed.id, 4, metadata={"agent": "Newton"}, idempotency_key="k2")
    bare = kit.reserve("u1", 10, idempotency_key="r3")
    kit.commit(bare.id, 2, metadata={"agent": "Curie", "tokens": 900}, idempotency_key="k3")
    released = kit.reserve("u1", 5, metadata={"agent": "Bohr"}, idempotency_key="r4")
    kit.release(released.id, idempotency_key="k4")
    kit.reserve("u1", 6, metadata={"agent": "Bohr"}, idempotency_key="open")
    kit.ingest(
        [
            {
                "customer": "u1",
                "action": "agent_message",
                "quantity": 3,
                "metadata": {"agent": "Einstein"},
                "idempotency_key": "e1",
            }
        ]
    )
    breakdown = kit.usage_breakdown(
        "u1", by="dimension", dimension="agent", start=START + timedelta(hours=1), end=DAY[1]
    )
    # Released and open holds spend nothing; the charge before the range is not in it.
    assert _rows(breakdown.groups) == [("Einstein", 9, 2), ("Newton", 4, 1), ("Curie", 2, 1)]
    assert (breakdown.spent, breakdown.charges) == (15, 4)


def test_amounts_of_a_unit_with_decimal_places_stay_exact(kit: CreditKit) -> None:
    kit.grant("u1", "10.00", unit="tokens", idempotency_key="tokens")
    for n in range(3):
        kit.charge("u1", action="embed", metadata={"agent": "Einstein"}, idempotency_key=f"e{n}")
    kit.charge("u1", "0.10", unit="tokens", idempotency_key="plain")
    breakdown = kit.usage_breakdown(
        "u1", by="dimension", dimension="agent", start=DAY[0], end=DAY[1], unit="tokens"
    )
    assert _rows(breakdown.groups) == [("Einstein", Decimal("0.75"), 3), (None, Decimal("0.10"), 1)]
    assert breakdown.spent == Decimal("0.85")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"by": "dimension"}, "dimension"),
        ({"by": "dimension", "dimension": None}, "dimension"),
        ({"by": "action", "dimension": "agent"}, "dimension"),
        ({"by": "dimension", "dimension": ""}, "dimension"),
        ({"by": "dimension", "dimension": "a-b"}, "dimension"),
        ({"by": "dimension", "dimension": "agent\n"}, "dimension"),
        ({"by": "dimension", "dimension": "agent.name"}, "dimension"),
        ({"by": "dimension", "dimension": '"'}, "dimension"),
        ({"by": "dimension", "dimension": "é"}, "dimension"),
        ({"by": "dimension", "dimension": "a" * 65}, "dimension"),
        ({"by": "dimension", "dimension": 7}, "dimension"),
        ({"by": "agent", "dimension": "agent"}, "by"),
        ({"by": "dimension", "dimension": "agent", "limit": 0}, "limit"),
    ],
)
def test_bad_requests_name_the_field(
    kit: CreditKit, options: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        kit.usage_breakdown("u1", start=DAY[0], end=DAY[1], **options)  # type: ignore[arg-type]
    assert refused.value.field == field


def test_the_longest_key_is_accepted(kit: CreditKit) -> None:
    name = "k" * 64
    kit.charge("u1", 2, metadata={name: "v"}, idempotency_key="c1")
    breakdown = kit.usage_breakdown("u1", by="dimension", dimension=name, start=DAY[0], end=DAY[1])
    assert _rows(breakdown.groups) == [("v", 2, 1)]
