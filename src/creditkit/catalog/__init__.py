"""The plan catalog: units, actions, plans and packs, declared in one YAML file.

>>> from creditkit.catalog import load_catalog
>>> catalog = load_catalog("catalog.yaml")
>>> catalog.default_plan.name
'Free'

The format is documented in docs/catalog.md and, for editors and CI, as a JSON Schema shipped
with the package (``SCHEMA_PATH``).
"""

from __future__ import annotations

import importlib
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING, Any

from creditkit.catalog.errors import (
    CatalogError,
    CatalogInvalid,
    CatalogProblem,
    UnknownAction,
    UnknownCoupon,
    UnknownPack,
    UnknownPlan,
)
from creditkit.catalog.plans import (
    UNLIMITED,
    Allowance,
    AllowanceExpiry,
    Anchor,
    CountOrUnlimited,
    Credits,
    Interval,
    Limit,
    LimitKind,
    Overage,
    OverageCarry,
    Period,
    Plan,
    PlanAlerts,
    PlanRefund,
    Price,
    QuantityOrUnlimited,
    Rollover,
    RolloverKind,
    Unlimited,
)
from creditkit.catalog.schemas import (
    PLAN_TERMS_FORMAT,
    Action,
    Catalog,
    Dimension,
    Discount,
    DiscountKind,
    Pack,
    UnitSpec,
)

# The loader (and with it PyYAML, one of the engine's libraries) is imported on first use (PEP
# 562): the HTTP client uses the catalog's types, not its YAML, and installs without PyYAML.
if TYPE_CHECKING:
    from creditkit.catalog.loader import load_catalog, parse_catalog

_LOADER_EXPORTS = frozenset({"load_catalog", "parse_catalog"})

#: The JSON Schema (draft 2020-12) of the catalog format, as package data.
SCHEMA_PATH: Traversable = files(__package__).joinpath("schema.json")


def __getattr__(name: str) -> Any:
    if name not in _LOADER_EXPORTS:
        raise AttributeError(f"module 'creditkit.catalog' has no attribute {name!r}")
    value = getattr(importlib.import_module("creditkit.catalog.loader"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LOADER_EXPORTS])


__all__ = [
    "PLAN_TERMS_FORMAT",
    "SCHEMA_PATH",
    "UNLIMITED",
    "Action",
    "Allowance",
    "AllowanceExpiry",
    "Anchor",
    "Catalog",
    "CatalogError",
    "CatalogInvalid",
    "CatalogProblem",
    "CountOrUnlimited",
    "Credits",
    "Dimension",
    "Discount",
    "DiscountKind",
    "Interval",
    "Limit",
    "LimitKind",
    "Overage",
    "OverageCarry",
    "Pack",
    "Period",
    "Plan",
    "PlanAlerts",
    "PlanRefund",
    "Price",
    "QuantityOrUnlimited",
    "Rollover",
    "RolloverKind",
    "UnitSpec",
    "UnknownAction",
    "UnknownCoupon",
    "UnknownPack",
    "UnknownPlan",
    "Unlimited",
    "load_catalog",
    "parse_catalog",
]
