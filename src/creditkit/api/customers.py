"""Customers, workspace members, spend caps and session tokens."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from creditkit.api.context import Service, upgrade_offer
from creditkit.api.idempotency import IdempotencyKey
from creditkit.api.problems import ApiProblem
from creditkit.api.responses import Removed
from creditkit.api.schemas import (
    TEXT_PATTERN,
    CustomerCreate,
    MemberPut,
    OwnerPut,
    SessionTokenCreate,
    SpendCapPut,
    TimeZonePut,
)
from creditkit.catalog import Catalog
from creditkit.entitlements.schemas import Decision, Member
from creditkit.keys.schemas import (
    Caller,
    Scope,
    SessionInfo,
    SessionPermission,
    SessionToken,
)
from creditkit.ledger.schemas import Customer

CustomerId = Annotated[str, Path(min_length=1, max_length=255, pattern=TEXT_PATTERN)]


def refused(decision: Decision, catalog: Catalog | None) -> ApiProblem:
    """A limit's refusal as a 403 that says which plan would allow it (its id in
    ``upgrade_to``; its name and price in ``upgrade``)."""
    return ApiProblem(
        403,
        "limit_reached",
        f"the plan does not allow it ({decision.reason})",
        reason=decision.reason,
        upgrade_to=decision.upgrade_to,
        upgrade=upgrade_offer(catalog, decision.upgrade_to),
        used=decision.used,
        limit=decision.limit if isinstance(decision.limit, int | None) else decision.limit.value,
    )


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["customers"])
    kit, access, responses = service.kit, service.access, service.responses
    Authenticated = Annotated[Caller, Depends(access.caller)]

    @api.post("/customers", status_code=201, response_model=Customer)
    async def create_customer(
        request: Request, caller: Authenticated, body: CustomerCreate, key: IdempotencyKey
    ) -> JSONResponse:
        """Creates a customer (a ``user`` or a ``workspace``); with a catalog it starts on the
        default plan and gets its allowance. The same id again returns the customer."""
        access.require_scope(caller, Scope.WRITE)
        return await responses.once(
            request,
            key,
            lambda: kit.create_customer(
                body.id,
                body.kind,
                subscribe=body.subscribe,
                metadata=body.metadata,
                time_zone=body.time_zone,
            ),
            status_code=201,
        )

    @api.get("/customers/{customer}", response_model=Customer)
    def get_customer(caller: Authenticated, customer: CustomerId) -> Customer:
        access.require_customer(caller, customer, Scope.READ)
        return kit.customer(customer)

    @api.put("/customers/{customer}/time-zone", response_model=Customer)
    def put_time_zone(
        caller: Authenticated, customer: CustomerId, body: TimeZonePut, key: IdempotencyKey
    ) -> Customer:
        """States the customer's IANA time zone (null clears it): its calendar-anchored
        allowance and counter periods follow it from the end of the period in force."""
        access.require_scope(caller, Scope.WRITE)
        return kit.set_time_zone(customer, body.time_zone, idempotency_key=key)

    @api.get("/customers/{customer}/members", response_model=list[Member])
    def list_members(caller: Authenticated, customer: CustomerId) -> list[Member]:
        """The workspace's members: the owner first, then admins, editors, viewers."""
        access.require_customer(caller, customer, Scope.READ)
        return kit.members(customer)

    @api.put("/customers/{customer}/members/{user}", response_model=Decision)
    async def put_member(
        request: Request,
        caller: Authenticated,
        customer: CustomerId,
        user: CustomerId,
        body: MemberPut,
        key: IdempotencyKey,
    ) -> JSONResponse:
        """Adds the user with ``role``, or changes a member's role; 403 with ``upgrade_to`` when
        the plan's ``team_members`` limit is reached."""
        access.require_customer(caller, customer, Scope.WRITE, SessionPermission.MANAGE)

        def add() -> Decision:
            decision = kit.add_member(customer, user, body.role)
            if not decision.allowed:
                raise refused(decision, kit.catalog)
            return decision

        return await responses.once(request, key, add)

    @api.delete("/customers/{customer}/members/{user}", response_model=Removed)
    def delete_member(caller: Authenticated, customer: CustomerId, user: CustomerId) -> Removed:
        """Removes the member (the owner goes last: transfer ownership first). Idempotent:
        ``removed`` says whether the user was a member."""
        access.require_customer(caller, customer, Scope.WRITE, SessionPermission.MANAGE)
        return Removed(removed=kit.remove_member(customer, user))

    @api.put("/customers/{customer}/owner", response_model=list[Member])
    async def put_owner(
        request: Request,
        caller: Authenticated,
        customer: CustomerId,
        body: OwnerPut,
        key: IdempotencyKey,
    ) -> JSONResponse:
        """Makes a member the owner; the previous owner becomes an admin."""
        access.require_scope(caller, Scope.WRITE)
        return await responses.once(
            request, key, lambda: kit.transfer_ownership(customer, body.user)
        )

    @api.put("/customers/{customer}/members/{user}/spend-cap", status_code=204)
    def put_spend_cap(
        caller: Authenticated, customer: CustomerId, user: CustomerId, body: SpendCapPut
    ) -> None:
        """Caps what the member may spend per month (``amount`` null: no cap). Idempotent."""
        access.require_customer(caller, customer, Scope.WRITE, SessionPermission.MANAGE)
        kit.set_member_spend_cap(customer, user, body.amount, unit=body.unit)

    @api.post("/customers/{customer}/session-tokens", status_code=201, response_model=SessionToken)
    async def create_session_token(
        request: Request,
        caller: Authenticated,
        customer: CustomerId,
        body: SessionTokenCreate,
        key: IdempotencyKey,
    ) -> JSONResponse:
        """A short-lived token for this customer's browser (at most an hour). For a
        workspace, ``user`` names the member acting; their role decides what it may do. A
        retry with the same key gets the same token."""
        access.require_scope(caller, Scope.WRITE)

        def issue() -> SessionToken:
            kit.customer(customer)  # 404 for an unknown customer, not a token for nobody
            if body.user is not None:
                kit.customer(body.user)
            return kit.keys.issue_session(
                customer,
                user=body.user,
                permissions=body.permissions,
                ttl_seconds=body.ttl_seconds,
            )

        return await responses.once(request, key, issue, status_code=201)

    @api.get("/session", response_model=SessionInfo)
    def get_session(caller: Authenticated) -> SessionInfo:
        """Whose this session token is: its customer, the member acting (workspaces), what it
        may do and until when. A browser that holds only the token learns its customer here.
        A secret key is refused (403 ``session_token_required``): it acts for no one customer."""
        if caller.customer is None or caller.expires_at is None:
            raise ApiProblem(
                403,
                "session_token_required",
                "this needs a customer session token: a secret key acts for no one customer",
            )
        return SessionInfo(
            customer=caller.customer,
            user=caller.user,
            permissions=caller.permissions,
            expires_at=caller.expires_at,
        )

    return api
