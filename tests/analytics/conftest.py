"""Fixtures of the analytics tests: a kit on an AI assistant's catalog (analytics_support.py),
on SQLite and on PostgreSQL, with its clock at ``START``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from analytics_support import CATALOG, START

from creditkit import CreditKit, ManualClock
from creditkit.catalog import Catalog, parse_catalog


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def catalog() -> Catalog:
    return parse_catalog(CATALOG, "assistant.yaml")


@pytest.fixture
def kit(make_kit: Callable[..., CreditKit], catalog: Catalog) -> CreditKit:
    return make_kit(catalog=catalog)
