"""The posting core as one object: the kernel, the due timeline and the write path (one chain of
three layers), plus the group-commit writer every write of the ledger goes through and the
charges in batches. It implements the ports (``ports.py``) the ledger's collaborators receive.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.errors import InvalidRequest
from creditkit.ledger.batch import ChargeBatch
from creditkit.ledger.checks import BATCH_SIZE_MAX
from creditkit.ledger.coalescing import LANES_MAX, CoalescingWriter, GroupCommitStats, Operation
from creditkit.ledger.kernel import Clock
from creditkit.ledger.outcomes import ChargeOutcomes
from creditkit.ledger.schemas import ChargeRequest
from creditkit.ledger.writes import LedgerWrites
from creditkit.store.database import Database

#: Lanes of the coalescing writer on PostgreSQL: shared transactions in flight at once.
WRITER_LANES_POSTGRESQL = 4


class LedgerPostings(LedgerWrites):
    """The posting core. With ``group_commit`` (the default), the writes that threads ask for
    while a transaction is in flight share the next one (see ``coalescing``): charges, holds and
    every other write that goes through the write path. ``writer_lanes``: how many such
    transactions may be in flight at once (default 4 on PostgreSQL, 1 on SQLite, which has one
    writer at a time)."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        units: Mapping[str, int],
        *,
        group_commit: bool = True,
        writer_lanes: int | None = None,
    ) -> None:
        super().__init__(database, clock, units)
        lanes = writer_lanes
        if lanes is None:
            lanes = WRITER_LANES_POSTGRESQL if database.dialect == "postgresql" else 1
        if isinstance(lanes, bool) or not isinstance(lanes, int) or not 1 <= lanes <= LANES_MAX:
            raise InvalidRequest("writer_lanes", f"must be an int from 1 to {LANES_MAX}")
        self._writer = CoalescingWriter(database, self, lanes) if group_commit else None

    def post(
        self, connection: Connection, transaction_id: int, unit: str, legs: list[tuple[int, int]]
    ) -> None:
        """Writes one transaction's entries (see ``post_many``)."""
        self.post_many(connection, [(transaction_id, unit, legs)])

    def charge_many(self, requests: Sequence[ChargeRequest]) -> ChargeOutcomes:
        """Charges in one database transaction, in order; each has its own outcome (a Charge or
        the error it met), and one refusal does not fail the others. The outcomes behave as a
        list; each ``Charge`` is built when it is read."""
        if len(requests) > BATCH_SIZE_MAX:
            raise InvalidRequest("requests", f"at most {BATCH_SIZE_MAX} charges per batch")
        batch = ChargeBatch(self, requests)
        if self._writer is None or not len(batch):
            return batch.run()
        customers = {
            request.customer
            for request in requests
            if isinstance(request, ChargeRequest) and isinstance(request.customer, str)
        }
        lane_key = next(iter(customers)) if len(customers) == 1 else None
        outcomes: ChargeOutcomes = self._writer.submit(
            Operation(charges=batch, alone=batch.run, weight=len(batch)),
            lane_key if isinstance(lane_key, str) else None,
        )
        return outcomes

    def close(self) -> None:
        """Closes the writer's connection (the database's pool is the caller's)."""
        if self._writer is not None:
            self._writer.close()

    def group_commit_stats(self) -> GroupCommitStats | None:
        """The coalescing writer's figures (None when group commit is off)."""
        return None if self._writer is None else self._writer.stats()

    def run_write(
        self, attempt: Callable[[Connection, bool], Any], customer: str | None = None
    ) -> Any:
        if self._writer is None:
            return self.write_alone(attempt)
        return self._writer.submit(
            Operation(attempt=attempt, alone=partial(self.write_alone, attempt)), customer
        )
