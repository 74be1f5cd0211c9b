"""The history's hold lines: a hold is ONE item (at its newest transaction the history shows)
with its final amount and its transactions in ``hold.parts``; each part's draws are exact (a
partial commit's are the grants that paid for it, not the hold's first draws); a hold's line
never straddles pages."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from creditkit import CreditKit, HistoryItem, ManualClock
from creditkit.ledger.schemas import HoldOutcome

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def _lines(items: tuple[HistoryItem, ...]) -> list[tuple[str, Decimal, Decimal, str | None]]:
    return [
        (
            item.kind.value,
            Decimal(item.amount),
            Decimal(item.available_change),
            None if item.hold is None else item.hold.outcome.value,
        )
        for item in items
    ]


def test_committed_released_and_open_holds_are_one_line_each(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g", source="purchase")
    done = ck.reserve("u1", 8, action="ask", idempotency_key="r1")
    ck.commit(done.id, 5, idempotency_key="c1")
    gone = ck.reserve("u1", 4, action="ask", idempotency_key="r2")
    ck.release(gone.id, idempotency_key="x2")
    ck.reserve("u1", 6, action="ask", idempotency_key="r3")
    assert _lines(ck.history("u1").items) == [
        ("reserve", 6, -6, HoldOutcome.OPEN.value),
        ("release", 0, 0, HoldOutcome.RELEASED.value),
        ("commit", 5, -5, HoldOutcome.COMMITTED.value),
        ("grant", 100, 100, None),
    ]
    committed = ck.history("u1").items[2].hold
    assert committed is not None
    assert [(p.kind.value, p.amount) for p in committed.parts] == [("reserve", 8), ("commit", 5)]
    assert committed.amount == 5 and committed.parts_complete


def test_extends_and_partial_commits_with_exact_draws(ck: CreditKit) -> None:
    """Two grants of 3 and 10 (the smaller first by burn-down): a hold of 5 draws 3 then 2;
    an extend of 4 draws 4 more of the second; partial commits of 4 then 5 are paid by the
    first grant's 3 plus 1, then the second's 5; the final commit of 0 returns the rest."""
    small = ck.grant("u1", 3, idempotency_key="g1", source="purchase")
    large = ck.grant("u1", 10, idempotency_key="g2", source="purchase")
    hold = ck.reserve("u1", 5, action="ask", idempotency_key="r")
    ck.extend(hold.id, amount=4, idempotency_key="e")
    ck.commit(hold.id, 4, final=False, idempotency_key="p1")
    ck.commit(hold.id, 5, final=False, idempotency_key="p2")
    ck.commit(hold.id, 0, idempotency_key="done")
    items = ck.history("u1").items
    line = items[0]
    assert line.hold is not None
    assert (line.hold.outcome, line.amount, line.available_change) == (
        HoldOutcome.COMMITTED,
        9,
        -9,
    )
    parts = [
        (p.kind.value, p.amount, [(d.grant_id, d.amount) for d in p.draws]) for p in line.hold.parts
    ]
    assert parts[2:4] == [
        ("commit", 4, [(small.id, 3), (large.id, 1)]),
        ("commit", 5, [(large.id, 5)]),
    ]
    assert [(d.grant_id, d.amount) for d in line.draws] == [(small.id, 3), (large.id, 6)]
    assert [i.kind.value for i in items] == ["commit", "grant", "grant"]


def test_a_hold_line_never_straddles_pages(ck: CreditKit) -> None:
    """Pages of 1: each hold appears once, at its newest transaction; pages may be short (a
    transaction of a hold already shown is skipped) but never repeat or lose a line."""
    ck.grant("u1", 100, idempotency_key="g", source="purchase")
    first = ck.reserve("u1", 2, idempotency_key="r1")
    second = ck.reserve("u1", 3, idempotency_key="r2")
    ck.commit(first.id, 2, idempotency_key="c1")
    ck.commit(second.id, 1, idempotency_key="c2")
    seen: list[HistoryItem] = []
    cursor = None
    for _ in range(20):
        page = ck.history("u1", limit=1, cursor=cursor)
        assert len(page.items) <= 1
        seen += page.items
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == list(ck.history("u1").items)
    assert [item.hold_id for item in seen] == [second.id, first.id, None]


def test_a_hold_line_under_filters_stands_at_its_newest_kept_transaction(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g", source="purchase")
    hold = ck.reserve("u1", 8, action="ask", idempotency_key="r")
    ck.commit(hold.id, 5, idempotency_key="c")
    reserves = ck.history("u1", kinds=["reserve"]).items
    assert [(i.kind.value, i.hold_id) for i in reserves] == [("reserve", hold.id)]
    assert reserves[0].hold is not None and reserves[0].hold.amount == 5


def test_a_child_holds_commit_is_its_own_line(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g", source="purchase")
    parent = ck.reserve("u1", 10, idempotency_key="r")
    child = ck.reserve("u1", 4, parent=parent.id, idempotency_key="rc")
    ck.commit(child.id, 3, idempotency_key="cc")
    ck.commit(parent.id, 2, idempotency_key="cp")
    items = ck.history("u1").items
    lines = [(i.hold_id, i.hold.outcome.value if i.hold else None, i.amount) for i in items]
    assert lines == [
        (parent.id, "committed", 2),
        (child.id, "committed", 3),
        (None, None, 100),
    ]
