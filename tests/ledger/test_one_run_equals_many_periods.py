"""No answer depends on when someone looks, for allowance periods of an hour, a day and a week:
one random schedule of charges, manual resets and clock jumps (across a daylight-saving change),
run three ways on three fresh databases, must leave three identical ledgers (see
``test_one_run_equals_many``: the same three ways and the same dump), with every rollover shape
and overage carried as debt. Bounded: the jumps scale with the plan's period (hours for the
hourly plan, days for the daily one, weeks for the weekly one), so the ``every`` run walks at
most a few hundred due instants."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_one_run_equals_many import (
    CUSTOMER,
    Run,
    dump,
    postgres_urls,
    read_at_every_due_instant,
    sqlite_template,
    sqlite_urls,
)

from creditkit import CreditKit, CreditKitError, ManualClock
from creditkit.catalog import parse_catalog

__all__ = ["sqlite_template"]  # a fixture, used by name

#: A Friday before Europe's clocks go forward (March 29th): the daily plan's days cross it.
START = datetime(2026, 3, 20, 21, 45, tzinfo=UTC)

CATALOG = parse_catalog("""
units: {credits: {scale: 0}}
plans:
  free: {name: Free, default: true, rank: 0}
  hourly:
    name: Hourly
    rank: 1
    prices: {month: {amount: 1000, currency: USD}}
    allowance: {amount: 10, unit: credits, period: hour, rollover: {fraction: "0.5", cap: 8}}
    overage: {unit: credits, spend_limit: 20, carry: debt}
  daily:
    name: Daily
    rank: 2
    prices: {month: {amount: 2000, currency: USD}}
    allowance: {amount: 50, unit: credits, period: day, anchor: calendar,
                time_zone: Europe/Paris, rollover: {expires_after_periods: 2}}
    overage: {unit: credits, spend_limit: 100, carry: debt}
  weekly:
    name: Weekly
    rank: 3
    prices: {month: {amount: 3000, currency: USD}}
    allowance: {amount: 100, unit: credits, period: week,
                rollover: {min_per_grant: 10, max_per_grant: 40}}
    overage: {unit: credits, price: {amount: 500, currency: USD, per: 1000}, spend_limit: 50}
""")

#: Each plan's period in seconds: its jumps are from a second to three periods.
PERIOD_SECONDS = {"hourly": 3_600, "daily": 86_400, "weekly": 604_800}

steps = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.floats(min_value=0.0001, max_value=3.0)),
        st.tuples(st.just("charge"), st.integers(1, 80)),
        st.tuples(st.just("reset")),
    ),
    min_size=1,
    max_size=10,
)


def apply(run: Run, plan: str, step: tuple[Any, ...], index: int) -> None:
    kit, name = run.kit, step[0]
    try:
        if name == "advance":
            # The jump in whole seconds (the float only draws its length).
            run.clock.advance(seconds=max(1, int(step[1] * PERIOD_SECONDS[plan])))
            run.outcomes.append("advanced")
            return
        if name == "charge":
            kit.charge(CUSTOMER, step[1], idempotency_key=f"step-{index}")
        else:
            kit.reset_period(CUSTOMER, reason=f"step {index}", idempotency_key=f"step-{index}")
        run.outcomes.append("applied")
    except CreditKitError as error:
        run.outcomes.append(error.code)


def play(run: Run, plan: str, schedule: list[tuple[Any, ...]], mode: str, ticks: set[int]) -> None:
    for index, step in enumerate(schedule):
        if mode == "every":
            run.kit.balance(CUSTOMER)
            if step[0] == "advance":
                seconds = max(1, int(step[1] * PERIOD_SECONDS[plan]))
                read_at_every_due_instant(run, run.clock() + timedelta(seconds=seconds))
                run.outcomes.append("advanced")
                continue
        if mode == "tick" and index in ticks:
            run.kit.tick()
        apply(run, plan, step, index)
    run.clock.advance(seconds=1)


def run_three_ways(
    fresh_url: Callable[[], str], plan: str, schedule: list[tuple[Any, ...]], ticks: set[int]
) -> None:
    dumps: dict[str, dict[str, Any]] = {}
    outcomes: dict[str, list[str]] = {}
    for mode in ("every", "end", "tick"):
        clock = ManualClock(START)
        kit = CreditKit(fresh_url(), catalog=CATALOG, clock=clock)
        try:
            kit.create_customer(CUSTOMER)
            kit.subscribe(CUSTOMER, plan, collected_elsewhere=True)
            run = Run(kit, clock, [], [])
            play(run, plan, schedule, mode, ticks)
            dumps[mode] = dump(kit)
            outcomes[mode] = run.outcomes
        finally:
            with suppress(Exception):
                kit.close()
    assert outcomes["every"] == outcomes["end"] == outcomes["tick"]
    for name in dumps["every"]:
        assert dumps["every"][name] == dumps["end"][name] == dumps["tick"][name], name
    assert dumps["every"]["audit"]


EXAMPLES = int(os.environ.get("CREDITKIT_TIMELINE_EXAMPLES", "30")) // 3

plans = st.sampled_from(sorted(PERIOD_SECONDS))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=plans, schedule=steps, ticks=st.sets(st.integers(0, 9), max_size=4))
def test_one_run_equals_many_runs_with_periods_on_sqlite(
    sqlite_template: Path,
    tmp_path: Path,
    plan: str,
    schedule: list[tuple[Any, ...]],
    ticks: set[int],
) -> None:
    with sqlite_urls(sqlite_template, tmp_path) as fresh:
        run_three_ways(fresh, plan, schedule, ticks)


@pytest.mark.postgres
@settings(
    max_examples=max(EXAMPLES // 4, 3),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=plans, schedule=steps, ticks=st.sets(st.integers(0, 9), max_size=4))
def test_one_run_equals_many_runs_with_periods_on_postgres(
    postgres_template: str, plan: str, schedule: list[tuple[Any, ...]], ticks: set[int]
) -> None:
    with postgres_urls(postgres_template) as fresh:
        run_three_ways(fresh, plan, schedule, ticks)


@pytest.mark.parametrize("plan", sorted(PERIOD_SECONDS))
def test_a_long_schedule_of_every_shape(sqlite_template: Path, tmp_path: Path, plan: str) -> None:
    """A fixed schedule that reaches every shape for each plan: overage carried, rollovers by
    fraction and cap, expiring after two periods, per-grant bounds, resets, across the change
    of time."""
    schedule: list[tuple[Any, ...]] = [
        ("charge", 70), ("advance", 0.5), ("charge", 30), ("advance", 1.0), ("reset",),
        ("charge", 5), ("advance", 2.5), ("charge", 60), ("advance", 3.0), ("advance", 3.0),
    ]  # fmt: skip
    with sqlite_urls(sqlite_template, tmp_path) as fresh:
        run_three_ways(fresh, plan, schedule, {2, 6})
