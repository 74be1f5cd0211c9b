"""The customer's usage dashboard (``/app``): balance, the period's meter, breakdowns, a daily
chart, insights in words, the next reset, expiring credits and the transaction history."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from creditkit.errors import CreditKitError, InvariantViolation, Quantity
from creditkit.ledger.schemas import Balance, GrantBalance, HistoryPage, TransactionKind
from creditkit.usage.schemas import ModelUsage, UsageBreakdown, UsageSummary
from creditkit.web import charts
from creditkit.web.context import Pages
from creditkit.web.rendering import credits, day, percent
from creditkit.web.spending import SpendingView, kind_word, spender_insights, spending_view

#: Transactions on one page of the history.
HISTORY_PAGE_SIZE = 20
#: Groups shown in each breakdown table; the rest are one "Other" row.
BREAKDOWN_ROWS_MAX = 8
#: Without a threshold of the plan's or the customer's own, the balance is low under this part
#: of the period's allowance.
LOW_BALANCE_SHARE_DEFAULT = Decimal("0.1")
CURSOR_LENGTH_MAX = 200
FILTER_LENGTH_MAX = 64
#: Insights about usage dimensions look at this many recent days ("this week").
DIMENSION_INSIGHT_DAYS = 7
#: The history's kind filter, in the customer's words: each choice is some ledger kinds.
KIND_CHOICES: Mapping[str, tuple[str, tuple[TransactionKind, ...]]] = {
    "spending": ("Spending", (TransactionKind.CHARGE, TransactionKind.COMMIT)),
    "added": ("Credits added", (TransactionKind.GRANT,)),
    "gifts": ("Gifts and moves", (TransactionKind.TRANSFER,)),
    "expired": ("Expired", (TransactionKind.EXPIRY,)),
    "reserved": (
        "Holds",
        (TransactionKind.RESERVE, TransactionKind.RELEASE, TransactionKind.HOLD_EXPIRY),
    ),
    "refunds": ("Refunds", (TransactionKind.REFUND,)),
    "corrections": ("Corrections", (TransactionKind.ADJUSTMENT, TransactionKind.REVERSAL)),
}


@dataclass(frozen=True, slots=True)
class HistoryFilters:
    """The history's filters as chosen on the page (unknown choices are ignored, not errors:
    they come from an address bar, and the page still shows everything else)."""

    kind: str
    action: str

    def query(self, cursor: str | None = None) -> str:
        """The query string that keeps these filters (and goes to ``cursor``)."""
        chosen = {"kind": self.kind, "action": self.action, "cursor": cursor or ""}
        return urlencode({name: value for name, value in chosen.items() if value})


def _action_labels(pages: Pages) -> dict[str, str]:
    catalog = pages.kit.catalog
    return {} if catalog is None else {id_: a.label for id_, a in catalog.actions.items()}


def _filters(pages: Pages, kind: str, action: str) -> HistoryFilters:
    actions = {} if pages.kit.catalog is None else pages.kit.catalog.actions
    return HistoryFilters(kind if kind in KIND_CHOICES else "", action if action in actions else "")


@dataclass(frozen=True, slots=True)
class Dashboard:
    balance: Balance
    summary: UsageSummary
    plan_name: str | None
    next_reset_at: datetime | None
    meter: charts.Meter | None
    by_category: UsageBreakdown | None
    by_action: UsageBreakdown
    chart: charts.BarChart
    insights: tuple[str, ...]
    expiring: tuple[GrantBalance, ...]
    history: HistoryPage
    low: bool
    out: bool
    #: Spending by spender and the budgets with their use (empty without spenders or budgets).
    spending: SpendingView | None = None
    #: Tokens and credits per model this period (None: no action is priced by tokens).
    by_model: ModelUsage | None = None


def router(pages: Pages) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/app")
    def dashboard(
        request: Request,
        cursor: Annotated[str | None, Query(max_length=CURSOR_LENGTH_MAX)] = None,
        kind: Annotated[str, Query(max_length=FILTER_LENGTH_MAX)] = "",
        action: Annotated[str, Query(max_length=FILTER_LENGTH_MAX)] = "",
    ) -> Response:
        caller = pages.customer_caller(request)
        if not (caller.customer is not None):
            raise InvariantViolation("caller.customer is not None", "")
        filters = _filters(pages, kind, action)
        view = dashboard_view(pages, caller.customer, cursor, filters)
        return pages.page(
            request,
            "customer/dashboard.html",
            title="Usage",
            section="usage",
            caller=caller,
            view=view,
            filters=filters,
            kind_choices=KIND_CHOICES,
            action_labels=_action_labels(pages),
            history_labels=pages.history_labels(),
        )

    return router


def dashboard_view(
    pages: Pages, customer: str, cursor: str | None, filters: HistoryFilters
) -> Dashboard:
    """Everything the dashboard shows, read from the kit (bench/pages.py times it alone)."""
    kit = pages.kit
    summary = kit.usage_summary(customer)
    balance = kit.balance(customer)
    start, end = summary.period_start, summary.period_end
    catalog = kit.catalog
    by_category = None
    if catalog is not None and any(action.category for action in catalog.actions.values()):
        by_category = kit.usage_breakdown(
            customer, by="category", start=start, end=end, limit=BREAKDOWN_ROWS_MAX
        )
    by_action = kit.usage_breakdown(
        customer, by="action", start=start, end=end, limit=BREAKDOWN_ROWS_MAX
    )
    series = kit.usage_series(customer, start=start, end=end)
    subscription = kit.subscription(customer)
    plan = kit.plan_of(customer) if subscription is not None else None
    kinds = KIND_CHOICES[filters.kind][1] if filters.kind else None
    action = filters.action or None
    try:
        history = kit.history(
            customer, limit=HISTORY_PAGE_SIZE, cursor=cursor, kinds=kinds, action=action
        )
    except CreditKitError:  # a stale or edited cursor: start again from the newest
        history = kit.history(customer, limit=HISTORY_PAGE_SIZE, kinds=kinds, action=action)
    meter = None
    if not summary.unlimited and summary.allowance_used is not None:
        meter = charts.meter(summary.allowance_used)
    low_threshold = _low_threshold(pages, customer, summary)
    spendable = 0 if balance.unlimited else balance.available + balance.overage_available
    return Dashboard(
        balance=balance,
        summary=summary,
        plan_name=None if plan is None else plan.name,
        next_reset_at=summary.period_end if subscription is not None else None,
        meter=meter,
        by_category=by_category,
        by_action=by_action,
        chart=charts.bar_chart([(point.start, point.spent) for point in series.points]),
        insights=(
            *_insights(summary, by_category, by_action, kit.now()),
            *_dimension_insights(pages, customer, kit.now()),
            *spender_insights(kit, customer, kit.now()),
            *_model_insights(pages, customer, kit.now()),
        ),
        expiring=tuple(grant for grant in balance.grants if grant.expires_at is not None),
        history=history,
        low=not balance.unlimited and 0 < spendable <= low_threshold,
        out=not balance.unlimited and spendable <= 0,
        spending=spending_view(kit, customer, start, end),
        by_model=_by_model(pages, customer, start, end),
    )


def _token_priced(pages: Pages) -> bool:
    catalog = pages.kit.catalog
    return catalog is not None and any(a.tokens is not None for a in catalog.actions.values())


def _by_model(pages: Pages, customer: str, start: datetime, end: datetime) -> ModelUsage | None:
    if not _token_priced(pages):
        return None
    return pages.kit.usage_by_model(customer, start=start, end=end)


def _model_insights(pages: Pages, customer: str, now: datetime) -> tuple[str, ...]:
    """The week's costliest model, and the spender (an agent) that spent most on it."""
    if not _token_priced(pages):
        return ()
    week = pages.kit.usage_by_model(
        customer, start=now - timedelta(days=DIMENSION_INSIGHT_DAYS), end=now
    )
    if not week.models:
        return ()
    top = week.models[0]
    tokens = top.input_tokens + top.output_tokens + top.cache_read_tokens + top.cache_write_tokens
    said = (
        f"Your costliest model this week is {top.model}: {credits(top.spent)} credits"
        f" for {credits(tokens)} tokens in {credits(top.calls)}"
        f" {'call' if top.calls == 1 else 'calls'}"
    )
    if top.top_spender is None:
        return (f"{said}.",)
    kinds = {spender.id: spender.kind for spender in pages.kit.spenders(customer)}
    kind = kind_word(kinds.get(top.top_spender, "spender"))
    return (f"{said}, most of them by your {kind} {top.top_spender}.",)


def _low_threshold(pages: Pages, customer: str, summary: UsageSummary) -> Quantity:
    """The customer's (or plan's) ``credits_left`` alert; else a tenth of the allowance."""
    alerts = pages.kit.alerts(customer)
    if alerts.credits_left is not None:
        return alerts.credits_left
    return summary.allowance * LOW_BALANCE_SHARE_DEFAULT if summary.allowance else 0


def _insights(
    summary: UsageSummary,
    by_category: UsageBreakdown | None,
    by_action: UsageBreakdown,
    now: datetime,
) -> tuple[str, ...]:
    """What the numbers say, in words: where the credits went and where the period is heading."""
    said: list[str] = []
    if by_category is not None and by_category.groups and by_category.groups[0].key is not None:
        top = by_category.groups[0]
        said.append(f"You spent {percent(top.share)} of your credits on {top.key}.")
    if by_action.groups and by_action.groups[0].key is not None:
        top = by_action.groups[0]
        name = top.label or top.key
        said.append(
            f"Your most used action is {name}: {credits(top.charges)}"
            f" {'time' if top.charges == 1 else 'times'},"
            f" {credits(top.spent)} credits."
        )
    pace = _pace(summary, now)
    if pace:
        said.append(pace)
    return tuple(said)


def _dimension_insights(pages: Pages, customer: str, now: datetime) -> tuple[str, ...]:
    """For each usage dimension the catalog declares, its top value over the last week."""
    catalog = pages.kit.catalog
    if catalog is None:
        return ()
    said = []
    week_start = now - timedelta(days=DIMENSION_INSIGHT_DAYS)
    for dimension in catalog.dimensions.values():
        breakdown = pages.kit.usage_breakdown(
            customer, by="dimension", dimension=dimension.id, start=week_start, end=now, limit=1
        )
        if breakdown.groups and breakdown.groups[0].key is not None:
            top = breakdown.groups[0]
            said.append(
                f"Your top {dimension.label} this week is {top.key}:"
                f" {credits(top.spent)} credits, {percent(top.share)} of the week's use."
            )
    return tuple(said)


def _pace(summary: UsageSummary, now: datetime) -> str | None:
    """At this period's pace so far, when the allowance runs out (if before the reset)."""
    elapsed = now - summary.period_start
    if summary.unlimited or not summary.allowance or summary.spent <= 0:
        return None
    if elapsed < timedelta(days=1) or now >= summary.period_end:
        return None  # too early to say anything but noise, or the period is over
    # Whole seconds, exact: when spending at the same rate reaches the allowance.
    elapsed_seconds = elapsed // timedelta(seconds=1)
    to_allowance_seconds = int(elapsed_seconds * summary.allowance // summary.spent)
    runs_out_at = summary.period_start + timedelta(seconds=to_allowance_seconds)
    if runs_out_at >= summary.period_end:
        return (
            f"You have used {percent(summary.allowance_used)} of this period's credits:"
            " at this pace they last until the reset."
        )
    return (
        f"At this pace your credits run out around {day(runs_out_at)},"
        f" before the reset on {day(summary.period_end)}."
    )
