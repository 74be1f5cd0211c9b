"""Customers, grants and the burn-down over live grants; the posting operations other domains
call inside a write that holds the customer's lock (allowances, rollovers, plan fees in
credits, refunds).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from creditkit.amounts import wire_amount
from creditkit.derived_keys import debt_repayment_key
from creditkit.errors import (
    CreditKitError,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidRequest,
    UnknownCustomer,
    present,
)
from creditkit.ledger import repository, spender_repository
from creditkit.ledger.checks import (
    EXTERNAL_ID_LENGTH_MAX,
    PRIORITY_MAX,
    check_metadata,
    check_text,
    check_time,
    check_time_zone,
    iso_or_none,
)
from creditkit.ledger.ports import LedgerReads, Postings, SpendRules
from creditkit.ledger.repository import GrantRow
from creditkit.ledger.schemas import (
    PRIORITY_DEFAULT_BY_SOURCE,
    TRANSFERABLE_DEFAULT_SOURCES,
    Customer,
    CustomerKind,
    Grant,
    GrantSource,
    Money,
    TransactionKind,
    Unit,
)
from creditkit.ledger.spender_repository import SpenderRow
from creditkit.ledger.spending import (
    SpendState,
    applies,
    check_applies_to,
    encode_applies_to,
)
from creditkit.ledger.values import ISSUANCE, Request, take
from creditkit.outbox.types import EventType
from creditkit.outbox.writer import emit
from creditkit.store.database import Database
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork


class Grants:
    """Customers, grants and spending from them, on the posting and read ports."""

    def __init__(
        self, database: Database, reads: LedgerReads, postings: Postings, rules: SpendRules
    ) -> None:
        self._database = database
        self._reads = reads
        self._postings = postings
        self._rules = rules

    def create_customer(
        self,
        customer: str,
        kind: str = "user",
        metadata: dict[str, Any] | None = None,
        time_zone: str | None = None,
    ) -> Customer:
        """Creates the customer, or returns it if it exists with the same kind (the customer id
        is its own idempotency key; a ``time_zone`` given again must be the one it states)."""
        check_text(customer, "customer", EXTERNAL_ID_LENGTH_MAX)
        try:
            customer_kind = CustomerKind(kind)
        except ValueError:
            raise InvalidRequest("kind", "must be 'user' or 'workspace'") from None
        metadata = check_metadata(metadata)
        zone = check_time_zone(time_zone)

        def create(context: UnitOfWork) -> Customer:
            row = repository.read_customer_full(context.connection, customer)
            if row is None:
                repository.insert_customer(
                    context.connection, customer, customer_kind, metadata, context.now, zone
                )
                row = present(
                    repository.read_customer_full(context.connection, customer),
                    "an inserted customer",
                )
                emit(
                    context.connection,
                    EventType.CUSTOMER_CREATED,
                    row.id,
                    {"kind": row.kind},
                    row.created_at,
                )
            elif row.kind != customer_kind:
                # The customer id is its own idempotency key: the conflict names it and the kind.
                raise IdempotencyConflict(customer, "kind", row.kind, kind)
            elif zone is not None and row.time_zone != zone:
                raise IdempotencyConflict(customer, "time_zone", row.time_zone, zone)
            return customer_of(row)

        for attempt in (1, 2):
            try:
                return self._database.unit_of_work(self._reads.now, create)
            except IntegrityError:
                # Created by a concurrent call between our read and insert: read it again.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def customer(self, customer: str) -> Customer:
        with self._database.read() as connection:
            row = repository.read_customer_full(connection, customer)
        if row is None:
            raise UnknownCustomer(customer)
        return customer_of(row)

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
        """``action`` names what the grant is for (``pack:<id>``); ``guard``, run under the
        customer's lock before anything is written, may refuse the grant with a recorded
        error (a pack bought more often than its purchase limit allows). ``applies_to``: the
        actions or categories it may pay for (None: any spending)."""
        scope = check_applies_to(applies_to)
        unit_ = self._reads.unit(unit)
        steps = unit_.to_steps(amount)
        try:
            grant_source = GrantSource(source)
        except ValueError:
            raise InvalidRequest(
                "source", f"must be one of {', '.join(s.value for s in GrantSource)}"
            ) from None
        if priority is None:
            priority = PRIORITY_DEFAULT_BY_SOURCE[grant_source]
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise InvalidRequest("priority", "must be an int")
        if not -PRIORITY_MAX <= priority <= PRIORITY_MAX:
            raise InvalidRequest("priority", f"must be within ±{PRIORITY_MAX}")
        if transferable is None:
            transferable = grant_source in TRANSFERABLE_DEFAULT_SOURCES
        effective = None if effective_at is None else check_time(effective_at, "effective_at")
        expires = None if expires_at is None else check_time(expires_at, "expires_at")
        if cost_basis is not None and (
            not isinstance(cost_basis, Money)
            or isinstance(cost_basis.amount_minor, bool)
            or not isinstance(cost_basis.amount_minor, int)
            or cost_basis.amount_minor < 0
            or len(cost_basis.currency) != 3
        ):
            raise InvalidRequest(
                "cost_basis", "must be Money with a non-negative int and a 3-letter currency"
            )
        metadata = check_metadata(metadata)
        request = Request(
            idempotency_key,
            TransactionKind.GRANT,
            {
                "customer": customer,
                "unit": unit,
                "amount": steps,
                "source": grant_source.value,
                "priority": priority,
                "effective_at": iso_or_none(effective),
                "expires_at": iso_or_none(expires),
                "transferable": bool(transferable),
                "cost_basis": None
                if cost_basis is None
                else [cost_basis.amount_minor, cost_basis.currency.upper()],
                "metadata": metadata,
            }
            | ({} if scope is None else {"applies_to": list(scope)}),
        )

        def body(context: UnitOfWork) -> Grant:
            holder = context.customers[customer]
            starts_at = effective or context.now
            if expires is not None and expires <= starts_at:
                raise InvalidRequest("expires_at", "must be after the grant starts counting")
            refusal = None if guard is None else guard(context.connection, holder)
            if refusal is not None:
                raise self._postings.refuse(context, request, holder, unit, steps, refusal)
            transaction_id, _grant_id = self.issue(
                context, request, holder, unit, steps, grant_source, priority, starts_at,
                expires, bool(transferable), cost_basis, metadata, action, scope,
            )  # fmt: skip
            return self.grant_from_row(
                repository.read_grant_by_transaction(context.connection, transaction_id),
                context.connection,
            )

        return self._postings.write_once(
            request,
            lambda _connection: [customer],
            body,
            lambda connection, recorded: self.grant_from_row(
                repository.read_grant_by_transaction(connection, recorded.id), connection
            ),
        )

    def issue(
        self,
        context: UnitOfWork,
        request: Request,
        holder: CustomerRow,
        unit: str,
        steps: int,
        source: GrantSource,
        priority: int,
        effective_at: datetime,
        expires_at: datetime | None,
        transferable: bool,
        cost_basis: Money | None,
        metadata: dict[str, Any],
        action: str | None,
        applies_to: tuple[str, ...] | None = None,
    ) -> tuple[int, int]:
        """A grant's transaction: the grant account, credited from the unit's issuance account;
        then, when the customer owes debt in the unit, the grant repays it first
        (``_repay_debt``). Returns the transaction's id and the grant's."""
        transaction_id = repository.insert_transaction(
            context.connection,
            self._postings.transaction_values(
                request, holder, unit, steps, context.now, action=action, metadata=metadata
            ),
        )
        grant_id = self.insert_grant(
            context, holder, unit, steps, source, priority, effective_at, expires_at,
            transferable, cost_basis, transaction_id, metadata, applies_to,
        )  # fmt: skip
        self._postings.post(
            context.connection,
            transaction_id,
            unit,
            [(self._postings.system_account(ISSUANCE, unit), -steps), (grant_id, steps)],
        )
        self._repay_debt(context, request, holder, unit, grant_id, steps)
        emit(
            context.connection,
            EventType.CREDITS_GRANTED,
            holder.id,
            {
                "grant_id": grant_id,
                "unit": unit,
                "amount": wire_amount(self._reads.unit(unit).to_quantity(steps)),
                "source": source.value,
                "expires_at": iso_or_none(expires_at),
            },
            context.now,
        )
        return transaction_id, grant_id

    def _repay_debt(
        self,
        context: UnitOfWork,
        request: Request,
        holder: CustomerRow,
        unit: str,
        grant_id: int,
        steps: int,
    ) -> None:
        """Repays what the customer owes in ``unit`` from the new grant, first, in the grant's
        own database transaction: a ``debt_repayment`` transaction of its own (seen in
        history), from the grant to the debt account, whatever the grant's scope or start."""
        debt = spender_repository.debt_account(context.connection, holder.id, unit)
        if debt is None or debt[1] == 0:
            return
        repaid = min(steps, -debt[1])
        repayment = Request(
            debt_repayment_key(grant_id),
            TransactionKind.DEBT_REPAYMENT,
            {"customer": holder.external_id, "unit": unit, "grant_key": request.key},
        )
        transaction_id = repository.insert_transaction(
            context.connection,
            self._postings.transaction_values(repayment, holder, unit, repaid, context.now),
        )
        self._postings.post(
            context.connection, transaction_id, unit, [(grant_id, -repaid), (debt[0], repaid)]
        )

    def insert_grant(
        self,
        context: UnitOfWork,
        holder: CustomerRow,
        unit: str,
        steps: int,
        source: GrantSource,
        priority: int,
        effective_at: datetime,
        expires_at: datetime | None,
        transferable: bool,
        cost_basis: Money | None,
        transaction_id: int,
        metadata: dict[str, Any],
        applies_to: tuple[str, ...] | None = None,
    ) -> int:
        grant_id = repository.insert_account(
            context.connection, "grant", unit, holder.id, context.now
        )
        repository.insert_grant(
            context.connection,
            {
                "account_id": grant_id,
                "source": source.value,
                "priority": priority,
                "effective_at": effective_at,
                "expires_at": expires_at,
                "transferable": transferable,
                "amount_granted": steps,
                "cost_basis_minor": None if cost_basis is None else cost_basis.amount_minor,
                "currency": None if cost_basis is None else cost_basis.currency.upper(),
                "transaction_id": transaction_id,
                "metadata": metadata,
                "applies_to": encode_applies_to(applies_to),
            },
        )
        if expires_at is not None:
            repository.lower_next_due_at(context.connection, holder.id, expires_at)
        return grant_id

    def grant_from_row(self, row: Any, connection: Connection | None = None) -> Grant:
        """The grant as granted; with ``connection``, with the debt it repaid first."""
        unit = self._reads.unit(row.unit)
        repaid = 0
        if connection is not None:
            repaid = spender_repository.debt_repaid(connection, debt_repayment_key(row.account_id))
        return Grant(
            id=row.account_id,
            customer=row.external_id,
            unit=row.unit,
            amount=unit.to_quantity(row.amount_granted),
            source=GrantSource(row.source),
            priority=row.priority,
            effective_at=row.effective_at,
            expires_at=row.expires_at,
            transferable=row.transferable,
            cost_basis=None
            if row.cost_basis_minor is None
            else Money(row.cost_basis_minor, row.currency),
            transaction_id=row.transaction_id,
            metadata=row.metadata,
            applies_to=None if row.applies_to is None else tuple(json.loads(row.applies_to)),
            debt_repaid=unit.to_quantity(repaid) if repaid else 0,
        )

    def draw(
        self,
        context: UnitOfWork,
        request: Request,
        customer: CustomerRow,
        unit: Unit,
        steps: int,
        transferable_only: bool,
        *,
        action: str | None = None,
        spender: SpenderRow | None = None,
        state: SpendState | None = None,
    ) -> tuple[list[tuple[GrantRow, int]], int]:
        """Takes ``steps`` from the customer's live grants in burn-down order, or refuses (and
        records) the request with InsufficientCredits when they hold less. Returns the draws
        and the steps issued on demand beyond them (an unlimited plan; never for a transfer,
        which moves only credits the customer holds, and only unscoped ones: a gift has no
        scope). With ``state`` it is a spend (a reserve): only grants that apply to ``action``
        pay, and ``check_spend`` counts it against the budgets on ``spender``'s path. Tells
        the spend hooks what it took."""
        rows = repository.grants_with_credits(context.connection, customer.id, unit.name)
        live = self._reads.live_in_order(rows, context.now, transferable_only)
        grants = live
        if transferable_only:
            grants = [grant for grant in live if grant.applies_to is None]
        elif any(grant.applies_to is not None for grant in live):
            scope = self._rules.action_scope(action)
            grants = [grant for grant in live if applies(grant, scope)]
        available = sum(grant.remaining for grant in grants)
        drawn = min(steps, available)
        headroom: int | None = 0
        if steps > available and not transferable_only:
            headroom = self._rules.headroom(context.connection, customer, unit.name, context.now)
        shortfall = 0 if headroom is None else max(0, steps - available - headroom)

        def refusal(debt_room: int) -> CreditKitError:
            return InsufficientCredits(
                customer.external_id,
                unit.name,
                unit.to_quantity(available + (headroom or 0) + debt_room),
                unit.to_quantity(steps),
                unit.to_quantity(sum(grant.remaining for grant in live) - available),
            )

        refused: CreditKitError | None = refusal(0) if shortfall else None
        if state is not None:
            checked = self._rules.check_spend(
                context.connection, state, customer, unit, steps, context.now,
                spender=spender, shortfall=shortfall, allow_debt=False, refusal=refusal,
            )  # fmt: skip
            if isinstance(checked, InvalidRequest):
                raise checked
            refused = checked if isinstance(checked, CreditKitError) else None
            state.flush(context.connection)
        if refused is not None:
            raise self._postings.refuse(context, request, customer, unit.name, steps, refused)
        if drawn > 0:
            # Of all live grants, not only the transferable ones a transfer draws from.
            before = sum(grant.remaining for grant in rows if grant.is_live(context.now))
            self._rules.spent(
                context.connection, customer, unit.name, before, before - drawn, context.now
            )
        return take(grants, drawn), steps - drawn


def customer_of(row: Any) -> Customer:
    return Customer(
        row.external_id, CustomerKind(row.kind), row.created_at, row.metadata, row.time_zone
    )
