"""Usage: the numbers behind a usage dashboard, and batch ingestion of usage events."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from creditkit.api.context import Service
from creditkit.api.idempotency import IdempotencyKey, encode
from creditkit.api.problems import error_body
from creditkit.api.responses import IngestResults
from creditkit.api.schemas import TEXT_PATTERN, EventsIngest
from creditkit.errors import CreditKitError, InvalidRequest, UnknownCustomer
from creditkit.events.publisher import EventPublisher
from creditkit.keys.schemas import Caller, Scope
from creditkit.usage.checks import BREAKDOWN_GROUPS_DEFAULT, DIMENSION_LENGTH_MAX
from creditkit.usage.schemas import ModelUsage, UsageBreakdown, UsageSeries, UsageSummary

CustomerId = Annotated[str, Path(min_length=1, max_length=255, pattern=TEXT_PATTERN)]
Unit = Annotated[str, Query(min_length=1, max_length=64, pattern=TEXT_PATTERN)]
#: Usage of one spender only (with ``subtree``: and of every spender under it).
SpenderFilter = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=255,
        pattern=TEXT_PATTERN,
        description="A spender of the customer: only its spending is counted.",
    ),
]
SubtreeFilter = Annotated[
    bool, Query(description="With ``spender``: and the spending of every spender under it.")
]


def _period(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime] | None:
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise InvalidRequest("start" if start is None else "end", "give both start and end")
    return start, end


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["usage"])
    kit, access, responses = service.kit, service.access, service.responses
    Authenticated = Annotated[Caller, Depends(access.caller)]

    @api.get("/customers/{customer}/usage/summary", response_model=UsageSummary)
    def summary(
        caller: Authenticated,
        customer: CustomerId,
        unit: Unit = "credits",
        start: datetime | None = None,
        end: datetime | None = None,
        spender: SpenderFilter = None,
        subtree: SubtreeFilter = False,
    ) -> UsageSummary:
        """Spent, granted by source, expired, overage and allowance used over [start, end)
        (default: the current allowance period), with the balance now. With ``spender``, spent,
        charges and overage are that spender's (``subtree``: and its subtree's)."""
        access.require_customer(caller, customer, Scope.READ)
        return kit.usage_summary(
            customer, unit=unit, period=_period(start, end), spender=spender, subtree=subtree
        )

    @api.get("/customers/{customer}/usage/breakdown", response_model=UsageBreakdown)
    def breakdown(
        caller: Authenticated,
        customer: CustomerId,
        by: Annotated[Literal["action", "category", "member", "dimension", "spender"], Query()],
        start: datetime,
        end: datetime,
        unit: Unit = "credits",
        limit: Annotated[int, Query(ge=1, le=500)] = BREAKDOWN_GROUPS_DEFAULT,
        dimension: Annotated[
            str | None,
            Query(
                pattern=f"^[A-Za-z0-9_]{{1,{DIMENSION_LENGTH_MAX}}}$",
                description="With ``by=dimension`` (and only then): the key of the charges' "
                "metadata to group by, such as ``agent``.",
            ),
        ] = None,
        spender: SpenderFilter = None,
        subtree: SubtreeFilter = False,
    ) -> UsageBreakdown:
        """What was spent in [start, end) per action, catalog category, workspace member,
        spender or value of a metadata key (``by=dimension&dimension=agent``); with
        ``spender``, only its spending (``subtree``: and that of every spender under it)."""
        access.require_customer(caller, customer, Scope.READ)
        return kit.usage_breakdown(
            customer,
            by=by,
            start=start,
            end=end,
            unit=unit,
            limit=limit,
            dimension=dimension,
            spender=spender,
            subtree=subtree,
        )

    @api.get("/customers/{customer}/usage/models", response_model=ModelUsage)
    def by_model(
        caller: Authenticated,
        customer: CustomerId,
        start: datetime,
        end: datetime,
        unit: Unit = "credits",
    ) -> ModelUsage:
        """Tokens, the model's cost in USD and the credits spent per model in [start, end),
        over the charges and commits priced from model usage; costliest model first."""
        access.require_customer(caller, customer, Scope.READ)
        return kit.usage_by_model(customer, start=start, end=end, unit=unit)

    @api.get("/customers/{customer}/usage/series", response_model=UsageSeries)
    def series(
        caller: Authenticated,
        customer: CustomerId,
        start: datetime,
        end: datetime,
        unit: Unit = "credits",
        granularity: Literal["day", "hour"] = "day",
    ) -> UsageSeries:
        """What was spent per UTC day (or hour) in [start, end), zeros included."""
        access.require_customer(caller, customer, Scope.READ)
        return kit.usage_series(customer, start=start, end=end, unit=unit, granularity=granularity)

    @api.post(
        "/events",
        response_model=IngestResults,
        responses={202: {"model": IngestResults, "description": "Published to the events stream"}},
    )
    async def ingest(
        request: Request, caller: Authenticated, body: EventsIngest, key: IdempotencyKey
    ) -> JSONResponse:
        """Charges up to 1,000 usage events in one transaction, each priced by the catalog and
        keyed by its own ``idempotency_key``. On a server with an events stream (``serve
        --events``) the events are published to it instead: 202 once it acknowledged them all,
        ``{"status": 202, "idempotency_key": …}`` for each; a worker charges them later and
        sends ``event.refused`` for one it cannot charge. Otherwise one outcome per event, in
        order: ``{"status": 201, "charge": …}`` or ``{"status": 402, "error": <problem>}``; one
        refusal fails nothing else. Each event's customer counts against its plan's rate
        limit. A retry of the whole batch with the same ``Idempotency-Key`` gets the first
        answer."""
        access.require_scope(caller, Scope.CHARGE)
        if service.publisher is not None:
            return await publish(service.publisher, body)
        return await responses.once(request, key, lambda: ingest_batch(body))

    async def publish(publisher: EventPublisher, body: EventsIngest) -> JSONResponse:
        """The events published to the stream: 202 once JetStream acknowledged every one (503
        with Retry-After otherwise: a retry with the same keys charges each once)."""
        if service.rate_limited:
            for customer in sorted({event.customer for event in body.events}):
                try:
                    await run_in_threadpool(service.count_request, customer)
                except UnknownCustomer:
                    continue  # the worker parks its events and sends event.refused
        await publisher.publish([event.model_dump(exclude_none=True) for event in body.events])
        results = [{"status": 202, "idempotency_key": e.idempotency_key} for e in body.events]
        return JSONResponse({"results": results}, status_code=202)

    def ingest_batch(body: EventsIngest) -> dict[str, list[dict[str, Any]]]:
        for customer in sorted({event.customer for event in body.events}):
            try:
                service.count_request(customer)
            except UnknownCustomer:
                continue  # its events' outcomes say so; the batch's other events go on
        outcomes = kit.ingest([event.model_dump(exclude_none=True) for event in body.events])
        results: list[dict[str, Any]] = []
        for outcome in outcomes:
            if isinstance(outcome, CreditKitError):
                status, problem = error_body(outcome, service.enrich)
                results.append({"status": status, "error": problem})
            else:
                results.append({"status": 201, "charge": encode(outcome)})
        return {"results": results}

    return api
