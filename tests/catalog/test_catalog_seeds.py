"""The five seed systems' catalogs load, with each document's real tiers, prices, credit
amounts, packs, action costs, features and limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from creditkit.catalog import (
    UNLIMITED,
    Allowance,
    Catalog,
    Credits,
    Interval,
    Limit,
    LimitKind,
    Overage,
    Period,
    Price,
    RolloverKind,
    load_catalog,
)
from creditkit.ledger.schemas import Money

#: The five seed systems' catalogs live with their examples; one file each, read from there.
SEED_CATALOGS = sorted((Path(__file__).parents[2] / "examples").glob("seed_*/catalog.yaml"))


def load(name: str) -> Catalog:
    """The seed catalog named like ``seed_002_devops_agent.yaml``."""
    return load_catalog(
        Path(__file__).parents[2] / "examples" / name.removesuffix(".yaml") / "catalog.yaml"
    )


def usd(amount_minor: int) -> Money:
    return Money(amount_minor, "USD")


def monthly_allowances(catalog: Catalog) -> dict[str, object]:
    return {
        plan.id: plan.allowance.amount if isinstance(plan.allowance, Allowance) else plan.allowance
        for plan in catalog.plans_by_rank()
    }


def pack_terms(catalog: Catalog) -> list[tuple[object, int]]:
    return [(pack.amount, pack.price.amount_minor) for pack in catalog.packs.values()]


def test_seed_000_social_platform() -> None:
    catalog = load("seed_000_social_platform.yaml")

    assert [plan.name for plan in catalog.plans_by_rank()] == ["Free", "Premium", "Pro"]
    assert catalog.default_plan.id == "free"
    premium, pro = catalog.plan("premium"), catalog.plan("pro")
    assert dict(premium.prices) == {Interval.MONTH: usd(1200), Interval.YEAR: usd(12000)}
    assert dict(pro.prices) == {Interval.MONTH: usd(2900), Interval.YEAR: usd(29000)}
    assert premium.prices_in_credits[Interval.MONTH] == Credits(2400, "credits")
    assert monthly_allowances(catalog) == {"free": 50, "premium": 2000, "pro": 10000}
    assert isinstance(premium.allowance, Allowance)
    assert premium.allowance.period is Period.MONTH  # monthly credits on the yearly price too
    assert pack_terms(catalog) == [(1000, 500), (2500, 1000), (6000, 2000)]
    assert {name: limit.value for name, limit in catalog.plan("free").limits.items()} == {
        "tasks": 1,
        "agents": 1,
        "communities": 1,
        "notebooks": 1,
    }
    assert all(limit.value is UNLIMITED for limit in pro.limits.values())
    assert {"usage_dashboard", "credit_marketplace"} <= set(premium.features)
    assert {"exclusive_personas", "agent_customization"} <= set(pro.features)
    assert not premium.has_feature("exclusive_personas")
    assert premium.overage == Overage("credits", Price(usd(500), per=1000), UNLIMITED)
    assert catalog.plan("free").overage is None


def test_seed_001_ai_proxy_sells_packs_only() -> None:
    catalog = load("seed_001_ai_proxy.yaml")

    assert list(catalog.plans) == ["free"]
    assert catalog.default_plan.allowance is None
    assert dict(catalog.default_plan.prices) == {}
    assert pack_terms(catalog) == [(10, 0), (40, 999), (100, 2499), (250, 5999), (1000, 19999)]
    assert all(pack.expires_after_days is None for pack in catalog.packs.values())
    assert catalog.pack("free_trial").purchase_limit == 1
    assert [pack.id for pack in catalog.packs.values() if pack.popular] == ["premium"]
    assert catalog.action("generate_image").price == 1


def test_seed_002_devops_agent() -> None:
    catalog = load("seed_002_devops_agent.yaml")

    plans = catalog.plans_by_rank()
    assert [plan.name for plan in plans] == ["Free Tier", "Starter", "Professional", "Business"]
    assert [plan.prices[Interval.MONTH].amount_minor for plan in plans] == [0, 1900, 7900, 19900]
    assert monthly_allowances(catalog) == {
        "free": 20,
        "starter": 200,
        "professional": 1000,
        "business": 3000,
    }
    assert all(
        isinstance(plan.allowance, Allowance) and plan.allowance.rollover.kind is RolloverKind.NONE
        for plan in plans
    )
    assert pack_terms(catalog) == [(100, 1000), (250, 2000), (500, 3500), (1000, 6000)]
    assert all(pack.expires_after_days is None for pack in catalog.packs.values())
    assert catalog.action("chat_message").price == 1


def test_seed_003_b2b_tenant() -> None:
    catalog = load("seed_003_b2b_tenant.yaml")

    assert {action.id: action.price for action in catalog.actions.values()} == {
        "ask_anything": 2,
        "email_analysis": 3,
        "email_composer": 4,
        "daily_briefing": 5,
        "account_dossier": 8,
        "generate_playbook": 10,
        "icp_analysis": 15,
    }
    assert catalog.action("icp_analysis").label == "ICP Analysis"
    plans = catalog.plans_by_rank()
    assert [plan.name for plan in plans] == ["Starter", "Growth", "Scale", "Enterprise"]
    assert [plan.prices.get(Interval.MONTH) for plan in plans] == [
        usd(0),
        usd(240000),
        usd(500000),
        None,  # Enterprise: custom pricing
    ]
    assert monthly_allowances(catalog) == {
        "starter": 25,
        "growth": 500,
        "scale": 2000,
        "enterprise": UNLIMITED,
    }
    assert [plan.limits["users"].value for plan in plans] == [1, 5, 20, UNLIMITED]
    assert [plan.limits["enrolled_accounts"].value for plan in plans] == [
        1,
        20,
        UNLIMITED,
        UNLIMITED,
    ]
    enterprise = catalog.plan("enterprise")
    assert set(catalog.plan("scale").features) < set(enterprise.features)
    assert {"sso_advanced_security", "white_label_branding"} <= set(enterprise.features)


def test_seed_004_orbit_workspaces() -> None:
    catalog = load("seed_004_orbit_workspaces.yaml")

    free, pro, business = catalog.plans_by_rank()
    assert [free.name, pro.name, business.name] == ["FREE", "PRO", "BUSINESS"]
    assert dict(pro.prices) == {Interval.MONTH: usd(2900), Interval.YEAR: usd(27800)}
    assert dict(business.prices) == {Interval.MONTH: usd(9900), Interval.YEAR: usd(95000)}
    assert monthly_allowances(catalog) == {"free": 100, "pro": 1000, "business": 5000}
    table = {
        name: [plan.limits[name].value for plan in (free, pro, business)]
        for name in ("social_accounts", "scheduled_posts", "ab_tests", "team_members")
    }
    assert table == {
        "social_accounts": [3, 10, UNLIMITED],
        "scheduled_posts": [30, UNLIMITED, UNLIMITED],
        "ab_tests": [1, 10, UNLIMITED],
        "team_members": [1, 3, 10],
    }
    assert free.limits["scheduled_posts"] == Limit(LimitKind.PER_PERIOD, 30, Period.MONTH)
    assert free.limits["social_accounts"].kind is LimitKind.COUNT
    assert not free.has_feature("relay") and pro.has_feature("relay")
    assert not pro.has_feature("white_label_reports") and business.has_feature(
        "white_label_reports"
    )
    assert pack_terms(catalog) == [(500, 1000), (1, 99)]


@pytest.mark.parametrize("path", SEED_CATALOGS, ids=lambda path: path.parent.name)
def test_every_fixture_has_one_default_and_ordered_ranks(path: Path) -> None:
    catalog = load_catalog(path)

    ranks = [plan.rank for plan in catalog.plans_by_rank()]
    assert ranks == sorted(set(ranks))
    assert sum(plan.is_default for plan in catalog.plans.values()) == 1
    assert catalog.default_plan is catalog.plans_by_rank()[0]
    assert all(len(catalog.fingerprint(plan_id)) == 64 for plan_id in catalog.plans)
