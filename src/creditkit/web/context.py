"""What every page is built with: the kit, who is signed in, forms' CSRF and idempotency
tokens, and one-time notices carried across a redirect.

A customer signs in through a session link (``/app/session?token=cks_…``, made by the app's
backend with ``POST /v1/customers/{customer}/session-tokens``): the token moves into an HttpOnly
cookie and out of the address bar. An operator signs in on ``/console/login`` with an admin key: the
cookie holds a console token naming the key, never its secret. Every form that writes carries a
CSRF token (the cookie's signature) and an idempotency key made when the form was drawn, so a
double submit or a reload applies once.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from creditkit.api.auth import Access
from creditkit.api.problems import ApiProblem
from creditkit.errors import InvariantViolation
from creditkit.keys.schemas import Caller, Scope, SessionPermission
from creditkit.keys.service import SESSION_TOKEN_PREFIX
from creditkit.kit import CreditKit
from creditkit.web import rendering

CUSTOMER_COOKIE = "creditkit_session"
CONSOLE_COOKIE = "creditkit_console"
NOTICE_COOKIE = "creditkit_notice"
#: A notice is one sentence; anything longer is cut, not refused.
NOTICE_LENGTH_MAX = 300
#: Pages may use this stylesheet and nothing inline: injected markup cannot run or restyle.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    # The session link carries a token: no other site may see it in a Referer header.
    # same-origin, not no-referrer: under no-referrer browsers send ``Origin: null`` with a form,
    # and the pages' Origin check (web/origin.py) could not tell this site's forms from
    # another's. Nothing leaves for another site either way.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class SignInRequired(Exception):
    """The request has no valid customer session (``console`` False) or console session."""

    def __init__(self, console: bool) -> None:
        super().__init__("sign-in required")
        self.console = console


class FormRejected(Exception):
    """A form's CSRF token does not match its session (a forged or stale form)."""


@dataclass(frozen=True, slots=True)
class Notice:
    """A one-time message shown on the next page: ``kind`` is ``success`` or ``error``."""

    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class Pages:
    kit: CreditKit
    access: Access
    #: Where browsers reach the service: links are built from it, never from ``Host``.
    public_url: str | None = None
    #: The origins a checkout may send a browser back to (none: any http(s) origin).
    return_origins: tuple[str, ...] = ()

    def base_url(self, request: Request) -> str:
        """The service's address for links: the public URL, else (served on loopback, or in
        tests) the address the request came to."""
        return (self.public_url or str(request.base_url)).rstrip("/")

    # -- who is signed in --

    def customer_caller(self, request: Request) -> Caller:
        token = request.cookies.get(CUSTOMER_COOKIE, "")
        caller = (
            self.kit.keys.authenticate(token) if token.startswith(SESSION_TOKEN_PREFIX) else None
        )
        if caller is None or caller.customer is None:
            raise SignInRequired(console=False)
        return caller

    def console_caller(self, request: Request) -> Caller:
        caller = self.kit.keys.verify_console_session(request.cookies.get(CONSOLE_COOKIE, ""))
        if caller is None:
            raise SignInRequired(console=True)
        return caller

    def may(self, caller: Caller, permission: SessionPermission) -> bool:
        """Whether the customer's session may ``permission`` (in a workspace, by the member's
        role now): pages hide what the customer may not do."""
        if not (caller.customer is not None):
            raise InvariantViolation("caller.customer is not None", "")
        try:
            self.access.require_customer(caller, caller.customer, Scope.READ, permission)
        except ApiProblem:
            return False
        return True

    def history_labels(self) -> dict[str, str]:
        """What a history row calls the action it names, on the customer's pages and the
        console alike: the catalog's label of an action, a pack's and a plan's name for the
        grants they gave (``pack:credits_500`` reads "500 credits pack")."""
        catalog = self.kit.catalog
        if catalog is None:
            return {}
        labels = {action_id: action.label for action_id, action in catalog.actions.items()}
        labels.update({f"pack:{pack.id}": f"{pack.name} pack" for pack in catalog.packs.values()})
        labels.update({f"plan:{plan.id}": f"{plan.name} plan" for plan in catalog.plans.values()})
        return labels

    # -- forms --

    def form_tokens(self, request: Request, cookie: str) -> dict[str, str]:
        """The hidden fields of a form that writes: its CSRF token and a fresh idempotency
        key."""
        return {
            "csrf": self.kit.keys.sign("csrf", request.cookies.get(cookie, "")),
            "idempotency_key": secrets.token_hex(16),
        }

    async def checked_form(self, request: Request, cookie: str) -> FormData:
        """The posted form, once its CSRF token matches the session's cookie."""
        form = await request.form()
        expected = self.kit.keys.sign("csrf", request.cookies.get(cookie, ""))
        presented = form.get("csrf")
        if not isinstance(presented, str) or not hmac.compare_digest(presented, expected):
            raise FormRejected()
        return form

    # -- responses --

    def page(self, request: Request, template: str, **context: Any) -> HTMLResponse:
        """The page, with the notice a redirect left for it (then forgotten)."""
        notice = self._read_notice(request)
        response = rendering.page(request, template, notice=notice, **context)
        response.headers.update(SECURITY_HEADERS)
        if notice is not None:
            response.delete_cookie(NOTICE_COOKIE, path="/")
        return response

    def redirect(self, url: str, notice: Notice | None = None) -> RedirectResponse:
        """303 to ``url`` (Post/Redirect/Get: a reload does not post again), leaving
        ``notice`` for the next page."""
        response = RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)
        if notice is not None:
            text = notice.text[:NOTICE_LENGTH_MAX]
            body = base64.urlsafe_b64encode(f"{notice.kind}|{text}".encode()).decode()
            response.set_cookie(
                NOTICE_COOKIE,
                f"{body}.{self.kit.keys.sign('notice', body)}",
                httponly=True,
                samesite="lax",
                path="/",
            )
        return response

    def _read_notice(self, request: Request) -> Notice | None:
        body, _, signature = request.cookies.get(NOTICE_COOKIE, "").partition(".")
        if not body or not hmac.compare_digest(signature, self.kit.keys.sign("notice", body)):
            return None
        kind, _, text = base64.urlsafe_b64decode(body).decode(errors="replace").partition("|")
        return Notice(kind, text)
