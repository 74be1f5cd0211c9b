"""The billing page (``/app/billing``): the plans side by side with what each includes, a
monthly/yearly toggle, changing plan, credit packs and receipts (``/app/receipts/{id}``).

A change to a paid plan (up, down, or to the other billing interval) goes through checkout and
starts once paid: the provider's page takes the money, its webhook starts the plan. A move to a
free plan has nothing to pay: it is scheduled for the end of the billing period (the paid plan
stands until then, as the seeds want) and can be taken back until then ("Keep …"). Checkouts
started here come back to ``/app/billing`` (or to ``/app/credits``, whose packs use the same
form).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from creditkit.api import repository as api_repository
from creditkit.api.auth import Access
from creditkit.api.problems import ApiProblem
from creditkit.catalog import UNLIMITED, Allowance, Catalog, Interval, LimitKind, Period, Plan
from creditkit.derived_keys import page_key
from creditkit.errors import CreditKitError, InvalidRequest, InvariantViolation
from creditkit.keys.schemas import Caller, Scope, SessionPermission
from creditkit.ledger.schemas import Money
from creditkit.payments.errors import ReceiptNotFound
from creditkit.payments.schemas import Receipt, ReceiptPage
from creditkit.subscriptions.schemas import Subscription
from creditkit.web import forms, offers
from creditkit.web.checkout import SANDBOX, SANDBOX_CHECKOUT_PATH, browsable
from creditkit.web.context import CUSTOMER_COOKIE, Notice, Pages
from creditkit.web.rendering import credits, day, money

RECEIPTS_PAGE_SIZE = 10
CURSOR_LENGTH_MAX = 200
#: Catalog ids (plans, packs) are short; a longer one posted is not the catalog's.
CATALOG_ID_LENGTH_MAX = 64
#: Where a checkout started from a page returns: the form names the page, never a URL (so no
#: form can send a customer's browser elsewhere after paying).
RETURN_PAGES = {"billing": "/app/billing", "credits": "/app/credits"}
#: Checkout's field names as the billing forms label them.
CHECKOUT_LABELS = {"plan": "Plan", "pack": "Pack", "interval": "Billing interval"}
#: Receipt ids are database ids: at most 19 digits, at most a signed 64-bit integer.
RECEIPT_ID_LENGTH_MAX = 19
ROW_ID_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class PlanCard:
    """One plan as the page offers it, priced by the interval shown (or the one it is sold
    by). ``action`` is ``checkout``, ``downgrade`` or None (nothing to do, or not allowed)."""

    plan: Plan
    price: Money | None
    interval: Interval | None
    saving: offers.AnnualSaving | None
    current: bool
    billed_as_current: bool
    scheduled: bool
    action: str | None
    action_label: str | None


@dataclass(frozen=True, slots=True)
class FeatureRow:
    label: str
    included: tuple[bool, ...]


@dataclass(frozen=True, slots=True)
class TermRow:
    label: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BillingView:
    interval: Interval
    intervals: tuple[Interval, ...]
    yearly_saving_percent: int | None
    cards: tuple[PlanCard, ...]
    features: tuple[FeatureRow, ...]
    terms: tuple[TermRow, ...]
    subscription: Subscription | None
    current_plan: Plan | None
    next_plan: Plan | None
    packs: tuple[offers.PackOffer, ...]
    receipts: ReceiptPage
    may_buy: bool


def router(pages: Pages) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/app/billing")
    def billing(
        request: Request,
        interval: Annotated[str | None, Query(max_length=8)] = None,
        receipts: Annotated[str | None, Query(max_length=CURSOR_LENGTH_MAX)] = None,
    ) -> Response:
        caller = pages.customer_caller(request)
        if not (caller.customer is not None):
            raise InvariantViolation("caller.customer is not None", "")
        view = _billing(pages, caller, interval, receipts)
        return pages.page(
            request,
            "customer/billing.html",
            title="Billing",
            section="billing",
            caller=caller,
            view=view,
            form=pages.form_tokens(request, CUSTOMER_COOKIE),
            paid=request.query_params.get("paid") == "1",
            canceled=request.query_params.get("canceled") == "1",
        )

    @router.post("/app/billing/checkout")
    async def checkout(request: Request) -> Response:
        caller = pages.customer_caller(request)
        form = await pages.checked_form(request, CUSTOMER_COOKIE)
        base_url = pages.base_url(request)
        return await run_in_threadpool(_checkout, pages, caller, form, base_url)

    @router.post("/app/billing/downgrade")
    async def downgrade(request: Request) -> Response:
        caller = pages.customer_caller(request)
        form = await pages.checked_form(request, CUSTOMER_COOKIE)
        return await run_in_threadpool(_downgrade, pages, caller, form)

    @router.post("/app/billing/keep")
    async def keep(request: Request) -> Response:
        caller = pages.customer_caller(request)
        form = await pages.checked_form(request, CUSTOMER_COOKIE)
        return await run_in_threadpool(_keep, pages, caller, form)

    @router.get("/app/billing/pay/{session_id}")
    def continue_to_payment(request: Request, session_id: str) -> Response:
        """The step from a checkout form to a provider on another site: the browser follows a
        refresh (the pages' policy lets forms redirect only to this site)."""
        caller = pages.customer_caller(request)
        target = _own_checkout(pages, caller, session_id)
        if target is None:
            return _not_found(pages, request, caller, "checkout")
        return pages.page(
            request,
            "customer/continue_to_payment.html",
            title="Continue to payment",
            section="billing",
            caller=caller,
            target=target,
        )

    @router.get("/app/receipts/{receipt_id}")
    def receipt(
        request: Request,
        receipt_id: str,
    ) -> Response:
        caller = pages.customer_caller(request)
        found = _own_receipt(pages, caller, receipt_id)
        if found is None:
            return _not_found(pages, request, caller, "receipt")
        return pages.page(
            request,
            "customer/receipt.html",
            title=f"Receipt {found.number}",
            section="billing",
            caller=caller,
            receipt=found,
            lines=[
                (line.description, Money(line.amount_minor, found.total.currency))
                for line in found.lines
            ],
        )

    return router


def _not_found(pages: Pages, request: Request, caller: Caller, what: str) -> Response:
    return pages.page(
        request,
        "customer/not_found.html",
        title="Not found",
        section="billing",
        caller=caller,
        what=what,
        back="/app/billing",
        status_code=404,
    )


# -- the page --------------------------------------------------------------------------------


def _billing(pages: Pages, caller: Caller, interval: str | None, cursor: str | None) -> BillingView:
    kit = pages.kit
    if not (caller.customer is not None and kit.catalog is not None):
        raise InvariantViolation("caller.customer is not None and kit.catalog is not None", "")
    catalog = kit.catalog
    subscription = kit.subscription(caller.customer)
    current = None if subscription is None else catalog.plans.get(subscription.plan)
    next_plan = None
    if subscription is not None and subscription.scheduled_plan is not None:
        next_plan = catalog.plans.get(subscription.scheduled_plan)
    elif subscription is not None and subscription.cancel_at_period_end:
        next_plan = catalog.default_plan
    offered = _intervals(catalog)
    shown = _shown_interval(interval, subscription, offered)
    plans = catalog.plans_by_rank()
    may_buy = pages.may(caller, SessionPermission.BUY)
    cards = tuple(_card(plan, shown, subscription, current, next_plan, may_buy) for plan in plans)
    savings = [saving.percent for plan in plans if (saving := offers.annual_saving(plan))]
    try:
        receipts = kit.receipts(caller.customer, limit=RECEIPTS_PAGE_SIZE, cursor=cursor)
    except CreditKitError:  # a stale or edited cursor: start again from the newest
        receipts = kit.receipts(caller.customer, limit=RECEIPTS_PAGE_SIZE)
    return BillingView(
        interval=shown,
        intervals=offered,
        yearly_saving_percent=max(savings) if savings else None,
        cards=cards,
        features=_feature_rows(catalog, plans),
        terms=_term_rows(catalog, plans),
        subscription=subscription,
        current_plan=current,
        next_plan=next_plan,
        packs=tuple(offers.pack_offers(list(catalog.packs.values()))),
        receipts=receipts,
        may_buy=may_buy,
    )


def _intervals(catalog: Catalog) -> tuple[Interval, ...]:
    sold = {interval for plan in catalog.plans.values() for interval in plan.prices}
    return tuple(interval for interval in Interval if interval in sold) or (Interval.MONTH,)


def _shown_interval(
    asked: str | None, subscription: Subscription | None, offered: tuple[Interval, ...]
) -> Interval:
    """The interval asked for (``?interval=year``), else the one the customer pays by."""
    for candidate in (asked, None if subscription is None else subscription.interval.value):
        if candidate in {interval.value for interval in offered}:
            return Interval(candidate)
    return offered[0]


def _card(
    plan: Plan,
    shown: Interval,
    subscription: Subscription | None,
    current: Plan | None,
    next_plan: Plan | None,
    may_buy: bool,
) -> PlanCard:
    # A plan not sold by the interval shown is priced by the one it is sold by.
    interval = shown if shown in plan.prices else next(iter(plan.prices), None)
    price = None if interval is None else plan.prices[interval]
    is_current = current is not None and plan.id == current.id
    billed_as_current = (
        is_current and subscription is not None and subscription.interval == interval
    )
    scheduled = next_plan is not None and plan.id == next_plan.id and not is_current
    action, label = None, None
    if may_buy and price is not None and not billed_as_current and not scheduled:
        action, label = _action(plan, price, interval, current)
    return PlanCard(
        plan=plan,
        price=price,
        interval=interval,
        saving=offers.annual_saving(plan) if interval is Interval.YEAR else None,
        current=is_current,
        billed_as_current=billed_as_current,
        scheduled=scheduled,
        action=action,
        action_label=label,
    )


def _action(
    plan: Plan, price: Money, interval: Interval | None, current: Plan | None
) -> tuple[str | None, str | None]:
    if price.amount_minor == 0:
        # Nothing to pay: only a way down from a paid plan, at the end of its period.
        if current is not None and plan.rank < current.rank:
            return "downgrade", f"Downgrade to {plan.name}"
        return None, None
    if current is not None and plan.id == current.id:
        if not (interval is not None):
            raise InvariantViolation("interval is not None", "")
        return "checkout", f"Switch to {interval.value}ly billing"
    if current is None or plan.rank > current.rank:
        return "checkout", f"Upgrade to {plan.name}"
    return "checkout", f"Switch to {plan.name}"


def _feature_rows(catalog: Catalog, plans: tuple[Plan, ...]) -> tuple[FeatureRow, ...]:
    names = list(dict.fromkeys(name for plan in plans for name in plan.features))
    return tuple(
        FeatureRow(catalog.feature_label(name), tuple(plan.has_feature(name) for plan in plans))
        for name in names
    )


def _term_rows(catalog: Catalog, plans: tuple[Plan, ...]) -> tuple[TermRow, ...]:
    rows = [TermRow("Credits included", tuple(_allowance_text(plan) for plan in plans))]
    limit_names = dict.fromkeys(name for plan in plans for name in plan.limits)
    rows += [
        TermRow(catalog.limit_label(name), tuple(_limit_text(plan, name) for plan in plans))
        for name in limit_names
    ]
    quota_names = dict.fromkeys(name for plan in plans for name in plan.quotas)
    rows += [
        TermRow(catalog.limit_label(name), tuple(_quota_text(plan, name) for plan in plans))
        for name in quota_names
    ]
    rows.append(TermRow("Rate limit", tuple(_rate_text(plan) for plan in plans)))
    rows.append(TermRow("Pay as you go", tuple(_overage_text(plan) for plan in plans)))
    return tuple(rows)


def _unit(name: str) -> str:
    return name.replace("_", " ")


def _allowance_text(plan: Plan) -> str:
    allowance = plan.allowance
    if allowance is UNLIMITED:
        return "Unlimited"
    if not isinstance(allowance, Allowance):
        return "None"
    article = "an" if allowance.period is Period.HOUR else "a"
    return f"{credits(allowance.amount)} {_unit(allowance.unit)} {article} {allowance.period.value}"


def _limit_text(plan: Plan, name: str) -> str:
    """A plan that does not name a limit sets no cap on it (as entitlements count it)."""
    limit = plan.limits.get(name)
    if limit is None or limit.value is UNLIMITED:
        return "Unlimited"
    if limit.value == 0:
        return "Not included"
    if limit.kind is LimitKind.PER_PERIOD and limit.period is not None:
        article = "an" if limit.period is Period.HOUR else "a"
        return f"{limit.value:,} {article} {limit.period.value}"
    return f"{limit.value:,}"


def _quota_text(plan: Plan, name: str) -> str:
    value = plan.quotas.get(name)
    if value is None:
        return "—"
    return "Unlimited" if value is UNLIMITED else f"{value:,}"


def _rate_text(plan: Plan) -> str:
    if plan.rate_limit_per_minute is None:
        return "No limit"
    return f"{plan.rate_limit_per_minute:,} requests a minute"


def _overage_text(plan: Plan) -> str:
    overage = plan.overage
    if overage is None:
        return "Not available"
    unit = _unit(overage.unit)
    if overage.price is None:
        price = "Owed into the next period"
    else:
        price = f"{money(overage.price.money)} per {credits(overage.price.per)} {unit}"
    if overage.spend_limit is UNLIMITED:
        return f"{price}, no cap"
    return f"{price}, up to {credits(overage.spend_limit)} {unit} a period"


# -- writes ----------------------------------------------------------------------------------


def _checkout(pages: Pages, caller: Caller, form: FormData, base_url: str) -> Response:
    """Starts a checkout of the plan (by its interval) or pack the form names, then sends the
    browser to the provider's page (the sandbox's is served here)."""
    if not (caller.customer is not None):
        raise InvariantViolation("caller.customer is not None", "")
    named = form.get("return")
    back = RETURN_PAGES.get(named if isinstance(named, str) else "", RETURN_PAGES["billing"])
    key = forms.idempotency_key(form)
    try:
        plan = forms.text(form, "plan", "Plan", CATALOG_ID_LENGTH_MAX) or None
        pack = forms.text(form, "pack", "Pack", CATALOG_ID_LENGTH_MAX) or None
        interval = forms.text(form, "interval", "Billing interval", 8) or Interval.MONTH.value
        pages.access.require_customer(caller, caller.customer, Scope.WRITE, SessionPermission.BUY)
        session = pages.kit.checkout(
            caller.customer,
            plan=plan,
            pack=pack,
            interval=interval,
            success_url=f"{base_url}{back}?paid=1",
            cancel_url=f"{base_url}{back}?canceled=1",
            idempotency_key=Access.key_of(caller, key),
        )
    except (CreditKitError, ApiProblem) as error:
        return pages.redirect(back, Notice("error", forms.problem(error, CHECKOUT_LABELS)))
    if session.provider == SANDBOX:
        return pages.redirect(f"{SANDBOX_CHECKOUT_PATH}{session.session_id}")
    # A provider on another site: through a page of this one (see ``continue_to_payment``).
    return pages.redirect(f"/app/billing/pay/{quote(session.session_id, safe='')}")


def _own_checkout(pages: Pages, caller: Caller, session_id: str) -> str | None:
    """Where the browser pays for the customer's checkout ``session_id``: the sandbox's page on
    this site (whatever base address the provider was given), or the provider's. None when it
    is not the customer's, or not a page a browser may be sent to."""
    try:
        state = pages.kit.checkout_session(session_id)
    except CreditKitError:
        return None
    if state.payment.customer != caller.customer:
        return None
    if state.payment.provider == SANDBOX:
        return f"{SANDBOX_CHECKOUT_PATH}{state.session_id}"
    return browsable(state.url, ())  # the provider's own page, wherever it is


def _downgrade(pages: Pages, caller: Caller, form: FormData) -> Response:
    """Schedules the move to a free plan below the current one for the end of the period."""
    if not (caller.customer is not None and pages.kit.catalog is not None):
        raise InvariantViolation(
            "caller.customer is not None and pages.kit.catalog is not None", ""
        )
    kit, customer, catalog = pages.kit, caller.customer, pages.kit.catalog
    key = forms.idempotency_key(form)
    try:
        plan_id = forms.required(form, "plan", "Plan", CATALOG_ID_LENGTH_MAX)
        pages.access.require_customer(caller, customer, Scope.WRITE, SessionPermission.BUY)
        target, current = catalog.plan(plan_id), kit.plan_of(customer)
        # Only a plan that costs nothing may be had without checkout.
        free = bool(target.prices) and all(p.amount_minor == 0 for p in target.prices.values())
        if not free or target.rank >= current.rank:
            raise InvalidRequest("Plan", f"{target.name} is not a free plan below {current.name}")
        interval = next(iter(target.prices)).value
        _once(
            pages,
            caller,
            key,
            f"downgrade:{target.id}",
            lambda: kit.change_plan(customer, target.id, interval=interval),
        )
        subscription = kit.subscription(customer)
    except (CreditKitError, ApiProblem) as error:
        return pages.redirect("/app/billing", Notice("error", forms.problem(error, {})))
    ends = "" if subscription is None else f" ({day(subscription.current_period_end)})"
    text = f"Your {current.name} plan stays until the end of this period{ends}, then {target.name}."
    return pages.redirect("/app/billing", Notice("success", text))


def _keep(pages: Pages, caller: Caller, form: FormData) -> Response:
    """Takes back a scheduled change: the plan in force goes on."""
    if not (caller.customer is not None):
        raise InvariantViolation("caller.customer is not None", "")
    kit, customer = pages.kit, caller.customer
    key = forms.idempotency_key(form)
    try:
        pages.access.require_customer(caller, customer, Scope.WRITE, SessionPermission.BUY)
        kept = kit.subscription(customer)
        if kept is None:
            raise InvalidRequest("Plan", "you have no plan to keep")
        interval = kept.interval.value
        _once(
            pages,
            caller,
            key,
            f"keep:{kept.plan}:{interval}",
            lambda: kit.change_plan(customer, kept.plan, interval=interval),
        )
        plan = kit.plan_of(customer)
    except (CreditKitError, ApiProblem) as error:
        return pages.redirect("/app/billing", Notice("error", forms.problem(error, {})))
    return pages.redirect("/app/billing", Notice("success", f"You keep the {plan.name} plan."))


def _once(pages: Pages, caller: Caller, key: str, change: str, work: Callable[[], object]) -> None:
    """Runs ``work`` once per form: a form posted again (a double click, a resubmission from
    the browser's history) is recorded already and changes nothing. Plan changes are not
    ledger writes, so they are keyed as the API keys them (in its stored responses)."""
    ledger_key = Access.key_of(caller, page_key(key))
    fingerprint = hashlib.sha256(change.encode()).hexdigest()
    database = pages.kit.database
    with database.read() as connection:
        recorded = api_repository.recorded_response(connection, ledger_key)
    if recorded is not None:
        if recorded.request_sha256 != fingerprint:
            raise InvalidRequest("Form", "was sent before for another change: reload the page")
        return
    work()
    database.unit_of_work(
        pages.kit.now,
        lambda context: api_repository.record_response(
            context.connection, ledger_key, fingerprint, 303, "{}", context.now
        ),
    )


def _own_receipt(pages: Pages, caller: Caller, receipt_id: str) -> Receipt | None:
    """The receipt, when it is the signed-in customer's; None otherwise (not found or not
    theirs look the same, so ids reveal nothing)."""
    if len(receipt_id) > RECEIPT_ID_LENGTH_MAX or not receipt_id.isdigit():
        return None
    if not 0 < int(receipt_id) <= ROW_ID_MAX:
        return None
    try:
        found = pages.kit.receipt(int(receipt_id))
    except ReceiptNotFound:
        return None
    return found if found.customer == caller.customer else None
