"""The kit's holds, meters, leases and quotes (``CreditKit``'s methods: see kit/__init__.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from creditkit.errors import InvalidRequest, Quantity
from creditkit.kit.parts import KitParts
from creditkit.ledger.schemas import Charge, Hold
from creditkit.metering.lease import Lease
from creditkit.metering.metered import HOLD_TIMEOUT_SECONDS_DEFAULT, Meter, open_meter
from creditkit.metering.metered_tokens import TokenMeter
from creditkit.pricing.charging import quote_for_key, with_price
from creditkit.pricing.schemas import Quote


class KitHolds(KitParts):
    """Holds and the meters and leases built on them, and the quote that prices a usage."""

    def quote(self, action: str, usage: object, *, at: datetime | None = None) -> Quote:
        """What ``usage`` would cost under the token-priced ``action`` at ``at`` (default now):
        the credits (``amount`` of ``unit``, rounded up to the unit's scale) and the price
        record a charge would carry. Writes nothing. Raises ``UnknownAction``,
        ``InvalidRequest`` naming the usage's field, ``UnknownModel``."""
        if at is not None and (not isinstance(at, datetime) or at.tzinfo is None):
            raise InvalidRequest("at", "must be an aware datetime")
        return self._pricing.quote(action, usage, self._clock() if at is None else at)

    def reserve(
        self,
        customer: str,
        amount: Quantity | str,
        *,
        idempotency_key: str,
        unit: str = "credits",
        timeout_seconds: int = HOLD_TIMEOUT_SECONDS_DEFAULT,
        action: str | None = None,
        metadata: dict[str, Any] | None = None,
        rate_limited: bool = False,
        spender: str | None = None,
        parent: int | None = None,
    ) -> Hold:
        """Sets credits aside for work whose cost is not known yet. Commit or release the hold
        before ``timeout_seconds``; after that it releases itself. ``rate_limited`` counts the
        call against the plan's ``rate_limit_per_minute`` in the reserve's own transaction, and
        raises ``RateLimited`` past it (as the HTTP API does). ``spender``: who holds; the hold
        counts against the budgets on its path while open, and gives back what it did not spend
        when it closes.

        ``parent``: a hold of the same customer and unit to draw from instead of the grants (an
        orchestrator's hold funding its sub-agents'): never past what the parent has left
        (``HoldParentExceeded``), at most four levels deep, at most 256 open holds under one
        root. The child's timeout is capped by its parent's. Releasing the parent releases its
        open children; a final commit of a parent with open children is refused
        (``HoldHasOpenChildren``). A child counts only against the budgets of its own
        spender's path that its parent's path does not have (a sub-agent's own budgets: the
        parent's were counted when the parent reserved); without a spender it holds as its
        parent's spender."""
        return self._ledger.reserve(
            customer,
            amount,
            unit=unit,
            timeout_seconds=timeout_seconds,
            idempotency_key=idempotency_key,
            action=action,
            metadata=metadata,
            rate_limited=rate_limited,
            spender=spender,
            parent=parent,
        )

    def extend(
        self,
        hold_id: int,
        amount: Quantity | str | None = None,
        timeout_seconds: int | None = None,
        *,
        idempotency_key: str,
    ) -> Hold:
        """Raises an open hold by ``amount`` (with every check a new reserve gets: the
        budgets on the hold's path and the credits that apply to its action, or for a child
        its parent's remaining and its own levels' budgets) and/or pushes its
        timeout to ``timeout_seconds`` from now (never earlier than it was; a child's no later
        than its parent's). A hold lives at most 30 days from its reserve, however extended:
        an extend past that is refused (``InvalidRequest`` naming ``timeout_seconds``)."""
        return self._ledger.extend(
            hold_id, amount, timeout_seconds, idempotency_key=idempotency_key
        )

    def commit(
        self,
        hold_id: int,
        amount: Quantity | str | None = None,
        *,
        idempotency_key: str,
        final: bool = True,
        metadata: dict[str, Any] | None = None,
        allow_debt: bool = False,
        usage: object | None = None,
    ) -> Charge:
        """Spends ``amount`` (at most what the hold has left, zero allowed) of the hold.
        ``final`` (the default): the rest goes back to the grants it came from (a child's to
        its parent) and the hold closes; refused with ``HoldHasOpenChildren`` while holds taken
        under it are open (commit or release them first). ``final=False``: spends ``amount``
        (more than zero) and keeps the rest open for more commits, an extend, a final commit or
        a release (several captures).

        Above what the hold has left it raises ``HoldAmountExceeded``, unless ``allow_debt``:
        final or partial, the hold's remaining credits are spent and the excess is spent like a
        charge for the hold's action (the budgets on its spender's path, then the credits that
        apply, then debt within the limit); a partial commit leaves the hold open with nothing
        left.

        ``usage`` instead of ``amount``: the hold's action must be priced by tokens; the amount
        is the usage's price (``quote``), recorded in the commit's metadata as a charge's."""
        if usage is not None:
            if amount is not None:
                raise InvalidRequest("amount", "a usage prices the commit: leave it out")
            action = self._ledger.hold(hold_id).action
            if action is None:
                raise InvalidRequest("usage", f"hold {hold_id} names no action to price it")
            quote = quote_for_key(
                self._pricing, self._ledger, self._clock, action, usage, idempotency_key
            )
            amount, metadata = quote.amount, with_price(metadata, quote)
        if amount is None:
            raise InvalidRequest("amount", "give the amount to commit, or the usage to price")
        return self._ledger.commit(
            hold_id, amount, final=final, idempotency_key=idempotency_key, metadata=metadata,
            allow_debt=allow_debt,
        )  # fmt: skip

    def release(self, hold_id: int, *, idempotency_key: str) -> Hold:
        """Gives back everything the hold has left (what it committed in part stays spent):
        its open children are released first, then its credits go back to the grants they
        came from (a child's to its parent)."""
        return self._ledger.release(hold_id, idempotency_key=idempotency_key)

    def lease(
        self,
        customer: str,
        amount: Quantity | str,
        *,
        idempotency_key: str,
        unit: str = "credits",
        timeout_seconds: int = HOLD_TIMEOUT_SECONDS_DEFAULT,
        batch: Quantity | str | None = None,
        extend_by: Quantity | str | None = None,
        action: str | None = None,
        parent: int | None = None,
        spender: str | None = None,
    ) -> Lease:
        """A hold of ``amount`` a worker spends against locally: ``spend(n)`` counts in memory
        and reports every ``batch`` through a partial commit, extending the hold by
        ``extend_by`` when it runs short; the worker never counts past what the hold holds (see
        ``creditkit.Lease``)."""
        return Lease.open(
            self,
            customer,
            amount,
            idempotency_key=idempotency_key,
            unit=unit,
            timeout_seconds=timeout_seconds,
            batch=batch,
            extend_by=extend_by,
            action=action,
            parent=parent,
            spender=spender,
        )

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
    ) -> Meter:
        """A hold around work whose cost is known once it is done::

            with ck.metered("alice", "ask_anything", estimate=50) as meter:
                meter.actual = run_the_model().credits

        Reserves ``estimate`` (default: the action's catalog price, in its unit) on entry;
        commits ``meter.actual`` (default: the estimate) on a normal exit, releases the hold on
        an exception (which goes on). Writes are keyed ``<key>:reserve``, ``<key>:commit`` and
        ``<key>:release`` from ``idempotency_key`` (default: a fresh uuid4). With ``spender``
        the hold is that spender's, within every budget on its path."""
        return open_meter(
            self,
            lambda name: None if self.catalog is None else self.catalog.actions.get(name),
            customer,
            action,
            estimate,
            idempotency_key=idempotency_key,
            unit=unit,
            timeout_seconds=timeout_seconds,
            metadata=metadata,
            spender=spender,
        )

    def metered_tokens(
        self,
        customer: str,
        action: str,
        usage: object,
        *,
        idempotency_key: str | None = None,
        extend_tokens: int | None = None,
        allow_debt: bool = False,
        timeout_seconds: int = HOLD_TIMEOUT_SECONDS_DEFAULT,
        metadata: dict[str, Any] | None = None,
        spender: str | None = None,
    ) -> TokenMeter:
        """A hold around a model call of an action priced by tokens, grown while it streams::

            request = {"model": "gpt-4o", "input_tokens": 900, "output_tokens": 1024}
            with ck.metered_tokens("alice", "chat", request) as meter:
                for chunk in stream:
                    meter.seen(1)
                meter.usage = final_usage

        Reserves the price of ``usage`` (the request's input tokens and its max_tokens, or an
        estimate) on entry; extends the hold by the price of ``extend_tokens`` more output
        tokens (default: the request's) once the tokens ``seen`` reach what it holds; commits
        ``meter.usage`` (the provider's, as it comes; default: the request's input and the
        output seen) on exit. Usage above what the customer can cover is owed only with
        ``allow_debt``; without it the commit takes the hold and ``meter.uncovered`` says the
        rest. An exception before any output releases the hold; after, what streamed is
        committed. See docs/streams.md."""
        return TokenMeter(
            self,
            customer,
            action,
            usage,
            idempotency_key=idempotency_key,
            extend_tokens=extend_tokens,
            allow_debt=allow_debt,
            timeout_seconds=timeout_seconds,
            metadata=metadata,
            spender=spender,
        )

    def hold(self, hold_id: int) -> Hold:
        return self._ledger.hold(hold_id)

    def holds(self, customer: str, *, status: str = "active", limit: int = 50) -> tuple[Hold, ...]:
        """The customer's holds in ``status`` (``active``, ``committed``, ``released`` or
        ``expired``), newest first, at most ``limit`` (up to 500). Holds past their timeout are
        expired first, so an active hold listed is one."""
        return self._ledger.holds(customer, status, limit)
