"""Corrections of one chosen grant: voiding it (wholly or in part) and changing its expiry.

Both are transactions posted through the one posting primitive, under an idempotency key, with
the operator's reason in their metadata, so they appear in the customer's history and
``audit()`` proves them like any other movement.

Changing an expiry moves what is left of the grant into a new grant that expires at the new
moment (as Orb's expiration change does): a grant's terms are the record of how it was made, and
its entries never change after the fact. The old grant keeps its history and holds nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.amounts import wire_amount
from creditkit.errors import InsufficientCredits, InvalidRequest, Quantity, present
from creditkit.ledger import repository
from creditkit.ledger.checks import check_text, check_time, iso_or_none
from creditkit.ledger.grants import Grants
from creditkit.ledger.ports import LedgerReads, Postings
from creditkit.ledger.repository import TransactionRow
from creditkit.ledger.schemas import (
    Adjustment,
    Draw,
    Grant,
    GrantSource,
    Money,
    TransactionKind,
)
from creditkit.ledger.values import ISSUANCE, Request
from creditkit.outbox.types import EventType
from creditkit.outbox.writer import emit
from creditkit.store.unit_of_work import UnitOfWork

#: A reason is for people reading the history: a sentence, not a document.
REASON_LENGTH_MAX = 500


class Corrections:
    """Voids and expiry changes of one grant."""

    def __init__(self, reads: LedgerReads, postings: Postings, grants: Grants) -> None:
        self._reads = reads
        self._postings = postings
        self._grants = grants

    def void_grant(
        self,
        grant_id: int,
        amount: Quantity | str | None,
        *,
        reason: str,
        idempotency_key: str,
    ) -> Adjustment:
        """Takes ``amount`` (None: all that is left) of the grant back to issuance: un-issued,
        not spent. Refused, and recorded, with InsufficientCredits when the grant holds less."""
        check_text(reason, "reason", REASON_LENGTH_MAX)
        _check_grant_id(grant_id)
        amount_text = None if amount is None else str(amount)
        request = Request(
            idempotency_key,
            TransactionKind.VOID,
            {"grant_id": grant_id, "amount": amount_text, "reason": reason},
        )

        def body(context: UnitOfWork) -> Adjustment:
            holder, grant = self._locked_grant(context, grant_id)
            unit = self._reads.unit(grant.unit)
            steps = grant.balance if amount is None else unit.to_steps(amount)
            if steps <= 0 and amount is None:
                raise InvalidRequest("grant_id", f"grant {grant_id} has nothing left to void")
            if steps > grant.balance:
                raise self._postings.refuse(
                    context, request, holder, grant.unit, steps,
                    InsufficientCredits(
                        holder.external_id, grant.unit, unit.to_quantity(grant.balance),
                        unit.to_quantity(steps),
                    ),
                )  # fmt: skip
            metadata = {"grant_id": grant_id, "reason": reason}
            transaction_id = repository.insert_transaction(
                context.connection,
                self._postings.transaction_values(
                    request, holder, grant.unit, steps, context.now, metadata=metadata
                ),
            )
            self._postings.post(
                context.connection,
                transaction_id,
                grant.unit,
                [(grant_id, -steps), (self._postings.system_account(ISSUANCE, grant.unit), steps)],
            )
            emit(context.connection, EventType.CREDITS_VOIDED, holder.id, {
                "grant_id": grant_id, "unit": grant.unit,
                "amount": wire_amount(unit.to_quantity(steps)), "reason": reason,
            }, context.now)  # fmt: skip
            return Adjustment(
                id=transaction_id,
                customer=holder.external_id,
                unit=grant.unit,
                amount=unit.to_quantity(steps),
                draws=(Draw(grant_id, unit.to_quantity(steps)),),
                created_at=context.now,
                metadata=metadata,
            )

        def rebuild(connection: Connection, recorded: TransactionRow) -> Adjustment:
            unit = self._reads.unit(recorded.unit)
            owner = present(
                repository.grant_owner(connection, grant_id), "a voided grant has its owner"
            )
            return Adjustment(
                id=recorded.id,
                customer=owner,
                unit=recorded.unit,
                amount=unit.to_quantity(recorded.amount),
                draws=(Draw(grant_id, unit.to_quantity(recorded.amount)),),
                created_at=recorded.created_at,
                metadata=recorded.metadata,
            )

        return self._postings.write_once(request, self._grant_customer(grant_id), body, rebuild)

    def change_grant_expiry(
        self,
        grant_id: int,
        expires_at: datetime | None,
        *,
        reason: str,
        idempotency_key: str,
    ) -> Grant:
        """Moves what is left of the grant into a new grant expiring at ``expires_at`` (None:
        never), with the same source, priority, start and transferability, and the part of the
        cost basis that goes with it. Returns the new grant. ``expires_at`` must be in the
        future: what has expired is gone."""
        check_text(reason, "reason", REASON_LENGTH_MAX)
        _check_grant_id(grant_id)
        expires_at = None if expires_at is None else check_time(expires_at, "expires_at")
        request = Request(
            idempotency_key,
            TransactionKind.EXPIRY_CHANGE,
            {"grant_id": grant_id, "expires_at": iso_or_none(expires_at), "reason": reason},
        )

        def body(context: UnitOfWork) -> Grant:
            holder, grant = self._locked_grant(context, grant_id)
            if expires_at is not None and expires_at <= context.now:
                raise InvalidRequest("expires_at", "must be in the future")
            if expires_at is not None and expires_at <= grant.effective_at:
                raise InvalidRequest("expires_at", "must be after the grant's effective_at")
            if grant.expires_at is not None and grant.expires_at <= context.now:
                raise InvalidRequest("grant_id", f"grant {grant_id} has expired")
            if grant.balance <= 0:
                raise InvalidRequest("grant_id", f"grant {grant_id} has nothing left to move")
            metadata = {"grant_id": grant_id, "reason": reason}
            transaction_id = repository.insert_transaction(
                context.connection,
                self._postings.transaction_values(
                    request, holder, grant.unit, grant.balance, context.now, metadata=metadata
                ),
            )
            cost_basis = None
            if grant.cost_basis_minor is not None:
                # The part of the price paid for the part that moves (rounded down: a cent of
                # basis is never invented).
                cost_basis = Money(
                    grant.cost_basis_minor * grant.balance // grant.amount_granted, grant.currency
                )
            new_grant_id = self._grants.insert_grant(
                context, holder, grant.unit, grant.balance, GrantSource(grant.source),
                grant.priority, grant.effective_at, expires_at, grant.transferable, cost_basis,
                transaction_id, {**grant.metadata, "replaces": grant_id, "reason": reason},
                # The credits keep their scope.
                None if grant.applies_to is None else tuple(json.loads(grant.applies_to)),
            )  # fmt: skip
            self._postings.post(
                context.connection,
                transaction_id,
                grant.unit,
                [(grant_id, -grant.balance), (new_grant_id, grant.balance)],
            )
            return self._grants.grant_from_row(
                repository.read_grant_by_transaction(context.connection, transaction_id)
            )

        def rebuild(connection: Connection, recorded: TransactionRow) -> Grant:
            return self._grants.grant_from_row(
                repository.read_grant_by_transaction(connection, recorded.id)
            )

        return self._postings.write_once(request, self._grant_customer(grant_id), body, rebuild)

    @staticmethod
    def _grant_customer(grant_id: int) -> Callable[[Connection], Sequence[str]]:
        def customers(connection: Connection) -> Sequence[str]:
            owner = repository.grant_owner(connection, grant_id)
            if owner is None:
                raise InvalidRequest("grant_id", f"no grant {grant_id}")
            return [owner]

        return customers

    @staticmethod
    def _locked_grant(context: UnitOfWork, grant_id: int) -> tuple[Any, Any]:
        """The grant's owner (locked by the write) and the grant as it stands under the lock."""
        grant = present(
            repository.read_grant_for_correction(context.connection, grant_id),
            "a grant whose owner was locked is read back",
        )
        return context.customers[grant.external_id], grant


def _check_grant_id(grant_id: object) -> None:
    if isinstance(grant_id, bool) or not isinstance(grant_id, int) or grant_id <= 0:
        raise InvalidRequest("grant_id", "must be a positive int")
