"""Fixtures of the entitlements tests: a small catalog whose three tiers exercise every kind of
limit, and a kit on it (on SQLite and on PostgreSQL, as every kit test)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from creditkit import CreditKit, ManualClock
from creditkit.catalog import Catalog, parse_catalog

START = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)

#: free < plus < max. ``webhooks`` is capped on free only (the others do not name it: uncapped);
#: ``exports`` is a yearly counter on free only; ``integrations`` is not allowed on free (0);
#: ``projects`` is capped on every plan (no plan allows a 4th). ``api_keys`` is a quota that
#: only max names.
TINY_CATALOG = """
units:
  credits: {scale: 0}
plans:
  free:
    name: Free
    default: true
    rank: 0
    prices: {month: {amount: 0, currency: USD}}
    allowance: {amount: 10, unit: credits}
    features: [basic]
    limits:
      tasks: {count: 1}
      projects: {count: 1}
      webhooks: {count: 2}
      integrations: {count: 0}
      posts: {per_period: 3, period: month}
      exports: {per_period: 2, period: year}
      team_members: {count: 1}
    quotas: {max_file_mb: 10}
  plus:
    name: Plus
    rank: 1
    prices: {month: {amount: 1000, currency: USD}, year: {amount: 10000, currency: USD}}
    allowance: {amount: 100, unit: credits}
    features: [basic, reports]
    limits:
      tasks: {count: 5}
      projects: {count: 2}
      integrations: {count: 5}
      posts: {per_period: 100, period: month}
      team_members: {count: 3}
    quotas: {max_file_mb: 100}
  max:
    name: Max
    rank: 2
    prices: {month: {amount: 5000, currency: USD}}
    features: [basic, reports, sso]
    limits:
      tasks: {count: unlimited}
      projects: {count: 3}
      integrations: {count: unlimited}
      posts: {per_period: unlimited, period: month}
      team_members: {count: 10}
    quotas: {max_file_mb: unlimited, api_keys: 5}
"""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def tiny_catalog() -> Catalog:
    return parse_catalog(TINY_CATALOG, "tiny.yaml")


@pytest.fixture
def kit(make_kit: Callable[..., CreditKit], tiny_catalog: Catalog) -> CreditKit:
    """Users ``u1``…``u4`` and workspaces ``w1``, ``w2``, all on Free."""
    ck = make_kit(catalog=tiny_catalog)
    for user in ("u1", "u2", "u3", "u4"):
        ck.create_customer(user)
    for workspace in ("w1", "w2"):
        ck.create_customer(workspace, kind="workspace")
    return ck
