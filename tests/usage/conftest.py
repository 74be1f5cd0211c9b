"""Fixtures of the usage tests: a catalog with categorized actions and three plans (a free
allowance, a metered plan with overage, an unlimited one), and a kit on it (on SQLite and on
PostgreSQL, as every kit test)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from creditkit import CreditKit, ManualClock
from creditkit.catalog import Catalog, parse_catalog

#: Mid-month, so that the first billing period (anchored on the subscription) is not a calendar
#: month.
START = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)

USAGE_CATALOG = """
units:
  credits: {scale: 0}
  tokens: {scale: 2}
actions:
  ask_anything: {price: 1, unit: credits, label: Ask anything, category: chat}
  generate_image: {price: 5, unit: credits, label: Generate an image, category: images}
  agent_message: {price: 2, unit: credits, label: Agent message, category: agents}
  run_task: {price: 3, unit: credits, label: Run a task, category: agents}
  translate: {price: 1, unit: credits}
  embed: {price: "0.25", unit: tokens, category: chat}
plans:
  free:
    name: Free
    default: true
    rank: 0
    prices: {month: {amount: 0, currency: USD}}
    allowance: {amount: 100, unit: credits}
  metered:
    name: Metered
    rank: 1
    prices: {month: {amount: 1000, currency: USD}}
    allowance: {amount: 20, unit: credits}
    overage: {unit: credits, price: {amount: 500, currency: USD, per: 1000}, spend_limit: 100}
  infinite:
    name: Infinite
    rank: 2
    prices: {month: {amount: 9000, currency: USD}}
    allowance: unlimited
"""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def usage_catalog() -> Catalog:
    return parse_catalog(USAGE_CATALOG, "usage.yaml")


@pytest.fixture
def kit(make_kit: Callable[..., CreditKit], usage_catalog: Catalog) -> CreditKit:
    """Users ``u1`` and ``u2`` and workspace ``w1``, all on Free (100 credits a month)."""
    ck = make_kit(catalog=usage_catalog)
    ck.create_customer("u1")
    ck.create_customer("u2")
    ck.create_customer("w1", kind="workspace")
    return ck
