"""The credit ledger: ``LedgerService`` composes the posting core (``LedgerPostings``: units,
the due timeline, the write path, posting) with the collaborators of each domain part, each
built on the narrow ports of ``ports.py`` and handed the other collaborators it needs:

    LedgerPostings ── LedgerReads, Postings, SpendRules ──┬─ Grants
                                                          ├─ GrantPostings (Grants)
                                                          ├─ HoldReads
                                                          ├─ HoldExcess
                                                          ├─ Holds (Grants, HoldReads)
                                                          ├─ HoldSettlements (HoldReads, HoldExcess)
                                                          ├─ Moves (Grants)
                                                          ├─ Corrections (Grants)
                                                          ├─ Spenders
                                                          ├─ Reversals (Grants)
                                                          └─ Statements (HoldReads)

Its public methods are the ledger's interface to the rest of creditkit; each delegates,
explicitly, to the one part that does it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.errors import CreditKitError, PurchaseLimitReached, Quantity
from creditkit.ledger import history_repository
from creditkit.ledger.coalescing import GroupCommitStats
from creditkit.ledger.corrections import Corrections
from creditkit.ledger.grant_postings import GrantPostings
from creditkit.ledger.grants import Grants
from creditkit.ledger.hold_excess import HoldExcess
from creditkit.ledger.hold_reads import HoldReads
from creditkit.ledger.hold_settlements import HoldSettlements
from creditkit.ledger.holds import Holds
from creditkit.ledger.kernel import Clock, LedgerHooks, T
from creditkit.ledger.moves import Moves
from creditkit.ledger.outcomes import ChargeOutcomes
from creditkit.ledger.postings import LedgerPostings
from creditkit.ledger.repository import GrantRow
from creditkit.ledger.reversals import Reversals
from creditkit.ledger.schemas import (
    Adjustment,
    Balance,
    Budget,
    Charge,
    ChargeRequest,
    Customer,
    DebtLimit,
    Grant,
    GrantSource,
    HistoryPage,
    Hold,
    Money,
    Reversal,
    Spender,
    SweepReport,
    Transfer,
    Unit,
)
from creditkit.ledger.spenders import SPENDERS_PAGE_SIZE_MAX, Spenders
from creditkit.ledger.statements import Statements
from creditkit.ledger.timeline import CATCH_UP_TRANSACTIONS_MAX, SWEEP_CUSTOMERS_MAX
from creditkit.ledger.values import Request
from creditkit.store.database import Database
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork


class LedgerService:
    """The credit ledger over one database. Safe to share between threads; several processes may
    use one database at once. ``group_commit`` and ``writer_lanes``: see ``LedgerPostings``."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        units: Mapping[str, int],
        *,
        group_commit: bool = True,
        writer_lanes: int | None = None,
    ) -> None:
        core = LedgerPostings(
            database, clock, units, group_commit=group_commit, writer_lanes=writer_lanes
        )
        self._postings = core
        self._grants = Grants(database, core, core, core)
        self._grant_postings = GrantPostings(core, core, core, self._grants)
        self._hold_reads = HoldReads(database, core)
        excess = HoldExcess(core, core, core)
        self._holds = Holds(core, core, core, self._grants, self._hold_reads)
        self._settlements = HoldSettlements(core, core, core, self._hold_reads, excess)
        self._moves = Moves(core, core, self._grants)
        self._corrections = Corrections(core, core, self._grants)
        self._spenders = Spenders(database, core, core, core)
        self._reversals = Reversals(core, core, core, self._grants)
        self._statements = Statements(database, core, core, self._hold_reads)

    @property
    def postings(self) -> LedgerPostings:
        """The posting core (the charge path and the write path run on it)."""
        return self._postings

    @property
    def late_usage_window(self) -> timedelta:
        """How far back a charge's ``occurred_at`` may be."""
        return self._postings.late_usage_window

    @late_usage_window.setter
    def late_usage_window(self, window: timedelta) -> None:
        self._postings.late_usage_window = window

    @property
    def reversal_window(self) -> timedelta:
        """How long after a charge it may be reversed."""
        return self._reversals.reversal_window

    @reversal_window.setter
    def reversal_window(self, window: timedelta) -> None:
        self._reversals.reversal_window = window

    # -- Grants (grants.py) ---------------------------------------------------

    def create_customer(
        self,
        customer: str,
        kind: str = "user",
        metadata: dict[str, Any] | None = None,
        time_zone: str | None = None,
    ) -> Customer:
        return self._grants.create_customer(customer, kind, metadata, time_zone)

    def customer(self, customer: str) -> Customer:
        return self._grants.customer(customer)

    def grant(
        self,
        customer: str,
        amount: object,
        *,
        unit: str,
        source: str,
        idempotency_key: str,
        priority: int | None,
        effective_at: datetime | None,
        expires_at: datetime | None,
        transferable: bool | None,
        cost_basis: Money | None,
        metadata: dict[str, Any] | None,
        action: str | None = None,
        guard: Callable[[Connection, CustomerRow], CreditKitError | None] | None = None,
        applies_to: Sequence[str] | None = None,
    ) -> Grant:
        return self._grants.grant(
            customer,
            amount,
            unit=unit,
            source=source,
            idempotency_key=idempotency_key,
            priority=priority,
            effective_at=effective_at,
            expires_at=expires_at,
            transferable=transferable,
            cost_basis=cost_basis,
            metadata=metadata,
            action=action,
            guard=guard,
            applies_to=applies_to,
        )

    def purchase_limit_refusal(
        self, connection: Connection, holder: CustomerRow, pack: str, purchase_limit: int | None
    ) -> PurchaseLimitReached | None:
        return self._grant_postings.purchase_limit_refusal(connection, holder, pack, purchase_limit)

    def post_grant(
        self,
        connection: Connection,
        customer: CustomerRow,
        key: str,
        steps: int,
        unit: str,
        source: GrantSource,
        expires_at: datetime | None,
        now: datetime,
        metadata: dict[str, Any],
        *,
        cost_basis: Money | None = None,
        action: str | None = None,
        applies_to: tuple[str, ...] | None = None,
    ) -> int | None:
        return self._grant_postings.post_grant(
            connection,
            customer,
            key,
            steps,
            unit,
            source,
            expires_at,
            now,
            metadata,
            cost_basis=cost_basis,
            action=action,
            applies_to=applies_to,
        )

    def post_charge(
        self,
        connection: Connection,
        customer: CustomerRow,
        key: str,
        steps: int,
        unit: str,
        action: str,
        now: datetime,
    ) -> bool:
        return self._grant_postings.post_charge(connection, customer, key, steps, unit, action, now)

    def post_rollover(
        self,
        connection: Connection,
        customer: CustomerRow,
        key: str,
        moves: Sequence[tuple[int, int]],
        unit: str,
        expires_at: datetime | None,
        now: datetime,
    ) -> int | None:
        return self._grant_postings.post_rollover(
            connection, customer, key, moves, unit, expires_at, now
        )

    def post_refund(
        self,
        connection: Connection,
        customer: CustomerRow,
        key: str,
        grant_id: int,
        now: datetime,
        metadata: dict[str, Any],
    ) -> int:
        return self._grant_postings.post_refund(connection, customer, key, grant_id, now, metadata)

    # -- HoldReads (hold_reads.py) --------------------------------------------

    def recorded(self, idempotency_key: str) -> bool:
        return self._hold_reads.recorded(idempotency_key)

    def recorded_metadata(self, idempotency_key: str) -> dict[str, Any] | None:
        return self._hold_reads.recorded_metadata(idempotency_key)

    def hold(self, hold_id: int) -> Hold:
        return self._hold_reads.hold(hold_id)

    def holds(self, customer: str, status: str, limit: int) -> tuple[Hold, ...]:
        return self._hold_reads.holds(customer, status, limit)

    # -- Holds (holds.py) and HoldSettlements (hold_settlements.py) --------------------

    def reserve(
        self,
        customer: str,
        amount: object,
        *,
        unit: str,
        timeout_seconds: int,
        idempotency_key: str,
        action: str | None,
        metadata: dict[str, Any] | None,
        rate_limited: bool = False,
        parent: int | None = None,
        spender: str | None = None,
    ) -> Hold:
        return self._holds.reserve(
            customer,
            amount,
            unit=unit,
            timeout_seconds=timeout_seconds,
            idempotency_key=idempotency_key,
            action=action,
            metadata=metadata,
            rate_limited=rate_limited,
            parent=parent,
            spender=spender,
        )

    def extend(
        self,
        hold_id: int,
        amount: object = None,
        timeout_seconds: int | None = None,
        *,
        idempotency_key: str,
    ) -> Hold:
        return self._holds.extend(hold_id, amount, timeout_seconds, idempotency_key=idempotency_key)

    def commit(
        self,
        hold_id: int,
        amount: object,
        *,
        final: bool = True,
        idempotency_key: str,
        metadata: dict[str, Any] | None,
        allow_debt: bool = False,
    ) -> Charge:
        return self._settlements.commit(
            hold_id,
            amount,
            final=final,
            idempotency_key=idempotency_key,
            metadata=metadata,
            allow_debt=allow_debt,
        )

    def release(self, hold_id: int, *, idempotency_key: str) -> Hold:
        return self._settlements.release(hold_id, idempotency_key=idempotency_key)

    # -- Moves (moves.py) -----------------------------------------------------

    def transfer(
        self,
        from_customer: str,
        to_customer: str,
        amount: object,
        *,
        unit: str,
        idempotency_key: str,
        metadata: dict[str, Any] | None,
    ) -> Transfer:
        return self._moves.transfer(
            from_customer,
            to_customer,
            amount,
            unit=unit,
            idempotency_key=idempotency_key,
            metadata=metadata,
        )

    def remove(
        self,
        customer: str,
        amount: object,
        *,
        unit: str,
        idempotency_key: str,
        metadata: dict[str, Any] | None,
    ) -> Adjustment:
        return self._moves.remove(
            customer, amount, unit=unit, idempotency_key=idempotency_key, metadata=metadata
        )

    # -- Corrections (corrections.py) -----------------------------------------

    def void_grant(
        self,
        grant_id: int,
        amount: Quantity | str | None,
        *,
        reason: str,
        idempotency_key: str,
    ) -> Adjustment:
        return self._corrections.void_grant(
            grant_id, amount, reason=reason, idempotency_key=idempotency_key
        )

    def change_grant_expiry(
        self,
        grant_id: int,
        expires_at: datetime | None,
        *,
        reason: str,
        idempotency_key: str,
    ) -> Grant:
        return self._corrections.change_grant_expiry(
            grant_id, expires_at, reason=reason, idempotency_key=idempotency_key
        )

    # -- Spenders (spenders.py) -----------------------------------------------

    def create_spender(
        self, customer: str, spender: str, *, kind: str, parent: str | None = None
    ) -> Spender:
        return self._spenders.create_spender(customer, spender, kind=kind, parent=parent)

    def spenders(self, customer: str, limit: int = SPENDERS_PAGE_SIZE_MAX) -> tuple[Spender, ...]:
        return self._spenders.spenders(customer, limit)

    def set_budget(
        self,
        customer: str,
        amount: object,
        *,
        spender: str | None,
        unit: str,
        period: str,
        idempotency_key: str,
    ) -> Budget | None:
        return self._spenders.set_budget(
            customer,
            amount,
            spender=spender,
            unit=unit,
            period=period,
            idempotency_key=idempotency_key,
        )

    def budgets(
        self, customer: str, spender: str | None = None, unit: str | None = None
    ) -> tuple[Budget, ...]:
        return self._spenders.budgets(customer, spender, unit)

    def set_debt_limit(
        self, customer: str, amount: object, *, unit: str, idempotency_key: str
    ) -> DebtLimit:
        return self._spenders.set_debt_limit(
            customer, amount, unit=unit, idempotency_key=idempotency_key
        )

    def set_time_zone(
        self, customer: str, time_zone: str | None, *, idempotency_key: str
    ) -> Customer:
        return self._spenders.set_time_zone(customer, time_zone, idempotency_key=idempotency_key)

    # -- Reversals (reversals.py) ---------------------------------------------

    def reverse_charge(
        self,
        charge_key: str,
        amount: Quantity | str | None,
        *,
        reason: str,
        idempotency_key: str,
    ) -> Reversal:
        return self._reversals.reverse_charge(
            charge_key, amount, reason=reason, idempotency_key=idempotency_key
        )

    # -- Statements (statements.py) -------------------------------------------

    def balance(
        self, customer: str, unit: str, action: str | None = None, spender: str | None = None
    ) -> Balance:
        return self._statements.balance(customer, unit, action, spender)

    def history(
        self,
        customer: str,
        unit: str,
        limit: int,
        cursor: str | None,
        filters: history_repository.HistoryFilters = history_repository.NO_HISTORY_FILTERS,
        spender: str | None = None,
        subtree: bool = False,
    ) -> HistoryPage:
        return self._statements.history(customer, unit, limit, cursor, filters, spender, subtree)

    def spenders_of(
        self, connection: Connection, customer: CustomerRow, spender: str, subtree: bool
    ) -> tuple[str, ...]:
        return self._statements.spenders_of(connection, customer, spender, subtree)

    # -- LedgerKernel (kernel.py) ---------------------------------------------

    def connect(self, hooks: LedgerHooks) -> None:
        return self._postings.connect(hooks)

    def now(self) -> datetime:
        return self._postings.now()

    def unit(self, name: object, field_name: str = "unit") -> Unit:
        return self._postings.unit(name, field_name)

    def units(self) -> tuple[Unit, ...]:
        return self._postings.units()

    def system_account(self, kind: str, unit: str) -> int:
        return self._postings.system_account(kind, unit)

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
    ) -> dict[str, Any]:
        return self._postings.transaction_values(
            request,
            customer,
            unit,
            steps,
            now,
            status=status,
            counterparty=counterparty,
            action=action,
            hold_id=hold_id,
            metadata=metadata,
            member=member,
            spender=spender,
            occurred_at=occurred_at,
            reverses_id=reverses_id,
        )

    def post_many(
        self, connection: Connection, transactions: list[tuple[int, str, list[tuple[int, int]]]]
    ) -> None:
        return self._postings.post_many(connection, transactions)

    def headroom(
        self, connection: Connection, customer: CustomerRow, unit: str, now: datetime
    ) -> int | None:
        return self._postings.headroom(connection, customer, unit, now)

    # -- LedgerTimeline (timeline.py) -----------------------------------------

    def tick(
        self,
        customers_max: int = SWEEP_CUSTOMERS_MAX,
        transactions_per_customer_max: int = CATCH_UP_TRANSACTIONS_MAX,
    ) -> SweepReport:
        return self._postings.tick(customers_max, transactions_per_customer_max)

    def sweep_if_due(self, customer: str) -> None:
        return self._postings.sweep_if_due(customer)

    # -- LedgerWrites (writes.py) ---------------------------------------------

    def locked_write(
        self,
        customers: Sequence[str],
        work: Callable[[UnitOfWork], T],
    ) -> T:
        return self._postings.locked_write(customers, work)

    def live_in_order(
        self, grants: Sequence[GrantRow], now: datetime, transferable_only: bool = False
    ) -> list[GrantRow]:
        return self._postings.live_in_order(grants, now, transferable_only)

    # -- LedgerPostings (postings.py) -----------------------------------------

    def charge_many(self, requests: Sequence[ChargeRequest]) -> ChargeOutcomes:
        return self._postings.charge_many(requests)

    def close(self) -> None:
        return self._postings.close()

    def group_commit_stats(self) -> GroupCommitStats | None:
        return self._postings.group_commit_stats()
