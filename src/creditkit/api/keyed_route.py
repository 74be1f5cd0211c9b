"""The hot writes' route: a well-formed request skips FastAPI's dependency solving.

For every request FastAPI solves a route's parameters in general: the bearer scheme as a
sub-dependency, then the path, query, header and cookie parameters of each level, the body's
content type, the body. For ``POST /v1/charges`` that was about a third of the HTTP work, more
than the floor's whole endpoint. ``KeyedRoute`` keeps the route as declared (its parameters,
its OpenAPI operation, its security) and FastAPI's own handling of every request it does not
take whole. It takes a request whose body is ``Content-Type: application/json`` and whose
Idempotency-Key header and body pass the route's own validators (the very fields FastAPI
validates them with), and calls the endpoint with the values FastAPI would pass it. Anything
else (no key, a bad body, another content type, a body too large) goes through FastAPI, which
answers it as before: the same errors, in the same order, naming the same fields.

The endpoint takes exactly ``credentials`` (the bearer scheme's), ``body`` and ``key`` (the
Idempotency-Key), is a coroutine and returns a ``Response``; anything else is refused when the
route is built.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi._compat import ModelField
from fastapi.routing import APIRoute

from creditkit.api.auth import bearer
from creditkit.errors import InvariantViolation

#: The endpoint's parameters, by name: what FastAPI passes it.
PARAMETERS = ("credentials", "body", "key")
_JSON = b"application/json"
_CONTENT_TYPE = b"content-type"

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class KeyedRoute(APIRoute):
    """An ``APIRoute`` (pass it as ``route_class_override``) for an endpoint
    ``async (credentials, body, key) -> Response``."""

    def get_route_handler(self) -> Handler:
        declared = super().get_route_handler()
        endpoint = self.endpoint
        if tuple(inspect.signature(endpoint).parameters) != PARAMETERS:
            raise InvariantViolation(f"{self.path}'s endpoint takes {PARAMETERS}", self.name)
        if not inspect.iscoroutinefunction(endpoint):
            raise InvariantViolation(f"{self.path}'s endpoint is a coroutine", self.name)
        (key_field,) = self.dependant.header_params
        key_header = key_field.alias.lower().encode("latin-1")
        body_field = self.body_field
        if body_field is None:
            raise InvariantViolation(f"{self.path} takes a body", self.name)

        async def handler(request: Request) -> Response:
            values = await _well_formed(request, key_field, key_header, body_field)
            if values is None:
                return await declared(request)
            response = await endpoint(**values)
            if not isinstance(response, Response):
                raise InvariantViolation(f"{self.path}'s endpoint answers a Response", self.name)
            return response

        return handler


async def _well_formed(
    request: Request, key_field: ModelField, key_header: bytes, body_field: ModelField
) -> dict[str, Any] | None:
    """The endpoint's arguments, as FastAPI would solve them; None when FastAPI must look
    (something to refuse, or a form this path does not read)."""
    content_type = key = None
    # The first of each header, as Starlette's ``Headers.get`` reads it.
    for name, value in request.scope["headers"]:
        if name == _CONTENT_TYPE:
            content_type = value if content_type is None else content_type
        elif name == key_header:
            key = value if key is None else key
    if content_type != _JSON or key is None:
        return None
    valid_key, errors = key_field.validate(key.decode("latin-1"), loc=("header", key_field.alias))
    if errors:
        return None
    try:
        raw = await request.body()
    except Exception as error:
        # A body too large (``BodyLimit`` answers its 413 instead) or a client gone: answered
        # as FastAPI answers a body it could not read (its request stream is spent now).
        raise HTTPException(400, "There was an error parsing the body") from error
    if not raw:
        return None
    try:
        parsed = json.loads(raw)  # as Starlette's ``Request.json`` parses it
    except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deep: FastAPI answers
        return None
    body, errors = body_field.validate(parsed, loc=("body",))
    if errors:
        return None
    return {"credentials": await bearer(request), "body": body, "key": valid_key}
