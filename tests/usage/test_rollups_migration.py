"""Migrations 0015 and 0022 fill the usage rollups (0022 per spender) from the spending already
in the ledger: the same rows the write path keeps, issued and expired legs included; and a usage
dimension declared later is filled from the ledger's rows, then kept by the write path."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import command

from creditkit import CreditKit, ManualClock
from creditkit.catalog import Catalog, Dimension, parse_catalog
from creditkit.ledger.schemas import ChargeRequest
from creditkit.notify.sealing import Sealer
from creditkit.store.migrate import alembic_config, upgrade_to_head
from creditkit.store.tables import (
    transactions,
    usage_dimension_rollups,
    usage_dimensions,
    usage_rollups,
)


def _rollups(kit: CreditKit) -> list[sa.Row[Any]]:
    with kit.database.read() as connection:
        return list(
            connection.execute(
                sa.select(usage_rollups).order_by(*usage_rollups.primary_key.columns)
            )
        )


def _down_and_up(kit: CreditKit, revision: str) -> None:
    """Migrates the kit's database down to ``revision`` and back to the head, with the ledger's
    secret key (the migrations that seal service secrets need it both ways)."""
    sealer = Sealer.of(None, None)  # the tests' CREDITKIT_SECRET_KEY (tests/conftest.py)
    engine = kit.database.engine
    config = alembic_config()
    config.attributes["seal_secret"] = sealer.seal
    config.attributes["unseal_secret"] = sealer.unseal
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
    upgrade_to_head(engine, seal_secret=sealer.seal, unseal_secret=sealer.unseal)


def _without_spender(rows: list[sa.Row[Any]]) -> list[tuple[Any, ...]]:
    return [tuple(v for k, v in row._mapping.items() if k != "spender") for row in rows]


def test_the_migration_fills_the_rollups_the_write_path_keeps(
    make_kit: Callable[..., CreditKit], usage_catalog: Catalog, clock: ManualClock
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
    kit.subscribe("u1", "infinite", collected_elsewhere=True)
    kit.charge("u1", kit.balance("u1").available + 7, idempotency_key="beyond")
    clock.advance(minutes=90)
    kit.charge("u2", 1, idempotency_key="next-hour")
    kept = _rollups(kit)
    legs = ("issued", "expired")
    assert all(any(row._mapping[leg] > 0 for row in kept) for leg in legs), "legs seen"
    _down_and_up(kit, "0014")
    # Below 0018 transactions record no spender: a member's spending comes back as nobody's.
    assert _without_spender(_rollups(kit)) == _without_spender(kept)


def test_the_spender_migration_fills_the_rollups_per_spender_as_the_write_path_keeps(
    make_kit: Callable[..., CreditKit], usage_catalog: Catalog, clock: ManualClock
) -> None:
    kit = make_kit(catalog=usage_catalog)
    kit.create_customer("u1")
    kit.create_customer("w1", kind="workspace")
    kit.add_member("w1", "u1", "owner")
    kit.create_spender("u1", "einstein", kind="agent")
    kit.create_spender("u1", "einstein-search", kind="sub_agent", parent="einstein")
    kit.charge("u1", 2, spender="einstein", idempotency_key="by-einstein")
    kit.charge("u1", 3, spender="einstein-search", idempotency_key="by-search")
    hold = kit.reserve("u1", 9, spender="einstein", idempotency_key="h1")
    kit.commit(hold.id, 4, idempotency_key="h1-commit")
    kit.charge("w1", 5, member="u1", idempotency_key="by-member")
    clock.advance(minutes=90)
    kit.charge("u1", 1, idempotency_key="next-hour")
    kept = _rollups(kit)
    # u1 spends in w1 as its member: a spender of kind member.
    assert {row.spender for row in kept} == {"", "u1", "einstein", "einstein-search"}
    _down_and_up(kit, "0018")
    assert _rollups(kit) == kept


#: Values of the ``agent`` dimension, of every kind: a number is grouped by its decimal text,
#: what is neither a string nor a number has no value.
AGENTS: list[Any] = ["Einstein", "Curie", 42, "42", 1.5, True, None, ["Einstein"], {"a": 1}]


def _spend_with_agents(kit: CreditKit, clock: ManualClock, prefix: str) -> None:
    for index, agent in enumerate(AGENTS):
        kit.charge("u1", 1 + index, metadata={"agent": agent}, idempotency_key=f"{prefix}{index}")
        clock.advance(minutes=23)
    kit.charge("u1", 2, idempotency_key=f"{prefix}-none")
    with_hold_agent = kit.reserve(
        "u1", 9, idempotency_key=f"{prefix}-h1", metadata={"agent": "Turing"}
    )
    kit.commit(with_hold_agent.id, 4, idempotency_key=f"{prefix}-h1-commit")  # the hold's agent
    with_own_agent = kit.reserve(
        "u1", 9, idempotency_key=f"{prefix}-h2", metadata={"agent": "Turing"}
    )
    kit.commit(
        with_own_agent.id, 5, idempotency_key=f"{prefix}-h2-commit", metadata={"agent": "Bohr"}
    )
    clock.advance(minutes=41)


def _breakdown(kit: CreditKit, start: datetime, end: datetime) -> list[tuple[Any, ...]]:
    answer = kit.usage_breakdown(
        "u1", by="dimension", dimension="agent", start=start, end=end, limit=500
    )
    return [(group.key, group.spent, group.charges) for group in answer.groups]


def _from_ledger_rows(kit: CreditKit, start: datetime, end: datetime) -> list[tuple[Any, ...]]:
    """The breakdown as the ledger's rows give it: read while the dimension is not listed as
    filled (in a transaction rolled back, so the listing stays)."""
    with kit.database.engine.connect() as connection:
        listed = connection.execute(sa.select(usage_dimensions)).all()
        connection.execute(sa.delete(usage_dimensions))
        connection.commit()
    try:
        return _breakdown(kit, start, end)
    finally:
        with kit.database.engine.begin() as connection:
            connection.execute(sa.insert(usage_dimensions), [row._asdict() for row in listed])


def test_a_dimension_declared_later_is_filled_then_kept(
    make_kit: Callable[..., CreditKit], usage_catalog: Catalog, clock: ManualClock
) -> None:
    start = clock() - timedelta(minutes=7)
    first = make_kit(catalog=usage_catalog)  # declares no dimension
    first.create_customer("u1")
    first.grant("u1", 1_000, idempotency_key="grant")
    _spend_with_agents(first, clock, "before-")
    declaring = dataclasses.replace(
        usage_catalog, dimensions={"agent": Dimension("agent", "agent")}
    )
    second = make_kit(catalog=declaring)  # fills the agent's rollups from the ledger's rows
    with second.database.read() as connection:
        filled = sa.select(sa.func.count()).select_from(usage_dimension_rollups)
        assert connection.execute(filled).scalar_one() > 0
    _spend_with_agents(second, clock, "after-")  # kept by the write path
    end = clock() + timedelta(minutes=11)
    for low, high in ((start, end), (start + timedelta(hours=1), end - timedelta(hours=1))):
        expected = _from_ledger_rows(second, low, high)
        assert {key for key, _spent, _charges in expected} >= {"Einstein", "42", "1.5", None}
        assert _breakdown(second, low, high) == expected


PAID_IN_CREDITS = """
units: {credits: {scale: 0}}
plans:
  free: {name: Free, default: true, rank: 0, prices: {month: {amount: 0, currency: USD}},
         allowance: {amount: 10, unit: credits}}
  premium: {name: Premium, rank: 2, prices: {month: {amount: 1200, currency: USD}},
            prices_in_credits: {month: {amount: 100, unit: credits}},
            allowance: {amount: 500, unit: credits}}
"""


def test_a_plan_paid_in_credits_is_spending_in_the_rollups(
    make_kit: Callable[..., CreditKit], clock: ManualClock
) -> None:
    kit = make_kit(catalog=parse_catalog(PAID_IN_CREDITS))
    kit.create_customer("ada")
    kit.grant("ada", 1_000, idempotency_key="g1")
    kit.subscribe("ada", "premium", pay_with="credits")
    period = (clock() - timedelta(hours=2), clock() + timedelta(hours=2))
    with kit.database.read() as connection:
        paid = connection.execute(
            sa.select(sa.func.coalesce(sa.func.sum(transactions.c.amount), 0)).where(
                transactions.c.kind == "charge", transactions.c.status == "applied"
            )
        ).scalar_one()
    assert paid == 100
    assert kit.usage_summary("ada", period=period).spent == paid
