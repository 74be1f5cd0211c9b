"""Spenders, budgets and debt limits."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from creditkit.api.context import Service
from creditkit.api.idempotency import IdempotencyKey
from creditkit.api.schemas import TEXT_PATTERN, BudgetPut, DebtLimitPut, SpenderCreate
from creditkit.keys.schemas import Caller, Scope, SessionPermission
from creditkit.ledger.schemas import Budget, DebtLimit, Spender

CustomerId = Annotated[str, Path(min_length=1, max_length=255, pattern=TEXT_PATTERN)]
SpenderId = Annotated[str | None, Query(min_length=1, max_length=255, pattern=TEXT_PATTERN)]
Unit = Annotated[str, Query(min_length=1, max_length=64, pattern=TEXT_PATTERN)]


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["spenders"])
    kit, access, responses = service.kit, service.access, service.responses
    Authenticated = Annotated[Caller, Depends(access.caller)]

    @api.post("/customers/{customer}/spenders", status_code=201, response_model=Spender)
    async def create_spender(
        request: Request,
        caller: Authenticated,
        customer: CustomerId,
        body: SpenderCreate,
        key: IdempotencyKey,
    ) -> JSONResponse:
        """Adds a spender (an API key, an agent, a project: ``kind`` is the app's word) under
        the customer or under ``parent``, at most 8 deep. The same id again returns it; a
        different kind or parent is a 409 naming the field."""
        access.require_customer(caller, customer, Scope.WRITE, SessionPermission.MANAGE)
        return await responses.once(
            request,
            key,
            lambda: kit.create_spender(customer, body.id, kind=body.kind, parent=body.parent),
            status_code=201,
        )

    @api.get("/customers/{customer}/spenders", response_model=list[Spender])
    def list_spenders(caller: Authenticated, customer: CustomerId) -> list[Spender]:
        """The customer's spenders, oldest first (workspace members among them)."""
        access.require_customer(caller, customer, Scope.READ)
        return list(kit.spenders(customer))

    @api.put("/customers/{customer}/budgets", response_model=Budget | None)
    def put_budget(
        caller: Authenticated, customer: CustomerId, body: BudgetPut, key: IdempotencyKey
    ) -> Budget | None:
        """Caps what ``spender`` (absent: the customer itself) may spend of ``unit`` per
        ``period``; ``amount`` null removes it (and answers null). A spend past any budget on
        its path is refused with 403 ``budget_exceeded``."""
        access.require_customer(caller, customer, Scope.WRITE, SessionPermission.MANAGE)
        return kit.set_budget(
            customer,
            body.amount,
            idempotency_key=key,
            spender=body.spender,
            unit=body.unit,
            period=body.period,
        )

    @api.get("/customers/{customer}/budgets", response_model=list[Budget])
    def list_budgets(
        caller: Authenticated,
        customer: CustomerId,
        spender: SpenderId = None,
        unit: Unit = "credits",
    ) -> list[Budget]:
        """The budgets of ``spender`` (absent: the customer's own), with their use."""
        access.require_customer(caller, customer, Scope.READ)
        return list(kit.budgets(customer, spender=spender, unit=unit))

    @api.put("/customers/{customer}/debt-limit", response_model=DebtLimit)
    def put_debt_limit(
        caller: Authenticated, customer: CustomerId, body: DebtLimitPut, key: IdempotencyKey
    ) -> DebtLimit:
        """How far below zero the customer may go when a charge or commit asks for it
        (``allow_debt``); overrides the plan's ``debt_limit``."""
        access.require_scope(caller, Scope.WRITE)
        return kit.set_debt_limit(customer, body.amount, idempotency_key=key, unit=body.unit)

    return api
