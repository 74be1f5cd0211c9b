"""``creditkit import``: existing users onto plans or credit amounts, from a CSV file.

Columns (a header row names them; only ``customer`` is required):

- ``customer``: the host app's id;
- ``kind``: ``user`` (default) or ``workspace``;
- ``plan`` and ``interval``: subscribe to a catalog plan (default interval ``month``);
- ``credits``: grant this amount, of ``unit`` (default ``credits``), as source ``migration``;
- ``expires_at``: ISO 8601 with a timezone, for the grant (none: never).

Rerunning a file changes nothing: each row's grant has a key derived from the customer and the
file's name, and subscribing to the plan one is on already is a no-op. A row that fails is
reported with its line and the reason, and the rows around it still go in.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TextIO

from creditkit.errors import CreditKitError, InvalidRequest
from creditkit.kit import CreditKit

COLUMNS = ("customer", "kind", "plan", "interval", "credits", "unit", "expires_at")
#: A bound on one file: an import larger than this is split by its author, so that a mistake
#: costs one file's rerun and its progress stays readable.
ROWS_MAX = 1_000_000
PROGRESS_WIDTH = 30


@dataclass
class ImportSummary:
    rows: int = 0
    customers_created: int = 0
    subscribed: int = 0
    granted: int = 0
    unchanged: int = 0
    #: (line, reason) for each row that failed.
    failures: list[tuple[int, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        summary = [
            f"{self.rows} rows: {self.customers_created} customers created, {self.subscribed}"
            f" subscribed, {self.granted} granted, {self.unchanged} already done,"
            f" {len(self.failures)} failed"
        ]
        summary.extend(f"  line {line}: {reason}" for line, reason in self.failures)
        return summary


def _rows(source: TextIO) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(source)
    unknown = set(reader.fieldnames or ()) - set(COLUMNS)
    if unknown:
        raise InvalidRequest("columns", f"unknown {sorted(unknown)}; known {list(COLUMNS)}")
    if "customer" not in (reader.fieldnames or ()):
        raise InvalidRequest("columns", "the header needs a customer column")
    for row in reader:
        if reader.line_num > ROWS_MAX + 1:
            raise InvalidRequest("file", f"more than {ROWS_MAX} rows: split it")
        yield reader.line_num, {name: (value or "").strip() for name, value in row.items()}


def _import_row(
    ck: CreditKit, row: dict[str, str], key_prefix: str, summary: ImportSummary
) -> None:
    customer = row["customer"]
    if not customer:
        raise InvalidRequest("customer", "is empty")
    expires_at = _check_row(ck, row)
    existed = _exists(ck, customer)
    ck.create_customer(customer, row.get("kind") or "user")
    if not existed:
        summary.customers_created += 1
    changed = False
    if row.get("plan"):
        before = ck.subscription(customer)
        # The system imported from collects the plans it sold.
        after = ck.subscribe(
            customer,
            row["plan"],
            interval=row.get("interval") or "month",
            collected_elsewhere=True,
        )
        if before is None or (before.plan, before.interval) != (after.plan, after.interval):
            summary.subscribed += 1
            changed = True
    if row.get("credits"):
        key = f"{key_prefix}:{customer}"
        first_time = not ck.recorded(key)
        ck.grant(
            customer,
            row["credits"],
            unit=row.get("unit") or "credits",
            source="migration",
            expires_at=expires_at,
            idempotency_key=key,
        )
        if first_time:
            summary.granted += 1
            changed = True
    if existed and not changed:
        summary.unchanged += 1


def _check_row(ck: CreditKit, row: dict[str, str]) -> datetime | None:
    """Checks what can be checked before anything is written, so that a row that fails
    creates no customer; returns the grant's expiry."""
    if row.get("plan"):
        plans = ck.catalog.plans if ck.catalog is not None else {}
        if row["plan"] not in plans:
            raise InvalidRequest("plan", f"unknown plan {row['plan']!r}; known {sorted(plans)}")
        if (row.get("interval") or "month") not in ("month", "year"):
            raise InvalidRequest("interval", "must be month or year")
    if row.get("credits"):
        units = {unit.name for unit in ck.units}
        if (row.get("unit") or "credits") not in units:
            raise InvalidRequest("unit", f"unknown unit {row.get('unit')!r}; known {sorted(units)}")
        try:
            amount = Decimal(row["credits"])
        except InvalidOperation:
            raise InvalidRequest("credits", f"{row['credits']!r} is not a number") from None
        if not amount > 0:
            raise InvalidRequest("credits", "must be above zero")
    if not row.get("expires_at"):
        return None
    try:
        expires_at = datetime.fromisoformat(row["expires_at"])
    except ValueError:
        raise InvalidRequest("expires_at", "is not an ISO 8601 datetime") from None
    if expires_at.tzinfo is None:
        raise InvalidRequest("expires_at", "needs a timezone, e.g. 2026-12-31T00:00:00+00:00")
    return expires_at


def _exists(ck: CreditKit, customer: str) -> bool:
    try:
        ck.customer(customer)
    except CreditKitError:
        return False
    return True


def import_file(
    ck: CreditKit,
    path: str | Path,
    progress: Callable[[int, int], None] | None = None,
) -> ImportSummary:
    """Imports every row of the CSV at ``path``; ``progress(done, total)`` after each row."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as source:
        rows = list(_rows(source))
    summary = ImportSummary()
    key_prefix = f"import:{path.name}"
    for done, (line, row) in enumerate(rows, start=1):
        summary.rows += 1
        try:
            _import_row(ck, row, key_prefix, summary)
        except CreditKitError as error:
            summary.failures.append((line, str(error)))
        if progress is not None:
            progress(done, len(rows))
    return summary


def progress_bar(stream: TextIO = sys.stderr) -> Callable[[int, int], None]:
    """A one-line text progress bar, redrawn in place."""

    def draw(done: int, total: int) -> None:
        filled = PROGRESS_WIDTH * done // max(total, 1)
        bar = "#" * filled + "-" * (PROGRESS_WIDTH - filled)
        stream.write(f"\r[{bar}] {done}/{total}")
        if done == total:
            stream.write("\n")
        stream.flush()

    return draw
