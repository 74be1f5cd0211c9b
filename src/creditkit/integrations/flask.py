"""Flask: a decorator makes a view's work cost credits (seed 002's ``/api/chat``).

    @app.post("/api/chat")
    @credits_required(ck, action="chat_message", customer=lambda: str(current_user.id))
    def chat(): ...

Before the view the action's price (or ``estimate``) is reserved; after a response below 400
the hold is committed (for ``current_meter().actual`` when the view sets it); after an
exception or an error response it is released. Short of credits, the view does not run and the
answer is 402 problem+json with what would cover the shortfall; past the plan's rate limit
429 with ``Retry-After``; with the ledger busy or unreachable 503 (a failed commit too).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from flask import Response, g, make_response
from flask.typing import ResponseReturnValue

from creditkit.api.problems import PROBLEM_CONTENT_TYPE
from creditkit.errors import CreditKitError, InvalidRequest, Quantity
from creditkit.integrations.refusals import Refusal, refusal_of
from creditkit.metering.metered import Meter, Metering

#: Where the running view's meter is kept in ``flask.g``.
_METER = "creditkit_meter"

View = Callable[..., ResponseReturnValue]


def credits_required(
    ck: Metering,
    *,
    action: str,
    customer: Callable[[], str],
    estimate: Quantity | str | None = None,
    spender: Callable[[], str | None] | None = None,
) -> Callable[[View], View]:
    """Meters the decorated view. ``ck`` is a ``CreditKit`` or a ``Client``; ``customer``
    returns the id of the customer paying (called in the request); ``spender``, when given, the
    spender spending for it (an API key, an agent, a member; None: the customer itself), whose
    budgets the hold must fit (403 problem+json ``BudgetExceeded`` when it does not)."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def metered_view(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            try:
                spender_id = None if spender is None else spender()
                meter = ck.metered(customer(), action, estimate, spender=spender_id)
                meter.start()
            except CreditKitError as error:
                return _refused(ck, error)
            outer = g.pop(_METER, None)
            setattr(g, _METER, meter)
            try:
                response = make_response(view(*args, **kwargs))
            except BaseException as error:
                meter.finish(error)
                raise
            finally:
                setattr(g, _METER, outer)
            try:
                _settle(meter, response)
            except CreditKitError as error:
                return _refused(ck, error)
            return response

        return metered_view

    return decorate


def current_meter() -> Meter:
    """The meter of the view running under ``credits_required`` (to set ``actual``)."""
    meter = g.get(_METER)
    if not isinstance(meter, Meter):
        raise InvalidRequest("meter", "no view under @credits_required is running")
    return meter


def _settle(meter: Meter, response: Response) -> None:
    if meter.settled:
        return
    if response.status_code < 400:
        meter.commit()
    else:
        meter.release()


def _refused(ck: Metering, error: CreditKitError) -> Response:
    """The answer that stands for a refusal of the ledger, or its absence; other errors go on."""
    refusal: Refusal | None = refusal_of(ck, error)
    if refusal is None:
        raise error
    return Response(
        json.dumps(refusal.body),
        status=refusal.status,
        headers=refusal.headers,
        mimetype=PROBLEM_CONTENT_TYPE,
    )
