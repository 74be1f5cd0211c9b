"""``metered_tokens``: a hold around a model call priced by tokens, grown while it streams.

    request = {"model": "gpt-4o", "input_tokens": 1200, "output_tokens": 1024}
    with ck.metered_tokens("alice", "chat", request, idempotency_key="call-7") as meter:
        for chunk in stream:
            meter.seen(1)               # one output token a chunk, or what the chunk says
        meter.usage = final_usage       # the provider's usage object, as it comes

On entry the request's usage (its input tokens and its ``max_tokens``, or an estimate of them)
is priced by the catalog (``quote``) and reserved. While the stream runs, once the output tokens
seen reach what the hold was priced for, the hold is extended by the price of ``extend_tokens``
more (at most ``TOKEN_METER_EXTENDS_MAX`` times); an extend the customer cannot cover raises
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
from types import TracebackType
from typing import Any, Protocol

from creditkit.errors import (
    BudgetExceeded,
    HoldAlreadyCommitted,
    HoldAlreadyReleased,
    HoldParentExceeded,
    InsufficientCredits,
    InvalidRequest,
    Quantity,
)
from creditkit.integrations.metered import HOLD_TIMEOUT_SECONDS_DEFAULT, HoldLedger
from creditkit.ledger.schemas import Charge, Hold

#: Extends one metered call makes at most while it streams: a call that needs more should take
#: a larger ``extend_tokens``.
TOKEN_METER_EXTENDS_MAX = 100

#: The refusals of an extend: the customer (or a budget, or a parent hold) cannot cover more.
REFUSALS = (InsufficientCredits, BudgetExceeded, HoldParentExceeded)

#: The request usage's fields a meter reads (the rest, such as cache tokens, are priced as given).
MODEL_FIELD, INPUT_FIELD, OUTPUT_FIELD = "model", "input_tokens", "output_tokens"


class TokenLedger(HoldLedger, Protocol):
    """What a token meter needs of a ledger: holds, and pricing from usage."""

    def quote(self, action: str, usage: Mapping[str, Any]) -> Quantity: ...

    def commit_usage(
        self,
        hold_id: int,
        usage: Mapping[str, Any],
        *,
        idempotency_key: str,
        amount: Quantity | None = None,
        allow_debt: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> Charge: ...


def _tokens(value: object, field_name: str, *, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InvalidRequest(field_name, f"must be a whole number of tokens, {least} or more")
    return value


class TokenMeter:
    """A hold around one model call. ``hold`` is the hold as last seen, ``charge`` what was
    committed, ``output_tokens_seen`` what the stream reported, ``extends`` how many times the
    hold grew, ``uncovered`` what the commit could not take (credits, 0 unless the customer
    could not cover the actual usage and no debt was allowed)."""

    def __init__(
        self,
        ledger: TokenLedger,
        customer: str,
        action: str,
        request: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        extend_tokens: int | None = None,
        allow_debt: bool = False,
        timeout_seconds: int = HOLD_TIMEOUT_SECONDS_DEFAULT,
        metadata: dict[str, Any] | None = None,
        spender: str | None = None,
    ) -> None:
        if not isinstance(request, Mapping) or not isinstance(request.get(MODEL_FIELD), str):
            raise InvalidRequest("usage", "the request's usage must name its model")
        _tokens(request.get(INPUT_FIELD, 0), f"usage.{INPUT_FIELD}", least=0)
        requested = _tokens(request.get(OUTPUT_FIELD), f"usage.{OUTPUT_FIELD}", least=1)
        self._ledger = ledger
        self.customer = customer
        self.action = action
        self.request = dict(request)
        self.idempotency_key = idempotency_key or uuid.uuid4().hex
        self.extend_tokens = _tokens(
            requested if extend_tokens is None else extend_tokens, "extend_tokens", least=1
        )
        self.allow_debt = allow_debt
        self.spender = spender
        self._timeout_seconds = timeout_seconds
        self._metadata = metadata
        #: The output tokens the hold is priced for (it grows by ``extend_tokens``).
        self.output_tokens_held = requested
        self.output_tokens_seen = 0
        self.extends = 0
        self.usage: Mapping[str, Any] | None = None
        self.hold: Hold | None = None
        self.charge: Charge | None = None
        self.released = False
        self.uncovered: Quantity = 0

    @property
    def settled(self) -> bool:
        return self.charge is not None or self.released

    def start(self) -> Hold:
        """Reserves the price of the request's usage; ``InsufficientCredits`` (or
        ``BudgetExceeded``) when the customer cannot cover it."""
        if self.hold is not None:
            raise InvalidRequest("meter", "already started: a meter holds once")
        self.hold = self._ledger.reserve(
            self.customer,
            self._ledger.quote(self.action, self.request),
            idempotency_key=f"{self.idempotency_key}:reserve",
            timeout_seconds=self._timeout_seconds,
            action=self.action,
            metadata=self._metadata,
            spender=self.spender,
        )
        return self.hold

    def seen(self, output_tokens: int = 1) -> None:
        """Counts ``output_tokens`` more streamed; once what is seen reaches what the hold is
        priced for, extends it by ``extend_tokens`` (or as many steps as the count needs, in
        one extend). Raises the ledger's refusal when the customer cannot cover the extend:
        stop the stream, and leave the block (the tokens seen are committed)."""
        hold = self._open()
        self.output_tokens_seen += _tokens(output_tokens, "output_tokens", least=0)
        if self.output_tokens_seen < self.output_tokens_held:
            return
        steps = (self.output_tokens_seen - self.output_tokens_held) // self.extend_tokens + 1
        if self.extends >= TOKEN_METER_EXTENDS_MAX:
            raise InvalidRequest(
                "extend_tokens",
                f"a metered call extends its hold at most {TOKEN_METER_EXTENDS_MAX} times:"
                " take a larger extend_tokens",
            )
        held = self.output_tokens_held + steps * self.extend_tokens
        price = self._ledger.quote(self.action, {**self.request, OUTPUT_FIELD: held})
        self.extends += 1
        if price > hold.amount:
            self.hold = self._ledger.extend(
                hold.id,
                price - hold.amount,
                idempotency_key=f"{self.idempotency_key}:extend:{self.extends}",
            )
        self.output_tokens_held = held

    def commit(self, usage: Mapping[str, Any] | None = None) -> Charge:
        """Commits ``usage`` (default: ``meter.usage``; without one, the request's input tokens
        and the output tokens seen), priced by the catalog, and gives the rest of the hold
        back. Above what is held, extends first; see the module's notes on debt."""
        if usage is not None:
            self.usage = usage
        hold = self._open()
        actual = self._actual_usage()
        price = self._ledger.quote(self.action, actual)
        amount: Quantity | None = None
        allow_debt = False
        if price > hold.amount:
            try:
                self.hold = hold = self._ledger.extend(
                    hold.id,
                    price - hold.amount,
                    idempotency_key=f"{self.idempotency_key}:extend:actual",
                )
            except REFUSALS:
                if self.allow_debt:
                    allow_debt = True
                else:
                    amount = hold.amount
                    self.uncovered = price - hold.amount
        try:
            self.charge = self._commit(hold, actual, amount, allow_debt, "commit")
        except REFUSALS:
            if not allow_debt:
                raise
            # Past the debt limit: the commit takes what the hold holds, the rest is unbilled.
            self.uncovered = price - hold.amount
            self.charge = self._commit(hold, actual, hold.amount, False, "commit:held")
        return self.charge

    def _commit(
        self,
        hold: Hold,
        usage: Mapping[str, Any],
        amount: Quantity | None,
        allow_debt: bool,
        key: str,
    ) -> Charge:
        return self._ledger.commit_usage(
            hold.id,
            usage,
            amount=amount,
            allow_debt=allow_debt,
            idempotency_key=f"{self.idempotency_key}:{key}",
            metadata=self._metadata,
        )

    def release(self) -> Hold:
        """Gives the whole hold back (the call failed before the model produced anything)."""
        hold = self._open()
        self.hold = self._ledger.release(hold.id, idempotency_key=f"{self.idempotency_key}:release")
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

    def _actual_usage(self) -> dict[str, Any]:
        """The usage to commit: the provider's (with the request's model and provider when it
        does not name them, as OpenAI's and Anthropic's usage objects do not), else what the
        meter saw."""
        named = {key: self.request[key] for key in (MODEL_FIELD, "provider") if key in self.request}
        if self.usage is not None:
            return {**named, **self.usage}
        return {
            **named,
            INPUT_FIELD: self.request.get(INPUT_FIELD, 0),
            OUTPUT_FIELD: self.output_tokens_seen,
        }

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
