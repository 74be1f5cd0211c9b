"""The posting operations other domains call inside a write that already holds the customer's
lock: a grant (allowances, packs paid for), a charge (plan fees in credits), a rollover and a
refund, each under its own key and done once; and the one rule of a pack's purchase limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.errors import (
    InvalidRequest,
    PurchaseLimitReached,
    require,
)
from creditkit.ledger import repository
from creditkit.ledger.checks import (
    IDEMPOTENCY_KEY_LENGTH_MAX,
    check_text,
)
from creditkit.ledger.grants import Grants
from creditkit.ledger.kernel import Spend
from creditkit.ledger.ports import LedgerReads, Postings, SpendRules
from creditkit.ledger.schemas import (
    AMOUNT_STEPS_MAX,
    PRIORITY_DEFAULT_BY_SOURCE,
    TRANSFERABLE_DEFAULT_SOURCES,
    GrantSource,
    Money,
    TransactionKind,
)
from creditkit.ledger.values import CONSUMPTION, ISSUANCE, Request, take
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork


class GrantPostings:
    """Grants, charges, rollovers and refunds posted inside another domain's locked write."""

    def __init__(
        self, reads: LedgerReads, postings: Postings, rules: SpendRules, grants: Grants
    ) -> None:
        self._reads = reads
        self._postings = postings
        self._rules = rules
        self._grants = grants

    @staticmethod
    def purchase_limit_refusal(
        connection: Connection, holder: CustomerRow, pack: str, purchase_limit: int | None
    ) -> PurchaseLimitReached | None:
        """The one rule of a pack's purchase limit, asked under the customer's lock by every
        path that sells or grants a pack (``grant_pack``, a checkout opening, a payment's
        fulfilment): refused once the customer holds ``purchase_limit`` grants of it."""
        if purchase_limit is None:
            return None
        bought = repository.applied_count(connection, holder.id, "grant", f"pack:{pack}")
        if bought < purchase_limit:
            return None
        return PurchaseLimitReached(holder.external_id, pack, purchase_limit)

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
        """Inside a write that holds the customer's lock: grants under ``key`` unless the key is
        taken already (the work was done before). Returns the new grant's id, or None.
        ``cost_basis`` is the money paid for it; ``action`` names what it is for
        (``pack:<id>``, counted against the pack's purchase limit)."""
        require(0 < steps <= AMOUNT_STEPS_MAX, "a grant within limits", f"{steps} steps")
        if repository.find_transaction(connection, key) is not None:
            return None
        request = Request(
            key,
            TransactionKind.GRANT,
            {
                "customer": customer.external_id,
                "unit": unit,
                "amount": steps,
                "source": source.value,
            },
        )
        context = UnitOfWork(connection, now, {customer.external_id: customer}, replay=False)
        _transaction_id, grant_id = self._grants.issue(
            context, request, customer, unit, steps, source, PRIORITY_DEFAULT_BY_SOURCE[source],
            now, expires_at, source in TRANSFERABLE_DEFAULT_SOURCES, cost_basis, metadata, action,
            applies_to,
        )  # fmt: skip
        return grant_id

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
        """Inside a write that holds the customer's lock: spends ``steps`` from its live grants,
        in burn-down order, under ``key`` unless the key is taken (then it was paid before).
        Never from headroom: what pays for a plan must be credits the customer holds. False,
        with nothing written, when the grants hold less."""
        require(0 < steps <= AMOUNT_STEPS_MAX, "a charge within limits", f"{steps} steps")
        if repository.find_transaction(connection, key) is not None:
            return True
        grants = self._reads.live_in_order(
            repository.grants_with_credits(connection, customer.id, unit), now
        )
        if sum(grant.remaining for grant in grants) < steps:
            return False
        draws = take(grants, steps)
        request = Request(
            key,
            TransactionKind.CHARGE,
            {"customer": customer.external_id, "unit": unit, "amount": steps, "action": action},
        )
        transaction_id = repository.insert_transaction(
            connection,
            self._postings.transaction_values(request, customer, unit, steps, now, action=action),
        )
        self._postings.post(
            connection,
            transaction_id,
            unit,
            [(grant.account_id, -part) for grant, part in draws]
            + [(self._postings.system_account(CONSUMPTION, unit), steps)],
        )
        # Spending like any charge: the usage rollups count it in this transaction.
        self._rules.record_spends(
            connection, [Spend(transaction_id, customer.id, unit, steps, action, None, {}, now)]
        )
        return True

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
        """Inside a write that holds the customer's lock: moves (grant id, steps) into one new
        allowance grant expiring at ``expires_at``, under ``key`` unless it is taken."""
        steps = sum(part for _grant, part in moves)
        require(
            steps > 0 and all(part > 0 for _grant, part in moves),
            "a rollover of credits",
            f"{moves}",
        )
        if repository.find_transaction(connection, key) is not None:
            return None
        request = Request(
            key, TransactionKind.ROLLOVER, {"customer": customer.external_id, "unit": unit}
        )
        transaction_id = repository.insert_transaction(
            connection, self._postings.transaction_values(request, customer, unit, steps, now)
        )
        context = UnitOfWork(connection, now, {customer.external_id: customer}, replay=False)
        grant_id = self._grants.insert_grant(
            context,
            customer,
            unit,
            steps,
            GrantSource.ALLOWANCE,
            PRIORITY_DEFAULT_BY_SOURCE[GrantSource.ALLOWANCE],
            now,
            expires_at,
            False,
            None,
            transaction_id,
            {"rollover": True},
        )
        legs = [(grant_id_from, -part) for grant_id_from, part in moves] + [(grant_id, steps)]
        self._postings.post(connection, transaction_id, unit, legs)
        return grant_id

    def post_refund(
        self,
        connection: Connection,
        customer: CustomerRow,
        key: str,
        grant_id: int,
        now: datetime,
        metadata: dict[str, Any],
    ) -> int:
        """Inside a write that holds the customer's lock: takes what is left of the grant back
        to its unit's issuance account under ``key`` (a purchase refunded: its unused credits
        are un-issued; what was spent stays spent). Returns the steps taken back; when the key
        is taken already, the steps its transaction took then. 0, with nothing written, when the
        grant holds nothing (credits out in a hold are in use, not left)."""
        check_text(key, "idempotency_key", IDEMPOTENCY_KEY_LENGTH_MAX)
        request = Request(
            key, TransactionKind.REFUND, {"customer": customer.external_id, "grant_id": grant_id}
        )
        recorded = repository.find_transaction(connection, key)
        if recorded is not None:
            conflict = request.conflict_with(recorded.request)
            if conflict is not None:
                raise conflict
            return recorded.amount
        holding = repository.grant_holding(connection, grant_id)
        if holding is None or holding.customer_id != customer.id:
            raise InvalidRequest(
                "grant_id", f"no grant {grant_id} of customer {customer.external_id!r}"
            )
        if holding.remaining == 0:
            return 0
        require(
            0 < holding.remaining <= holding.amount_granted,
            "a refund within the grant",
            f"{holding}",
        )
        transaction_id = repository.insert_transaction(
            connection,
            self._postings.transaction_values(
                request, customer, holding.unit, holding.remaining, now, metadata=metadata
            ),
        )
        self._postings.post(
            connection,
            transaction_id,
            holding.unit,
            [
                (grant_id, -holding.remaining),
                (self._postings.system_account(ISSUANCE, holding.unit), holding.remaining),
            ],
        )
        return holding.remaining
