"""The events stream's operator reads, for an admin key: ``GET /v1/ingest/lag`` (the ingest
workers' lag, from JetStream, through the server's ``--events``) and ``GET
/v1/ingest/parked-events`` (what the workers could not charge, with the reason). The reads
themselves live in events/lag.py and events/repository.py."""

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from creditkit.api.context import Service
from creditkit.api.problems import PROBLEM_CONTENT_TYPE, ApiProblem
from creditkit.events.errors import EventsNotConfigured
from creditkit.events.lag import ConsumerLag
from creditkit.events.repository import (
    PARKED_COUNT_MAX,
    PARKED_PAGE_MAX,
    ParkedRecord,
    parked_count,
    parked_page,
)
from creditkit.keys.schemas import Caller, Scope


class OldestUnacknowledgedEvent(BaseModel):
    sequence: int = Field(description="Its sequence in the stream.")
    stored_at: datetime = Field(description="When the stream stored it (the NATS server's clock).")
    age_seconds: int = Field(description="Its age when read, in whole seconds.")


class ConsumerLagOut(BaseModel):
    consumer: str = Field(description="The consumer's name (the workers share creditkit-ingest).")
    pending: int = Field(
        description="Messages not delivered to a worker yet (each one request's chunk of events)."
    )
    unacknowledged: int = Field(description="Delivered and not yet acknowledged (not charged).")
    redelivered: int = Field(description="Of those, delivered more than once.")
    waiting: int = Field(description="Pull requests waiting: workers idle, asking for more.")
    oldest_unacknowledged: OldestUnacknowledgedEvent | None = Field(
        description="The oldest event not acknowledged; null when nothing is left to charge."
    )


class IngestLag(BaseModel):
    stream: str
    stream_exists: bool = Field(description="False until the first publish or worker made it.")
    events: int = Field(
        description="Messages the stream holds, not yet acknowledged by a worker: each one"
        " request's chunk of 1 to 1,000 events."
    )
    consumers: list[ConsumerLagOut]
    parked: int = Field(
        description="Events parked so far (GET /v1/ingest/parked-events), counted up to"
        f" {PARKED_COUNT_MAX:,}: at least this many when parked_capped."
    )
    parked_capped: bool = Field(
        description=f"True when the count stopped at {PARKED_COUNT_MAX:,}: more may be parked."
    )


class ParkedEventOut(BaseModel):
    id: int = Field(description="Pass as before_id for the events parked before it.")
    idempotency_key: str
    customer: str | None
    reason: str = Field(description="A stable code: insufficient_credits, unknown_customer, ...")
    detail: str
    parked_at: datetime
    action: str | None = Field(description="The event's action; null when it named none.")
    event_json: str = Field(
        description="The event as published, as JSON text (a malformed one as {}): what to"
        " publish again, under a new key, once its reason is dealt with."
    )


class ParkedEventsPage(BaseModel):
    items: list[ParkedEventOut]
    next_before_id: int | None = Field(description="The next (older) page's before_id; null: none")


_PROBLEM = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_LAG_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "The server runs without an events stream (--events).",
        "content": _PROBLEM,
    },
    503: {
        "description": "The events stream did not answer: retry.",
        "content": _PROBLEM,
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "schema": {"type": "integer", "minimum": 0},
            }
        },
    },
}


def _consumer(lag: ConsumerLag) -> ConsumerLagOut:
    oldest = lag.oldest
    return ConsumerLagOut(
        consumer=lag.consumer,
        pending=lag.pending,
        unacknowledged=lag.unacknowledged,
        redelivered=lag.redelivered,
        waiting=lag.waiting,
        oldest_unacknowledged=None
        if oldest is None
        else OldestUnacknowledgedEvent(
            sequence=oldest.sequence, stored_at=oldest.stored_at, age_seconds=oldest.age_seconds
        ),
    )


def _parked(record: ParkedRecord) -> ParkedEventOut:
    event = record.event
    return ParkedEventOut(
        id=record.id,
        idempotency_key=event.idempotency_key,
        customer=event.customer,
        reason=event.reason,
        detail=event.detail,
        parked_at=record.parked_at,
        action=action if isinstance(action := event.event.get("action"), str) else None,
        event_json=json.dumps(event.event, separators=(",", ":"), sort_keys=True),
    )


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/v1/ingest", tags=["operations"])
    kit, access, publisher = service.kit, service.access, service.publisher
    Authenticated = Annotated[Caller, Depends(access.caller)]

    @api.get("/lag", response_model=IngestLag, responses=_LAG_ERRORS)
    async def get_ingest_lag(caller: Authenticated) -> IngestLag:
        """The ingest workers' lag, read from JetStream through this server's events stream:
        per consumer, the events not delivered yet, those not acknowledged, and the age of the
        oldest not acknowledged; with the events parked so far (counted up to a bound, so that
        each call reads a bounded number of rows). For monitoring (an alert on the
        oldest event's age); 404 ``events_not_configured`` on a server without ``--events``."""
        access.require_scope(caller, Scope.ADMIN)
        if publisher is None:
            refusal = EventsNotConfigured()
            raise ApiProblem(404, refusal.code, str(refusal))
        lag = await publisher.lag(kit.now())
        parked = await run_in_threadpool(parked_count, kit.database)
        return IngestLag(
            stream=lag.stream,
            stream_exists=lag.exists,
            events=lag.events,
            consumers=[_consumer(consumer) for consumer in lag.consumers],
            parked=parked.count,
            parked_capped=parked.capped,
        )

    @api.get("/parked-events", response_model=ParkedEventsPage)
    def list_parked_events(
        caller: Authenticated,
        limit: Annotated[int, Query(ge=1, le=PARKED_PAGE_MAX)] = 100,
        before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    ) -> ParkedEventsPage:
        """The usage events the ingest workers parked (could not charge), newest first, each
        with its ``reason`` and ``detail``; pass ``next_before_id`` as ``before_id`` for older
        ones. Each was also announced by an ``event.refused`` webhook."""
        access.require_scope(caller, Scope.ADMIN)
        page = parked_page(kit.database, limit, before_id)
        return ParkedEventsPage(
            items=[_parked(record) for record in page.items], next_before_id=page.next_before_id
        )

    return api
