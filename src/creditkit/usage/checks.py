"""What the usage service and the HTTP client both check before any work: batch and breakdown
bounds, and a breakdown's dimension. Free of the store, so that the client loads without it."""

from __future__ import annotations

import re
from typing import Final

from creditkit.errors import InvalidRequest
from creditkit.usage.schemas import BreakdownBy

#: Events per ``ingest`` call: one database transaction holds them all, and holds every
#: customer they name locked until it commits.
INGEST_EVENTS_MAX: Final = 1_000
BREAKDOWN_GROUPS_DEFAULT: Final = 20
#: A dimension is a metadata key named in SQL (a JSON path on SQLite): a short identifier, so
#: that no key needs quoting rules of its own.
DIMENSION_LENGTH_MAX: Final = 64
DIMENSION_PATTERN: Final = re.compile(rf"[A-Za-z0-9_]{{1,{DIMENSION_LENGTH_MAX}}}")


def check_dimension(by: BreakdownBy, dimension: object) -> str | None:
    """The metadata key a breakdown ``by="dimension"`` groups by: required with it, refused with
    any other ``by`` (the client checks with it too, before sending)."""
    if by is not BreakdownBy.DIMENSION:
        if dimension is not None:
            raise InvalidRequest("dimension", 'only with by="dimension"')
        return None
    if dimension is None:
        raise InvalidRequest("dimension", 'required with by="dimension": the metadata key')
    if not isinstance(dimension, str) or not DIMENSION_PATTERN.fullmatch(dimension):
        raise InvalidRequest(
            "dimension",
            f"must be 1 to {DIMENSION_LENGTH_MAX} ASCII letters, digits or underscores",
        )
    return dimension
