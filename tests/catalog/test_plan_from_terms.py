"""A plan version's stored terms give back the plan it was sold as (grandfathering)."""

import dataclasses
from pathlib import Path

import pytest

from creditkit.catalog import load_catalog
from creditkit.catalog.schemas import plan_from_terms

FIXTURES = sorted((Path(__file__).parents[2] / "examples").glob("seed_*/catalog.yaml"))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda path: path.parent.name)
def test_every_seed_plan_round_trips_through_its_terms(path: Path) -> None:
    catalog = load_catalog(path)
    for plan in catalog.plans.values():
        rebuilt = plan_from_terms(
            plan.id, plan.name, plan.rank, catalog.plan_terms(plan.id), plan.is_default
        )
        # Description, alerts and the refund policy are not terms: a plan version does not
        # keep them.
        expected = dataclasses.replace(
            plan,
            description=None,
            alerts=None,
            refund=None,
            features=tuple(sorted(set(plan.features))),
        )
        assert rebuilt == expected


def test_unknown_terms_format_is_refused() -> None:
    with pytest.raises(ValueError, match="format"):
        plan_from_terms("p", "P", 0, {"format": "creditkit.plan-terms/999"})
