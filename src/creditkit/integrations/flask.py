"""Flask: a decorator makes a view's work cost credits (seed 002's ``/api/chat``).

    @app.post("/api/chat")
    @credits_required(ck, action="chat_message", customer=lambda: str(current_user.id))
    def chat(): ...

Before the view the action's price (or ``estimate``) is reserved; after a response below 400
the hold is committed (for ``current_meter().actual`` when the view sets it); after an
exception or an error response it is released. Short of credits, the view does not run and the
answer is 402 problem+json with what would cover the shortfall.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from flask import Response, g, make_response
from flask.typing import ResponseReturnValue

from creditkit.errors import InsufficientCredits, InvalidRequest, Quantity
from creditkit.integrations.metered import Meter, Metering
from creditkit.integrations.refusals import PROBLEM_CONTENT_TYPE, payment_required_problem

#: Where the running view's meter is kept in ``flask.g``.
_METER = "creditkit_meter"

View = Callable[..., ResponseReturnValue]


def credits_required(
    ck: Metering,
    *,
    action: str,
    customer: Callable[[], str],
    estimate: Quantity | str | None = None,
) -> Callable[[View], View]:
    """Meters the decorated view. ``ck`` is a ``CreditKit`` or a ``Client``; ``customer``
    returns the id of the customer paying (called in the request)."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def metered_view(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            meter = ck.metered(customer(), action, estimate)
            try:
                meter.start()
            except InsufficientCredits as short:
                return _problem(payment_required_problem(ck, short))
            outer = g.pop(_METER, None)
            setattr(g, _METER, meter)
            try:
                response = make_response(view(*args, **kwargs))
            except BaseException as error:
                meter.finish(error)
                raise
            finally:
                setattr(g, _METER, outer)
            _settle(meter, response)
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


def _problem(problem: dict[str, Any]) -> Response:
    return Response(json.dumps(problem), status=402, mimetype=PROBLEM_CONTENT_TYPE)
