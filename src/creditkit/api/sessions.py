"""Session links' exchange codes, and revoking a customer's sessions."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from creditkit.api.context import Service
from creditkit.api.idempotency import IdempotencyKey
from creditkit.api.schemas import TEXT_PATTERN, SessionCodeCreate
from creditkit.keys.schemas import Caller, Scope, SessionCode

CustomerId = Annotated[str, Path(min_length=1, max_length=255, pattern=TEXT_PATTERN)]
UserId = Annotated[str | None, Query(min_length=1, max_length=255, pattern=TEXT_PATTERN)]


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["customers"])
    kit, access, responses = service.kit, service.access, service.responses
    Authenticated = Annotated[Caller, Depends(access.caller)]

    @api.post("/customers/{customer}/session-codes", status_code=201, response_model=SessionCode)
    async def create_session_code(
        request: Request,
        caller: Authenticated,
        customer: CustomerId,
        body: SessionCodeCreate,
        key: IdempotencyKey,
    ) -> JSONResponse:
        """A session link's code: send the customer's browser to
        ``/app/session?code=<code>``. It opens once, within ``code_ttl_seconds``, after the
        page names the account it opens; the browser then holds a session of
        ``ttl_seconds``. A retry with the same key gets the same code."""
        access.require_scope(caller, Scope.WRITE)

        def issue() -> SessionCode:
            kit.customer(customer)  # 404 for an unknown customer, not a link to nobody's pages
            if body.user is not None:
                kit.customer(body.user)
            return kit.keys.issue_session_code(
                customer,
                user=body.user,
                permissions=body.permissions,
                ttl_seconds=body.ttl_seconds,
                code_ttl_seconds=body.code_ttl_seconds,
            )

        return await responses.once(request, key, issue, status_code=201)

    @api.delete("/customers/{customer}/session-tokens", status_code=204)
    def revoke_sessions(caller: Authenticated, customer: CustomerId, user: UserId = None) -> None:
        """Signs the customer out everywhere: its session tokens (only ``user``'s, when given)
        issued until now stop working, within seconds in every process. A session token may
        revoke its own member's sessions (signing out through the API)."""
        access.require_customer(caller, customer, Scope.WRITE)
        if caller.scope is None:
            user = caller.user
        kit.customer(customer)
        kit.keys.revoke_sessions(customer, user=user)

    return api
