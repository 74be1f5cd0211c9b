"""The usage rollups' buckets: fixed UTC hours, and a range as whole buckets plus its edges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from creditkit.store.tables import from_epoch_microseconds, to_epoch_microseconds

#: A bucket is one UTC hour: series points (an hour, a day) are whole buckets.
BUCKET_SECONDS: Final = 3_600
BUCKET_MICROSECONDS: Final = BUCKET_SECONDS * 1_000_000
#: What a rollup row stores for no action or no member (a key column cannot be NULL).
NONE: Final = ""
#: The sums of a ``usage_rollups`` row.
SUM_COLUMNS: Final = ("steps", "charges", "issued", "expired")


def bucket_floor(moment: datetime) -> datetime:
    """The start of the bucket that holds ``moment``."""
    microseconds = to_epoch_microseconds(moment)
    return from_epoch_microseconds(microseconds - microseconds % BUCKET_MICROSECONDS)


def bucket_ceiling(moment: datetime) -> datetime:
    """The first bucket edge at or after ``moment``."""
    microseconds = to_epoch_microseconds(moment)
    return from_epoch_microseconds(-(-microseconds // BUCKET_MICROSECONDS) * BUCKET_MICROSECONDS)


@dataclass(frozen=True, slots=True)
class Split:
    """A range [start, end) as the whole buckets inside it (``rolled``, None when there are
    none) and the partial pieces at its edges (``raw``: at most two, each within one bucket, or
    the whole range when it holds no whole bucket, then within two adjacent buckets)."""

    rolled: tuple[datetime, datetime] | None
    raw: tuple[tuple[datetime, datetime], ...]


def split(start: datetime, end: datetime) -> Split:
    first, last = bucket_ceiling(start), bucket_floor(end)
    if first >= last:
        return Split(None, ((start, end),))
    edges = tuple((low, high) for low, high in ((start, first), (last, end)) if low < high)
    return Split((first, last), edges)
