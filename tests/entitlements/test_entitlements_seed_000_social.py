"""Seed 000 (a social AI platform): Free creates 1 Task, 1 Agent, 1 Community, 1 Notebook;
Premium and Pro are unlimited; Pro's "bigger file sizes" as a quota."""

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from creditkit import CreditKit
from creditkit.catalog import UNLIMITED, parse_catalog

SEED_000 = Path(__file__).parents[2] / "examples" / "seed_000_social_platform" / "catalog.yaml"
THINGS = ("tasks", "agents", "communities", "notebooks")


@pytest.fixture
def social(make_kit: Callable[..., CreditKit]) -> CreditKit:
    # The seed's catalog, plus the quota that "bigger file sizes" on Pro calls for (the seed
    # names no sizes: these are examples).
    data = yaml.safe_load(SEED_000.read_text(encoding="utf-8"))
    for plan, megabytes in (("free", 10), ("premium", 25), ("pro", 100)):
        data["plans"][plan]["quotas"] = {"max_file_mb": megabytes}
    kit = make_kit(catalog=parse_catalog(yaml.safe_dump(data), "seed_000+quotas.yaml"))
    kit.create_customer("maya")
    return kit


@pytest.mark.parametrize("thing", THINGS)
def test_free_creates_one_of_each_premium_thing(social: CreditKit, thing: str) -> None:
    assert social.acquire("maya", thing, "first").allowed
    refused = social.acquire("maya", thing, "second")
    assert (refused.allowed, refused.upgrade_to, refused.used, refused.limit) == (
        False,
        "premium",
        1,
        1,
    )


def test_premium_is_unlimited(social: CreditKit) -> None:
    social.change_plan("maya", "premium")
    for thing in THINGS:
        for number in range(5):
            assert social.acquire("maya", thing, f"{thing}-{number}").limit is UNLIMITED
    assert {usage.used for usage in social.usage_of_limits("maya")} == {5}


def test_features_and_the_file_size_quota(social: CreditKit) -> None:
    assert social.entitled("maya", "usage_dashboard").upgrade_to == "premium"
    assert social.entitled("maya", "agent_customization").upgrade_to == "pro"
    assert social.quota("maya", "max_file_mb") == 10
    social.change_plan("maya", "pro")
    assert social.entitled("maya", "agent_customization").allowed
    assert social.quota("maya", "max_file_mb") == 100
