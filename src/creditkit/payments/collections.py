"""Off-session collections of due payments (auto top-ups, and the renewals creditkit bills
itself): each claimed under a lease so that one worker makes it, collected from the provider
(its ``charge`` of the saved card) outside any transaction with
an idempotency key derived from the payment and its attempt, then recorded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from creditkit.derived_keys import collection_key
from creditkit.errors import InvalidRequest
from creditkit.ledger.schemas import Money
from creditkit.payments import repository
from creditkit.payments.context import PaymentContext
from creditkit.payments.errors import ProviderError
from creditkit.payments.fulfilment import CHARGE_ATTEMPTS_MAX, Fulfilment
from creditkit.payments.receipts import receipt_lines
from creditkit.payments.schemas import ChargeResult, ChargeRunReport, OffSessionCharge, PaymentKind
from creditkit.store.unit_of_work import UnitOfWork

#: One worker run collects at most this many due payments of a kind.
COLLECTIONS_PER_RUN_MAX = 500
#: A worker keeps a due payment this long; one that dies mid-collection leaves it to the next
#: run.
COLLECTION_LEASE_SECONDS = 300


class OffSessionCollections:
    def __init__(self, context: PaymentContext, fulfilment: Fulfilment) -> None:
        self._ledger = context.ledger
        self._database = context.database
        self._now = context.clock
        self._provider = context.provider
        self._fulfilment = fulfilment

    def run_due_renewals(self, limit: int = COLLECTIONS_PER_RUN_MAX) -> ChargeRunReport:
        """Collects the renewals creditkit bills itself (the sandbox's; Stripe bills its own),
        and retries declined ones once a day in their grace period. Sweeps the customers with
        due work first, so that a period that began for a customer nobody has touched since
        owes its payment now."""
        self._ledger.tick()
        return self.run_due(PaymentKind.RENEWAL, limit)

    def run_due(self, kind: PaymentKind, limit: int) -> ChargeRunReport:
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise InvalidRequest("limit", "must be an int")
        if not 1 <= limit <= COLLECTIONS_PER_RUN_MAX:
            raise InvalidRequest("limit", f"must be from 1 to {COLLECTIONS_PER_RUN_MAX}")
        with self._database.read() as connection:
            due = repository.due_payments(connection, kind.value, self._now(), limit)
        outcomes = [self._collect_due(payment_id) for payment_id in due]
        decided = [outcome for outcome in outcomes if outcome is not None]
        return ChargeRunReport(len(decided), sum(decided), len(decided) - sum(decided))

    def _collect_due(self, payment_id: int) -> bool | None:
        """One due payment: claimed (so one worker makes it), collected, recorded. True or False
        for what it did; None when another worker has it or the provider could not be asked."""
        now = self._now()
        lease_until = now + timedelta(seconds=COLLECTION_LEASE_SECONDS)

        def take(context: UnitOfWork) -> tuple[Any, Any] | None:
            if not repository.claim(context.connection, payment_id, context.now, lease_until):
                return None
            row = repository.read_payment(context.connection, payment_id)
            return row, repository.account(context.connection, row.customer_id, row.provider)

        claimed = self._database.unit_of_work(lambda: now, take)
        if claimed is None:
            return None
        row, account = claimed
        try:
            result = self._collect(row, account)
        except ProviderError:
            if row.attempts < CHARGE_ATTEMPTS_MAX:
                return None  # the lease runs out and the next run asks again
            result = ChargeResult(False, None, "provider_error")

        def record(context: UnitOfWork) -> bool:
            """Whether this run decided the payment (a concurrent one may have first)."""
            current = repository.read_payment(context.connection, payment_id)
            holder = context.customers[row.external_id]
            if result.succeeded:
                return self._fulfilment.succeed(
                    context.connection, holder, current, result.provider_payment_id, context.now
                )
            reason = result.failure_reason or "declined"
            return self._fulfilment.fail(context.connection, holder, current, reason, context.now)

        decided = self._ledger.locked_write([row.external_id], record)
        return result.succeeded if decided else None

    def _collect(self, row: Any, account: Any) -> ChargeResult:
        if account is None or account.payment_method is None:
            return ChargeResult(False, None, "no_payment_method")
        return self._provider.charge(
            OffSessionCharge(
                payment_id=row.id,
                customer=row.external_id,
                provider_customer=account.provider_customer_id or "",
                payment_method=account.payment_method,
                amount=Money(row.amount_minor, row.currency),
                description=receipt_lines(row.lines)[0].description,
                idempotency_key=collection_key(row.id, row.attempts),
            )
        )
