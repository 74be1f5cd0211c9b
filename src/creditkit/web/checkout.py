"""The sandbox's checkout page (``/checkout/sandbox/{session_id}``): offline, what a real
provider's hosted page does. It shows what is bought and for how much, takes a test card
(``4242 4242 4242 4242`` pays, ``4000 0000 0000 0002`` is declined), pays through the same
webhook path as a real provider (``CreditKit.complete_sandbox_checkout``) and sends the browser
back to the checkout's ``success_url``.

No creditkit sign-in: as on Stripe, the session's id is the key to its page, so a checkout an
app starts through the API opens here for a browser that never saw creditkit. A declined card
ends the checkout, as the sandbox models it (the payment failed, nothing was charged): the page
says so and links back to start again.
"""

from __future__ import annotations

import hmac
import re
from urllib.parse import urlsplit

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from creditkit.errors import CreditKitError
from creditkit.ledger.schemas import Money
from creditkit.payments.checkout import return_url_refusal
from creditkit.payments.errors import CheckoutNotFound, UnknownProvider
from creditkit.payments.sandbox import CARD_DECLINED, CARD_SUCCEEDS
from creditkit.payments.schemas import CheckoutState, PaymentStatus
from creditkit.web import forms
from creditkit.web.context import SECURITY_HEADERS, FormRejected, Notice, Pages

#: Where the sandbox's checkout pages are served; ``creditkit serve`` gives the sandbox this
#: path on its public address as its ``checkout_base_url``.
SANDBOX_CHECKOUT_PATH = "/checkout/sandbox/"
SANDBOX = "sandbox"
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
#: A card number as payment cards have them: 12 to 19 digits (spaces and dashes are dropped).
CARD_NUMBER = re.compile(r"[0-9]{12,19}")
CARD_SEPARATORS = re.compile(r"[ -]")
#: A host (name, IPv4, bracketed IPv6) and port as a Content-Security-Policy source may name it.
_CSP_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def router(pages: Pages) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/checkout/sandbox/{session_id}")
    def checkout_page(request: Request, session_id: str) -> Response:
        state = _state(pages, session_id)
        if state is None:
            return pages.page(
                request, "checkout/sandbox_not_found.html", title="Checkout", status_code=404
            )
        response = pages.page(
            request,
            "checkout/sandbox.html",
            title="Checkout",
            state=state,
            payment=state.payment,
            lines=[
                (line.description, Money(line.amount_minor, state.payment.amount.currency))
                for line in state.payment.lines
            ],
            csrf=_csrf(pages, session_id),
            card_succeeds=_grouped(CARD_SUCCEEDS),
            card_declined=_grouped(CARD_DECLINED),
            back_url=browsable(state.cancel_url, pages.return_origins),
            continue_url=browsable(state.success_url, pages.return_origins),
        )
        response.headers["Content-Security-Policy"] = _policy(state, pages.return_origins)
        return response

    @router.post("/checkout/sandbox/{session_id}")
    async def pay(request: Request, session_id: str) -> Response:
        form = await request.form()
        presented = form.get("csrf")
        if not isinstance(presented, str) or not hmac.compare_digest(
            presented, _csrf(pages, session_id)
        ):
            raise FormRejected()
        return await run_in_threadpool(_pay, pages, session_id, form)

    return router


def _state(pages: Pages, session_id: str) -> CheckoutState | None:
    if not SESSION_ID.fullmatch(session_id):
        return None
    try:
        state = pages.kit.checkout_session(session_id)
    except (CheckoutNotFound, UnknownProvider):
        return None
    # Another provider's session (a kit on Stripe) is paid on that provider's page, not here.
    return state if state.payment.provider == SANDBOX else None


def _csrf(pages: Pages, session_id: str) -> str:
    """The pay form's token: bound to the session (there is no sign-in cookie to bind it to),
    so another site cannot post a card to the page without having read the page."""
    return pages.kit.keys.sign("sandbox-checkout", session_id)


def _pay(pages: Pages, session_id: str, form: FormData) -> Response:
    page = f"{SANDBOX_CHECKOUT_PATH}{session_id}"
    state = _state(pages, session_id)
    if state is None:
        return pages.redirect(page)
    if state.payment.status is PaymentStatus.PENDING:
        typed = form.get("card")
        card = CARD_SEPARATORS.sub("", typed) if isinstance(typed, str) else ""
        if not CARD_NUMBER.fullmatch(card):
            text = "Card number: enter the 12 to 19 digits on the card."
            return pages.redirect(page, Notice("error", text))
        try:
            pages.kit.complete_sandbox_checkout(session_id, card=card)
        except CreditKitError as error:
            return pages.redirect(page, Notice("error", forms.problem(error, {})))
        state = pages.kit.checkout_session(session_id)
    payment = state.payment
    if payment.status is PaymentStatus.FAILED:
        reason = (payment.failure_reason or "declined").replace("_", " ")
        text = f"The payment failed ({reason}): nothing was charged."
        return pages.redirect(page, Notice("error", text))
    success = browsable(state.success_url, pages.return_origins)
    if payment.status is PaymentStatus.SUCCEEDED and success is not None:
        return pages.redirect(success)
    return pages.redirect(page)


def _grouped(card: str) -> str:
    """``4242 4242 4242 4242``: a card number as printed."""
    return " ".join(card[start : start + 4] for start in range(0, len(card), 4))


def browsable(url: str | None, origins: tuple[str, ...]) -> str | None:
    """``url`` when a browser may be sent there, checked again as it is rendered (a row
    written before the policy, or by hand, passes nothing): a path on this site or an http(s)
    URL on one of ``origins`` (never ``javascript:``, ``/\\host`` or the like); else None."""
    if url is None or return_url_refusal(url, origins) is not None:
        return None
    if url.startswith("/"):
        return url
    if _CSP_HOST.fullmatch(urlsplit(url).netloc):
        return url
    return None


def _policy(state: CheckoutState, allowed_origins: tuple[str, ...]) -> str:
    """The pages' policy, with the checkout's return origins allowed as form targets: Chromium
    applies ``form-action`` to the redirect that follows a form, and paying redirects there."""
    targets = []
    for url in (state.success_url, state.cancel_url):
        address = browsable(url, allowed_origins)
        if address is not None and not address.startswith("/"):
            parts = urlsplit(address)
            targets.append(f"{parts.scheme}://{parts.netloc}")
    policy = SECURITY_HEADERS["Content-Security-Policy"]
    if not targets:
        return policy
    allowed = " ".join(dict.fromkeys(targets))
    return policy.replace("form-action 'self'", f"form-action 'self' {allowed}")
