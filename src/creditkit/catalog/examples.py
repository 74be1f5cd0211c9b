"""The example catalogs that ship inside the package, by name, so that a snippet or a test
names one from any folder, after ``pip install`` as in a checkout.

>>> from creditkit import example_catalog
>>> example_catalog("seed_003_b2b_tenant")  # doctest: +ELLIPSIS
'.../creditkit/catalog/seeds/seed_003_b2b_tenant.yaml'

``example_catalog()`` alone is the AI assistant's catalog that ``creditkit serve`` uses when given
none; a seed's name is the catalog of that seed's example in the repository's ``examples/``
(``seeds/`` holds them as links to those files, which the build copies into the package).
"""

from __future__ import annotations

from importlib.resources import files

from creditkit.errors import InvalidRequest

#: The seed systems rebuilt on creditkit, each an example folder of the repository.
EXAMPLE_CATALOGS = (
    "seed_000_social_platform",
    "seed_001_ai_proxy",
    "seed_002_devops_agent",
    "seed_003_b2b_tenant",
    "seed_004_orbit_workspaces",
)


def example_catalog(name: str | None = None) -> str:
    """The path of a bundled example catalog: the AI assistant's tiers and packs, or the seed
    ``name`` (one of ``EXAMPLE_CATALOGS``)."""
    package = files("creditkit.catalog")
    if name is None:
        return str(package.joinpath("example.yaml"))
    if name not in EXAMPLE_CATALOGS:
        raise InvalidRequest(
            "name", f"no example catalog {name!r} (there are: {', '.join(EXAMPLE_CATALOGS)})"
        )
    return str(package.joinpath("seeds", f"{name}.yaml"))
