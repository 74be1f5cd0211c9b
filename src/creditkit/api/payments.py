"""Checkout, payment webhooks, refunds, receipts, saved payment methods and auto top-up."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from creditkit.api.context import Service
from creditkit.api.idempotency import IdempotencyKey
from creditkit.api.problems import ApiProblem
from creditkit.api.responses import BillingPortalLink, Removed
from creditkit.api.schemas import (
    TEXT_PATTERN,
    AutoTopUpPut,
    BillingPortalCreate,
    CheckoutCreate,
    PaymentMethodPut,
    SandboxPayment,
)
from creditkit.keys.schemas import Caller, Scope, SessionPermission
from creditkit.payments.schemas import (
    CheckoutSession,
    Payment,
    Receipt,
    ReceiptPage,
    Refund,
    TopUpSettings,
    WebhookOutcome,
)

CustomerId = Annotated[str, Path(min_length=1, max_length=255, pattern=TEXT_PATTERN)]
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
#: A webhook body, at most: Stripe's events are a few kilobytes.
WEBHOOK_BODY_BYTES_MAX = 1_000_000
#: Receipts listed at once, at most.
RECEIPTS_PAGE_MAX = 100


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["payments"])
    kit, access, responses = service.kit, service.access, service.responses
    Authenticated = Annotated[Caller, Depends(access.caller)]

    @api.post("/customers/{customer}/checkout", status_code=201, response_model=CheckoutSession)
    def checkout(
        caller: Authenticated, customer: CustomerId, body: CheckoutCreate, key: IdempotencyKey
    ) -> CheckoutSession:
        """Starts paying for a ``pack`` or a ``plan``: send the customer to the session's
        ``url``. Credits are granted (or the plan started) when the provider's webhook says
        it was paid. A session token may buy for its customer (in a workspace: the owner or an
        admin)."""
        access.require_customer(caller, customer, Scope.WRITE, SessionPermission.BUY)
        return kit.checkout(
            customer,
            pack=body.pack,
            plan=body.plan,
            interval=body.interval,
            coupon=body.coupon,
            success_url=body.success_url,
            cancel_url=body.cancel_url,
            idempotency_key=access.key_of(caller, key),
        )

    @api.post("/payments/{provider}/webhook", response_model=WebhookOutcome)
    async def webhook(
        request: Request, provider: Annotated[str, Path(pattern="^(sandbox|stripe)$")]
    ) -> WebhookOutcome:
        """The payment provider's webhook (no key: the signature authenticates it). Each event
        is applied exactly once; a replay answers 200 with ``applied`` false. A bad signature
        is a 400."""
        payload = await request.body()
        if len(payload) > WEBHOOK_BODY_BYTES_MAX:
            raise ApiProblem(413, "payload_too_large", "a webhook body is at most 1 MB")
        headers = {name.lower(): value for name, value in request.headers.items()}
        outcome: WebhookOutcome = await run_in_threadpool(
            kit.handle_webhook, provider, payload, headers
        )
        return outcome

    @api.post("/sandbox/checkouts/{session_id}/pay", response_model=WebhookOutcome)
    async def pay_sandbox_checkout(
        request: Request,
        caller: Authenticated,
        session_id: Annotated[str, Path(min_length=1, max_length=255, pattern=TEXT_PATTERN)],
        body: SandboxPayment,
        key: IdempotencyKey,
    ) -> JSONResponse:
        """The sandbox's payment page, as an API: pays with a test card (``4242…`` succeeds,
        ``4000000000000002`` is declined). Idempotent: the session is paid once."""
        access.require_scope(caller, Scope.WRITE)
        return await responses.once(
            request, key, lambda: kit.complete_sandbox_checkout(session_id, card=body.card)
        )

    @api.post(
        "/customers/{customer}/billing-portal", status_code=201, response_model=BillingPortalLink
    )
    async def billing_portal(
        request: Request,
        caller: Authenticated,
        customer: CustomerId,
        body: BillingPortalCreate,
        key: IdempotencyKey,
    ) -> JSONResponse:
        """A link to the provider's billing portal (Stripe's), where the customer changes
        their card or cancels; 409 ``portal_unavailable`` on the sandbox, which has none. A
        retry with the same Idempotency-Key answers the same link."""
        access.require_customer(caller, customer, Scope.WRITE, SessionPermission.BUY)
        return await responses.once(
            request,
            access.key_of(caller, key),
            lambda: BillingPortalLink(url=kit.billing_portal(customer, body.return_url)),
            status_code=201,
        )

    @api.get("/payments/{payment_id}", response_model=Payment)
    def payment(caller: Authenticated, payment_id: RowId) -> Payment:
        found = kit.payment(payment_id)
        access.require_customer(caller, found.customer, Scope.READ)
        return found

    @api.post("/payments/{payment_id}/refund", response_model=Refund)
    async def refund(
        request: Request, caller: Authenticated, payment_id: RowId, key: IdempotencyKey
    ) -> JSONResponse:
        """Refunds a pack within the refund window: its unused credits are taken back and the
        price times unused over granted is paid back. Once per payment."""
        access.require_scope(caller, Scope.WRITE)
        return await responses.once(request, key, lambda: kit.refund(payment_id))

    @api.get("/customers/{customer}/receipts", response_model=ReceiptPage)
    def receipts(
        caller: Authenticated,
        customer: CustomerId,
        limit: Annotated[int, Query(ge=1, le=RECEIPTS_PAGE_MAX)] = 50,
        cursor: Annotated[str | None, Query(max_length=200, pattern=TEXT_PATTERN)] = None,
    ) -> ReceiptPage:
        """Numbered receipts, newest first: purchases, subscription charges, overage."""
        access.require_customer(caller, customer, Scope.READ)
        return kit.receipts(customer, limit=limit, cursor=cursor)

    @api.get("/receipts/{receipt_id}", response_model=Receipt)
    def receipt(caller: Authenticated, receipt_id: RowId) -> Receipt:
        found = kit.receipt(receipt_id)
        access.require_customer(caller, found.customer, Scope.READ)
        return found

    @api.put("/customers/{customer}/payment-method", status_code=204)
    def save_payment_method(
        caller: Authenticated, customer: CustomerId, body: PaymentMethodPut
    ) -> None:
        """The saved payment method that renewals and auto top-ups charge. Idempotent."""
        access.require_scope(caller, Scope.WRITE)
        kit.save_payment_method(customer, body.payment_method)

    @api.get("/customers/{customer}/auto-top-up", response_model=TopUpSettings | None)
    def auto_top_up(caller: Authenticated, customer: CustomerId) -> TopUpSettings | None:
        """The customer's auto top-up, or null."""
        access.require_customer(caller, customer, Scope.READ)
        return kit.auto_top_up(customer)

    @api.put("/customers/{customer}/auto-top-up", response_model=TopUpSettings)
    def set_auto_top_up(
        caller: Authenticated, customer: CustomerId, body: AutoTopUpPut
    ) -> TopUpSettings:
        """Buys ``pack`` when the balance falls under ``threshold``, at most ``per_day_max``
        times a day, with the saved payment method. Idempotent."""
        access.require_customer(caller, customer, Scope.WRITE, SessionPermission.BUY)
        return kit.set_auto_top_up(
            customer,
            body.pack,
            threshold=body.threshold,
            per_day_max=body.per_day_max,
            target=body.target,
        )

    @api.delete("/customers/{customer}/auto-top-up", response_model=Removed)
    def disable_auto_top_up(caller: Authenticated, customer: CustomerId) -> Removed:
        """Stops the auto top-up. Idempotent: ``removed`` says whether there was one."""
        access.require_customer(caller, customer, Scope.WRITE, SessionPermission.BUY)
        return Removed(removed=kit.disable_auto_top_up(customer))

    return api
