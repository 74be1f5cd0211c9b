"""The ports the ledger's collaborators are built on: what each may ask of the posting core
(``LedgerPostings``), and nothing more.

The ledger is the posting core (units, the due timeline, the write path, posting) plus
collaborators, one per domain part: grants and the grant postings other domains make, holds
(taken, settled, their reads), moves, corrections, spenders, reversals and the reads (balances,
history). A collaborator receives these ports, and the other collaborators
it needs, in its constructor; it never reaches into the core's internals or another
collaborator's. ``LedgerService`` composes them.

- ``LedgerReads``: the clock, the units, the grants and holds as the ledger reads them, and the
  catching up a read asks for.
- ``Postings``: the unit of work (a write once per idempotency key, a locked write), the
  recorded refusal, and posting a transaction with its entries.
- ``SpendRules``: the one check of a spend (budgets, headroom, debt) and the spend hooks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy.engine import Connection

from creditkit.errors import CreditKitError
from creditkit.ledger.hold_repository import HoldRow
from creditkit.ledger.kernel import Spend
from creditkit.ledger.repository import GrantRow, TransactionRow
from creditkit.ledger.schemas import Unit
from creditkit.ledger.spender_repository import SpenderRow
from creditkit.ledger.spending import SpendState
from creditkit.ledger.values import RateWindow, Refused, Request, SpendCheck
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork

T = TypeVar("T")

#: Legs of one transaction: (account id, signed steps).
Legs = list[tuple[int, int]]


class LedgerReads(Protocol):
    """What the ledger reads: the injected clock, the declared units, grants in burn-down order,
    the grants a hold drew, and catching a customer's due work up before a read."""

    def now(self) -> datetime: ...

    def unit(self, name: object, field_name: str = "unit") -> Unit: ...

    def live_in_order(
        self, grants: Sequence[GrantRow], now: datetime, transferable_only: bool = False
    ) -> list[GrantRow]: ...

    def funding_draws(
        self,
        connection: Connection,
        found: Sequence[HoldRow],
        grants_only: bool = True,
        before: int | None = None,
    ) -> dict[int, Legs]: ...

    def reserve_draws(
        self, connection: Connection, hold: HoldRow, grants_only: bool = True
    ) -> Legs: ...

    def sweep_if_due(self, customer: str) -> None: ...

    def sweep_now(self, customer: str) -> None: ...


class Postings(Protocol):
    """The unit of work and posting: every write of a collaborator goes through one of the two
    writes here, and every movement through ``post``."""

    def write_once(
        self,
        request: Request,
        customers: Callable[[Connection], Sequence[str]],
        body: Callable[[UnitOfWork], T],
        rebuild: Callable[[Connection, TransactionRow], T],
    ) -> T: ...

    def locked_write(self, customers: Sequence[str], work: Callable[[UnitOfWork], T]) -> T: ...

    def refuse(
        self,
        context: UnitOfWork,
        request: Request,
        customer: CustomerRow,
        unit: str,
        steps: int,
        error: CreditKitError,
        hold_id: int | None = None,
    ) -> Refused: ...

    def count_request(
        self,
        context: UnitOfWork,
        request: Request,
        customer: CustomerRow,
        rebuild: Callable[[Connection, TransactionRow], T],
    ) -> T | None: ...

    def transaction_values(
        self,
        request: Request,
        customer: CustomerRow,
        unit: str,
        steps: int,
        now: datetime,
        *,
        status: str = "applied",
        counterparty: CustomerRow | None = None,
        action: str | None = None,
        hold_id: int | None = None,
        metadata: dict[str, Any] | None = None,
        member: str | None = None,
        spender: str | None = None,
        occurred_at: datetime | None = None,
        reverses_id: int | None = None,
    ) -> dict[str, Any]: ...

    def post(self, connection: Connection, transaction_id: int, unit: str, legs: Legs) -> None: ...

    def post_many(
        self, connection: Connection, transactions: list[tuple[int, str, Legs]]
    ) -> None: ...

    def system_account(self, kind: str, unit: str) -> int: ...

    def settle_legs(
        self, context: UnitOfWork, hold: HoldRow, steps_committed: int
    ) -> tuple[int, Legs]: ...

    def closing_legs(
        self,
        hold: HoldRow,
        draws: Legs,
        expiries: dict[int, datetime | None],
        steps_committed: int,
        moment: datetime,
        balance: int,
    ) -> tuple[int, Legs, list[datetime]]: ...


class SpendRules(Protocol):
    """The rules of a spend, asked under the customer's lock in the spend's transaction, and
    the hooks told of it."""

    def check_spend(
        self,
        connection: Connection,
        state: SpendState,
        customer: CustomerRow,
        unit: Unit,
        steps: int,
        now: datetime,
        *,
        spender: SpenderRow | None,
        shortfall: int,
        allow_debt: bool,
        refusal: Callable[[int], CreditKitError],
        levels: tuple[str, ...] | None = None,
    ) -> SpendCheck | CreditKitError: ...

    def spender_row(
        self,
        connection: Connection,
        state: SpendState,
        customer: CustomerRow,
        spender: str,
        field_name: str = "spender",
    ) -> SpenderRow: ...

    def path_defaults(
        self,
        connection: Connection,
        state: SpendState,
        customer: CustomerRow,
        spender: SpenderRow,
        unit: Unit,
        now: datetime,
    ) -> dict[str, Sequence[tuple[str, int]]]: ...

    def default_budgets(
        self,
        connection: Connection,
        customer: CustomerRow,
        spender: SpenderRow,
        unit: Unit,
        now: datetime,
    ) -> Sequence[tuple[str, int]]: ...

    def debt_position(
        self,
        connection: Connection,
        state: SpendState,
        customer: CustomerRow,
        unit: str,
        now: datetime,
    ) -> list[int | None]: ...

    def action_scope(self, action: str | None) -> frozenset[str]: ...

    def headroom(
        self, connection: Connection, customer: CustomerRow, unit: str, now: datetime
    ) -> int | None: ...

    def count_requests(
        self, connection: Connection, customer: CustomerRow, requests: int, now: datetime
    ) -> RateWindow | None: ...

    def spent(
        self,
        connection: Connection,
        customer: CustomerRow,
        unit: str,
        available_before: int,
        available_after: int,
        now: datetime,
    ) -> None: ...

    def record_spends(self, connection: Connection, spends: Sequence[Spend]) -> None: ...
