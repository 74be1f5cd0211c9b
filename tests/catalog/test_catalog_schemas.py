"""The catalog's values: lookups, the default plan, rank order, quantities at their unit's scale,
``UNLIMITED``, plan fingerprints, and the errors' fields."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from creditkit.catalog import (
    PLAN_TERMS_FORMAT,
    UNLIMITED,
    Allowance,
    Catalog,
    CatalogError,
    CatalogInvalid,
    CatalogProblem,
    Interval,
    Plan,
    Price,
    UnknownAction,
    UnknownPack,
    UnknownPlan,
    load_catalog,
    parse_catalog,
)
from creditkit.errors import CreditKitError, InvalidRequest, UnknownUnit
from creditkit.ledger.schemas import Money, Unit

CATALOG = """\
units:
  credits: {scale: 0}
  usd_credits: {scale: 2, label: USD credits}
actions:
  ask_anything: {price: 2, unit: credits, label: "Ask Anything", category: "AI queries"}
  tokens_1k: {price: "0.2", unit: usd_credits}
plans:
  pro:
    name: Pro
    rank: 5
    prices: {month: {amount: 2900, currency: USD}}
    allowance: {amount: "12.5", unit: usd_credits, rollover: {cap: 5}}
    features: [relay, analytics]
    limits: {seats: {count: 3}, posts: {per_period: unlimited, period: month}}
    quotas: {max_file_mb: 100, max_agents: unlimited}
  free:
    name: Free
    default: true
    rank: 0
    allowance: {amount: 50, unit: credits}
    features: [analytics]
  team:
    name: Team
    rank: 9
    allowance: unlimited
packs:
  basic: {name: Basic, amount: 40, unit: credits, price: {amount: 999, currency: USD}}
"""


@pytest.fixture
def catalog() -> Catalog:
    return parse_catalog(CATALOG, "test.yaml")


def test_lookups(catalog: Catalog) -> None:
    assert catalog.plan("pro").name == "Pro"
    assert catalog.action("ask_anything").label == "Ask Anything"
    assert catalog.action("tokens_1k").label == "tokens_1k"  # the id when no label is given
    assert catalog.pack("basic").price == Money(999, "USD")
    assert catalog.unit("usd_credits").as_unit() == Unit("usd_credits", 2)


@pytest.mark.parametrize(
    ("lookup", "error", "field"),
    [
        (lambda c: c.plan("gold"), UnknownPlan, "plan"),
        (lambda c: c.action("fly"), UnknownAction, "action"),
        (lambda c: c.pack("huge"), UnknownPack, "pack"),
        (lambda c: c.unit("coins"), UnknownUnit, "unit"),
    ],
    ids=["plan", "action", "pack", "unit"],
)
def test_unknown_ids_raise_lookup_errors_naming_the_field(
    catalog: Catalog, lookup: object, error: type[InvalidRequest], field: str
) -> None:
    with pytest.raises(error) as caught:
        lookup(catalog)  # type: ignore[operator]

    assert caught.value.field == field
    assert isinstance(caught.value, CreditKitError)


def test_unknown_plan_action_and_pack_are_lookup_errors(catalog: Catalog) -> None:
    with pytest.raises(LookupError):
        catalog.plan("gold")
    with pytest.raises(LookupError):
        catalog.action("fly")
    with pytest.raises(LookupError):
        catalog.pack("huge")


def test_default_plan_and_rank_order(catalog: Catalog) -> None:
    assert catalog.default_plan.id == "free"
    assert [plan.id for plan in catalog.plans_by_rank()] == ["free", "pro", "team"]
    assert list(catalog.plans) == ["pro", "free", "team"]  # file order kept


def test_a_catalog_built_without_a_default_says_so() -> None:
    catalog = Catalog(units={}, plans={"p": Plan("p", "P", rank=0)})

    with pytest.raises(InvalidRequest, match="no plan is the default"):
        _ = catalog.default_plan


def test_quantities_come_back_at_their_units_scale(catalog: Catalog) -> None:
    allowance = catalog.plan("pro").allowance
    assert isinstance(allowance, Allowance)
    assert allowance.amount == Decimal("12.50")
    assert str(allowance.amount) == "12.50"
    assert allowance.rollover.cap == Decimal("5.00")
    assert catalog.action("tokens_1k").price == Decimal("0.20")
    assert type(catalog.action("ask_anything").price) is int


def test_unlimited_is_a_value_not_minus_one(catalog: Catalog) -> None:
    pro = catalog.plan("pro")
    assert pro.limits["posts"].value is UNLIMITED
    assert pro.limits["posts"].is_unlimited
    assert not pro.limits["seats"].is_unlimited
    assert pro.quotas["max_agents"] is UNLIMITED
    assert catalog.plan("team").allowance is UNLIMITED
    assert repr(UNLIMITED) == "UNLIMITED"


def test_names_known_to_any_plan(catalog: Catalog) -> None:
    assert catalog.feature_names == {"relay", "analytics"}
    assert catalog.limit_names == {"seats", "posts"}


def test_values_are_frozen(catalog: Catalog) -> None:
    plan = catalog.plan("pro")

    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.rank = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        plan.limits["seats"] = plan.limits["posts"]  # type: ignore[index]
    with pytest.raises(TypeError):
        catalog.plans["x"] = plan  # type: ignore[index]


# -- fingerprints --


def fingerprint_after(old: str, new: str, plan_id: str = "pro") -> str:
    assert old in CATALOG
    return parse_catalog(CATALOG.replace(old, new), "test.yaml").fingerprint(plan_id)


def test_fingerprint_is_sha256_of_canonical_terms(catalog: Catalog) -> None:
    terms = catalog.plan_terms("pro")

    assert terms["format"] == PLAN_TERMS_FORMAT
    assert terms["units"] == {"usd_credits": 2}
    assert terms["allowance"]["amount"] == "12.50"
    assert terms["features"] == ["analytics", "relay"]
    assert catalog.fingerprint("pro") == catalog.fingerprint("pro")
    assert len(catalog.fingerprint("pro")) == 64
    # Pinned: a change here changes every subscribed plan's version; it must be deliberate.
    assert catalog.fingerprint("pro") == (
        "2d23fa3c700ff8dc046da320335b8a4fad53ed0b5c03665053d3a05468d7e53b"
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("    name: Pro\n", "    name: Pro Plus\n    description: Renamed.\n"),
        ("    rank: 5", "    rank: 6"),
        ("[relay, analytics]", "[analytics, relay]"),
        ('amount: "12.5"', 'amount: "12.50"'),
        (
            "{seats: {count: 3}, posts: {per_period: unlimited, period: month}}",
            "{posts: {per_period: unlimited, period: month}, seats: {count: 3}}",
        ),
        (
            "usd_credits: {scale: 2,",
            "usd_credits: {cost: {amount: 3, currency: USD, per: 100}, scale: 2,",
        ),
    ],
    ids=[
        "name and description",
        "rank",
        "feature order",
        "decimal spelling",
        "key order",
        "unit cost",
    ],
)
def test_fingerprint_ignores_presentation(catalog: Catalog, old: str, new: str) -> None:
    assert fingerprint_after(old, new) == catalog.fingerprint("pro")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("{amount: 2900, currency: USD}", "{amount: 3900, currency: USD}"),
        ("prices: {month:", "prices: {year: {amount: 1, currency: USD}, month:"),
        ('amount: "12.5"', 'amount: "12.75"'),
        ("rollover: {cap: 5}", "rollover: all"),
        ("[relay, analytics]", "[relay]"),
        ("seats: {count: 3}", "seats: {count: 4}"),
        ("max_file_mb: 100", "max_file_mb: 200"),
        ("usd_credits: {scale: 2,", "usd_credits: {scale: 3,"),
    ],
    ids=["price", "new interval", "allowance", "rollover", "features", "limit", "quota", "scale"],
)
def test_fingerprint_changes_with_any_term(catalog: Catalog, old: str, new: str) -> None:
    assert fingerprint_after(old, new) != catalog.fingerprint("pro")


def test_fingerprint_of_one_plan_ignores_the_others(catalog: Catalog) -> None:
    assert fingerprint_after("    name: Free\n", "    name: Gratis\n") == catalog.fingerprint("pro")
    assert fingerprint_after("{amount: 50, unit: credits}", "{amount: 60, unit: credits}") == (
        catalog.fingerprint("pro")
    )


def test_fingerprint_of_a_plan_built_in_code_matches_the_loaded_one(catalog: Catalog) -> None:
    loaded = catalog.plan("free")
    built = Plan(
        "free",
        "Free",
        rank=0,
        is_default=True,
        allowance=Allowance(50, "credits"),
        features=("analytics",),
    )
    rebuilt = dataclasses.replace(catalog, plans={**catalog.plans, "free": built})

    assert built == loaded
    assert rebuilt.fingerprint("free") == catalog.fingerprint("free")
    assert catalog.plan_terms("free")["prices"] == {}
    assert catalog.plan("pro").prices[Interval.MONTH] == Money(2900, "USD")


# -- errors --


def test_catalog_invalid_fields_and_round_trip() -> None:
    problems = [
        CatalogProblem("a.yaml", 3, "plans.pro.rank", "must be at least 0, got -1"),
        CatalogProblem("a.yaml", 9, "", "YAML syntax: oops"),
    ]

    error = CatalogInvalid(problems)

    assert isinstance(error, CatalogError)
    assert isinstance(error, CreditKitError)
    assert (error.file, error.line, error.field, error.reason) == (
        "a.yaml",
        3,
        "plans.pro.rank",
        "must be at least 0, got -1",
    )
    assert str(error).splitlines() == [
        "a.yaml: 2 problems in the catalog",
        "a.yaml:3: plans.pro.rank: must be at least 0, got -1",
        "a.yaml:9: YAML syntax: oops",
    ]
    assert error.code == "catalog_invalid"
    again = CatalogInvalid.from_fields(error.to_fields())
    assert again.problems == error.problems


def test_catalog_error_of_one_problem() -> None:
    error = CatalogError("a.yaml", 2, "units", "missing")

    assert str(error) == "a.yaml:2: units: missing"
    assert CatalogError.from_fields(error.to_fields()).to_fields() == error.to_fields()


# -- files --


def test_load_catalog_names_the_file_in_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text("units: {credits: {}}\nplans:\n  free: {name: Free, rank: 0, defualt: true}\n")

    with pytest.raises(CatalogInvalid) as caught:
        load_catalog(path)

    assert [(p.file, p.line, p.field) for p in caught.value.problems] == [
        (str(path), 2, "plans"),
        (str(path), 3, "plans.free.defualt"),
    ]


def test_load_catalog_refuses_text_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_bytes(b"units:\n  credits: {}\n# caf\xe9\n")

    with pytest.raises(CatalogInvalid) as caught:
        load_catalog(path)

    assert (caught.value.line, caught.value.reason) == (3, "not UTF-8 text")


def test_load_catalog_of_a_missing_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_catalog(tmp_path / "nope.yaml")


def test_anchors_and_merge_keys() -> None:
    text = """\
units: {credits: {}}
plans:
  free: &base
    name: Free
    default: true
    rank: 0
    limits: &limits {seats: {count: 1}}
  pro:
    <<: *base
    name: Pro
    default: false
    rank: 1
    limits: *limits
"""
    catalog = parse_catalog(text)

    pro = catalog.plan("pro")
    assert (pro.name, pro.rank, pro.is_default) == ("Pro", 1, False)
    assert pro.limits == catalog.plan("free").limits


def test_merge_cycles_end() -> None:
    text = "units: &u\n  credits: {}\n  <<: *u\nplans: {free: {name: F, default: true, rank: 0}}\n"

    assert list(parse_catalog(text).units) == ["credits"]


@pytest.mark.parametrize(
    ("steps", "scale", "expected_minor"),
    [
        (1_000, 0, 2),  # exactly 1,000 credits at 2 cents per 1,000
        (250, 0, 1),  # half a cent: rounded up
        (249, 0, 0),  # under half a cent: rounded down
        (1_750, 0, 4),  # 3.5 cents: up
        (100_000, 2, 2),  # 1,000.00 units of scale 2: per counts whole units
        (0, 0, 0),
    ],
)
def test_a_metered_price_is_priced_once_on_the_total_rounded_half_up(
    steps: int, scale: int, expected_minor: int
) -> None:
    price = Price(Money(2, "USD"), per=1_000)
    assert price.amount_for(steps, scale) == Money(expected_minor, "USD")
