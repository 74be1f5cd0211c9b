"""FastAPI: one line on a route makes its work cost credits.

    app = FastAPI()
    install(app)  # once: a refusal is the whole problem+json body

    @app.post("/chat", dependencies=[credits_required(ck, action="chat_message", customer=user)])
    def chat(...): ...

Before the handler the action's price (or ``estimate``) is reserved; after it returns, the
hold is committed (for ``meter.actual`` when the handler takes the meter and sets it); when it
raises, the hold is released. Short of credits, the route answers 402 and the handler does
not run; past the plan's rate limit 429, and with the ledger busy or unreachable 503.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the gate's annotations at run
# time, and they name the caller's ``customer`` dependency, a local of ``credits_required``.

from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from creditkit.api.problems import PROBLEM_CONTENT_TYPE, handled_as
from creditkit.errors import CreditKitError, Quantity
from creditkit.integrations.refusals import Refusal, refusal_of
from creditkit.metering.metered import Meter, Metering

T = TypeVar("T")


class CreditsRefused(HTTPException):
    """The route's credits were refused (402, 429) or could not be settled (503). ``problem``
    is the problem+json body; without ``install(app)`` FastAPI answers only its ``detail``
    (and the ``Retry-After`` header)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.status, detail=refusal.body["detail"], headers=refusal.headers)
        self.problem = refusal.body


def install(app: FastAPI) -> None:
    """Makes ``app`` answer a ``CreditsRefused`` with its whole problem+json body."""

    async def on_credits_refused(_request: Request, raised: Exception) -> JSONResponse:
        error = handled_as(raised, CreditsRefused)
        return JSONResponse(
            error.problem,
            status_code=error.status_code,
            media_type=PROBLEM_CONTENT_TYPE,
            headers=error.headers,
        )

    app.add_exception_handler(CreditsRefused, on_credits_refused)


def credits_required(
    ck: Metering,
    *,
    action: str,
    customer: Callable[..., str],
    estimate: Quantity | str | None = None,
    spender: Callable[..., str | None] | None = None,
) -> Any:
    """A dependency (``Depends``) that meters the route: ``ck`` is a ``CreditKit`` or a
    ``Client``; ``customer`` is itself a dependency giving the customer's id (it may take a
    header, the request, your current-user dependency); ``spender``, when given, a dependency
    giving the spender spending for it (an API key, an agent, a member: None for the customer
    itself), whose budgets the hold must fit (403 ``BudgetExceeded`` when it does not).
    Declared as a parameter (``meter: Annotated[Meter, credits_required(...)]``) it gives the
    handler its ``Meter``."""

    def start(customer_id: str, spender_id: str | None) -> Meter:
        meter = ck.metered(customer_id, action, estimate, spender=spender_id)
        meter.start()
        return meter

    def gate(
        customer_id: Annotated[str, Depends(customer)],
        spender_id: Annotated[str | None, Depends(spender or _no_spender)],
    ) -> Iterator[Meter]:
        meter = _answered(ck, lambda: start(customer_id, spender_id))
        try:
            yield meter
        except BaseException as error:
            meter.finish(error)
            raise
        _answered(ck, lambda: meter.finish(None))

    # "function": settle the hold when the handler returns, before the response is sent, so a
    # commit that fails is the request's error rather than lost after a 200.
    return Depends(gate, scope="function")


def _no_spender() -> None:
    """The spender of a route that names none: the customer itself."""
    return None


def _answered(ck: Metering, call: Callable[[], T]) -> T:
    """``call()``; a refusal of the ledger, or its absence, raised as the route's answer."""
    try:
        return call()
    except CreditKitError as error:
        refusal = refusal_of(ck, error)
        if refusal is None:
            raise
        raise CreditsRefused(refusal) from error
