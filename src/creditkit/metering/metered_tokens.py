"""``metered_tokens``: a hold around a model call priced by tokens, grown while it streams.

    request = {"model": "gpt-4o", "input_tokens": 1200, "output_tokens": 1024}
    with ck.metered_tokens("alice", "chat", request, idempotency_key="call-7") as meter:
        for chunk in stream:
            meter.seen(1)               # one output token a chunk, or what the chunk says
        meter.usage = final_usage       # the provider's usage object, as it comes

On entry the request's usage (its input tokens and its ``max_tokens``, or an estimate of them)
is priced by the catalog (``quote``) and reserved. While the stream runs, once the output tokens
seen reach what the hold was priced for, the hold is extended by the price of ``extend_tokens``
more and its timeout pushed to ``timeout_seconds`` from then (at most
``TOKEN_METER_EXTENDS_MAX`` times); an extend the customer cannot cover raises
the ledger's refusal from ``seen``: stop the stream there. On exit the actual usage is committed
(the provider's final usage; without one, the request's input tokens and the output tokens
seen), priced by the catalog and recorded on the charge; what the hold kept over goes back.

When the actual cost is above what is held (the estimate was low, the provider counted more),
the hold is extended by the difference first. When the customer cannot cover that either:
with ``allow_debt`` the rest is owed (within the customer's debt limit); without, the commit
takes what the hold holds and ``meter.uncovered`` says what went unbilled.

On an exception in the block: a call that produced nothing (no output seen, no usage) is
released; one that streamed tokens before it failed is committed for them, since the provider
bills them.

Every write is keyed from one base key: ``<key>:reserve``, ``<key>:extend:<n>``,
``<key>:commit`` or ``<key>:release``. Running the same call again with the same key reserves,
extends and commits nothing twice, as long as it sees the same tokens.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from types import TracebackType
from typing import Any, Protocol

from creditkit.derived_keys import commit_key, extend_key, held_commit_key, release_key, reserve_key
from creditkit.errors import (
    BudgetExceeded,
    HoldAlreadyCommitted,
    HoldAlreadyReleased,
    HoldParentExceeded,
    InsufficientCredits,
    InvalidRequest,
    Quantity,
)
from creditkit.ledger.schemas import Charge, Hold
from creditkit.metering.metered import HOLD_TIMEOUT_SECONDS_DEFAULT, HoldLedger
from creditkit.pricing.schemas import PRICE_METADATA_KEY, Quote, TokenUsage
from creditkit.pricing.usage import token_usage

#: Extends one metered call makes at most while it streams: a call that needs more should take
#: a larger ``extend_tokens``.
TOKEN_METER_EXTENDS_MAX = 100

#: The refusals of an extend: the customer (or a budget, or a parent hold) cannot cover more.
REFUSALS = (InsufficientCredits, BudgetExceeded, HoldParentExceeded)

#: The metadata key of a commit that took less than its usage's price: the credits unbilled.
UNCOVERED_METADATA_KEY = "uncovered"


class TokenLedger(HoldLedger, Protocol):
    """What a token meter needs of a ledger (``CreditKit`` and ``Client`` both have it): holds,
    pricing a usage, and commits by usage or above the hold."""

    def quote(self, action: str, usage: object) -> Quote: ...

    def commit(
        self,
        hold_id: int,
        amount: Quantity | str | None = ...,
        *,
        idempotency_key: str,
        final: bool = ...,
        metadata: dict[str, Any] | None = ...,
        allow_debt: bool = ...,
        usage: object | None = ...,
    ) -> Charge: ...


def _named(usage: object, name: str) -> object:
    """The usage's own ``model`` or ``provider`` (a mapping's key, an SDK object's attribute)."""
    return usage.get(name) if isinstance(usage, Mapping) else getattr(usage, name, None)


def _count(value: object, field_name: str, *, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InvalidRequest(field_name, f"must be a whole number of tokens, {least} or more")
    return value


class TokenMeter:
    """A hold around one model call. ``request`` is the request's usage as priced, ``hold`` the
    hold as last seen, ``charge`` what was committed, ``output_tokens_seen`` what the stream
    reported, ``output_tokens_held`` what the hold is priced for, ``extends`` how many times it
    grew, ``uncovered`` what the commit could not take (credits; 0 unless the customer could
    not cover the actual usage and no debt was allowed or the debt limit was reached)."""

    def __init__(
        self,
        ledger: TokenLedger,
        customer: str,
        action: str,
        request: object,
        *,
        idempotency_key: str | None = None,
        extend_tokens: int | None = None,
        allow_debt: bool = False,
        timeout_seconds: int = HOLD_TIMEOUT_SECONDS_DEFAULT,
        metadata: dict[str, Any] | None = None,
        spender: str | None = None,
    ) -> None:
        self.request: TokenUsage = token_usage(request)
        if self.request.output_tokens < 1:
            raise InvalidRequest(
                "usage.output_tokens", "the request's max_tokens, or a guess: 1 or more"
            )
        self._ledger = ledger
        self.customer = customer
        self.action = action
        self.idempotency_key = idempotency_key or uuid.uuid4().hex
        self.extend_tokens = _count(
            self.request.output_tokens if extend_tokens is None else extend_tokens,
            "extend_tokens",
            least=1,
        )
        self.allow_debt = allow_debt
        self.spender = spender
        self._timeout_seconds = timeout_seconds
        self._metadata = metadata
        self.output_tokens_held = self.request.output_tokens
        self.output_tokens_seen = 0
        self.extends = 0
        #: The provider's usage of the call, as it comes: what is committed.
        self.usage: object | None = None
        self.hold: Hold | None = None
        self.charge: Charge | None = None
        self.released = False
        self.uncovered: Quantity = 0

    @property
    def settled(self) -> bool:
        """Committed or released: nothing more to do."""
        return self.charge is not None or self.released

    def start(self) -> Hold:
        """Reserves the price of the request's usage; ``InsufficientCredits`` (or
        ``BudgetExceeded``) when the customer cannot cover it."""
        if self.hold is not None:
            raise InvalidRequest("meter", "already started: a meter holds once")
        quote = self._ledger.quote(self.action, self.request)
        self.hold = self._ledger.reserve(
            self.customer,
            quote.amount,
            idempotency_key=reserve_key(self.idempotency_key),
            unit=quote.unit,
            timeout_seconds=self._timeout_seconds,
            action=self.action,
            metadata=self._metadata,
            spender=self.spender,
        )
        return self.hold

    def seen(self, output_tokens: int = 1) -> None:
        """Counts ``output_tokens`` more streamed; once what is seen reaches what the hold is
        priced for, extends it by ``extend_tokens`` (as many steps as the count needs, in one
        extend). Raises the ledger's refusal when the customer cannot cover the extend: stop
        the stream and leave the block (the tokens seen are committed)."""
        hold = self._open()
        self.output_tokens_seen += _count(output_tokens, "output_tokens", least=0)
        if self.output_tokens_seen < self.output_tokens_held:
            return
        if self.extends >= TOKEN_METER_EXTENDS_MAX:
            raise InvalidRequest(
                "extend_tokens",
                f"a metered call extends its hold at most {TOKEN_METER_EXTENDS_MAX} times:"
                " take a larger extend_tokens",
            )
        steps = (self.output_tokens_seen - self.output_tokens_held) // self.extend_tokens + 1
        held = self.output_tokens_held + steps * self.extend_tokens
        price = self._ledger.quote(self.action, replace(self.request, output_tokens=held)).amount
        self.extends += 1
        # Each growth also pushes the timeout: a long answer outlives the first one.
        self.hold = self._ledger.extend(
            hold.id,
            price - hold.amount if price > hold.amount else None,
            self._timeout_seconds,
            idempotency_key=extend_key(self.idempotency_key, self.extends),
        )
        self.output_tokens_held = held

    def commit(self, usage: object | None = None) -> Charge:
        """Commits ``usage`` (default: ``meter.usage``; without one, the request's input tokens
        and the output tokens seen), priced by the catalog and recorded on the charge; the
        rest of the hold goes back. Above what is held, extends first (see the module's notes
        on what happens when the customer cannot cover it)."""
        if usage is not None:
            self.usage = usage
        hold = self._open()
        actual = self._actual_usage()
        quote = self._ledger.quote(self.action, actual)
        if quote.amount > hold.amount:
            try:
                self.hold = hold = self._ledger.extend(
                    hold.id,
                    quote.amount - hold.amount,
                    idempotency_key=extend_key(self.idempotency_key, "actual"),
                )
            except REFUSALS:
                self.charge = self._commit_above(hold, actual, quote)
                return self.charge
        self.charge = self._ledger.commit(
            hold.id,
            usage=actual,
            idempotency_key=commit_key(self.idempotency_key),
            metadata=self._metadata,
        )
        return self.charge

    def release(self) -> Hold:
        """Gives the whole hold back (the call failed before the model produced anything)."""
        hold = self._open()
        self.hold = self._ledger.release(hold.id, idempotency_key=release_key(self.idempotency_key))
        self.released = True
        return self.hold

    def finish(self, error: BaseException | None) -> None:
        """Commits after success, or after a failure once tokens were streamed; releases after
        a failure before any. A settlement that fails adds a note to ``error``: the hold then
        gives its credits back when it times out."""
        if self.settled:
            return
        if error is None:
            self.commit()
            return
        try:
            if self.usage is None and self.output_tokens_seen == 0:
                self.release()
            else:
                self.commit()
        except Exception as failure:
            expires_at = self._started().expires_at.isoformat()
            error.add_note(f"creditkit: hold not settled ({failure}); expires at {expires_at}")

    def __enter__(self) -> TokenMeter:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.finish(error)

    def _commit_above(self, hold: Hold, actual: TokenUsage, quote: Quote) -> Charge:
        """The actual usage costs more than the hold could be extended to: owed with
        ``allow_debt`` (within the debt limit); else, or past the limit, the hold is committed
        whole with the usage's price and what went unbilled (``uncovered``) in its metadata."""
        if self.allow_debt:
            try:
                return self._ledger.commit(
                    hold.id,
                    usage=actual,
                    allow_debt=True,
                    idempotency_key=commit_key(self.idempotency_key),
                    metadata=self._metadata,
                )
            except REFUSALS:
                pass  # past the debt limit: what the hold holds, as without debt
        self.uncovered = quote.amount - hold.amount
        metadata = {
            **(self._metadata or {}),
            PRICE_METADATA_KEY: quote.price.as_json(),
            UNCOVERED_METADATA_KEY: str(self.uncovered),
        }
        return self._ledger.commit(
            hold.id,
            hold.amount,
            idempotency_key=held_commit_key(self.idempotency_key),
            metadata=metadata,
        )

    def _actual_usage(self) -> TokenUsage:
        """The usage to commit: the provider's (of the request's model and provider unless it
        names its own: OpenAI's and Anthropic's usage objects do not), else what was seen."""
        if self.usage is None:
            return replace(self.request, output_tokens=self.output_tokens_seen)
        model, provider = _named(self.usage, "model"), _named(self.usage, "provider")
        return token_usage(
            self.usage,
            model=model if isinstance(model, str) else self.request.model,
            provider=provider if isinstance(provider, str) else self.request.provider,
        )

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
