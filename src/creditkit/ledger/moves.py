"""Moves between customers (transfers) and an operator's adjustments down."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from creditkit.amounts import wire_amount
from creditkit.errors import (
    InsufficientCredits,
    InvalidRequest,
)
from creditkit.ledger import repository
from creditkit.ledger.checks import (
    EXTERNAL_ID_LENGTH_MAX,
    check_metadata,
    check_text,
)
from creditkit.ledger.grants import Grants
from creditkit.ledger.ports import LedgerReads, Postings
from creditkit.ledger.repository import TransactionRow
from creditkit.ledger.schemas import (
    PRIORITY_DEFAULT_BY_SOURCE,
    Adjustment,
    Draw,
    GrantSource,
    TransactionKind,
    Transfer,
)
from creditkit.ledger.values import ISSUANCE, Request, take
from creditkit.outbox.types import EventType
from creditkit.outbox.writer import emit
from creditkit.store.unit_of_work import UnitOfWork


class Moves:
    """Transfers between customers and removals of credits, drawing through ``Grants``."""

    def __init__(self, reads: LedgerReads, postings: Postings, grants: Grants) -> None:
        self._reads = reads
        self._postings = postings
        self._grants = grants

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
        unit_ = self._reads.unit(unit)
        steps = unit_.to_steps(amount)
        check_text(from_customer, "from_customer", EXTERNAL_ID_LENGTH_MAX)
        check_text(to_customer, "to_customer", EXTERNAL_ID_LENGTH_MAX)
        if from_customer == to_customer:
            raise InvalidRequest("to_customer", "must be another customer than the sender")
        metadata = check_metadata(metadata)
        request = Request(
            idempotency_key,
            TransactionKind.TRANSFER,
            {
                "from_customer": from_customer,
                "to_customer": to_customer,
                "unit": unit,
                "amount": steps,
                "metadata": metadata,
            },
        )

        def body(context: UnitOfWork) -> Transfer:
            sender = context.customers[from_customer]
            recipient = context.customers[to_customer]
            draws, _issued = self._grants.draw(
                context, request, sender, unit_, steps, transferable_only=True
            )
            # Gifting never extends a credit's life: the new grant expires with the soonest of
            # the credits it is made of.
            expiries = [grant.expires_at for grant, _part in draws if grant.expires_at is not None]
            expires_at = min(expiries) if expiries else None
            transaction_id = repository.insert_transaction(
                context.connection,
                self._postings.transaction_values(
                    request,
                    sender,
                    unit,
                    steps,
                    context.now,
                    counterparty=recipient,
                    metadata=metadata,
                ),
            )
            grant_id = self._grants.insert_grant(
                context,
                recipient,
                unit,
                steps,
                GrantSource.GIFT,
                PRIORITY_DEFAULT_BY_SOURCE[GrantSource.GIFT],
                context.now,
                expires_at,
                True,
                None,
                transaction_id,
                {"from_customer": from_customer},
            )
            self._postings.post(
                context.connection,
                transaction_id,
                unit,
                [(grant.account_id, -part) for grant, part in draws] + [(grant_id, steps)],
            )
            amount = wire_amount(unit_.to_quantity(steps))
            gift = {"transfer_id": transaction_id, "unit": unit, "amount": amount}
            emit(context.connection, EventType.CREDITS_GIFTED, sender.id,
                 gift | {"to_customer": to_customer}, context.now)  # fmt: skip
            emit(context.connection, EventType.CREDITS_RECEIVED, recipient.id,
                 gift | {"grant_id": grant_id, "from_customer": from_customer},
                 context.now)  # fmt: skip
            return Transfer(
                id=transaction_id,
                from_customer=from_customer,
                to_customer=to_customer,
                unit=unit,
                amount=unit_.to_quantity(steps),
                draws=tuple(
                    Draw(grant.account_id, unit_.to_quantity(part)) for grant, part in draws
                ),
                grant_id=grant_id,
                expires_at=expires_at,
                created_at=context.now,
                metadata=metadata,
            )

        def rebuild(connection: Connection, recorded: TransactionRow) -> Transfer:
            grant = repository.read_grant_by_transaction(connection, recorded.id)
            draws = [
                Draw(entry.account_id, unit_.to_quantity(-entry.amount))
                for entry in repository.entries_of(connection, [recorded.id])
                if entry.amount < 0
            ]
            return Transfer(
                id=recorded.id,
                from_customer=from_customer,
                to_customer=to_customer,
                unit=unit,
                amount=unit_.to_quantity(recorded.amount),
                draws=tuple(draws),
                grant_id=grant.account_id,
                expires_at=grant.expires_at,
                created_at=recorded.created_at,
                metadata=recorded.metadata,
            )

        return self._postings.write_once(
            request, lambda _connection: [from_customer, to_customer], body, rebuild
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
        """Takes ``amount`` of the customer's live credits back to issuance, in burn-down order
        (see ``CreditKit.remove_credits``). Refused, and recorded, with InsufficientCredits when
        its grants hold less: credits in holds are in use, and overage or an unlimited plan
        give nothing to take back."""
        unit_ = self._reads.unit(unit)
        steps = unit_.to_steps(amount)
        metadata = check_metadata(metadata)
        request = Request(
            idempotency_key,
            TransactionKind.ADJUSTMENT,
            {"customer": customer, "unit": unit, "amount": steps, "metadata": metadata},
        )

        def body(context: UnitOfWork) -> Adjustment:
            holder = context.customers[customer]
            rows = repository.grants_with_credits(context.connection, holder.id, unit)
            grants = self._reads.live_in_order(rows, context.now)
            available = sum(grant.remaining for grant in grants)
            if available < steps:
                raise self._postings.refuse(
                    context,
                    request,
                    holder,
                    unit,
                    steps,
                    InsufficientCredits(
                        customer, unit, unit_.to_quantity(available), unit_.to_quantity(steps)
                    ),
                )
            # No spend hooks: an adjustment is not spending, and must not set off an automatic
            # top-up (a payment) or a low-balance alert the customer did not cause.
            draws = take(grants, steps)
            transaction_id = repository.insert_transaction(
                context.connection,
                self._postings.transaction_values(
                    request, holder, unit, steps, context.now, metadata=metadata
                ),
            )
            self._postings.post(
                context.connection,
                transaction_id,
                unit,
                [(grant.account_id, -part) for grant, part in draws]
                + [(self._postings.system_account(ISSUANCE, unit), steps)],
            )
            return Adjustment(
                id=transaction_id,
                customer=customer,
                unit=unit,
                amount=unit_.to_quantity(steps),
                draws=tuple(
                    Draw(grant.account_id, unit_.to_quantity(part)) for grant, part in draws
                ),
                created_at=context.now,
                metadata=metadata,
            )

        def rebuild(connection: Connection, recorded: TransactionRow) -> Adjustment:
            draws = [
                Draw(entry.account_id, unit_.to_quantity(-entry.amount))
                for entry in repository.entries_of(connection, [recorded.id])
                if entry.amount < 0
            ]
            return Adjustment(
                id=recorded.id,
                customer=customer,
                unit=unit,
                amount=unit_.to_quantity(recorded.amount),
                draws=tuple(draws),
                created_at=recorded.created_at,
                metadata=recorded.metadata,
            )

        return self._postings.write_once(request, lambda _connection: [customer], body, rebuild)
