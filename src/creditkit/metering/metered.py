"""``metered``: a hold around work whose cost is known only once it is done (an LLM call).

    with ck.metered("alice", "ask_anything", estimate=50) as meter:
        answer = llm(prompt)
        meter.actual = answer.tokens_used // 100

On entry the estimate (default: the action's catalog price) is reserved; on a normal exit the
actual amount (default: the estimate) is committed and the rest goes back; on an exception the
hold is released and the exception goes on. The same code runs on ``CreditKit`` and on
``Client``: both hand themselves to ``open_meter``.

Every write is keyed from one base key (given, or a fresh uuid4): ``<key>:reserve``,
``<key>:commit``, ``<key>:release``. Running the block again with the same base key reserves
nothing new and commits nothing twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any, Protocol

from creditkit.catalog import Action
from creditkit.catalog.errors import UnknownAction
from creditkit.derived_keys import commit_key, release_key, reserve_key
from creditkit.errors import (
    HoldAlreadyCommitted,
    HoldAlreadyReleased,
    HoldAmountExceeded,
    InvalidAmount,
    InvalidRequest,
    InvariantViolation,
    Quantity,
)
from creditkit.ledger.schemas import Charge, Hold

#: How long a meter's hold lives when the caller does not say: the work must end before it,
#: or the hold releases itself and the commit is refused (``HoldExpired``).
HOLD_TIMEOUT_SECONDS_DEFAULT = 300


class HoldLedger(Protocol):
    """What a meter and a lease need of a ledger: ``CreditKit`` and ``Client`` both have it."""

    def reserve(
        self,
        customer: str,
        amount: Quantity | str,
        *,
        idempotency_key: str,
        unit: str = ...,
        timeout_seconds: int = ...,
        action: str | None = ...,
        metadata: dict[str, Any] | None = ...,
        parent: int | None = ...,
        spender: str | None = ...,
    ) -> Hold: ...

    def extend(
        self,
        hold_id: int,
        amount: Quantity | str | None = ...,
        timeout_seconds: int | None = ...,
        *,
        idempotency_key: str,
    ) -> Hold: ...

    def commit(
        self,
        hold_id: int,
        amount: Quantity | str | None = ...,
        *,
        idempotency_key: str,
        final: bool = ...,
        metadata: dict[str, Any] | None = ...,
        usage: object | None = ...,
    ) -> Charge: ...

    def release(self, hold_id: int, *, idempotency_key: str) -> Hold: ...


class Metering(Protocol):
    """A ledger that opens meters: ``CreditKit`` and ``Client`` (the integrations take either)."""

    def metered(
        self,
        customer: str,
        action: str,
        estimate: Quantity | str | None = None,
        *,
        idempotency_key: str | None = None,
        unit: str | None = None,
        timeout_seconds: int = HOLD_TIMEOUT_SECONDS_DEFAULT,
        metadata: dict[str, Any] | None = None,
        spender: str | None = None,
    ) -> Meter: ...


def open_meter(
    ledger: HoldLedger,
    cost_of: Callable[[str], Action | None],
    customer: str,
    action: str,
    estimate: Quantity | str | None,
    *,
    idempotency_key: str | None,
    unit: str | None,
    timeout_seconds: int,
    metadata: dict[str, Any] | None,
    spender: str | None = None,
) -> Meter:
    """A meter (not started) for ``action``. Without an ``estimate`` it reserves the action's
    catalog price; without a ``unit``, the action's unit (``credits`` for an action the catalog
    does not price, when an estimate is given). ``cost_of`` looks the action up. With a
    ``spender``, the hold is that spender's: every budget on its path counts it."""
    if estimate is None or unit is None:
        cost = cost_of(action)
        if cost is None and estimate is None:
            raise UnknownAction(action)
        if cost is not None and cost.tokens is not None and estimate is None:
            raise InvalidRequest(
                "estimate", f"action {action!r} is priced by tokens: reserve an estimate"
            )
        estimate = cost.price if estimate is None and cost is not None else estimate
        unit = unit or (cost.unit if cost is not None else "credits")
    if estimate is None:
        # An explicit check, not ``present``: mypy cannot solve its type for this union.
        raise InvariantViolation(
            "a meter without an estimate reserves its action's catalog price", action
        )
    return Meter(
        ledger,
        customer,
        action,
        estimate,
        unit=unit,
        idempotency_key=idempotency_key or uuid.uuid4().hex,
        timeout_seconds=timeout_seconds,
        metadata=metadata,
        spender=spender,
    )


class Meter:
    """A hold around one piece of work. ``hold`` is the hold (after ``start``), ``charge`` what
    was committed; set ``actual`` during the work, or call ``commit`` to settle at once."""

    def __init__(
        self,
        ledger: HoldLedger,
        customer: str,
        action: str,
        estimate: Quantity | str,
        *,
        unit: str,
        idempotency_key: str,
        timeout_seconds: int,
        metadata: dict[str, Any] | None,
        spender: str | None = None,
    ) -> None:
        self._ledger = ledger
        self.spender = spender
        self.customer = customer
        self.action = action
        self.estimate = estimate
        self.unit = unit
        self.idempotency_key = idempotency_key
        self._timeout_seconds = timeout_seconds
        self._metadata = metadata
        self._actual: Quantity | str | None = None
        #: A model call's usage to commit instead of ``actual``: priced by the hold's action
        #: (see ``CreditKit.quote``) when the meter commits.
        self.usage: object | None = None
        self.hold: Hold | None = None
        self.charge: Charge | None = None
        self.released = False

    @property
    def settled(self) -> bool:
        """Committed or released: nothing more to do."""
        return self.charge is not None or self.released

    @property
    def actual(self) -> Quantity | str:
        """What the work cost, to commit on exit: the estimate until set."""
        if self._actual is not None:
            return self._actual
        return self._started().amount

    @actual.setter
    def actual(self, amount: Quantity | str) -> None:
        hold = self._open()
        requested = _exact(amount)
        if requested > hold.amount:
            raise HoldAmountExceeded(hold.id, hold.amount, requested)
        self._actual = amount

    def start(self) -> Hold:
        """Reserves the estimate; ``InsufficientCredits`` when the customer cannot cover it."""
        if self.hold is not None:
            raise InvalidRequest("meter", "already started: a meter holds once")
        self.hold = self._ledger.reserve(
            self.customer,
            self.estimate,
            idempotency_key=reserve_key(self.idempotency_key),
            unit=self.unit,
            timeout_seconds=self._timeout_seconds,
            action=self.action,
            metadata=self._metadata,
            spender=self.spender,
        )
        return self.hold

    def commit(
        self, amount: Quantity | str | None = None, *, usage: object | None = None
    ) -> Charge:
        """Spends ``amount`` (default: ``actual``) of the hold now; the rest goes back. With
        ``usage`` (or ``usage`` set on the meter), spends what the usage costs under the
        hold's token-priced action instead (``HoldAmountExceeded`` above what it holds)."""
        if amount is not None and (usage is not None or self.usage is not None):
            raise InvalidRequest("amount", "a usage prices the commit: leave it out")
        if amount is not None:
            self.actual = amount
        if usage is not None:
            self.usage = usage
        hold = self._open()
        key = commit_key(self.idempotency_key)
        if self.usage is not None:
            self.charge = self._ledger.commit(hold.id, usage=self.usage, idempotency_key=key)
        else:
            self.charge = self._ledger.commit(hold.id, self.actual, idempotency_key=key)
        return self.charge

    def release(self) -> Hold:
        """Gives the whole hold back (the work failed, or cost nothing)."""
        hold = self._open()
        self.hold = self._ledger.release(hold.id, idempotency_key=release_key(self.idempotency_key))
        self.released = True
        return self.hold

    def finish(self, error: BaseException | None) -> None:
        """Commits after success (``error`` None), releases after a failure; nothing when the
        work settled the hold itself. A release that fails adds a note to ``error``: the hold
        then gives its credits back when it times out."""
        if self.settled:
            return
        if error is None:
            self.commit()
            return
        try:
            self.release()
        except Exception as failure:
            expires_at = self._started().expires_at.isoformat()
            error.add_note(f"creditkit: hold not released ({failure}); expires at {expires_at}")

    def __enter__(self) -> Meter:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.finish(error)

    def _started(self) -> Hold:
        if self.hold is None:
            raise InvalidRequest("meter", "not started: use it in a with block, or call start()")
        return self.hold

    def _open(self) -> Hold:
        hold = self._started()
        if self.charge is not None:
            raise HoldAlreadyCommitted(hold.id)
        if self.released:
            raise HoldAlreadyReleased(hold.id)
        return hold


def _exact(amount: object) -> Quantity:
    """``amount`` as a number to compare with what is held; refuses floats (not exact)."""
    if isinstance(amount, bool) or not isinstance(amount, int | Decimal | str):
        raise InvalidAmount(
            "actual", f"must be an int, Decimal or decimal string, not {type(amount).__name__}"
        )
    if not isinstance(amount, str):
        return amount
    try:
        exact = Decimal(amount)
    except InvalidOperation:
        raise InvalidAmount("actual", f"{amount!r} is not a number") from None
    if not exact.is_finite():
        raise InvalidAmount("actual", "must be finite")
    return exact
