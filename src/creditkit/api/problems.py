"""Errors as ``application/problem+json`` (RFC 9457): every refusal names its reason, and the
field when a field is at fault.

A body has ``type``, ``title``, ``status``, ``detail``, ``code`` (the error's stable name) and the
error's own facts (``available``, ``required``, ``upgrade_to``, …). Input errors add
``invalid_params``: ``[{"name": field, "reason": why}]``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from creditkit import errors
from creditkit.events.errors import EVENTS_RETRY_AFTER_SECONDS, EventsUnavailable
from creditkit.notify.errors import SecretKeyMissing, SecretKeyWrong, WebhookEndpointNotFound
from creditkit.payments import errors as payment_errors

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://creditkit.dev/problems/"

log = logging.getLogger("creditkit.api")

HandledError = TypeVar("HandledError", bound=Exception)

#: HTTP status of each error, by class; subclasses take their base's (an UnknownUnit is an
#: InvalidRequest: 422). Looked up along the class's MRO.
STATUS_BY_ERROR: Mapping[type[errors.CreditKitError], int] = {
    errors.InvalidRequest: 422,
    errors.UnknownCustomer: 404,
    errors.HoldNotFound: 404,
    errors.InsufficientCredits: 402,
    errors.IdempotencyConflict: 409,
    errors.HoldAlreadyCommitted: 409,
    errors.HoldAlreadyReleased: 409,
    errors.HoldExpired: 409,
    errors.HoldAmountExceeded: 422,
    errors.HoldParentExceeded: 409,
    errors.HoldHasOpenChildren: 409,
    errors.PurchaseLimitReached: 403,
    errors.MemberSpendCapReached: 403,
    errors.BudgetExceeded: 403,
    errors.CheckoutRequired: 409,
    errors.LedgerBusy: 503,
    EventsUnavailable: 503,
    errors.RateLimited: 429,
    WebhookEndpointNotFound: 404,
    # The server's configuration, not the request: the operator sets the right secret key.
    SecretKeyMissing: 503,
    SecretKeyWrong: 503,
    payment_errors.UnknownProvider: 404,
    payment_errors.PaymentNotFound: 404,
    payment_errors.CheckoutNotFound: 404,
    payment_errors.CheckoutClosed: 409,
    payment_errors.PortalUnavailable: 409,
    payment_errors.ReceiptNotFound: 404,
    payment_errors.RefundRefused: 409,
    payment_errors.WebhookRejected: 400,
    # The provider failed or could not be reached: a retry with the same key resumes.
    payment_errors.ProviderError: 502,
}

#: A client may retry a busy ledger soon: its conflicts are momentary.
LEDGER_BUSY_RETRY_AFTER_SECONDS = 1

#: The body of every error, as the OpenAPI document declares it.
PROBLEM_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "An error (RFC 9457). ``code`` is its stable name; the error's own facts "
    "(``available``, ``upgrade_to``, ...) come as further members.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
        "invalid_params": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "reason"],
                "properties": {"name": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}


class ApiProblem(Exception):
    """A refusal decided in the HTTP layer (authentication, scope, a rate limit, an entitlement)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **facts: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = dict(headers or {})
        self.facts = facts


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        # As the response models write it: a unit with decimal places keeps them ("5.00").
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): _json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    return value


def problem_body(status: int, code: str, detail: str, **facts: Any) -> dict[str, Any]:
    return {
        "type": PROBLEM_TYPE_BASE + code,
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "detail": detail,
        "code": code,
        **{name: _json_value(value) for name, value in facts.items()},
    }


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **facts: Any,
) -> JSONResponse:
    return JSONResponse(
        problem_body(status, code, detail, **facts),
        status_code=status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=dict(headers or {}),
    )


def status_of(error: errors.CreditKitError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


Enrich = Callable[[errors.CreditKitError], dict[str, Any]]
#: The refusal (a 401) that answers a request found invalid, when it is not authenticated.
AuthenticateFirst = Callable[[Request], Awaitable["ApiProblem | None"]]


def _facts(error: errors.CreditKitError, enrich: Enrich) -> dict[str, Any]:
    facts = error.to_fields()
    if isinstance(error, errors.InvalidRequest):
        # An input error's field and reason are its invalid_params; other errors keep theirs
        # (an idempotency conflict names the field that differs).
        facts.pop("reason", None)
        facts.pop("field", None)
        facts["invalid_params"] = [{"name": error.field, "reason": error.reason}]
    elif isinstance(error, errors.HoldAmountExceeded):
        # A 422 like every other: the field at fault is the commit's amount.
        facts["invalid_params"] = [{"name": "amount", "reason": str(error)}]
    facts.update(enrich(error))
    return facts


def error_body(error: errors.CreditKitError, enrich: Enrich) -> tuple[int, dict[str, Any]]:
    """The status and problem body of an error (for one item of a batch, too)."""
    status = status_of(error)
    return status, problem_body(status, error.code, str(error), **_facts(error, enrich))


def error_response(error: errors.CreditKitError, enrich: Enrich) -> JSONResponse:
    headers: dict[str, str] = {}
    if isinstance(error, errors.LedgerBusy):
        headers["Retry-After"] = str(LEDGER_BUSY_RETRY_AFTER_SECONDS)
    if isinstance(error, EventsUnavailable):
        headers["Retry-After"] = str(EVENTS_RETRY_AFTER_SECONDS)
    if isinstance(error, errors.RateLimited):
        headers["Retry-After"] = str(error.retry_after_seconds)
    return problem_response(
        status_of(error), error.code, str(error), headers=headers, **_facts(error, enrich)
    )


def _field_name(location: Sequence[Any]) -> str:
    """``("body", "amount")`` -> ``amount``; ``("header", "idempotency-key")`` ->
    ``Idempotency-Key``; list positions as ``events[3].action``."""
    parts = list(location)
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        source, parts = parts[0], parts[1:]
        if source == "header" and parts:
            return "-".join(piece.capitalize() for piece in str(parts[0]).split("-"))
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += ("." if name else "") + str(part)
    return name or "body"


def handled_as(error: Exception, kind: type[HandledError]) -> HandledError:
    """``error`` as the ``kind`` its exception handler was registered for: Starlette types
    every handler's argument as ``Exception``, and calls it only with a ``kind``."""
    if not isinstance(error, kind):
        raise errors.InvariantViolation(
            f"the handler of {kind.__name__} is called with one", type(error).__name__
        )
    return error


def _problem_of(problem: ApiProblem) -> JSONResponse:
    return problem_response(
        problem.status, problem.code, problem.detail, headers=problem.headers, **problem.facts
    )


def install(app: FastAPI, enrich: Enrich, authenticate_first: AuthenticateFirst) -> None:
    """Makes every error of ``app`` a problem+json response; ``enrich`` adds facts to an
    error's (a 402's packs and plan). A request found invalid is answered with
    ``authenticate_first``'s refusal when there is one: authentication answers before
    validation."""

    async def on_creditkit_error(_request: Request, raised: Exception) -> JSONResponse:
        error = handled_as(raised, errors.CreditKitError)
        return error_response(error, enrich)

    async def on_problem(_request: Request, raised: Exception) -> JSONResponse:
        error = handled_as(raised, ApiProblem)
        return _problem_of(error)

    async def on_validation(request: Request, raised: Exception) -> JSONResponse:
        error = handled_as(raised, RequestValidationError)
        refused = await authenticate_first(request)
        if refused is not None:
            return _problem_of(refused)
        if any(item["type"] == "json_invalid" for item in error.errors()):
            # A body that is not JSON at all is malformed (400), not a JSON body with a bad field.
            return problem_response(400, "malformed_request", "the body is not valid JSON")
        invalid = [
            # A field validator's message, without pydantic's "Value error, " prefix.
            {"name": _field_name(item["loc"]), "reason": item["msg"].removeprefix("Value error, ")}
            for item in error.errors()
        ]
        first = invalid[0] if invalid else {"name": "body", "reason": "invalid"}
        return problem_response(
            422,
            "invalid_request",
            f"{first['name']}: {first['reason']}",
            invalid_params=invalid,
        )

    async def on_http(_request: Request, raised: Exception) -> JSONResponse:
        error = handled_as(raised, StarletteHTTPException)
        code = {400: "malformed_request", 404: "not_found", 405: "method_not_allowed"}.get(
            error.status_code, "http_error"
        )
        return problem_response(
            error.status_code, code, str(error.detail), headers=dict(error.headers or {})
        )

    async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(500, "internal_error", "an unexpected error; it was logged")

    app.add_exception_handler(errors.CreditKitError, on_creditkit_error)
    app.add_exception_handler(ApiProblem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
