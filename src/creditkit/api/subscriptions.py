"""Subscriptions (subscribe, change plan, cancel), billing lines, entitlements and limits."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from creditkit.api.context import Service
from creditkit.api.customers import refused
from creditkit.api.idempotency import IdempotencyKey
from creditkit.api.problems import ApiProblem
from creditkit.api.responses import Quota, Removed
from creditkit.api.schemas import (
    TEXT_PATTERN,
    Cancellation,
    LimitTrack,
    PeriodReset,
    PlanChange,
    ResourceAcquire,
    SubscriptionCreate,
)
from creditkit.entitlements.schemas import Decision, LimitUsage
from creditkit.keys.schemas import Caller, Scope, SessionPermission
from creditkit.subscriptions.schemas import BillingLine, Subscription

CustomerId = Annotated[str, Path(min_length=1, max_length=255, pattern=TEXT_PATTERN)]
Name = Annotated[str, Path(min_length=1, max_length=255, pattern=TEXT_PATTERN)]
#: Billing lines listed at once, at most.
BILLING_LINES_PAGE_MAX = 200


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/v1/customers/{customer}", tags=["subscriptions"])
    kit, access, responses = service.kit, service.access, service.responses
    Authenticated = Annotated[Caller, Depends(access.caller)]

    @api.get("/subscription", response_model=Subscription)
    def get_subscription(caller: Authenticated, customer: CustomerId) -> Subscription:
        access.require_customer(caller, customer, Scope.READ)
        subscription = kit.subscription(customer)
        if subscription is None:
            raise ApiProblem(404, "no_subscription", f"{customer!r} has no subscription")
        return subscription

    @api.post("/subscription", response_model=Subscription)
    async def subscribe(
        request: Request,
        caller: Authenticated,
        customer: CustomerId,
        body: SubscriptionCreate,
        key: IdempotencyKey,
    ) -> JSONResponse:
        """Puts the customer on ``plan`` (a change of plan when already subscribed): a free
        plan, one paid with credits, or one whose price the app collects itself
        (``collected_elsewhere``). A plan priced in money is refused otherwise with 409
        ``checkout_required``: start it with ``POST /v1/customers/{customer}/checkout``, which
        collects through the payment provider and starts the plan when paid."""
        access.require_scope(caller, Scope.WRITE)
        return await responses.once(
            request,
            key,
            lambda: kit.subscribe(
                customer,
                body.plan,
                interval=body.interval,
                trial_days=body.trial_days,
                pay_with=body.pay_with,
                collected_elsewhere=body.collected_elsewhere,
            ),
        )

    @api.post("/subscription/change", response_model=Subscription)
    async def change_plan(
        request: Request,
        caller: Authenticated,
        customer: CustomerId,
        body: PlanChange,
        key: IdempotencyKey,
    ) -> JSONResponse:
        """Upgrades now (prorated), downgrades at the end of the period. A session token needs
        ``buy`` (in a workspace: its owner or an admin)."""
        access.require_customer(caller, customer, Scope.WRITE, SessionPermission.BUY)
        return await responses.once(
            request,
            key,
            lambda: kit.change_plan(
                customer,
                body.plan,
                interval=body.interval,
                allowance_on_upgrade=body.allowance_on_upgrade,
            ),
        )

    @api.post("/subscription/cancel", response_model=Subscription)
    async def cancel(
        request: Request,
        caller: Authenticated,
        customer: CustomerId,
        body: Cancellation,
        key: IdempotencyKey,
    ) -> JSONResponse:
        """Back to the default plan at the end of the period (or now)."""
        access.require_customer(caller, customer, Scope.WRITE, SessionPermission.BUY)
        return await responses.once(
            request, key, lambda: kit.cancel(customer, at_period_end=body.at_period_end)
        )

    @api.post("/period-reset", response_model=Subscription)
    def reset_period(
        caller: Authenticated, customer: CustomerId, body: PeriodReset, key: IdempotencyKey
    ) -> Subscription:
        """Ends the customer's allowance period now and starts a new one (an operator's reset,
        with a ``reason`` kept in the history); the billing period is unchanged. The same key
        again changes nothing."""
        access.require_scope(caller, Scope.WRITE)
        return kit.reset_period(
            customer, reason=body.reason, idempotency_key=access.key_of(caller, key)
        )

    @api.get("/billing-lines", response_model=list[BillingLine])
    def billing_lines(
        caller: Authenticated,
        customer: CustomerId,
        limit: Annotated[int, Query(ge=1, le=BILLING_LINES_PAGE_MAX)] = 50,
    ) -> list[BillingLine]:
        """What the customer owes, newest first: period fees, prorations, overage."""
        access.require_customer(caller, customer, Scope.READ)
        return list(kit.billing_lines(customer, limit=limit))

    @api.get("/entitlements/{feature}", response_model=Decision)
    def entitled(caller: Authenticated, customer: CustomerId, feature: Name) -> Decision:
        """Whether the plan grants ``feature`` (``allowed``), and else ``upgrade_to``."""
        access.require_customer(caller, customer, Scope.READ)
        return kit.entitled(customer, feature)

    @api.get("/limits", response_model=list[LimitUsage])
    def limits(caller: Authenticated, customer: CustomerId) -> list[LimitUsage]:
        """Every limit with the customer's usage of it."""
        access.require_customer(caller, customer, Scope.READ)
        return kit.usage_of_limits(customer)

    @api.post("/limits/{limit}/resources", response_model=Decision)
    async def acquire(
        request: Request,
        caller: Authenticated,
        customer: CustomerId,
        limit: Name,
        body: ResourceAcquire,
        key: IdempotencyKey,
    ) -> JSONResponse:
        """Counts a live thing against a ``count`` limit; 403 with ``upgrade_to`` when full."""
        access.require_scope(caller, Scope.WRITE)

        def take() -> Decision:
            decision = kit.acquire(customer, limit, body.resource_id)
            if not decision.allowed:
                raise refused(decision, kit.catalog)
            return decision

        return await responses.once(request, key, take)

    @api.delete("/limits/{limit}/resources/{resource_id}", response_model=Removed)
    def release_resource(
        caller: Authenticated, customer: CustomerId, limit: Name, resource_id: Name
    ) -> Removed:
        """Stops counting the thing. Idempotent: ``removed`` says whether it was counted."""
        access.require_scope(caller, Scope.WRITE)
        return Removed(removed=kit.release_resource(customer, limit, resource_id))

    @api.post("/limits/{limit}/usage", response_model=Decision)
    def track(
        caller: Authenticated,
        customer: CustomerId,
        limit: Name,
        body: LimitTrack,
        key: IdempotencyKey,
    ) -> Decision:
        """Counts ``quantity`` against a ``per_period`` limit, exactly once per key; 403 with
        ``upgrade_to`` when it would go over."""
        access.require_scope(caller, Scope.WRITE)
        decision = kit.track(customer, limit, body.quantity, idempotency_key=key)
        if not decision.allowed:
            raise refused(decision, kit.catalog)
        return decision

    @api.get("/quotas/{name}", response_model=Quota)
    def quota(caller: Authenticated, customer: CustomerId, name: Name) -> Quota:
        """A number of the plan in force (``max_file_mb``), or ``"unlimited"``."""
        access.require_customer(caller, customer, Scope.READ)
        value = kit.quota(customer, name)
        return Quota(name=name, value=value if isinstance(value, int) else value.value)

    return api
