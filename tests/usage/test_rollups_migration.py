"""Migration 0015 fills the usage rollups from the spending already in the ledger: the same rows
the write path keeps, issued and expired legs included."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from alembic import command

from creditkit import CreditKit, ManualClock
from creditkit.ledger.schemas import ChargeRequest
from creditkit.store.migrate import alembic_config, upgrade_to_head
from creditkit.store.tables import usage_rollups


def _rollups(kit: CreditKit) -> list[tuple[Any, ...]]:
    with kit.database.read() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                sa.select(usage_rollups).order_by(*usage_rollups.primary_key.columns)
            )
        ]


def test_the_migration_fills_the_rollups_the_write_path_keeps(
    make_kit: Callable[..., CreditKit], usage_catalog: Any, clock: ManualClock
) -> None:
    kit = make_kit(catalog=usage_catalog)
    kit.create_customer("u1")
    kit.create_customer("u2")
    kit.create_customer("w1", kind="workspace")
    kit.add_member("w1", "u1", "owner")
    kit.grant("u1", 40, idempotency_key="soon", expires_at=clock() + timedelta(days=2))
    expiring_hold = kit.reserve("u1", 120, idempotency_key="h1", timeout_seconds=7 * 24 * 3600)
    kit.charge("u2", action="ask_anything", quantity=3, idempotency_key="c1")
    clock.advance(days=3)  # the 40 expire while part of them is held: the commit expires them
    kit.commit(expiring_hold.id, 50, idempotency_key="h1-commit")
    kit.charge_many(
        [
            ChargeRequest("w1", 2, "b1", action="run_task", member="u1"),
            ChargeRequest("w1", 3, "b2", action="run_task", member="u1"),
            ChargeRequest("u2", 1, "b3"),
        ]
    )
    kit.subscribe("u1", "infinite")
    kit.charge("u1", kit.balance("u1").available + 7, idempotency_key="beyond")
    clock.advance(minutes=90)
    kit.charge("u2", 1, idempotency_key="next-hour")
    kept = _rollups(kit)
    assert any(row[7] > 0 for row in kept) and any(row[8] > 0 for row in kept), "legs seen"
    engine = kit.database.engine
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0014")
    upgrade_to_head(engine)
    assert _rollups(kit) == kept
