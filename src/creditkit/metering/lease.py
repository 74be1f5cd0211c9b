"""``Lease``: a hold a worker (a GPU job, an edge function) spends against locally, reporting
what it spent in batches instead of calling the ledger for every unit of work.

    with ck.lease("alice", 1000, idempotency_key="job-42", batch=100) as lease:
        for frame in frames:
            lease.spend(render(frame))   # counted in memory; every 100 reported

``spend`` counts in memory; once ``batch`` is counted it is reported through a partial commit
(``commit(final=False)``). When the hold has too little left for a spend, the lease extends it
(by ``extend_by``, the lease's amount unless said) before counting; when the customer cannot
cover that, the spend is refused and nothing is counted. So the worker never counts more than
the hold holds: what it could spend without the ledger knowing (if it died before reporting)
is bounded by the hold, and that is set aside, never overdrawn. Leaving the block (or
``close``) reports what is counted with a final commit, and the rest goes back.

Every write is keyed from the lease's base key: ``<key>:reserve``, ``<key>:commit:<n>``,
``<key>:extend:<n>``, ``<key>:final``. Running the same worker again with the same key reserves
nothing new and reports nothing twice, as long as it counts the same spends.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from types import TracebackType

from creditkit.derived_keys import extend_key, final_commit_key, partial_commit_key, reserve_key
from creditkit.errors import InvalidRequest, InvariantViolation, Quantity
from creditkit.ledger.schemas import Charge, Hold
from creditkit.metering.metered import HoldLedger

#: Reports (partial commits) and extends one lease makes at most: a lease that needs more is
#: spending in steps too small for its batch, and should take a larger batch.
LEASE_WRITES_MAX = 100_000


def _positive(value: object, field_name: str) -> Quantity:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise InvalidRequest(field_name, "must be an int, Decimal or decimal string")
    try:
        exact = Decimal(value) if isinstance(value, str) else value
    except ArithmeticError:
        raise InvalidRequest(field_name, f"{value!r} is not a number") from None
    if isinstance(exact, Decimal) and not exact.is_finite():
        raise InvalidRequest(field_name, "must be finite")
    if exact <= 0:
        raise InvalidRequest(field_name, "must be more than 0")
    return exact


@dataclass(slots=True)
class Lease:
    """An open lease: ``hold`` as last seen, what was ``counted`` and not reported yet, what
    was ``reported`` in all. Not thread-safe: one worker owns it."""

    ledger: HoldLedger
    hold: Hold
    key: str
    batch: Quantity
    extend_by: Quantity
    timeout_seconds: int
    counted: Quantity = 0
    reported: Quantity = 0
    writes: int = 0
    closed: bool = False

    @classmethod
    def open(
        cls,
        ledger: HoldLedger,
        customer: str,
        amount: Quantity | str,
        *,
        idempotency_key: str,
        unit: str = "credits",
        timeout_seconds: int = 300,
        batch: Quantity | str | None = None,
        extend_by: Quantity | str | None = None,
        action: str | None = None,
        parent: int | None = None,
        spender: str | None = None,
    ) -> Lease:
        """Reserves ``amount`` (under ``parent``, when given; for ``spender``, whose budgets it
        counts against and whose spending its reports are) and returns the lease. ``batch``:
        how much is counted before it is reported (default: a tenth of the amount)."""
        hold = ledger.reserve(
            customer,
            amount,
            idempotency_key=reserve_key(idempotency_key),
            unit=unit,
            timeout_seconds=timeout_seconds,
            action=action,
            parent=parent,
            spender=spender,
        )
        size = hold.amount
        default_batch = max(size // 10, 1) if isinstance(size, int) else size / 10
        return cls(
            ledger=ledger,
            hold=hold,
            key=idempotency_key,
            batch=_positive(default_batch if batch is None else batch, "batch"),
            extend_by=_positive(size if extend_by is None else extend_by, "extend_by"),
            timeout_seconds=timeout_seconds,
        )

    @property
    def remaining(self) -> Quantity:
        """What may still be counted without extending the hold."""
        left = self.hold.remaining
        if left is None:
            return 0
        return left - self.counted

    def spend(self, amount: Quantity | str) -> None:
        """Counts ``amount`` spent; reports once ``batch`` is counted. Extends the hold first
        when it has too little left, and raises the ledger's refusal (``InsufficientCredits``,
        ``HoldParentExceeded``) without counting when it cannot be extended."""
        if self.closed:
            raise InvalidRequest("lease", f"lease {self.key!r} is closed")
        spent = _positive(amount, "amount")
        if spent > self.remaining:
            self._extend(max(self.extend_by, spent - self.remaining))
        self.counted += spent
        if self.counted >= self.batch:
            self.report()

    def report(self) -> Charge | None:
        """Reports what is counted with a partial commit (nothing when nothing is counted)."""
        if self.counted == 0:
            return None
        charge = self.ledger.commit(
            self.hold.id,
            self.counted,
            idempotency_key=partial_commit_key(self.key, self._next_write()),
            final=False,
        )
        self._reported(self.counted)
        return charge

    def keep_alive(self) -> Hold:
        """Pushes the hold's timeout to ``timeout_seconds`` from now (within its lifetime)."""
        self.hold = self.ledger.extend(
            self.hold.id,
            timeout_seconds=self.timeout_seconds,
            idempotency_key=extend_key(self.key, self._next_write()),
        )
        return self.hold

    def close(self) -> Charge:
        """Reports what is counted with a final commit: the hold closes and the rest goes back.
        Closing twice returns the first close's outcome (it is keyed)."""
        charge = self.ledger.commit(
            self.hold.id, self.counted, idempotency_key=final_commit_key(self.key), final=True
        )
        if not self.closed:
            self.reported += self.counted
            self.counted = 0
            self.closed = True
        return charge

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # What was counted was spent, whether or not the work then failed: it is reported.
        if not self.closed:
            self.close()

    def _extend(self, amount: Quantity) -> None:
        self.hold = self.ledger.extend(
            self.hold.id,
            amount,
            idempotency_key=extend_key(self.key, self._next_write()),
        )

    def _reported(self, amount: Quantity) -> None:
        self.reported += amount
        self.counted = 0
        left = self.hold.remaining
        if left is None or left < amount:
            raise InvariantViolation("a lease reports at most what its hold has left", self.key)
        # The hold as the ledger now has it, without a read: the commit took ``amount``.
        self.hold = replace(self.hold, remaining=left - amount)

    def _next_write(self) -> int:
        self.writes += 1
        if self.writes > LEASE_WRITES_MAX:
            raise InvalidRequest(
                "batch", f"a lease makes at most {LEASE_WRITES_MAX} reports and extends"
            )
        return self.writes
