"""``install(app, kit, access)``: the web pages, their sign-in and their error pages."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, Query
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import Response

from creditkit.api.auth import Access
from creditkit.errors import InvariantViolation
from creditkit.kit import CreditKit
from creditkit.web import (
    analytics_page,
    billing,
    checkout,
    console,
    dashboard,
    errors,
    marketplace,
)
from creditkit.web.context import (
    CONSOLE_COOKIE,
    CUSTOMER_COOKIE,
    FormRejected,
    Notice,
    Pages,
    SignInRequired,
)
from creditkit.web.origin import SameOrigin

#: The cookie binding the sign-in form's CSRF token to the browser that loaded the form.
LOGIN_COOKIE = "creditkit_login"
#: The longest a pasted admin key or session token may be (both are far shorter).
TOKEN_LENGTH_MAX = 2_048


def install(
    app: FastAPI,
    kit: CreditKit,
    access: Access,
    public_url: str | None = None,
    return_origins: tuple[str, ...] = (),
) -> None:
    pages = Pages(kit, access, public_url, return_origins)
    app.add_middleware(SameOrigin, public_url=public_url)
    app.mount("/static", StaticFiles(packages=[("creditkit.web", "static")]), name="static")
    app.include_router(_sign_in_router(pages))
    for module in (dashboard, billing, marketplace, checkout, console, analytics_page):
        app.include_router(module.router(pages))

    async def sign_in_required(request: Request, error: Exception) -> Response:
        if not isinstance(error, SignInRequired):
            raise InvariantViolation("a SignInRequired handler", type(error).__name__)
        if error.console:
            return pages.redirect("/console/login")
        # "Ended" only when there was one: a session cookie, or a session link's token.
        had_session = CUSTOMER_COOKIE in request.cookies or bool(
            request.query_params.get("token") or request.query_params.get("code")
        )
        title = "Session ended" if had_session else "Sign in from the app"
        return pages.page(
            request, "signed_out.html", title=title, had_session=had_session, status_code=401
        )

    async def form_rejected(request: Request, error: Exception) -> Response:
        return pages.page(request, "form_rejected.html", title="Form expired", status_code=403)

    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(FormRejected, form_rejected)
    errors.install(app, pages)


def _sign_in_router(pages: Pages) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    def home(request: Request) -> Response:
        return pages.page(request, "home.html", title="creditkit")

    @router.get("/app/session")
    def confirm_session(
        request: Request,
        token: Annotated[str, Query(max_length=TOKEN_LENGTH_MAX)] = "",
        code: Annotated[str, Query(max_length=TOKEN_LENGTH_MAX)] = "",
    ) -> Response:
        """A session link asks first, naming whose account it opens: a link someone else made
        (for their own account) cannot quietly sign this browser in as them."""
        if code:
            found = pages.kit.keys.session_code(code)
            if found is None:
                raise SignInRequired(console=False)
            customer, user, field, credential = found.customer, found.user, "code", code
        else:
            caller = pages.kit.keys.authenticate(token) if token.startswith("cks_") else None
            if caller is None or caller.customer is None:
                raise SignInRequired(console=False)
            customer, user, field, credential = caller.customer, caller.user, "token", token
        return pages.page(
            request,
            "session_open.html",
            title="Open account",
            customer=customer,
            user=user,
            field=field,
            credential=credential,
        )

    @router.post("/app/session")
    def open_session(
        token: Annotated[str, Form(max_length=TOKEN_LENGTH_MAX)] = "",
        code: Annotated[str, Form(max_length=TOKEN_LENGTH_MAX)] = "",
    ) -> Response:
        """The confirmed link: a code is exchanged (once) for a session token; the token
        becomes a cookie (HttpOnly: no script reads it) and leaves the address bar."""
        if code:
            issued = pages.kit.keys.exchange_session_code(code)
            token = "" if issued is None else issued.token
        caller = pages.kit.keys.authenticate(token) if token.startswith("cks_") else None
        if caller is None or caller.customer is None:
            raise SignInRequired(console=False)
        response = pages.redirect("/app")
        # Lax, not Strict: the link is followed from the app's site, and a Strict cookie set
        # on that navigation would not come back on the redirect that follows it.
        response.set_cookie(CUSTOMER_COOKIE, token, httponly=True, samesite="lax", path="/")
        return response

    def login_page(request: Request, error: str | None = None, status_code: int = 200) -> Response:
        """The sign-in form, with a login CSRF token bound to a cookie of this browser: a
        form another site posts has neither, so it cannot sign this browser in as someone."""
        nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(16)
        response = pages.page(
            request,
            "console/login.html",
            title="Operator sign-in",
            csrf=pages.kit.keys.sign("login", nonce),
            error=error,
            status_code=status_code,
        )
        response.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="strict", path="/console")
        return response

    @router.get("/console/login")
    def console_login(request: Request) -> Response:
        return login_page(request)

    @router.post("/console/login")
    def console_sign_in(
        request: Request,
        key: Annotated[str, Form(max_length=TOKEN_LENGTH_MAX)] = "",
        csrf: Annotated[str, Form(max_length=TOKEN_LENGTH_MAX)] = "",
    ) -> Response:
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if not nonce or not pages.kit.keys.verify("login", nonce, csrf):
            raise FormRejected()
        pages.access.throttle.check()
        token = pages.kit.keys.issue_console_session(key.strip())
        if token is None:
            pages.access.throttle.failed()
            return login_page(request, "That is not an active admin key.", 401)
        response = pages.redirect("/console", Notice("success", "Signed in."))
        response.set_cookie(CONSOLE_COOKIE, token, httponly=True, samesite="strict", path="/")
        response.delete_cookie(LOGIN_COOKIE, path="/console")
        return response

    @router.post("/console/logout")
    def console_sign_out() -> Response:
        response = pages.redirect("/console/login", Notice("success", "Signed out."))
        response.delete_cookie(CONSOLE_COOKIE, path="/")
        return response

    @router.post("/app/logout")
    def customer_sign_out(request: Request) -> Response:
        """Signs this member out everywhere: the tokens issued to them until now stop
        working, in this browser and any other (a copied cookie included)."""
        token = request.cookies.get(CUSTOMER_COOKIE, "")
        caller = pages.kit.keys.authenticate(token) if token.startswith("cks_") else None
        if caller is not None and caller.customer is not None:
            pages.kit.keys.revoke_sessions(caller.customer, user=caller.user)
        response = pages.page(request, "signed_out.html", title="Signed out", signed_out=True)
        response.delete_cookie(CUSTOMER_COOKIE, path="/")
        return response

    return router
