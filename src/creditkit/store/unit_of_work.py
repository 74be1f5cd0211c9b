"""The unit of work: what every write and every hook of a write is handed. One shape for all of
them, whether the write locked customers (the ledger's ``locked_write`` and its own operations)
or not (``Database.unit_of_work``: a key, a webhook endpoint, a stored response), so that a
hook or a repository call reads its connection and its moment the same way wherever it runs.

It sits in the store, below the ledger, because writes of every layer take it; the customers
it holds are rows of the store's ``customers`` table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection


@dataclass(frozen=True, slots=True)
class CustomerRow:
    id: int
    external_id: str
    kind: str
    next_due_at: datetime | None
    #: The customer has budgets of its own: every spend reads them.
    budgeted: bool = False


@dataclass(slots=True)
class UnitOfWork:
    """One write's transaction (``connection``), the moment it acts at (read from the clock once
    per attempt, so a retried transaction acts at its own moment), and the customers it holds
    locked by external id (none for a write that locks no customer)."""

    connection: Connection
    now: datetime
    customers: dict[str, CustomerRow]
    #: True on the second run of a write whose key was already taken.
    replay: bool
