"""FastAPI: one line on a route makes its work cost credits.

    app = FastAPI()
    install(app)  # once: a refusal is the whole problem+json body

    @app.post("/chat", dependencies=[credits_required(ck, action="chat_message", customer=user)])
    def chat(...): ...

Before the handler the action's price (or ``estimate``) is reserved; after it returns, the
hold is committed (for ``meter.actual`` when the handler takes the meter and sets it); when it
raises, the hold is released. Short of credits, the route answers 402 and the handler does
not run.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the gate's annotations at run
# time, and they name the caller's ``customer`` dependency, a local of ``credits_required``.

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from creditkit.errors import InsufficientCredits, Quantity
from creditkit.integrations.metered import Meter, Metering
from creditkit.integrations.refusals import PROBLEM_CONTENT_TYPE, payment_required_problem


class CreditsRequired(HTTPException):
    """402: the customer's credits do not cover the route's action. ``problem`` is the
    problem+json body; without ``install(app)`` FastAPI answers only its ``detail``."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(402, detail=problem["detail"])
        self.problem = problem


def install(app: FastAPI) -> None:
    """Makes ``app`` answer a ``CreditsRequired`` with its whole problem+json body."""

    async def on_credits_required(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, CreditsRequired)
        return JSONResponse(error.problem, status_code=402, media_type=PROBLEM_CONTENT_TYPE)

    app.add_exception_handler(CreditsRequired, on_credits_required)


def credits_required(
    ck: Metering,
    *,
    action: str,
    customer: Callable[..., str],
    estimate: Quantity | str | None = None,
) -> Any:
    """A dependency (``Depends``) that meters the route: ``ck`` is a ``CreditKit`` or a
    ``Client``; ``customer`` is itself a dependency giving the customer's id (it may take a
    header, the request, your current-user dependency). Declared as a parameter
    (``meter: Annotated[Meter, credits_required(...)]``) it gives the handler its ``Meter``."""

    def gate(customer_id: Annotated[str, Depends(customer)]) -> Iterator[Meter]:
        meter = ck.metered(customer_id, action, estimate)
        try:
            meter.start()
        except InsufficientCredits as short:
            raise CreditsRequired(payment_required_problem(ck, short)) from short
        try:
            yield meter
        except BaseException as error:
            meter.finish(error)
            raise
        meter.finish(None)

    # "function": settle the hold when the handler returns, before the response is sent, so a
    # commit that fails is the request's error rather than lost after a 200.
    return Depends(gate, scope="function")
