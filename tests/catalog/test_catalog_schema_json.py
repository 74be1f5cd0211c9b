"""The JSON Schema shipped with the package: a valid draft 2020-12 schema, and every example
catalog (the five seed fixtures and the one in docs/catalog.md) both validates against it and
loads. Its agreement with the loader on invalid catalogs is in test_catalog_validation.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from creditkit.catalog import SCHEMA_PATH, Catalog, parse_catalog

#: The five seed systems' catalogs live with their examples; one file each, read from there.
SEED_CATALOGS = sorted((Path(__file__).parents[2] / "examples").glob("seed_*/catalog.yaml"))

DOCS = Path(__file__).parents[2] / "docs" / "catalog.md"


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def docs_example() -> str:
    """The YAML block of docs/catalog.md that starts with ``# catalog.yaml``."""
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    examples = [block for block in blocks if block.startswith("# catalog.yaml\n")]
    assert len(examples) == 1
    return str(examples[0])


EXAMPLES = {path.parent.name + ".yaml": path.read_text(encoding="utf-8") for path in SEED_CATALOGS}
EXAMPLES["docs/catalog.md"] = docs_example()


def test_schema_is_valid_draft_2020_12() -> None:
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema())


def test_schema_ships_as_package_data() -> None:
    assert SCHEMA_PATH.is_file()
    assert SCHEMA_PATH.name == "schema.json"


def test_there_is_one_fixture_per_seed() -> None:
    assert [name for name in EXAMPLES if name.startswith("seed_")] == [
        "seed_000_social_platform.yaml",
        "seed_001_ai_proxy.yaml",
        "seed_002_devops_agent.yaml",
        "seed_003_b2b_tenant.yaml",
        "seed_004_orbit_workspaces.yaml",
    ]


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_validates_against_the_schema_and_loads(name: str) -> None:
    text = EXAMPLES[name]
    validator = jsonschema.Draft202012Validator(schema())

    errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(yaml.safe_load(text))]

    assert errors == []
    assert isinstance(parse_catalog(text, name), Catalog)


def test_docs_example_uses_every_part_of_the_format() -> None:
    """So that the documented example shows the whole format (and keeps loading)."""
    catalog = parse_catalog(docs_example(), "docs/catalog.md")

    plans = catalog.plans.values()
    assert any(plan.prices_in_credits for plan in plans)
    assert any(plan.overage for plan in plans)
    assert any(plan.quotas for plan in plans)
    assert any(plan.rate_limit_per_minute for plan in plans)
    assert any(plan.description for plan in plans)
    assert any(pack.purchase_limit for pack in catalog.packs.values())
    assert any(pack.expires_after_days for pack in catalog.packs.values())
    assert any(unit.scale > 0 for unit in catalog.units.values())
    assert any(unit.cost for unit in catalog.units.values())
    documented = set(schema()["$defs"]["plan"]["properties"])
    written = {key for plan in yaml.safe_load(docs_example())["plans"].values() for key in plan}
    assert written == documented
