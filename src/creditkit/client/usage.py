"""The client's usage reads and event ingestion (``Client``'s methods: see client.py)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from creditkit.client.encode import event_json, row_id, spender_query, time_json, v1_path
from creditkit.client.errors import ApiError
from creditkit.client.problems import error_from_problem
from creditkit.client.wire import Wire, decoded
from creditkit.errors import CreditKitError, InvalidRequest
from creditkit.events.schemas import IngestLag, ParkedEventsPage
from creditkit.ledger.schemas import Charge
from creditkit.usage.checks import (
    BREAKDOWN_GROUPS_DEFAULT,
    INGEST_REQUEST_EVENTS_MAX,
    check_dimension,
)
from creditkit.usage.schemas import (
    BreakdownBy,
    EventAccepted,
    ModelUsage,
    UsageBreakdown,
    UsageSeries,
    UsageSummary,
)


class ClientUsage:
    """Usage reads and usage events over HTTP (see docs/usage.md)."""

    _wire: Wire

    def usage_summary(
        self,
        customer: str,
        *,
        unit: str = "credits",
        period: tuple[datetime, datetime] | None = None,
        spender: str | None = None,
        subtree: bool = False,
    ) -> UsageSummary:
        """Spent, granted (by source), expired, transferred out, overage and allowance used over
        ``period`` = (start, end), end excluded (default: the current allowance period), with
        the balance now."""
        query: dict[str, Any] = {"unit": unit}
        if period is not None:
            if not isinstance(period, tuple) or len(period) != 2:
                raise InvalidRequest("period", "must be a (start, end) tuple")
            query["start"] = time_json(period[0], "period")
            query["end"] = time_json(period[1], "period")
        query.update(spender_query(spender, subtree))
        path = v1_path("customers", customer, "usage", "summary")
        return self._wire.read(path, UsageSummary, query)

    def usage_by_model(
        self, customer: str, *, start: datetime, end: datetime, unit: str = "credits"
    ) -> ModelUsage:
        """Tokens, cost in USD and credits per model in [start, end), costliest first
        (``CreditKit.usage_by_model``)."""
        query = {"start": time_json(start, "start"), "end": time_json(end, "end"), "unit": unit}
        return self._wire.read(v1_path("customers", customer, "usage", "models"), ModelUsage, query)

    def usage_breakdown(
        self,
        customer: str,
        *,
        by: str,
        start: datetime,
        end: datetime,
        unit: str = "credits",
        limit: int = BREAKDOWN_GROUPS_DEFAULT,
        dimension: str | None = None,
        spender: str | None = None,
        subtree: bool = False,
    ) -> UsageBreakdown:
        """What was spent in [start, end) per ``by`` = ``"action"``, ``"category"``,
        ``"member"``, ``"spender"`` or ``"dimension"`` (the value of ``metadata[dimension]``):
        the ``limit`` largest groups, the rest in ``others_spent``; with ``spender``, only its
        spending (``subtree``: and its subtree's)."""
        if by in {known.value for known in BreakdownBy}:
            check_dimension(BreakdownBy(by), dimension)  # as the kit refuses it
        query: dict[str, Any] = {
            "by": str(by),
            "start": time_json(start, "start"),
            "end": time_json(end, "end"),
            "unit": unit,
            "limit": limit,
        }
        if dimension is not None:
            query["dimension"] = dimension
        query.update(spender_query(spender, subtree))
        path = v1_path("customers", customer, "usage", "breakdown")
        return self._wire.read(path, UsageBreakdown, query)

    def usage_series(
        self,
        customer: str,
        *,
        start: datetime,
        end: datetime,
        unit: str = "credits",
        granularity: str = "day",
    ) -> UsageSeries:
        """What was spent in [start, end) per UTC ``"day"`` (or ``"hour"``), zeros included."""
        query = {
            "start": time_json(start, "start"),
            "end": time_json(end, "end"),
            "unit": unit,
            "granularity": str(granularity),
        }
        return self._wire.read(
            v1_path("customers", customer, "usage", "series"), UsageSeries, query
        )

    def ingest(
        self, events: Sequence[Mapping[str, Any]]
    ) -> list[Charge | EventAccepted | CreditKitError]:
        """Charges up to 1,000 usage events (``customer``, ``action``, ``quantity``,
        ``idempotency_key``, ``metadata``, ``member``), each priced by the catalog. One outcome
        per event, in order: its ``Charge`` or the error it met (one refusal fails nothing
        else); from a server with an events stream (``serve --events``), an ``EventAccepted``
        for each (charged later by a worker; ``event.refused`` webhooks tell of refusals).
        Unlike ``CreditKit``'s, an event the API cannot read (a missing key, an unknown field)
        fails the whole call with ``InvalidRequest`` naming ``events[i].<field>``."""
        if not isinstance(events, Sequence) or isinstance(events, str | bytes):
            raise InvalidRequest("events", "must be a list of events")
        if len(events) > INGEST_REQUEST_EVENTS_MAX:
            raise InvalidRequest("events", f"at most {INGEST_REQUEST_EVENTS_MAX} events per call")
        if not events:
            return []
        body = {"events": [event_json(event, index) for index, event in enumerate(events)]}
        # The batch's key (each event has its own too): a retry gets the first answer.
        answer = self._wire.call("POST", v1_path("events"), body, idempotency_key=str(uuid.uuid4()))
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list) or len(results) != len(events):
            raise ApiError(200, "response_invalid", "not one result per event", {})
        return [_outcome(result) for result in results]

    def ingest_lag(self) -> IngestLag:
        """The ingest workers' lag, read from JetStream through the server's events stream
        (an admin key): per consumer, the messages not delivered yet, those not acknowledged,
        and the oldest one's age; with the events parked so far. A server without ``--events``
        refuses with ``EventsNotConfigured``; one whose stream does not answer, with
        ``EventsUnavailable`` (after the client's retries)."""
        return self._wire.read(v1_path("ingest", "lag"), IngestLag)

    def parked_events(self, *, limit: int = 100, before_id: int | None = None) -> ParkedEventsPage:
        """The usage events the ingest workers parked (could not charge), newest first, each
        with its reason (an admin key); pass ``next_before_id`` as ``before_id`` for older."""
        query: dict[str, Any] = {"limit": limit}
        if before_id is not None:
            query["before_id"] = row_id(before_id, "before_id")
        return self._wire.read(v1_path("ingest", "parked-events"), ParkedEventsPage, query)


def _outcome(result: Any) -> Charge | EventAccepted | CreditKitError:
    """One event's result of ``POST /v1/events``: its charge, its acceptance by the events
    stream, or its error rebuilt."""
    if isinstance(result, dict) and result.get("status") == 202:
        return EventAccepted(str(result.get("idempotency_key")))
    if isinstance(result, dict) and "charge" in result:
        charge: Charge = decoded(result["charge"], Charge)
        return charge
    if isinstance(result, dict) and isinstance(result.get("status"), int):
        return error_from_problem(result["status"], result.get("error"), str(result))
    raise ApiError(200, "response_invalid", f"an event's result: {result!r}"[:300], {})
