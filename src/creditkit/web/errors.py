"""Errors on the pages' addresses answer as pages: an unknown ``/app/...`` or ``/console/...``
path, a malformed query, a method a page does not take, a refusal a page did not catch, or a
fault, each an HTML page in words with a way back, never the API's problem+json. Every other
address keeps the API's answers."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from creditkit.api.problems import ApiProblem
from creditkit.errors import CreditKitError
from creditkit.web.context import Pages, SignInRequired

#: An exception handler as Starlette keeps them: sync or async.
Handler = Callable[[Request, Any], Response | Awaitable[Response]]

#: The pages' address spaces: under these, an error is a page.
PAGE_PREFIXES = ("/app", "/console", "/checkout")


@dataclass(frozen=True, slots=True)
class _Words:
    heading: str
    explanation: str


_BY_STATUS = {
    400: _Words("That request was not understood", "The address or form was malformed."),
    403: _Words("Not allowed", "Your session may not do this."),
    404: _Words("Page not found", "There is no page at this address."),
    405: _Words("Page not found", "This page does not take that kind of request."),
    409: _Words("That cannot be done now", "It conflicts with what is already there."),
    422: _Words("That address is not right", "Part of the address is too long or not valid."),
    500: _Words("Something went wrong", "An unexpected error; it was logged. Try again shortly."),
}


def is_page_path(path: str) -> bool:
    return path == "/" or any(
        path == prefix or path.startswith(prefix + "/") for prefix in PAGE_PREFIXES
    )


def page_error(pages: Pages, request: Request, status: int) -> Response:
    """The error page for ``status``, with a link back into the part of the site it is in."""
    words = _BY_STATUS.get(status) or _BY_STATUS[500 if status >= 500 else 400]
    console = request.url.path.startswith("/console")
    return pages.page(
        request,
        "error.html",
        title=words.heading,
        heading=words.heading,
        explanation=words.explanation,
        back="/console" if console else "/app",
        back_label="Go to the console" if console else "Go to your usage",
        status_code=status,
    )


#: Page addresses that need no session: where one signs in.
SIGN_IN_PATHS = ("/app/session", "/console/login")


def _sign_in_refusal(pages: Pages, request: Request) -> SignInRequired | None:
    """The refusal a signed page gives a request without its session, if it has none."""
    path = request.url.path
    if path in SIGN_IN_PATHS:
        return None
    try:
        if path == "/console" or path.startswith("/console/"):
            pages.console_caller(request)
        elif path == "/app" or path.startswith("/app/"):
            pages.customer_caller(request)
    except SignInRequired as refusal:
        return refusal
    return None


def install(app: FastAPI, pages: Pages) -> None:
    """Wraps the API's handlers (installed before the pages: ``problems.install`` must have run
    first) so that the pages' addresses get a page, under the status the API would answer (the
    API's handler still runs: it logs a fault as it does for the API)."""

    def wrap(kind: type[Exception]) -> None:
        api_handler: Handler = app.exception_handlers[kind]

        async def handle(request: Request, error: Exception) -> Response:
            if isinstance(error, RequestValidationError) and is_page_path(request.url.path):
                # Authentication answers before validation, on the pages as in the API.
                refused = _sign_in_refusal(pages, request)
                if refused is not None:
                    sign_in = app.exception_handlers[SignInRequired]
                    answered = sign_in(request, refused)
                    return await answered if inspect.isawaitable(answered) else answered
            answer = api_handler(request, error)
            response = await answer if inspect.isawaitable(answer) else answer
            if not is_page_path(request.url.path):
                return response
            return page_error(pages, request, response.status_code)

        app.add_exception_handler(kind, handle)

    for kind in (StarletteHTTPException, RequestValidationError, CreditKitError, ApiProblem):
        wrap(kind)
    wrap(Exception)
