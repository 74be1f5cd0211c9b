"""history: a customer's transactions newest first, filtered by kind, action and time, paged by
a cursor that stays valid whatever the filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from creditkit import CreditKit, HistoryItem, InvalidRequest, ManualClock, TransactionKind

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def _spend(ck: CreditKit, clock: ManualClock) -> None:
    """One hour apart: u1 is granted 100 (hour 0), charges ask x3 (hours 1-3), gifts u2 5
    (hour 4), charges image (hour 5), receives 2 from u2 (hour 6), holds 4 as ask (hour 7) and
    commits 3 of it a minute later."""
    ck.grant("u1", 100, idempotency_key="g1", source="purchase")
    ck.grant("u2", 10, idempotency_key="g2", source="purchase")
    for n in range(3):
        clock.advance(hours=1)
        ck.charge("u1", 1, action="ask", idempotency_key=f"ask-{n}")
    clock.advance(hours=1)
    ck.transfer("u1", "u2", 5, idempotency_key="gift-out", metadata={"note": "for you"})
    clock.advance(hours=1)
    ck.charge("u1", 2, action="image", idempotency_key="image")
    clock.advance(hours=1)
    ck.transfer("u2", "u1", 2, idempotency_key="gift-in")
    clock.advance(hours=1)
    hold = ck.reserve("u1", 4, action="ask", idempotency_key="hold")
    clock.advance(minutes=1)
    ck.commit(hold.id, 3, idempotency_key="commit")


def _kinds(items: tuple[HistoryItem, ...]) -> list[str]:
    return [item.kind.value for item in items]


def _all_pages(ck: CreditKit, limit: int, **filters: Any) -> list[HistoryItem]:
    items: list[HistoryItem] = []
    cursor = None
    while True:
        page = ck.history("u1", limit=limit, cursor=cursor, **filters)
        items += page.items
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor


def test_without_filters_every_transaction_newest_first(ck: CreditKit, clock: ManualClock) -> None:
    _spend(ck, clock)
    # The hold is one line, at its commit: its reserve is in the line's detail.
    assert _kinds(ck.history("u1").items) == [
        "commit",
        "transfer",
        "charge",
        "transfer",
        "charge",
        "charge",
        "charge",
        "grant",
    ]


def test_kinds_keep_only_those_kinds_sent_and_received(ck: CreditKit, clock: ManualClock) -> None:
    _spend(ck, clock)
    gifts = ck.history("u1", kinds=["transfer"]).items
    assert [(item.counterparty, item.amount, item.available_change) for item in gifts] == [
        ("u2", 2, 2),  # received: the customer's credits grew
        ("u2", 5, -5),  # sent
    ]
    assert gifts[1].metadata == {"note": "for you"}
    assert _kinds(ck.history("u1", kinds=["grant", TransactionKind.COMMIT]).items) == [
        "commit",
        "grant",
    ]
    # u2 sees the same two transfers from its side.
    theirs = ck.history("u2", kinds=["transfer"]).items
    assert [(item.counterparty, item.available_change) for item in theirs] == [
        ("u1", -2),
        ("u1", 5),
    ]
    assert ck.history("u1", kinds=["expiry", "refund"]).items == ()


def test_action_and_time_range(ck: CreditKit, clock: ManualClock) -> None:
    _spend(ck, clock)
    asks = ck.history("u1", action="ask").items
    assert _kinds(asks) == ["commit", "charge", "charge", "charge"]
    assert _kinds(ck.history("u1", action="ask", kinds=["charge"]).items) == ["charge"] * 3
    # [hour 2, hour 5): the second and third ask, and the gift sent; start included, end not.
    window = ck.history("u1", start=START + timedelta(hours=2), end=START + timedelta(hours=5))
    assert [item.created_at for item in window.items] == [
        START + timedelta(hours=4),
        START + timedelta(hours=3),
        START + timedelta(hours=2),
    ]
    since = ck.history("u1", start=START + timedelta(hours=7))
    assert _kinds(since.items) == ["commit"]
    until = ck.history("u1", end=START + timedelta(hours=1))
    assert _kinds(until.items) == ["grant"]
    # The same moment in another zone is the same bound.
    zoned = (START + timedelta(hours=7)).astimezone(timezone(timedelta(hours=2)))
    assert ck.history("u1", start=zoned).items == since.items


@pytest.mark.parametrize(
    "filters",
    [{}, {"kinds": ["charge", "transfer"]}, {"kinds": ["transfer"]}, {"action": "ask"}],
)
def test_pages_of_a_filtered_history_add_up_to_it(
    ck: CreditKit, clock: ManualClock, filters: dict[str, Any]
) -> None:
    _spend(ck, clock)
    whole = ck.history("u1", **filters).items
    for limit in (1, 2, 3):
        assert tuple(_all_pages(ck, limit, **filters)) == whole


def test_a_cursor_used_with_other_filters_neither_skips_nor_repeats(
    ck: CreditKit, clock: ManualClock
) -> None:
    """A cursor marks a place in the history: the next page under any filters is what those
    filters keep of the transactions older than it."""
    _spend(ck, clock)
    first = ck.history("u1", kinds=["transfer"], limit=1)
    assert first.next_cursor is not None
    newest_transfer = first.items[0].transaction_id
    charges_after = ck.history("u1", kinds=["charge"], cursor=first.next_cursor).items
    every_charge = ck.history("u1", kinds=["charge"]).items
    assert charges_after == tuple(
        item for item in every_charge if item.transaction_id < newest_transfer
    )
    unfiltered_after = ck.history("u1", cursor=first.next_cursor).items
    assert unfiltered_after == tuple(
        item for item in ck.history("u1").items if item.transaction_id < newest_transfer
    )


def test_filters_cost_an_index_range(tmp_path: Path, clock: ManualClock) -> None:
    """SQLite's plan of a history read filtered by kind: a search of the kind index (customer,
    unit, kind, id) that yields rows in page order, never a scan of the table or a sort. Charges,
    which SQLite's kind index leaves out, are a search of the history index (customer, unit, id),
    in page order too."""
    url = f"sqlite:///{tmp_path / 'plan.db'}"
    kit = CreditKit(url, clock=clock)
    kit.create_customer("u1")
    kit.grant("u1", 10, idempotency_key="g1")
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "UNION" in statement:
            statements.append((statement, parameters))

    engine = sa.create_engine(url)
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", capture)
    try:
        kit.history("u1", kinds=["charge", "transfer"], cursor="t1000")
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", capture)
    [(statement, parameters)] = statements
    with engine.connect() as connection:
        plan = [
            row[3]
            for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        ]
    engine.dispose()
    kit.close()
    searches = [step for step in plan if step.startswith(("SEARCH", "SCAN transactions"))]
    assert searches == [
        "SEARCH transactions USING INDEX ix_transactions_customer_history"
        " (customer_id=? AND unit=? AND id<?)",
        "SEARCH transactions USING INDEX ix_transactions_customer_kind_history"
        " (customer_id=? AND unit=? AND kind=? AND id<?)",
        "SEARCH transactions USING INDEX ix_transactions_counterparty_history"
        " (counterparty_id=? AND unit=? AND id<?)",
    ], plan


@pytest.mark.postgres
def test_filters_cost_an_index_range_on_postgresql(postgres_url: str, clock: ManualClock) -> None:
    """PostgreSQL's kind index leaves charges out too: a page of charges is a backward range of
    the history index (customer, unit, id), a page of grants one of the kind index; neither
    scans the table (sequential scans off, so that the tiny table's cheapest plan is not a
    scan: the test asks which indexes can answer, and the planner picks these with a
    customer's history of thousands)."""
    kit = CreditKit(postgres_url, clock=clock)
    kit.create_customer("u1")
    kit.grant("u1", 10, idempotency_key="g1")
    kit.charge("u1", 1, idempotency_key="c1")
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "UNION" in statement:
            statements.append((statement, parameters))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", capture)
    try:
        history = kit.history("u1", kinds=["charge", "grant"])
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", capture)
    assert [item.kind for item in history.items] == ["charge", "grant"]
    [(statement, parameters)] = statements
    with kit.database.engine.connect() as connection:
        connection.exec_driver_sql("SET enable_seqscan = off")
        plan = "\n".join(
            row[0]
            for row in connection.exec_driver_sql("EXPLAIN (COSTS OFF) " + statement, parameters)
        )
    kit.close()
    assert "Index Scan Backward using ix_transactions_customer_history" in plan, plan
    assert "Index Scan Backward using ix_transactions_customer_kind_history" in plan, plan
    assert "Seq Scan on transactions" not in plan, plan


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"kinds": ["bogus"]}, "kinds"),
        ({"kinds": "charge"}, "kinds"),  # a string is not a list of kinds
        ({"kinds": []}, "kinds"),
        ({"kinds": ["charge"] * (len(TransactionKind) + 1)}, "kinds"),
        ({"kinds": [1]}, "kinds"),
        ({"action": ""}, "action"),
        ({"action": "a" * 129}, "action"),
        ({"action": "a\x00"}, "action"),
        ({"start": START.replace(tzinfo=None)}, "start"),
        ({"end": "2026-03-01"}, "end"),
        ({"start": START, "end": START}, "end"),
        ({"limit": 0}, "limit"),
        ({"cursor": "x1"}, "cursor"),
    ],
)
def test_bad_filters_name_the_field(ck: CreditKit, filters: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        ck.history("u1", **filters)
    assert refused.value.field == field
