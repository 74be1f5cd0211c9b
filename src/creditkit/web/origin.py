"""The Origin check of the pages' forms: a state-changing request (POST, PUT, PATCH, DELETE) to
a page is refused with 403 unless its ``Origin`` (else its ``Referer``) is the service's own
origin: the public URL's when one is configured, else the address the request came to. With
the forms' CSRF tokens and SameSite cookies, this is the third of three independent checks
that another site cannot make a signed-in browser write. The API (``/v1``) is not concerned:
it authenticates with a bearer header no browser sends on its own."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from creditkit.api.problems import problem_response

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of ``url``, lower-cased; None when it has none."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


class SameOrigin:
    def __init__(self, app: ASGIApp, public_url: str | None = None) -> None:
        self._app = app
        self._public_origin = None if public_url is None else origin_of(public_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope.get("method") not in _WRITES
            or path == "/v1"
            or path.startswith("/v1/")
        ):
            await self._app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        presented = headers.get("origin") or headers.get("referer") or ""
        if origin_of(presented) != self._expected(scope, headers):
            response = problem_response(
                403,
                "origin_refused",
                "a form posted from another site (or without Origin and Referer) is refused",
            )
            await response(scope, receive, send)
            return
        await self._app(scope, receive, send)

    def _expected(self, scope: Scope, headers: Headers) -> str | None:
        if self._public_origin is not None:
            return self._public_origin
        return origin_of(f"{scope.get('scheme', 'http')}://{headers.get('host', '')}")
