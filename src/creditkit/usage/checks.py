"""What the usage service and the HTTP client both check before any work: batch and breakdown
bounds, and a breakdown's dimension. Free of the store, so that the client loads without it."""

from __future__ import annotations

import re
from typing import Final

from creditkit.errors import InvalidRequest, InvariantViolation
from creditkit.usage.schemas import BreakdownBy

#: Events per ``CreditKit.ingest`` call: one database transaction holds them all, and holds
#: every customer they name locked until it commits. As many as ``charge_many`` takes (the
#: ledger's batch bound, which the usage service checks this against): the ingest worker hands
#: the ledger batches of up to this many.
INGEST_EVENTS_MAX: Final = 10_000
#: Events per ``POST /v1/events`` request (and so per call of the HTTP client's ``ingest``),
#: fewer than ``INGEST_EVENTS_MAX``: it bounds the body a server parses, validates and answers
#: per request (one result per event), whatever ingest takes. A request is one ``ingest`` call,
#: so it must never exceed ``INGEST_EVENTS_MAX`` (checked below).
INGEST_REQUEST_EVENTS_MAX: Final = 1_000
if INGEST_REQUEST_EVENTS_MAX > INGEST_EVENTS_MAX:
    raise InvariantViolation(
        "an events request fits in one ingest call",
        f"{INGEST_REQUEST_EVENTS_MAX} > {INGEST_EVENTS_MAX}",
    )
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
