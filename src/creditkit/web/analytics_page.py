"""The console's analytics (``/console/analytics``): ``CreditKit.analytics`` over a date range,
as figures, tables and a chart of subscribers per plan."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from creditkit.analytics.schemas import Analytics
from creditkit.catalog.plans import Price
from creditkit.errors import InvalidRequest, InvariantViolation, Quantity
from creditkit.ledger.schemas import Money
from creditkit.web import charts
from creditkit.web.console import UNIT, FieldError
from creditkit.web.context import Pages
from creditkit.web.rendering import credits

#: ``YYYY-MM-DD``.
DATE_LENGTH_MAX = 10
_FIELD_LABELS = {"start": "Start date", "end": "End date"}


@dataclass(frozen=True, slots=True)
class Range:
    """The range asked for: ``[start, end)``, and the dates the form shows for it."""

    start: datetime
    end: datetime
    start_on: str
    end_on: str


@dataclass(frozen=True, slots=True)
class AnalyticsView:
    figures: Analytics
    plan_names: dict[str, str]
    pack_names: dict[str, str]
    subscribers: charts.RowChart
    #: The chart's text alternative: every plan and its count.
    subscribers_label: str
    #: What a credit costs the operator (the catalog unit's ``cost``), and the liability's
    #: worth at that cost; None when the catalog sets no cost.
    cost: Price | None
    liability_cost: Money | None


def router(pages: Pages) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/console/analytics")
    def analytics(
        request: Request,
        start: Annotated[str, Query(max_length=DATE_LENGTH_MAX)] = "",
        end: Annotated[str, Query(max_length=DATE_LENGTH_MAX)] = "",
    ) -> Response:
        caller = pages.console_caller(request)
        view = None
        try:
            asked = _range(start.strip(), end.strip(), pages.kit.now())
            view = _view(pages, asked)
            error = None
        except _BadRange as bad:
            asked, error = bad.fallback, bad.error
        return pages.page(
            request,
            "console/analytics.html",
            title="Analytics",
            section="analytics",
            caller=caller,
            asked=asked,
            view=view,
            error=error,
            status_code=200 if error is None else 400,
        )

    return router


class _BadRange(Exception):
    def __init__(self, error: FieldError, fallback: Range) -> None:
        super().__init__(error.text)
        self.error = error
        self.fallback = fallback


def _range(start: str, end: str, now: datetime) -> Range:
    """The range the form asks for: from the start date's first moment to the end date's last
    (UTC), or to now if that is sooner (nothing later has happened); by default the calendar
    month so far."""
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    fallback = Range(month_start, now, month_start.date().isoformat(), now.date().isoformat())
    first = _day(start, "start", fallback) if start else month_start.date()
    last = _day(end, "end", fallback) if end else now.date()
    range_start = datetime.combine(first, time(), tzinfo=UTC)
    range_end = datetime.combine(last, time(), tzinfo=UTC) + timedelta(days=1)
    asked = Range(range_start, range_end, first.isoformat(), last.isoformat())
    if first > now.date():
        raise _BadRange(FieldError("start", "Start date: must be today or earlier."), asked)
    if range_start >= range_end:
        raise _BadRange(FieldError("end", "End date: must be on or after the start date."), asked)
    # Up to now, unless the range starts this very moment (the first instant of a month).
    return replace(asked, end=min(range_end, now)) if now > range_start else asked


def _day(typed: str, field: str, fallback: Range) -> date:
    try:
        return date.fromisoformat(typed)
    except ValueError:
        raise _BadRange(
            FieldError(field, f"{_FIELD_LABELS[field]}: enter a date as YYYY-MM-DD."), fallback
        ) from None


def _view(pages: Pages, asked: Range) -> AnalyticsView:
    kit = pages.kit
    try:
        figures = kit.analytics(start=asked.start, end=asked.end, unit=UNIT)
    except InvalidRequest as invalid:
        label = _FIELD_LABELS.get(invalid.field, invalid.field)
        raise _BadRange(FieldError(invalid.field, f"{label}: {invalid.reason}."), asked) from None
    catalog = kit.catalog
    if not (catalog is not None):
        raise InvariantViolation("analytics needs a catalog, and the service always has one", "")
    plan_names = {plan.id: plan.name for plan in catalog.plans.values()}
    spec = catalog.units.get(UNIT)
    cost = None if spec is None else spec.cost
    liability_cost = None
    if cost is not None and spec is not None:
        liability_cost = cost.amount_for(
            _steps(figures.credits_outstanding, spec.scale), spec.scale
        )
    subscribers = [
        (plan_names.get(plan, plan), count)
        for plan, count in list(figures.subscribers_by_plan.items())[: charts.ROWS_MAX]
    ]
    return AnalyticsView(
        figures=figures,
        plan_names=plan_names,
        pack_names={pack.id: pack.name for pack in catalog.packs.values()},
        subscribers=charts.row_chart(subscribers),
        subscribers_label="Subscribers per plan: "
        + ", ".join(f"{name} {credits(count)}" for name, count in subscribers),
        cost=cost,
        liability_cost=liability_cost,
    )


def _steps(quantity: Quantity, scale: int) -> int:
    """The smallest steps in ``quantity`` of a unit of ``scale`` decimal places (exact)."""
    return int(Decimal(quantity).scaleb(scale))
