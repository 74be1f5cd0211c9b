"""SQLite keeps ``entries`` clustered by transaction (migration 0030): a ledger migrated down
and up again keeps its entries, in their order, with ids of their transactions, and the
queries that found a transaction's entries by ``ix_entries_transaction_id`` use the primary
key."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command

from creditkit import ChargeRequest, CreditKit, ManualClock
from creditkit.notify.sealing import Sealer
from creditkit.store.flavor import ENTRY_IDS_PER_TRANSACTION
from creditkit.store.migrate import alembic_config, upgrade_to_head


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[CreditKit]:
    clock = ManualClock()
    ck = CreditKit(f"sqlite:///{tmp_path / 'ledger.db'}", clock=clock)
    ck.create_customer("u1")
    ck.create_customer("u2")
    ck.grant("u1", 5, idempotency_key="g1", expires_at=clock() + timedelta(days=30))
    ck.grant("u1", 50, idempotency_key="g2")
    ck.grant("u2", 50, idempotency_key="g3")
    ck.charge("u1", 8, idempotency_key="c1")  # drawn from both grants: three legs
    hold = ck.reserve("u2", 10, idempotency_key="h1", timeout_seconds=3600)
    ck.commit(hold.id, 4, idempotency_key="h1-commit")
    ck.charge_many([ChargeRequest("u1", 1, f"b{i}") for i in range(5)])
    try:
        yield ck
    finally:
        ck.close()


def _path(ck: CreditKit) -> str:
    database = ck.database.engine.url.database
    assert database is not None
    return database


def _entries(ck: CreditKit) -> list[tuple[Any, ...]]:
    with sqlite3.connect(_path(ck)) as connection:
        return connection.execute(
            "SELECT id, transaction_id, account_id, unit, amount FROM entries ORDER BY id"
        ).fetchall()


def _schema(ck: CreditKit) -> str:
    with sqlite3.connect(_path(ck)) as connection:
        rows = connection.execute(
            "SELECT name, sql FROM sqlite_schema WHERE tbl_name = 'entries' ORDER BY name"
        ).fetchall()
    return "\n".join(f"{name}: {sql}" for name, sql in rows)


def _downgrade(ck: CreditKit, revision: str) -> None:
    sealer = Sealer.of(None, None)  # the tests' CREDITKIT_SECRET_KEY (tests/conftest.py)
    config = alembic_config()
    config.attributes["seal_secret"] = sealer.seal
    config.attributes["unseal_secret"] = sealer.unseal
    with ck.database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def _legs(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Each entry without its id: (transaction, account, unit, amount), in id order."""
    return [row[1:] for row in rows]


def test_entry_ids_are_their_transactions_legs(kit: CreditKit) -> None:
    rows = _entries(kit)
    legs: dict[int, int] = {}
    for entry_id, transaction_id, *_ in rows:
        leg = legs[transaction_id] = legs.get(transaction_id, -1) + 1
        assert entry_id == transaction_id * ENTRY_IDS_PER_TRANSACTION + leg
    assert max(legs.values()) == 2  # the charge drawn from two grants
    assert "WITHOUT ROWID" in _schema(kit)
    assert "ix_entries_transaction_id" not in _schema(kit)


def test_down_and_up_keeps_the_entries_their_order_and_the_rules(kit: CreditKit) -> None:
    before = _entries(kit)
    balances = kit.balance("u1").available, kit.balance("u2").available
    sealer = Sealer.of(None, None)

    _downgrade(kit, "0028")
    assert _entries(kit) == before  # the ids kept as they were
    schema = _schema(kit)
    assert "WITHOUT ROWID" not in schema
    assert "ix_entries_transaction_id" in schema
    for trigger in ("entries_apply", "entries_no_update", "entries_no_delete"):
        assert trigger in schema
    kit.charge("u2", 1, idempotency_key="while-down")  # rowid ids again
    down = _entries(kit)
    assert down[-1][0] == down[-2][0] + 1

    upgrade_to_head(kit.database.engine, seal_secret=sealer.seal, unseal_secret=sealer.unseal)
    after = _entries(kit)
    assert _legs(after) == _legs(down)  # the same entries, in the same order
    for entry_id, transaction_id, *_ in after:
        assert entry_id // ENTRY_IDS_PER_TRANSACTION == transaction_id
    assert "WITHOUT ROWID" in _schema(kit)
    for trigger in ("entries_apply", "entries_no_update", "entries_no_delete"):
        assert trigger in _schema(kit)
    kit.charge("u1", 2, idempotency_key="after")
    assert kit.balance("u1").available == balances[0] - 2
    assert kit.balance("u2").available == balances[1] - 1
    replayed = kit.charge("u1", 8, idempotency_key="c1")  # a replay reads its entries
    assert [draw.amount for draw in replayed.draws] == [5, 3]
    assert kit.audit().ok


def test_the_copy_adds_nothing_to_a_balance(kit: CreditKit) -> None:
    # The triggers are made after the rows are copied: balances stay what the entries sum to.
    _downgrade(kit, "0028")
    sealer = Sealer.of(None, None)
    upgrade_to_head(kit.database.engine, seal_secret=sealer.seal, unseal_secret=sealer.unseal)
    with sqlite3.connect(_path(kit)) as connection:
        drift = connection.execute(
            "SELECT COUNT(*) FROM accounts a WHERE a.balance IS NOT NULL AND a.balance <>"
            " (SELECT COALESCE(SUM(e.amount), 0) FROM entries e WHERE e.account_id = a.id)"
        ).fetchone()[0]
    assert drift == 0
    assert kit.audit().ok
