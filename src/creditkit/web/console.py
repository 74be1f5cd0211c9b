"""The operator's console: customers (``/console``: search and list), one customer in full
(``/console/customers/{id}``: subscription, balance, grants, holds, usage, members, history),
and adjustments of its credits with a reason (``POST /console/adjustments``). Every page needs a
console session (an admin key, ``/console/login``); the analytics page is
``analytics_page.py``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from creditkit.analytics.schemas import CustomerPage
from creditkit.derived_keys import console_key
from creditkit.entitlements.schemas import Member
from creditkit.errors import CreditKitError, InsufficientCredits, InvalidRequest, UnknownCustomer
from creditkit.keys.schemas import Caller
from creditkit.ledger.schemas import Balance, Customer, CustomerKind, HistoryPage, Hold
from creditkit.subscriptions.schemas import Subscription
from creditkit.usage.schemas import UsageBreakdown, UsageSummary
from creditkit.web.context import CONSOLE_COOKIE, FormRejected, Notice, Pages
from creditkit.web.spending import SpendingView, spending_view

#: Customers on one page of the list; transactions on one page of a customer's history.
CUSTOMERS_PAGE_SIZE = 25
HISTORY_PAGE_SIZE = 20
#: Active holds shown on a customer's page (a customer rarely has more than a few).
HOLDS_SHOWN_MAX = 50
#: Actions in the period's breakdown; the rest are one "Everything else" row.
BREAKDOWN_ROWS_MAX = 8
#: A search is part of a customer id, which is at most 255 characters.
SEARCH_LENGTH_MAX = 255
CURSOR_LENGTH_MAX = 200
REASON_LENGTH_MAX = 500
#: The ledger stores at most 10^15 steps: 16 digits are enough to say anything it accepts.
AMOUNT_DIGITS_MAX = 16
#: What ``Pages.form_tokens`` makes: 32 hex digits.
_FORM_KEY = re.compile(r"[0-9a-f]{32}")
#: The credits the console shows and corrects.
UNIT = "credits"


@dataclass(frozen=True, slots=True)
class FieldError:
    """What is wrong with one field of the adjustment form, as the operator reads it."""

    field: str
    text: str


class _Refused(Exception):
    def __init__(self, error: FieldError) -> None:
        super().__init__(error.text)
        self.error = error


@dataclass(frozen=True, slots=True)
class AdjustmentForm:
    """The adjustment form's fields as typed (shown again when it is refused)."""

    direction: str = "add"
    amount: str = ""
    reason: str = ""
    expires_on: str = ""


@dataclass(frozen=True, slots=True)
class CustomerView:
    customer: Customer
    subscription: Subscription | None
    plan_name: str | None
    scheduled_plan_name: str | None
    balance: Balance
    holds: tuple[Hold, ...]
    summary: UsageSummary
    by_action: UsageBreakdown
    members: tuple[Member, ...] | None
    history: HistoryPage
    #: The spender tree, spending by spender and budgets (empty without spenders or budgets).
    spending: SpendingView | None = None


def customer_url(customer: str) -> str:
    """The customer's console page: its id is one path segment, whatever characters it has."""
    return f"/console/customers/{quote(customer, safe='')}"


def router(pages: Pages) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/console")
    def customers(
        request: Request,
        search: Annotated[str, Query(max_length=SEARCH_LENGTH_MAX)] = "",
        cursor: Annotated[str | None, Query(max_length=CURSOR_LENGTH_MAX)] = None,
    ) -> Response:
        caller = pages.console_caller(request)
        search = search.strip()
        listing, error = None, None
        try:
            listing = _customers(pages, search, cursor)
        except InvalidRequest as invalid:  # a search the listing cannot take (a NUL)
            error = FieldError(invalid.field, f"Search: {invalid.reason}.")
        return pages.page(
            request,
            "console/customers.html",
            title="Customers",
            section="customers",
            caller=caller,
            search=search,
            listing=listing,
            error=error,
            plan_names=_plan_names(pages),
            customer_url=customer_url,
            status_code=200 if error is None else 400,
        )

    @router.get("/console/customers/{customer_id:path}")
    def customer(
        request: Request,
        customer_id: str,
        cursor: Annotated[str | None, Query(max_length=CURSOR_LENGTH_MAX)] = None,
    ) -> Response:
        caller = pages.console_caller(request)
        return _customer_page(pages, request, caller, customer_id, cursor)

    @router.post("/console/adjustments")
    async def adjust(request: Request) -> Response:
        caller = pages.console_caller(request)
        form = await pages.checked_form(request, CONSOLE_COOKIE)
        customer_id = _text(form, "customer")
        key = _text(form, "idempotency_key")
        if not customer_id or not _FORM_KEY.fullmatch(key):
            raise FormRejected()  # not a form this console drew
        typed = AdjustmentForm(
            direction=_text(form, "direction"),
            amount=_text(form, "amount").strip(),
            reason=_text(form, "reason").strip(),
            expires_on=_text(form, "expires_on").strip(),
        )
        try:
            notice = _apply(pages, caller, customer_id, typed, console_key("adjustment", key))
        except UnknownCustomer:
            return _not_found(pages, request, caller, customer_id)
        except _Refused as refused:
            return _customer_page(
                pages, request, caller, customer_id, None, typed, refused.error, status_code=400
            )
        return pages.redirect(customer_url(customer_id), notice)

    @router.post("/console/period-resets")
    async def reset_period(request: Request) -> Response:
        caller = pages.console_caller(request)
        form = await pages.checked_form(request, CONSOLE_COOKIE)
        customer_id = _text(form, "customer")
        key = _text(form, "idempotency_key")
        if not customer_id or not _FORM_KEY.fullmatch(key):
            raise FormRejected()  # not a form this console drew
        typed = _text(form, "reset_reason").strip()
        try:
            _reset(pages, customer_id, typed, console_key("period-reset", key))
        except UnknownCustomer:
            return _not_found(pages, request, caller, customer_id)
        except _Refused as refused:
            return _customer_page(
                pages, request, caller, customer_id, None, None, refused.error, status_code=400,
                reset_reason=typed,
            )  # fmt: skip
        return pages.redirect(
            customer_url(customer_id), Notice("success", f"Reset {customer_id}'s period.")
        )

    return router


def _reset(pages: Pages, customer_id: str, typed: str, key: str) -> None:
    """Ends the customer's allowance period now, or raises ``_Refused`` naming the field."""
    try:
        reason = _reason(typed)
    except _Refused as refused:
        raise _Refused(FieldError("reset_reason", refused.error.text)) from None
    try:
        pages.kit.reset_period(customer_id, reason=reason, idempotency_key=key)
    except UnknownCustomer:
        raise
    except CreditKitError as error:  # a plan without an allowance, a key reused, a busy ledger
        raise _Refused(FieldError("reset_reason", f"Not reset: {error}.")) from None


def _customers(pages: Pages, search: str, cursor: str | None) -> CustomerPage:
    try:
        return pages.kit.customers(search=search or None, limit=CUSTOMERS_PAGE_SIZE, cursor=cursor)
    except InvalidRequest as invalid:
        if invalid.field != "cursor":
            raise
    # A stale or edited cursor: start again from the first page.
    return pages.kit.customers(search=search or None, limit=CUSTOMERS_PAGE_SIZE)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _plan_names(pages: Pages) -> dict[str, str]:
    catalog = pages.kit.catalog
    return {} if catalog is None else {plan.id: plan.name for plan in catalog.plans.values()}


def _customer_page(
    pages: Pages,
    request: Request,
    caller: Caller,
    customer_id: str,
    cursor: str | None,
    typed: AdjustmentForm | None = None,
    error: FieldError | None = None,
    status_code: int = 200,
    reset_reason: str = "",
) -> Response:
    try:
        view = _customer_view(pages, customer_id, cursor)
    except (UnknownCustomer, InvalidRequest):  # InvalidRequest: not even a customer id
        return _not_found(pages, request, caller, customer_id)
    return pages.page(
        request,
        "console/customer.html",
        title=customer_id,
        section="customers",
        caller=caller,
        view=view,
        adjustment=typed or AdjustmentForm(),
        error=error,
        tokens=pages.form_tokens(request, CONSOLE_COOKIE),
        today=pages.kit.now().date().isoformat(),
        reason_length_max=REASON_LENGTH_MAX,
        reset_reason=reset_reason,
        customer_url=customer_url,
        history_labels=pages.history_labels(),
        status_code=status_code,
    )


def _not_found(pages: Pages, request: Request, caller: Caller, customer_id: str) -> Response:
    return pages.page(
        request,
        "console/not_found.html",
        title="No such customer",
        section="customers",
        caller=caller,
        customer_id=customer_id,
        status_code=404,
    )


def _customer_view(pages: Pages, customer_id: str, cursor: str | None) -> CustomerView:
    kit = pages.kit
    customer = kit.customer(customer_id)
    subscription = plan_name = scheduled_plan_name = None
    members = None
    if kit.catalog is not None:
        subscription = kit.subscription(customer_id)
        names = _plan_names(pages)
        if subscription is not None:
            plan_name = names.get(subscription.plan, subscription.plan)
            if subscription.scheduled_plan is not None:
                scheduled_plan_name = names.get(
                    subscription.scheduled_plan, subscription.scheduled_plan
                )
        if customer.kind is CustomerKind.WORKSPACE:
            members = tuple(kit.members(customer_id))
    summary = kit.usage_summary(customer_id, unit=UNIT)
    try:
        history = kit.history(customer_id, unit=UNIT, limit=HISTORY_PAGE_SIZE, cursor=cursor)
    except InvalidRequest:  # a stale or edited cursor: start again from the newest
        history = kit.history(customer_id, unit=UNIT, limit=HISTORY_PAGE_SIZE)
    return CustomerView(
        customer=customer,
        subscription=subscription,
        plan_name=plan_name,
        scheduled_plan_name=scheduled_plan_name,
        balance=kit.balance(customer_id, unit=UNIT),
        holds=kit.holds(customer_id, limit=HOLDS_SHOWN_MAX),
        summary=summary,
        by_action=kit.usage_breakdown(
            customer_id,
            by="action",
            start=summary.period_start,
            end=summary.period_end,
            unit=UNIT,
            limit=BREAKDOWN_ROWS_MAX,
        ),
        members=members,
        history=history,
        spending=spending_view(kit, customer_id, summary.period_start, summary.period_end, UNIT),
    )


# -- adjustments --------------------------------------------------------------------------------

_FIELD_LABELS = {
    "amount": "Amount",
    "direction": "Direction",
    "reason": "Reason",
    "expires_on": "Expiry date",
    "expires_at": "Expiry date",
}


def _apply(
    pages: Pages, caller: Caller, customer_id: str, typed: AdjustmentForm, key: str
) -> Notice:
    """Grants or removes the credits the form asks for, or raises ``_Refused`` naming the field
    at fault (nothing written but a ledger refusal, which moves nothing)."""
    amount = _amount(typed.amount)
    reason = _reason(typed.reason)
    if typed.direction not in ("add", "remove"):
        raise _Refused(FieldError("direction", "Direction: choose add or remove."))
    expires_at = _expiry(typed.expires_on, pages.kit.now()) if typed.expires_on else None
    if expires_at is not None and typed.direction == "remove":
        raise _Refused(
            FieldError("expires_on", "Expiry date: only added credits expire; leave it empty.")
        )
    # Who decided and why, with the credits: the ledger keeps it in the customer's history.
    metadata = {"reason": reason, "operator_key": caller.key_id}
    kit = pages.kit
    try:
        if typed.direction == "add":
            kit.grant(
                customer_id,
                amount,
                unit=UNIT,
                source="adjustment",
                expires_at=expires_at,
                metadata=metadata,
                idempotency_key=key,
            )
            return Notice("success", f"Added {amount:,} credits to {customer_id}.")
        kit.remove_credits(customer_id, amount, unit=UNIT, metadata=metadata, idempotency_key=key)
        return Notice("success", f"Removed {amount:,} credits from {customer_id}.")
    except InsufficientCredits as short:
        raise _Refused(
            FieldError(
                "amount",
                f"Amount: {customer_id} has {short.available:,} credits that can be removed,"
                f" fewer than {short.required:,}. Credits in holds are in use.",
            )
        ) from None
    except InvalidRequest as invalid:
        field = "expires_on" if invalid.field == "expires_at" else invalid.field
        label = _FIELD_LABELS.get(field, field)
        raise _Refused(FieldError(field, f"{label}: {invalid.reason}.")) from None
    except UnknownCustomer:
        raise
    except CreditKitError as error:  # a key reused for another request, a busy ledger
        raise _Refused(FieldError("amount", f"Not applied: {error}.")) from None


def _amount(typed: str) -> int:
    if not typed.isdigit() or not typed.isascii() or len(typed) > AMOUNT_DIGITS_MAX:
        raise _Refused(FieldError("amount", "Amount: enter a whole number of credits, like 250."))
    amount = int(typed)
    if amount <= 0:
        raise _Refused(FieldError("amount", "Amount: must be more than zero."))
    return amount


def _reason(typed: str) -> str:
    if not typed:
        raise _Refused(
            FieldError("reason", "Reason: say why; it is kept in the customer's history.")
        )
    if len(typed) > REASON_LENGTH_MAX:
        raise _Refused(
            FieldError(
                "reason",
                f"Reason: at most {REASON_LENGTH_MAX} characters (this one has {len(typed)}).",
            )
        )
    if "\x00" in typed:
        raise _Refused(FieldError("reason", "Reason: must not contain NUL characters."))
    return typed


def _expiry(typed: str, now: datetime) -> datetime:
    """Credits expiring "on" a day count through it: they stop at the next midnight, UTC."""
    try:
        day = date.fromisoformat(typed)
    except ValueError:
        raise _Refused(
            FieldError("expires_on", "Expiry date: enter a date as YYYY-MM-DD.")
        ) from None
    expires_at = datetime.combine(day, time(), tzinfo=UTC) + timedelta(days=1)
    if expires_at <= now:
        raise _Refused(FieldError("expires_on", "Expiry date: must be today or later."))
    return expires_at
