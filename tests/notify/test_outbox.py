"""The outbox: an event is written with its change, or not at all."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Connection

from creditkit import CreditKit, ManualClock
from creditkit.notify.schemas import EventType
from creditkit.outbox.writer import emit, events_after
from creditkit.store.database import Database


def test_an_event_written_in_a_transaction_is_read_back_in_order(
    database_url: str, clock: ManualClock
) -> None:
    CreditKit(database_url, clock=clock).create_customer("u1")
    database = Database(database_url)

    def write(connection: Connection) -> tuple[str, str]:
        first = emit(connection, EventType.CREDITS_LOW, 1, {"available": 5}, clock())
        second = emit(connection, EventType.ALERT_TRIGGERED, None, {}, clock())
        return first, second

    first, second = database.write(write)
    with database.read() as connection:
        events = events_after(connection, 0)
    events = events[-2:]  # after the customer's own (customer.created, credits.granted)
    assert [event.event_id for event in events] == [first, second]
    assert events[0].type is EventType.CREDITS_LOW
    assert events[0].customer == "u1"
    assert events[0].data == {"available": 5}
    assert events[1].customer is None
    with database.read() as connection:
        assert events_after(connection, events[0].id) == events[1:]
        assert events_after(connection, 0, type=EventType.ALERT_TRIGGERED) == events[1:]
    database.dispose()


def test_an_event_rolls_back_with_its_transaction(database_url: str, clock: ManualClock) -> None:
    database = Database(database_url)
    CreditKit(database_url, clock=clock)

    def write_then_fail(connection: Connection) -> None:
        emit(connection, EventType.CREDITS_LOW, None, {}, clock())
        raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        database.write(write_then_fail)
    with database.read() as connection:
        assert events_after(connection, 0) == []
    database.dispose()
