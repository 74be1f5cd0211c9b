"""Errors on the pages' addresses answer as pages: an unknown ``/app/...`` or ``/console/...``
path, a malformed query, a method a page does not take, or a fault, each an HTML page in words
with a way back, never the API's problem+json. Every other address keeps the API's answers."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from creditkit.web.context import Pages

log = logging.getLogger("creditkit.web")

#: An exception handler as Starlette keeps them: sync or async.
Handler = Callable[[Request, Any], Response | Awaitable[Response]]

#: The pages' address spaces: under these, an error is a page.
PAGE_PREFIXES = ("/app", "/console", "/checkout/")


@dataclass(frozen=True, slots=True)
class _Words:
    heading: str
    explanation: str


_BY_STATUS = {
    400: _Words("That request was not understood", "The address or form was malformed."),
    404: _Words("Page not found", "There is no page at this address."),
    405: _Words("Page not found", "This page does not take that kind of request."),
    422: _Words("That address is not right", "Part of the address is too long or not valid."),
    500: _Words("Something went wrong", "An unexpected error; it was logged. Try again shortly."),
}


def is_page_path(path: str) -> bool:
    return path == "/" or any(
        path == prefix.rstrip("/") or path.startswith(prefix.rstrip("/") + "/")
        for prefix in PAGE_PREFIXES
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


def install(app: FastAPI, pages: Pages) -> None:
    """Wraps the API's handlers (installed before the pages) so that the pages' addresses get
    pages: ``problems.install`` must have run first."""

    def wrap(kind: type[Exception], status_of: Callable[[Exception], int]) -> None:
        api_handler: Handler = app.exception_handlers[kind]

        async def handle(request: Request, error: Exception) -> Response:
            if not is_page_path(request.url.path):
                answer = api_handler(request, error)
                return await answer if inspect.isawaitable(answer) else answer
            status = status_of(error)
            if status >= 500:
                log.exception("unexpected error on %s %s", request.method, request.url.path)
            return page_error(pages, request, status)

        app.add_exception_handler(kind, handle)

    wrap(StarletteHTTPException, _http_status)
    wrap(RequestValidationError, lambda _error: 422)
    wrap(Exception, lambda _error: 500)


def _http_status(error: Exception) -> int:
    return error.status_code if isinstance(error, StarletteHTTPException) else 500
