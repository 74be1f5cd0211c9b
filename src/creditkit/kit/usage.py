"""The kit's usage reads and event ingestion (``CreditKit``'s methods: see kit/__init__.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from creditkit.errors import CreditKitError, InvalidRequest
from creditkit.events.errors import EventsNotConfigured
from creditkit.events.repository import PARKED_PAGE_MAX, parked_page
from creditkit.events.schemas import IngestLag, ParkedEventItem, ParkedEventsPage
from creditkit.kit.parts import KitParts
from creditkit.ledger.schemas import Charge
from creditkit.usage.checks import BREAKDOWN_GROUPS_DEFAULT
from creditkit.usage.schemas import ModelUsage, UsageBreakdown, UsageSeries, UsageSummary


class KitUsage(KitParts):
    """The numbers behind usage dashboards, and usage events charged in batches (see
    docs/usage.md)."""

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
        ``period`` = (start, end), end excluded; by default the subscription's current
        allowance period (its billing period for a plan without an allowance; the calendar
        month in UTC without a subscription). With the balance now (available, held) from the
        same snapshot. With ``spender``, spent, charges and overage are that spender's
        (``subtree``: and every spender's under it, up to 1,000); the rest is the customer's.
        Raises ``InvalidRequest`` (field ``period``) for a bad range, ``spender`` for one the
        customer does not have."""
        return self._usage.summary(customer, unit, period, spender, subtree)

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
        """What was spent in [start, end) per ``by`` = ``"action"``, ``"category"`` (the catalog
        category of the action), ``"member"`` (of a workspace), ``"spender"`` (who spent; each
        group with the spender's ``kind``) or ``"dimension"`` (the value of the charge's
        ``metadata[dimension]``, e.g. ``dimension="agent"``; a commit counts with its hold's
        when its own metadata lacks it), with counts: the ``limit`` (at most 500) largest
        groups, the rest totalled in ``others_spent``/``others_charges``. With ``spender``, only
        that spender's spending (``subtree``: and every spender's under it, up to 1,000).
        Raises ``InvalidRequest`` naming ``by``, ``dimension`` (required with
        ``by="dimension"``, refused otherwise; 1 to 64 letters, digits or underscores),
        ``start``, ``end``, ``limit``, ``spender`` or ``subtree``."""
        return self._usage.breakdown(
            customer, by, start, end, unit, limit, dimension, spender, subtree
        )

    def usage_by_model(
        self, customer: str, *, start: datetime, end: datetime, unit: str = "credits"
    ) -> ModelUsage:
        """Tokens, the model's cost in USD and the credits spent per model in [start, end),
        over the charges and commits priced from model usage; costliest model first, each
        with the spender that spent most on it."""
        return self._model_usage.by_model(customer, start, end, unit)

    def usage_series(
        self,
        customer: str,
        *,
        start: datetime,
        end: datetime,
        unit: str = "credits",
        granularity: str = "day",
    ) -> UsageSeries:
        """What was spent in [start, end) per UTC ``"day"`` (or ``"hour"``), every one present
        (zero when nothing was spent), at most 366 points. Raises ``InvalidRequest`` naming
        ``start``, ``end`` or ``granularity``."""
        return self._usage.series(customer, start, end, unit, granularity)

    def ingest(self, events: Sequence[Mapping[str, Any]]) -> list[Charge | CreditKitError]:
        """Charges up to 10,000 usage events (as many as ``charge_many``) in one database
        transaction, each priced by the catalog: ``{"customer", "action", "quantity" (default
        1), "idempotency_key", "metadata" (optional), "member" (optional)}``. Returns one
        outcome per event, in order: its ``Charge``, or the error it met (``InvalidRequest``
        naming ``events[i].action`` for an action not in the catalog, ``InsufficientCredits``,
        ...); one refusal fails nothing else. A replayed key returns its first outcome."""
        return self._usage.ingest(events)

    def ingest_refusals(self, events: Sequence[Mapping[str, Any]]) -> dict[int, CreditKitError]:
        """Charges as ``ingest`` does (one transaction, the same refusals) and returns only the
        events that were not charged, by position, with their errors: for a caller that needs
        no ``Charge`` (the events stream's worker), which ``ingest`` builds one by one."""
        return self._usage.ingest_refusals(events)

    def ingest_lag(self) -> IngestLag:
        """The events stream's ingest workers' lag. An embedded kit has no stream (its
        ``ingest`` charges at once, so nothing lags): raises ``EventsNotConfigured``, as a
        server run without ``--events`` answers 404. Read it from a server with ``--events``
        (``Client.ingest_lag``) or with ``creditkit ingest-worker --lag``."""
        raise EventsNotConfigured()

    def parked_events(self, *, limit: int = 100, before_id: int | None = None) -> ParkedEventsPage:
        """The usage events the ingest workers parked (could not charge) in this kit's
        database, newest first, ``limit`` (1 to 500) of them, below ``before_id`` when given
        (a page's ``next_before_id``); each was announced by an ``event.refused`` event."""
        if not 1 <= limit <= PARKED_PAGE_MAX:
            raise InvalidRequest("limit", f"must be 1 to {PARKED_PAGE_MAX}")
        if before_id is not None and not 1 <= before_id <= 2**63 - 1:
            raise InvalidRequest("before_id", "must be a parked event's id (1 or more)")
        page = parked_page(self._database, limit, before_id)
        items = tuple(
            ParkedEventItem(
                id=record.id,
                idempotency_key=record.event.idempotency_key,
                customer=record.event.customer,
                reason=record.event.reason,
                detail=record.event.detail,
                parked_at=record.parked_at,
                action=action
                if isinstance(action := record.event.event.get("action"), str)
                else None,
                event_json=json.dumps(record.event.event, separators=(",", ":"), sort_keys=True),
            )
            for record in page.items
        )
        return ParkedEventsPage(items, page.next_before_id)
