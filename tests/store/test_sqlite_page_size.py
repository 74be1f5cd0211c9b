"""A SQLite database creditkit creates has ``SQLITE_PAGE_SIZE_BYTES`` pages (a WAL commit writes
each page it changed whole, so smaller pages write fewer bytes per charge); a database created
before, at another page size, keeps its own and works as before."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from creditkit import CreditKit, ManualClock
from creditkit.store.database import SQLITE_PAGE_SIZE_BYTES

SQLITE_DEFAULT_PAGE_SIZE_BYTES = 4096


def _page_size(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        size: int = connection.execute("PRAGMA page_size").fetchone()[0]
    return size


def _charged(path: Path) -> int:
    ck = CreditKit(f"sqlite:///{path}", clock=ManualClock())
    try:
        ck.create_customer("u1")
        ck.grant("u1", 100, idempotency_key="grant")
        for index in range(3):
            ck.charge("u1", 5, idempotency_key=f"charge-{index}")
        return int(ck.balance("u1").available)
    finally:
        ck.close()


def test_a_new_database_has_the_smaller_pages(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    assert _charged(path) == 85
    assert SQLITE_PAGE_SIZE_BYTES < SQLITE_DEFAULT_PAGE_SIZE_BYTES
    assert _page_size(path) == SQLITE_PAGE_SIZE_BYTES


def test_a_database_made_before_keeps_its_page_size(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA page_size={SQLITE_DEFAULT_PAGE_SIZE_BYTES}")
        connection.execute("CREATE TABLE made_before (id INTEGER PRIMARY KEY)")
    assert _charged(path) == 85
    assert _page_size(path) == SQLITE_DEFAULT_PAGE_SIZE_BYTES
    with sqlite3.connect(path) as connection:
        journal_mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
    assert journal_mode == "wal"
