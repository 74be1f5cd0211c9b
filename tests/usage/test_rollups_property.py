"""Rollup-based usage answers equal the sums over the ledger's own rows.

Random charges (one at a time and in batches, by action, member and the catalog's dimension,
some refused, some replayed), hold commits, releases and timeouts, on a free plan, a capped
overage plan and an unlimited one, with random clock moves; then usage_summary,
usage_breakdown (by action, member, category, dimension), usage_series (hourly, daily) and
analytics over random ranges, which seldom start on an hour, are compared with sums computed
here straight from the transactions, entries and holds tables. One kit per database serves
every example: each example has customers of its own, and the analytics' expectations are
computed over every customer's rows.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from creditkit import CreditKit, ManualClock
from creditkit.catalog import parse_catalog
from creditkit.errors import CreditKitError
from creditkit.ledger.schemas import ChargeRequest
from creditkit.store.tables import accounts, customers, entries, grants, holds, transactions

CATALOG = """
units:
  credits: {scale: 0}
actions:
  ask: {price: 1, unit: credits, label: Ask, category: chat}
  image: {price: 5, unit: credits, label: Image, category: images}
  agent: {price: 2, unit: credits, label: Agent, category: agents}
  translate: {price: 3, unit: credits}
plans:
  free:
    name: Free
    default: true
    rank: 0
    prices: {month: {amount: 0, currency: USD}}
    allowance: {amount: 60, unit: credits}
  metered:
    name: Metered
    rank: 1
    prices: {month: {amount: 1000, currency: USD}}
    allowance: {amount: 20, unit: credits}
    overage: {unit: credits, price: {amount: 500, currency: USD, per: 1000}, spend_limit: 40}
  infinite:
    name: Infinite
    rank: 2
    prices: {month: {amount: 9000, currency: USD}}
    allowance: unlimited
dimensions:
  agent: {label: agent}
"""
CATEGORIES = {"ask": "chat", "image": "images", "agent": "agents"}
SPEND_KINDS = ("charge", "commit")
ISSUING_KINDS = ("charge", "reserve", "commit", "release", "hold_expiry")
SETTLING_KINDS = ("commit", "release", "hold_expiry")
POSTGRES_ADMIN_URL = os.environ.get(
    "CREDITKIT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
HOUR = 3_600
DAY = 24 * HOUR

# Customers of an example: 0 a user on Free, 1 a user on Infinite (spends beyond its grants),
# 2 a workspace on Metered (capped overage) whose members are 0 and 1.
ROLES = (0, 1, 2)
actions = st.sampled_from([None, "ask", "image", "agent", "translate"])
#: Metadata with the ``agent`` dimension: none, strings, a number (grouped by its text), and a
#: value that is neither (no value).
agent_metadata = st.sampled_from(
    [{}, {"agent": "Curie"}, {"agent": "Bohr"}, {"agent": 7}, {"agent": True}]
)
charge_specs = st.tuples(
    st.sampled_from(ROLES),
    st.integers(1, 30),
    actions,
    st.sampled_from([None, 0, 1]),
    agent_metadata,
)
operations = st.one_of(
    st.tuples(st.just("charge"), charge_specs),
    st.tuples(st.just("batch"), st.lists(charge_specs, min_size=1, max_size=6)),
    st.tuples(
        st.just("commit"),
        st.sampled_from(ROLES),
        st.integers(1, 30),
        st.integers(0, 30),
        actions,
        agent_metadata,
        agent_metadata,
    ),
    st.tuples(st.just("release"), st.sampled_from(ROLES), st.integers(1, 30)),
    st.tuples(st.just("timeout"), st.sampled_from(ROLES), st.integers(1, 30), st.integers(1, 3)),
    st.tuples(st.just("replay")),
    st.tuples(
        st.just("advance"),
        st.one_of(
            st.integers(1, 59 * 60),
            st.integers(1, 6).map(lambda hours: hours * HOUR),
            st.integers(1, 40 * DAY),
        ),
        st.integers(0, 999_999),
    ),
)
#: A range starts near a moment the example wrote at (before or after it by up to two hours,
#: to the microsecond) and lasts under an hour (often no whole bucket), some hours or days.
range_offsets = st.tuples(
    st.integers(-2 * HOUR, 2 * HOUR),
    st.integers(0, 999_999),
    st.one_of(st.integers(1, HOUR), st.integers(1, 3 * DAY), st.integers(1, 45 * DAY)),
)

SETTINGS = settings(
    max_examples=30,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    # No shrinking: each replay writes to the one shared kit, so shrinking takes minutes; a
    # failure shows its example as generated (derandomized: it reproduces).
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass
class Shared:
    """The kit every example of one database runs on."""

    kit: CreditKit
    clock: ManualClock
    examples: Iterator[int]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shared]:
    clock = ManualClock(datetime(2026, 3, 14, 9, 26, 53, 589_793, tzinfo=UTC))
    catalog = parse_catalog(CATALOG, "rollups.yaml")
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("rollups") / "ledger.db"
        with CreditKit(f"sqlite:///{path}", clock=clock, catalog=catalog) as kit:
            yield Shared(kit, clock, itertools.count())
        return
    template: str = request.getfixturevalue("postgres_template")
    admin_url = POSTGRES_ADMIN_URL
    name = f"creditkit_rollups_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    base, _, _ = admin_url.rpartition("/")
    try:
        with CreditKit(f"{base}/{name}", clock=clock, catalog=catalog) as kit:
            yield Shared(kit, clock, itertools.count())
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Example:
    """One example's customers, and the writes it makes of them."""

    def __init__(self, shared: Shared) -> None:
        self.kit = shared.kit
        self.clock = shared.clock
        number = next(shared.examples)
        self.names = (f"e{number}-user", f"e{number}-unlimited", f"e{number}-workspace")
        kit = self.kit
        kit.create_customer(self.names[0])
        kit.create_customer(self.names[1])
        kit.subscribe(self.names[1], "infinite", collected_elsewhere=True)
        kit.create_customer(self.names[2], kind="workspace")
        kit.subscribe(self.names[2], "metered", collected_elsewhere=True)
        kit.add_member(self.names[2], self.names[0], "owner")
        kit.add_member(self.names[2], self.names[1], "editor")
        self.keys = itertools.count()
        #: Each moment the example wrote at.
        self.moments = [self.clock()]
        self.last_charge: ChargeRequest | None = None

    def key(self) -> str:
        return f"{self.names[0]}-{next(self.keys)}"

    def request(
        self, spec: tuple[int, int, str | None, int | None, dict[str, Any]]
    ) -> ChargeRequest:
        role, amount, action, member, metadata = spec
        chosen_member = None if role != 2 or member is None else self.names[member]
        return ChargeRequest(
            self.names[role],
            amount if action is None else amount * _price(action),
            self.key(),
            action=action,
            metadata=metadata,
            member=chosen_member,
        )

    def charge(self, request: ChargeRequest) -> None:
        self.last_charge = request
        # A refusal (beyond the grants and the plan's headroom) is recorded, not spent.
        with contextlib.suppress(CreditKitError):
            self.kit.charge(
                request.customer,
                request.amount,
                idempotency_key=request.idempotency_key,
                action=request.action,
                metadata=request.metadata,
                member=request.member,
            )

    def run(self, operation: tuple[Any, ...]) -> None:
        kit, kind = self.kit, operation[0]
        if kind == "charge":
            self.charge(self.request(operation[1]))
        elif kind == "batch":
            requests = [self.request(spec) for spec in operation[1]]
            kit.charge_many(requests)
            self.last_charge = requests[-1]
        elif kind in ("commit", "release", "timeout"):
            role, held = operation[1], operation[2]
            timeout_seconds = operation[3] * HOUR if kind == "timeout" else HOUR
            action, hold_metadata = (operation[4], operation[5]) if kind == "commit" else (None, {})
            try:
                hold = kit.reserve(
                    self.names[role],
                    held,
                    idempotency_key=self.key(),
                    action=action,
                    timeout_seconds=timeout_seconds,
                    metadata=hold_metadata,
                )
            except CreditKitError:
                return
            if kind == "commit":
                kit.commit(
                    hold.id,
                    min(operation[3], held),
                    idempotency_key=self.key(),
                    metadata=operation[6],
                )
            elif kind == "release":
                kit.release(hold.id, idempotency_key=self.key())
        elif kind == "replay" and self.last_charge is not None:
            self.charge(self.last_charge)  # the same key and request: nothing new is spent
        elif kind == "advance":
            self.moments.append(self.clock.advance(seconds=operation[1], microseconds=operation[2]))


def _price(action: str) -> int:
    return {"ask": 1, "image": 5, "agent": 2, "translate": 3}[action]


@dataclass(frozen=True)
class Row:
    customer_id: int
    kind: str
    amount: int
    action: str | None
    member: str | None
    created_at: datetime
    issued: int
    expired: int
    agent: str | None


def _agent(metadata: dict[str, Any] | None) -> str | None:
    """The ``agent`` dimension's value as text: a string, or an integer's decimal text."""
    value = (metadata or {}).get("agent")
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value)


class Ledger:
    """The ledger's rows, read straight from its tables."""

    def __init__(self, kit: CreditKit) -> None:
        system = accounts.alias("system")
        with kit.database.read() as connection:
            self.ids = {
                external_id: customer_id
                for external_id, customer_id in connection.execute(
                    sa.select(customers.c.external_id, customers.c.id)
                )
            }

            def leg(kind: str) -> sa.ScalarSelect[Any]:
                return (
                    sa.select(sa.func.coalesce(sa.func.sum(entries.c.amount), 0))
                    .select_from(entries.join(system, system.c.id == entries.c.account_id))
                    .where(entries.c.transaction_id == transactions.c.id, system.c.kind == kind)
                    .scalar_subquery()
                )

            self.rows = [
                Row(*row[:6], -int(row[6]), int(row[7]), _agent(row[8]) or _agent(row[9]))
                for row in connection.execute(
                    sa.select(
                        transactions.c.customer_id,
                        transactions.c.kind,
                        transactions.c.amount,
                        transactions.c.action,
                        transactions.c.member,
                        transactions.c.created_at,
                        leg("issuance"),
                        leg("expiry"),
                        transactions.c.metadata,
                        holds.c.metadata,
                    )
                    .select_from(
                        transactions.outerjoin(holds, holds.c.account_id == transactions.c.hold_id)
                    )
                    .where(transactions.c.status == "applied", transactions.c.unit == "credits")
                )
            ]
            # Each grant expiry's steps with its grant's expires_at (an expiry moves one grant).
            self.grant_expiries = [
                (int(row[0]), int(row[1]), row[2], row[3])
                for row in connection.execute(
                    sa.select(
                        transactions.c.customer_id,
                        entries.c.amount,
                        grants.c.expires_at,
                        transactions.c.created_at,
                    )
                    .select_from(
                        transactions.join(
                            entries, entries.c.transaction_id == transactions.c.id
                        ).join(grants, grants.c.account_id == entries.c.account_id)
                    )
                    .where(transactions.c.kind == "expiry", transactions.c.unit == "credits")
                )
            ]

    def spending(self, customer_id: int | None, start: datetime, end: datetime) -> list[Row]:
        return [
            row
            for row in self.rows
            if row.kind in SPEND_KINDS
            and start <= row.created_at < end
            and (customer_id is None or row.customer_id == customer_id)
        ]

    def issued(self, customer_id: int, start: datetime, end: datetime) -> int:
        return sum(
            row.issued
            for row in self.rows
            if row.customer_id == customer_id
            and row.kind in ISSUING_KINDS
            and start <= row.created_at < end
        )

    def expired(self, customer_id: int | None, start: datetime, end: datetime) -> int:
        held = sum(
            row.expired
            for row in self.rows
            if row.kind in SETTLING_KINDS
            and start <= row.created_at < end
            and (customer_id is None or row.customer_id == customer_id)
        )
        granted = sum(
            -amount
            for owner, amount, expires_at, created_at in self.grant_expiries
            if amount < 0
            and created_at >= start
            and start < expires_at <= end
            and (customer_id is None or owner == customer_id)
        )
        return held + granted


def _groups(rows: list[Row], key: Any) -> list[tuple[str | None, int, int]]:
    """(key, steps, charges) in the breakdown's order: most spent, most charges, key, None
    last."""
    sums: dict[str | None, tuple[int, int]] = {}
    for row in rows:
        steps, count = sums.get(key(row), (0, 0))
        sums[key(row)] = (steps + row.amount, count + 1)
    return sorted(
        ((group, steps, count) for group, (steps, count) in sums.items()),
        key=lambda item: (-item[1], -item[2], item[0] is None, item[0] or ""),
    )


def _check_customer(
    kit: CreditKit, ledger: Ledger, name: str, start: datetime, end: datetime
) -> None:
    customer_id = ledger.ids[name]
    rows = ledger.spending(customer_id, start, end)
    summary = kit.usage_summary(name, period=(start, end))
    assert (summary.spent, summary.charges) == (sum(row.amount for row in rows), len(rows))
    assert summary.overage == ledger.issued(customer_id, start, end)
    assert summary.expired == ledger.expired(customer_id, start, end)
    keys = {
        "action": lambda row: row.action,
        "member": lambda row: row.member,
        "category": lambda row: CATEGORIES.get(row.action or ""),
        "dimension": lambda row: row.agent,
    }
    for by, key in keys.items():
        expected = _groups(rows, key)
        limit = 3 if by == "action" else 500  # the top ones, and every group
        dimension = "agent" if by == "dimension" else None
        breakdown = kit.usage_breakdown(
            name, by=by, start=start, end=end, limit=limit, dimension=dimension
        )
        got = [(group.key, group.spent, group.charges) for group in breakdown.groups]
        assert got == expected[:limit], by
        assert (breakdown.spent, breakdown.charges) == (summary.spent, summary.charges)
    for granularity in ("hour", "day"):
        if granularity == "hour" and end - start > timedelta(days=15):
            continue  # beyond a series' 366 points
        series = kit.usage_series(name, start=start, end=end, granularity=granularity)
        for point in series.points:
            inside = [row for row in rows if point.start <= row.created_at < point.end]
            assert (point.spent, point.charges) == (
                sum(row.amount for row in inside),
                len(inside),
            ), (granularity, point.start)
        assert series.charges == len(rows)


@SETTINGS
@given(steps=st.lists(operations, min_size=1, max_size=15), data=st.data())
def test_rollup_answers_equal_the_ledger_rows(
    shared: Shared, steps: list[tuple[Any, ...]], data: st.DataObject
) -> None:
    example = Example(shared)
    for operation in steps:
        example.run(operation)
    kit = shared.kit
    kit.tick()  # due work now, so that no read below writes what the expectations lack
    ledger = Ledger(kit)
    for _range in range(2):
        moment = data.draw(st.sampled_from(example.moments))
        offset_seconds, offset_microseconds, length_seconds = data.draw(range_offsets)
        start = moment + timedelta(seconds=offset_seconds, microseconds=offset_microseconds)
        end = start + timedelta(seconds=length_seconds)
        for name in example.names:
            _check_customer(kit, ledger, name, start, end)
        analytics = kit.analytics(start=start, end=end)
        everyone = ledger.spending(None, start, end)
        assert (analytics.consumed, analytics.charges) == (
            sum(row.amount for row in everyone),
            len(everyone),
        )
        got = [(group.key, group.spent, group.charges) for group in analytics.consumed_by_action]
        assert got == _groups(everyone, lambda row: row.action)
        assert analytics.expired == ledger.expired(None, start, end)
    for name in example.names:  # the current period, wherever the subscription anchors it
        summary = kit.usage_summary(name)
        rows = ledger.spending(ledger.ids[name], summary.period_start, summary.period_end)
        assert (summary.spent, summary.charges) == (sum(row.amount for row in rows), len(rows))
