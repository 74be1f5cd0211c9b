"""Usage rollups: the ledger's spending summed per customer, unit, hour, action and member, kept
in each spending transaction (the ledger's ``recorded`` hook), so that usage reads sum a bucket
per hour instead of a row per charge.

The hook is told of every charge and hold commit a transaction posts. It sums the batch in
Python first, so that each key is written once, then writes every key in one multi-row
``INSERT … ON CONFLICT DO UPDATE`` (per ``ROWS_PER_STATEMENT_MAX``). A rollup row commits or rolls
back with the spending it counts: it can never disagree with the ledger's rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from creditkit.ledger.kernel import EXPIRY, ISSUANCE, LedgerKernel, Spend
from creditkit.store.tables import (
    entries,
    from_epoch_microseconds,
    to_epoch_microseconds,
    usage_rollups,
)

#: A bucket is one UTC hour: series points (an hour, a day) are whole buckets.
BUCKET_SECONDS: Final = 3_600
BUCKET_MICROSECONDS: Final = BUCKET_SECONDS * 1_000_000
#: What a rollup row stores for no action or no member (a key column cannot be NULL).
NONE: Final = ""
#: Rows (9 parameters each) and transaction ids per statement: within SQLite's 32,766
#: parameters whatever the batch.
ROWS_PER_STATEMENT_MAX: Final = 2_000
KEY_COLUMNS: Final = ("customer_id", "unit", "bucket_start", "action", "member")
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


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for index in range(0, len(items), ROWS_PER_STATEMENT_MAX):
        yield items[index : index + ROWS_PER_STATEMENT_MAX]


class UsageRollups:
    """The ledger's ``recorded`` hook (``CreditKit._hooks``)."""

    def __init__(self, ledger: LedgerKernel) -> None:
        self._ledger = ledger

    def record(self, connection: Connection, spends: Sequence[Spend]) -> None:
        legs = self._system_legs(connection, spends)
        sums: dict[tuple[int, str, datetime, str, str], list[int]] = {}
        for spend in spends:
            key = (
                spend.customer_id,
                spend.unit,
                bucket_floor(spend.created_at),
                NONE if spend.action is None else spend.action,
                NONE if spend.member is None else spend.member,
            )
            issued, expired = legs.get(spend.transaction_id, (0, 0))
            total = sums.setdefault(key, [0, 0, 0, 0])
            total[0] += spend.steps
            total[1] += 1
            total[2] += issued
            total[3] += expired
        # In key order: two transactions upserting the same keys (several customers in each
        # batch) take their row locks in one order, so they cannot deadlock on them.
        rows = [
            dict(zip(KEY_COLUMNS, key, strict=True)) | dict(zip(SUM_COLUMNS, total, strict=True))
            for key, total in sorted(sums.items())
        ]
        for chunk in _chunks(rows):
            connection.execute(_upsert(connection, chunk))

    def _system_legs(
        self, connection: Connection, spends: Sequence[Spend]
    ) -> dict[int, tuple[int, int]]:
        """(steps issued, steps expired) of each spend that has a leg on its unit's issuance
        account (spent beyond the grants, or a commit giving issued steps back) or its expiry
        account (a commit of credits whose grant expired while held). Most spends have
        neither: they are absent."""
        roles: dict[int, str] = {}
        for unit in {spend.unit for spend in spends}:
            roles[self._ledger.system_account(ISSUANCE, unit)] = ISSUANCE
            roles[self._ledger.system_account(EXPIRY, unit)] = EXPIRY
        ids = [spend.transaction_id for spend in spends]
        legs: dict[int, tuple[int, int]] = {}
        for chunk in _chunks(ids):
            rows = connection.execute(
                sa.select(entries.c.transaction_id, entries.c.account_id, entries.c.amount).where(
                    entries.c.transaction_id.in_(chunk), entries.c.account_id.in_(list(roles))
                )
            )
            for transaction_id, account_id, amount in rows:
                issued, expired = legs.get(transaction_id, (0, 0))
                if roles[account_id] == ISSUANCE:
                    issued -= amount
                else:
                    expired += amount
                legs[transaction_id] = (issued, expired)
        return legs


def _upsert(connection: Connection, rows: Sequence[dict[str, Any]]) -> sa.Insert:
    """One statement that adds ``rows`` to the rollups: a new key is inserted, a known one has
    each sum increased."""
    if connection.dialect.name == "postgresql":
        pg_statement = postgresql.insert(usage_rollups).values(list(rows))
        return pg_statement.on_conflict_do_update(
            index_elements=list(KEY_COLUMNS),
            set_={
                name: usage_rollups.c[name] + pg_statement.excluded[name] for name in SUM_COLUMNS
            },
        )
    statement = sqlite.insert(usage_rollups).values(list(rows))
    return statement.on_conflict_do_update(
        index_elements=list(KEY_COLUMNS),
        set_={name: usage_rollups.c[name] + statement.excluded[name] for name in SUM_COLUMNS},
    )
