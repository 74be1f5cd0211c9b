"""No answer depends on when someone looks: one random schedule of writes and clock moves, run
three ways on three fresh databases, must leave three identical ledgers.

- ``every``: the balance is read before every step and at every due instant the customer has
  (each hold timeout, grant expiry and period boundary, walked through ``next_due_at``);
- ``end``: nothing is read but what the steps themselves do, and the ledger once at the end;
- ``tick``: ``tick()`` (the worker's sweep of every customer) at random points.

The comparison is a canonical dump: balances, every grant's remaining credits, the system
accounts (breakage among them), billing lines, the subscription, every step's outcome, and the
history as (instant, kind, status, amount, action) rows. Identifiers are left out: an allowance
granted late gets a later account id than one granted on time, and that is all that may differ.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creditkit import CreditKit, CreditKitError, ManualClock
from creditkit.catalog import parse_catalog
from creditkit.store import tables
from creditkit.store.database import Database
from creditkit.store.migrate import upgrade_to_head

POSTGRES_ADMIN_URL = os.environ.get(
    "CREDITKIT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
CUSTOMER = "ada"
START = datetime(2026, 1, 31, 23, 0, tzinfo=UTC)
#: Bounds the walk through due instants in the ``every`` run (a schedule has far fewer).
DUE_INSTANTS_MAX = 2_000

CATALOG = parse_catalog("""
units: {credits: {scale: 0}}
packs:
  small: {name: Small, amount: 50, unit: credits, price: {amount: 500, currency: USD}}
  brief: {name: Brief, amount: 40, unit: credits, price: {amount: 400, currency: USD},
          expires_after_days: 10}
plans:
  free: {name: Free, default: true, rank: 0, prices: {month: {amount: 0, currency: USD}},
         allowance: {amount: 20, unit: credits}}
  saver: {name: Saver, rank: 1, prices: {month: {amount: 1000, currency: USD}},
          prices_in_credits: {month: {amount: 30, unit: credits}},
          allowance: {amount: 100, unit: credits, rollover: all}}
  capped: {name: Capped, rank: 2, prices: {month: {amount: 2000, currency: USD}},
           allowance: {amount: 200, unit: credits, rollover: {cap: 50}}}
  forever: {name: Forever, rank: 3, prices: {month: {amount: 3000, currency: USD}},
            allowance: {amount: 50, unit: credits, expires: never}}
""")

PLANS = ("free", "saver", "capped", "forever")
#: (spender, period, cap) of the budgets every run sets.
BUDGETS = (("agent", "hour", 40), ("agent", "day", 70), ("team", "month", 150))

# -- schedules --------------------------------------------------------------------------------

seconds = st.one_of(
    st.integers(min_value=1, max_value=120),  # around a hold's timeout
    st.integers(min_value=3_000, max_value=4_000),  # an hour or so
    st.integers(min_value=86_000, max_value=87_000),  # a day
    st.integers(min_value=2_400_000, max_value=2_800_000),  # about a month
    st.integers(min_value=20_000_000, max_value=40_000_000),  # a year or more: many boundaries
)
steps = st.one_of(
    st.tuples(st.just("advance"), seconds),
    st.tuples(st.just("grant"), st.integers(1, 80), st.none() | st.integers(1, 40)),
    st.tuples(st.just("pack"), st.sampled_from(["small", "brief"])),
    st.tuples(st.just("charge"), st.integers(1, 120)),
    # Usage reported late (within the default hour's window), and a reversal of an earlier
    # step's charge, wholly or in part.
    st.tuples(st.just("late"), st.integers(1, 120), st.integers(0, 3_600)),
    st.tuples(st.just("reverse"), st.integers(0, 17), st.none() | st.integers(1, 60)),
    # Through a spender whose budgets (an hour's, a day's, and its team's month) reset on their
    # own boundaries; a hold through it counts until it is settled or times out.
    st.tuples(st.just("spend"), st.integers(1, 30)),
    st.tuples(st.just("hold_through"), st.integers(1, 30), st.sampled_from([30, 600, 7200])),
    st.tuples(st.just("reserve"), st.integers(1, 60), st.sampled_from([30, 60, 600, 7200])),
    # A commit above what the hold has left spends the excess as a charge (allow_debt).
    st.tuples(st.just("commit"), st.integers(0, 5), st.integers(1, 60), st.booleans()),
    # A hold under another (its timeout capped by its parent's, expiring first at the same
    # instant; held by its parent's spender, or by one whose own budgets it counts against),
    # an extend of one (its amount and/or its timeout, within its budgets), and a partial
    # commit.
    st.tuples(
        st.just("nest"),
        st.integers(0, 5),
        st.integers(1, 40),
        st.sampled_from([30, 60, 600, 7200]),
        st.sampled_from([None, "agent", "team"]),
    ),
    st.tuples(
        st.just("extend"),
        st.integers(0, 5),
        st.none() | st.integers(1, 40),
        st.none() | st.sampled_from([30, 600, 7200]),
    ),
    st.tuples(st.just("capture"), st.integers(0, 5), st.integers(1, 30)),
    st.tuples(st.just("release"), st.integers(0, 5)),
    st.tuples(
        st.just("subscribe"),
        st.sampled_from(PLANS[1:]),
        st.sampled_from(["money", "credits"]),
        st.sampled_from([0, 0, 7]),
    ),
    st.tuples(st.just("change"), st.sampled_from(PLANS)),
    st.tuples(st.just("cancel")),
)
schedules = st.lists(steps, min_size=1, max_size=18)


@dataclass
class Run:
    kit: CreditKit
    clock: ManualClock
    holds: list[int]
    outcomes: list[str]


def apply(run: Run, step: tuple[Any, ...], index: int) -> None:
    """Runs one step and records its outcome (the error's code when refused)."""
    kit, name = run.kit, step[0]
    key = f"step-{index}"
    try:
        if name == "advance":
            run.clock.advance(seconds=step[1])
            run.outcomes.append("advanced")
            return
        if name == "grant":
            expires_at = None if step[2] is None else run.clock() + timedelta(days=step[2])
            kit.grant(CUSTOMER, step[1], idempotency_key=key, expires_at=expires_at)
        elif name == "pack":
            kit.grant_pack(CUSTOMER, step[1], idempotency_key=key)
        elif name == "charge":
            kit.charge(CUSTOMER, step[1], idempotency_key=key)
        elif name == "spend":
            kit.charge(CUSTOMER, step[1], idempotency_key=key, spender="agent")
        elif name == "late":
            occurred_at = run.clock() - timedelta(seconds=step[2])
            kit.charge(CUSTOMER, step[1], idempotency_key=key, occurred_at=occurred_at)
        elif name == "reverse":
            kit.reverse_charge(f"step-{step[1]}", step[2], reason="corrected", idempotency_key=key)
        elif name == "hold_through":
            hold = kit.reserve(
                CUSTOMER, step[1], idempotency_key=key, timeout_seconds=step[2], spender="agent"
            )
            run.holds.append(hold.id)
        elif name == "reserve":
            hold = kit.reserve(CUSTOMER, step[1], idempotency_key=key, timeout_seconds=step[2])
            run.holds.append(hold.id)
        elif name in ("commit", "release", "nest", "extend", "capture"):
            if step[1] >= len(run.holds):
                run.outcomes.append("no hold")
                return
            hold_id = run.holds[step[1]]
            if name == "commit":
                kit.commit(hold_id, step[2], allow_debt=step[3], idempotency_key=key)
            elif name == "capture":
                kit.commit(hold_id, step[2], final=False, idempotency_key=key)
            elif name == "nest":
                child = kit.reserve(
                    CUSTOMER, step[2], parent=hold_id, timeout_seconds=step[3],
                    spender=step[4], idempotency_key=key,
                )  # fmt: skip
                run.holds.append(child.id)
            elif name == "extend":
                kit.extend(
                    hold_id, step[2], step[3] or (None if step[2] else 60), idempotency_key=key
                )
            else:
                kit.release(hold_id, idempotency_key=key)
        elif name == "subscribe":
            kit.subscribe(
                CUSTOMER, step[1], pay_with=step[2], trial_days=step[3], collected_elsewhere=True
            )
        elif name == "change":
            kit.change_plan(CUSTOMER, step[1])
        elif name == "cancel":
            kit.cancel(CUSTOMER)
        run.outcomes.append("applied")
    except CreditKitError as error:
        run.outcomes.append(error.code)


def next_due_at(kit: CreditKit) -> datetime | None:
    with kit._database.read() as connection:
        value: datetime | None = connection.execute(
            sa.select(tables.customers.c.next_due_at).where(
                tables.customers.c.external_id == CUSTOMER
            )
        ).scalar_one()
    return value


def read_at_every_due_instant(run: Run, until: datetime) -> None:
    """Moves the clock to each instant something falls due before ``until``, reading there."""
    for _instant in range(DUE_INSTANTS_MAX):
        due = next_due_at(run.kit)
        if due is None or due > until:
            break
        if due > run.clock():
            run.clock.set(due)
        run.kit.balance(CUSTOMER)
    else:
        raise AssertionError("the due instants did not run out")
    run.clock.set(until)


def play(run: Run, schedule: list[tuple[Any, ...]], mode: str, ticks: set[int]) -> None:
    for index, step in enumerate(schedule):
        if mode == "every":
            run.kit.balance(CUSTOMER)
            if step[0] == "advance":
                read_at_every_due_instant(run, run.clock() + timedelta(seconds=step[1]))
                run.outcomes.append("advanced")
                continue
        if mode == "tick" and index in ticks:
            run.kit.tick()
        apply(run, step, index)
    run.clock.advance(seconds=1)  # the end: whatever fell due at the last instant is due now


def dump(kit: CreditKit) -> dict[str, Any]:
    balance = kit.balance(CUSTOMER)
    subscription = kit.subscription(CUSTOMER)
    with kit._database.read() as connection:
        rows = [
            (row.source, row.amount_granted, row.balance, row.effective_at, row.expires_at)
            for row in connection.execute(
                sa.select(
                    tables.grants.c.source,
                    tables.grants.c.amount_granted,
                    tables.accounts.c.balance,
                    tables.grants.c.effective_at,
                    tables.grants.c.expires_at,
                ).join(tables.accounts, tables.accounts.c.id == tables.grants.c.account_id)
            )
        ]
        # Never-expiring grants (expires_at None) sort after the others, without comparing
        # None with a datetime.
        grants = sorted(
            rows, key=lambda grant: (*grant[:4], grant[4] is None, grant[4] or grant[3])
        )
        system = sorted(
            (row.kind, row.balance)
            for row in connection.execute(
                sa.select(tables.accounts.c.kind, tables.accounts.c.balance).where(
                    tables.accounts.c.customer_id.is_(None)
                )
            )
        )
        usage = sorted(
            (row.spender, row.period, row.period_start, row.used)
            for row in connection.execute(sa.select(tables.budget_usage))
        )
        history = sorted(
            (row.created_at, row.kind, row.status, row.amount, row.action or "")
            for row in connection.execute(
                sa.select(
                    tables.transactions.c.created_at,
                    tables.transactions.c.kind,
                    tables.transactions.c.status,
                    tables.transactions.c.amount,
                    tables.transactions.c.action,
                )
            )
        )
        holds = sorted(
            (
                row.created_at,
                row.depth,
                row.status,
                row.amount_held,
                row.amount_committed or 0,
                row.expires_at,
            )
            for row in connection.execute(
                sa.select(
                    tables.holds.c.created_at,
                    tables.holds.c.depth,
                    tables.holds.c.status,
                    tables.holds.c.amount_held,
                    tables.holds.c.amount_committed,
                    tables.holds.c.expires_at,
                )
            )
        )
    return {
        "available": balance.available,
        "held": balance.held,
        "holds": holds,
        "overage_available": balance.overage_available,
        "grants": grants,
        "system_accounts": system,
        "history": history,
        "budget_usage": usage,
        "budgets": [
            kit.budgets(CUSTOMER, spender=spender.id) for spender in kit.spenders(CUSTOMER)
        ],
        "debt": balance.debt,
        "billing_lines": [
            (line.kind, line.description, line.amount, line.period_start, line.period_end)
            for line in kit.billing_lines(CUSTOMER, limit=500)
        ],
        "subscription": None
        if subscription is None
        else (
            subscription.plan,
            subscription.status,
            subscription.pay_with,
            subscription.current_period_start,
            subscription.current_period_end,
            subscription.scheduled_plan,
        ),
        "audit": kit.audit().ok,
    }


# -- databases ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each run copies (copying is much faster than migrating)."""
    path = tmp_path_factory.mktemp("timeline") / "template.db"
    database = Database(f"sqlite:///{path}")
    upgrade_to_head(database.engine)
    # Closing the last connection checkpoints the write-ahead log into the file itself.
    database.dispose()
    if Path(f"{path}-wal").exists():
        raise AssertionError("the template's log was not checkpointed")
    return path


@contextmanager
def sqlite_urls(template: Path, directory: Path) -> Iterator[Callable[[], str]]:
    def fresh() -> str:
        path = directory / f"{uuid.uuid4().hex}.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"

    yield fresh


@contextmanager
def postgres_urls(template: str) -> Iterator[Callable[[], str]]:
    made: list[str] = []
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")

    def fresh() -> str:
        name = f"creditkit_timeline_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        made.append(name)
        return f"{base}/{name}"

    try:
        yield fresh
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            for name in made:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_three_ways(
    fresh_url: Callable[[], str], schedule: list[tuple[Any, ...]], ticks: set[int]
) -> None:
    dumps: dict[str, dict[str, Any]] = {}
    outcomes: dict[str, list[str]] = {}
    for mode in ("every", "end", "tick"):
        clock = ManualClock(START)
        kit = CreditKit(fresh_url(), catalog=CATALOG, clock=clock)
        try:
            kit.create_customer(CUSTOMER)
            kit.create_spender(CUSTOMER, "team", kind="project")
            kit.create_spender(CUSTOMER, "agent", kind="agent", parent="team")
            for spender, period, cap in BUDGETS:
                kit.set_budget(
                    CUSTOMER,
                    cap,
                    spender=spender,
                    period=period,
                    idempotency_key=f"b-{spender}-{period}",
                )
            # Commits above their holds may go this far below zero; the next grant repays it.
            kit.set_debt_limit(CUSTOMER, 30, idempotency_key="debt-limit")
            run = Run(kit, clock, [], [])
            play(run, schedule, mode, ticks)
            dumps[mode] = dump(kit)
            outcomes[mode] = run.outcomes
        finally:
            with suppress(Exception):
                kit.close()
    assert outcomes["every"] == outcomes["end"] == outcomes["tick"]
    for name in dumps["every"]:
        assert dumps["every"][name] == dumps["end"][name] == dumps["tick"][name], name
    assert dumps["every"]["audit"]


EXAMPLES = int(os.environ.get("CREDITKIT_TIMELINE_EXAMPLES", "30"))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(schedule=schedules, ticks=st.sets(st.integers(0, 17), max_size=6))
def test_one_run_equals_many_runs_on_sqlite(
    sqlite_template: Path, tmp_path: Path, schedule: list[tuple[Any, ...]], ticks: set[int]
) -> None:
    with sqlite_urls(sqlite_template, tmp_path) as fresh:
        run_three_ways(fresh, schedule, ticks)


@pytest.mark.postgres
@settings(
    max_examples=max(EXAMPLES // 4, 5),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(schedule=schedules, ticks=st.sets(st.integers(0, 17), max_size=6))
def test_one_run_equals_many_runs_on_postgres(
    postgres_template: str, schedule: list[tuple[Any, ...]], ticks: set[int]
) -> None:
    with postgres_urls(postgres_template) as fresh:
        run_three_ways(fresh, schedule, ticks)


def test_the_dump_tells_ledgers_apart(sqlite_template: Path, tmp_path: Path) -> None:
    """The comparison can fail: one more charge is a different dump."""
    with sqlite_urls(sqlite_template, tmp_path) as fresh:
        dumps = []
        for charges in (1, 2):
            kit = CreditKit(fresh(), catalog=CATALOG, clock=ManualClock(START))
            kit.create_customer(CUSTOMER)
            for index in range(charges):
                kit.charge(CUSTOMER, 1, idempotency_key=f"c{index}")
            dumps.append(dump(kit))
            kit.close()
    assert dumps[0] != dumps[1]
    assert dumps[0]["available"] == 19
