"""The OpenAPI document as generators need it: short operationIds, each operation's real errors
with typed problem bodies, ``code`` as an enum, security per route, ``servers``, and response
fields that are always sent marked required.

FastAPI builds the document from the routes; ``document(app)`` finishes it once, on first read.
``tests/api/test_contract.py`` validates, lints and compiles (openapi-typescript, ``tsc
--strict``) the result, so that a route added without its errors fails CI.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import TypeAdapter

from creditkit import errors
from creditkit.api.problems import PROBLEM_CONTENT_TYPE, PROBLEM_SCHEMA
from creditkit.catalog import errors as catalog_errors
from creditkit.client import errors as client_errors
from creditkit.errors import InvariantViolation
from creditkit.notify import errors as notify_errors
from creditkit.notify.schemas import EVENT_DATA, EventType
from creditkit.payments import errors as payment_errors

#: Route functions whose names read badly as methods (``delete``, ``entitled``), renamed.
_OPERATION_ID_BY_ROUTE = {
    "entitled": "getEntitlement",
    "limits": "listLimits",
    "acquire": "acquireResource",
    "track": "trackLimitUsage",
    "quota": "getQuota",
    "summary": "getUsageSummary",
    "breakdown": "getUsageBreakdown",
    "series": "getUsageSeries",
    "ingest": "ingestEvents",
    "events": "listEvents",
    "checkout": "createCheckout",
    "webhook": "handlePaymentWebhook",
    "payment": "getPayment",
    "refund": "refundPayment",
    "receipts": "listReceipts",
    "receipt": "getReceipt",
    "auto_top_up": "getAutoTopUp",
    "register": "createWebhookEndpoint",
    "endpoints": "listWebhookEndpoints",
    "endpoint": "getWebhookEndpoint",
    "delete": "deleteWebhookEndpoint",
    "disable": "disableWebhookEndpoint",
    "enable": "enableWebhookEndpoint",
    "deliveries": "listWebhookDeliveries",
    "alerts": "getAlerts",
    "billing_lines": "listBillingLines",
    "cancel": "cancelSubscription",
    "healthz": "getHealth",
}

#: Codes the HTTP layer answers with itself (the engine's come from its error classes).
API_CODES = (
    "customer_forbidden",
    "database_unavailable",
    "http_error",
    "internal_error",
    "limit_reached",
    "malformed_request",
    "member_required",
    "method_not_allowed",
    "no_catalog",
    "no_subscription",
    "not_found",
    "payload_too_large",
    "permission_missing",
    "rate_limited",
    "role_insufficient",
    "scope_insufficient",
    "secret_key_required",
    "session_token_required",
    "unauthorized",
)

#: Operations that spend credits: 402 when short.
_SPENDING = {"createCharge", "createHold", "extendHold", "commitHold", "createTransfer"}
#: Operations that spend through a spender's budgets: 403 ``budget_exceeded`` past one.
_BUDGETED = {"createCharge", "createHold", "extendHold", "commitHold"}
#: Operations counted against a plan's rate limit: 429 with Retry-After.
_METERED = {"createCharge", "createHold", "ingestEvents"}
#: The public catalog's reads: 404 when the service runs without a catalog.
_CATALOG_READS = {"getCatalog", "getPlans", "getPacks", "getActionCosts"}
#: Ledger writes: 503 with Retry-After when the ledger is busy.
_LEDGER_WRITES = {
    "createGrant",
    "createCharge",
    "createHold",
    "commitHold",
    "extendHold",
    "releaseHold",
    "createTransfer",
    "ingestEvents",
}


def operation_id(route: APIRoute) -> str:
    """``create_charge`` -> ``createCharge`` (FastAPI's default repeats path and method)."""
    if route.name in _OPERATION_ID_BY_ROUTE:
        return _OPERATION_ID_BY_ROUTE[route.name]
    head, *rest = route.name.split("_")
    return head + "".join(part.capitalize() for part in rest)


#: Every module that defines errors, imported here so that the walk of ``CreditKitError``'s
#: subclasses finds the same codes whatever the program imported first.
ERROR_MODULES = (catalog_errors, client_errors, notify_errors, payment_errors)


def _codes() -> list[str]:
    found: set[str] = set(API_CODES)
    pending: list[type[errors.CreditKitError]] = [errors.CreditKitError]
    while pending:
        cls = pending.pop()
        found.add(cls.code)
        pending.extend(cls.__subclasses__())
    found.discard(errors.CreditKitError.code)
    return sorted(found)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem_with(
    title: str, description: str, facts: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    return {
        "title": title,
        "description": description,
        "allOf": [
            _ref("Problem"),
            {"type": "object", "required": required, "properties": facts},
        ],
    }


_AMOUNT = {"type": ["integer", "string"], "description": "An exact amount of the unit."}
_NULLABLE_TEXT = {"type": ["string", "null"]}
#: The plan ``upgrade_to`` names, as a paywall shows it (null when no plan would do).
_UPGRADE = {
    "type": ["object", "null"],
    "description": "The plan to upgrade to: its id (as upgrade_to), name, and price per interval"
    " (monthly when sold monthly; null price: not sold self-serve).",
    "required": ["id", "name", "price", "interval"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "price": {"oneOf": [{"$ref": "#/components/schemas/Money"}, {"type": "null"}]},
        "interval": {"type": ["string", "null"], "enum": ["month", "year", None]},
    },
}

PROBLEM_SCHEMAS: dict[str, Any] = {
    "InsufficientCreditsProblem": _problem_with(
        "InsufficientCreditsProblem",
        "402: the balance does not cover it. What is available, what it needed, the packs "
        "that would cover the shortfall (cheapest first) and the plan whose allowance would.",
        {
            "customer": {"type": "string"},
            "unit": {"type": "string"},
            "available": _AMOUNT,
            "required": _AMOUNT,
            "packs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "name", "amount", "price"],
                    "properties": {
                        "id": {"type": "string"},
                        "name": {"type": "string"},
                        "amount": _AMOUNT,
                        "price": _ref("Money"),
                    },
                },
            },
            "upgrade_to": _NULLABLE_TEXT,
            "not_applicable": {
                **_AMOUNT,
                "description": "Credits the customer holds that may not pay for this spending "
                "(scoped to other actions or categories).",
            },
            "upgrade": _UPGRADE,
        },
        ["customer", "unit", "available", "required", "packs", "upgrade_to"],
    ),
    "BudgetExceededProblem": _problem_with(
        "BudgetExceededProblem",
        "403 ``budget_exceeded``: a budget on the path from the spender up to the customer "
        "does not leave room. ``spender`` names whose (null: the customer's own), with its "
        "``period``, ``cap``, what is ``used`` and when it ``resets_at`` (null: lifetime).",
        {
            "customer": {"type": "string"},
            "spender": _NULLABLE_TEXT,
            "unit": {"type": "string"},
            "period": {"type": "string", "enum": ["hour", "day", "week", "month", "lifetime"]},
            "cap": _AMOUNT,
            "used": _AMOUNT,
            "required": _AMOUNT,
            "resets_at": {"type": ["string", "null"], "format": "date-time"},
        },
        ["customer", "spender", "unit", "period", "cap", "used", "required", "resets_at"],
    ),
    "ForbiddenProblem": _problem_with(
        "ForbiddenProblem",
        "403: the key, token, role or plan does not allow it. A plan's refusal says why "
        "(``reason``) and which plan would allow it (``upgrade_to``).",
        {
            "reason": {"type": "string"},
            "upgrade_to": _NULLABLE_TEXT,
            "upgrade": _UPGRADE,
            "required_scope": {"type": "string"},
            "required_permission": {"type": "string"},
            "role": {"type": "string"},
        },
        [],
    ),
    "ConflictProblem": _problem_with(
        "ConflictProblem",
        "409: the idempotency key was used for another request (``field`` is the first that "
        "differs); or the hold is committed, released or expired; or a hold taken under a "
        "parent asks for more than the parent has left (``hold_parent_exceeded``: "
        "``parent_id``, ``available``, ``requested``); or a final commit of a hold whose "
        "children are open (``hold_has_open_children``: ``children``).",
        {
            "field": {"type": "string"},
            "idempotency_key": {"type": "string"},
            "hold_id": {"type": "integer"},
            "parent_id": {"type": "integer"},
            "available": _AMOUNT,
            "requested": _AMOUNT,
            "children": {"type": "array", "items": {"type": "integer"}},
        },
        [],
    ),
    "ValidationProblem": _problem_with(
        "ValidationProblem",
        "422: the request can never succeed as written; each field at fault, and why.",
        {
            "invalid_params": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "reason"],
                    "properties": {"name": {"type": "string"}, "reason": {"type": "string"}},
                },
            }
        },
        ["invalid_params"],
    ),
    "RateLimitedProblem": _problem_with(
        "RateLimitedProblem",
        "429: over the plan's requests a minute, or over the failed authentications an address"
        " may make a minute; retry after ``Retry-After`` seconds.",
        {"limit_per_minute": {"type": "integer"}, "retry_after_seconds": {"type": "integer"}},
        ["limit_per_minute", "retry_after_seconds"],
    ),
}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 0},
    }
}


def _response(description: str, schema: str, retry: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_CONTENT_TYPE: {"schema": _ref(schema)}},
    }
    if retry:
        response["headers"] = _RETRY_AFTER
    return response


def _errors_of(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The errors an operation can answer with, from what it takes and does."""
    name = operation["operationId"]
    parameters = operation.get("parameters", [])
    found: dict[str, dict[str, Any]] = {}
    if operation.get("security") != []:
        found["401"] = _response("No key or token, or an unknown one.", "Problem")
        found["403"] = _response("Not allowed for this key, token or plan.", "ForbiddenProblem")
    if name in _SPENDING:
        found["402"] = _response("Not enough credits.", "InsufficientCreditsProblem")
    if name in _BUDGETED:
        found["403"] = {
            "description": "Not allowed for this key, token or plan, or past a budget.",
            "content": {
                PROBLEM_CONTENT_TYPE: {
                    "schema": {"oneOf": [_ref("ForbiddenProblem"), _ref("BudgetExceededProblem")]}
                }
            },
        }
    if name in _CATALOG_READS or any(parameter["in"] == "path" for parameter in parameters):
        found["404"] = _response("What the path names does not exist.", "Problem")
    if any(parameter["name"] == "Idempotency-Key" for parameter in parameters):
        found["409"] = _response("A conflict: the key's first request differs.", "ConflictProblem")
    if parameters or "requestBody" in operation:
        found["422"] = _response("Invalid input, by field.", "ValidationProblem")
    if "requestBody" in operation:
        found["413"] = _response("The body is larger than the server's limit.", "Problem")
    if name in _METERED or operation.get("security") != []:
        found["429"] = _response(
            "Rate limited (the plan's requests a minute), or too many failed authentications"
            " from this address: retry after Retry-After.",
            "RateLimitedProblem",
            retry=True,
        )
    if name in _LEDGER_WRITES or name == "getHealth":
        found["503"] = _response("Busy or unavailable: retry.", "Problem", retry=True)
    return found


def _operations(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for path_item in schema["paths"].values():
        yield from path_item.values()


def _refs(value: Any) -> Iterator[str]:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            reference = item.get("$ref")
            if isinstance(reference, str):
                yield reference.rsplit("/", 1)[-1]
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def _reachable(components: dict[str, Any], roots: Any) -> set[str]:
    seen: set[str] = set()
    pending = list(_refs(roots))
    while pending:
        name = pending.pop()
        if name in seen or name not in components:
            continue
        seen.add(name)
        pending.extend(_refs(components[name]))
    return seen


def _require_sent_fields(schema: dict[str, Any]) -> None:
    """A response always carries every field (defaults included): say so, so that generated
    types do not make them optional. Only for schemas that no request uses."""
    components = schema["components"]["schemas"]
    operations = list(_operations(schema))
    requests = _reachable(
        components, [[op.get("requestBody"), op.get("parameters")] for op in operations]
    )
    responses = _reachable(components, [op["responses"] for op in operations])
    for name in requests - responses:
        _describe_defaults(components[name])
    # A problem's members depend on its error: its schemas say which are always there.
    for name in responses - requests - {"Problem", *PROBLEM_SCHEMAS}:
        component = components[name]
        properties = component.get("properties")
        if component.get("type") == "object" and properties:
            component["required"] = list(properties)


def _describe_defaults(component: dict[str, Any]) -> None:
    """A request field with a server default may be left out. Generators with default flags
    (openapi-typescript's ``defaultNonNullable``) read ``default`` as "always present", which
    holds for responses only: in a request the default goes into the description instead."""
    for field in component.get("properties", {}).values():
        if "default" in field:
            default = json.dumps(field.pop("default"))
            field["description"] = f"{field.get('description', '')} Default: {default}.".strip()


def _variant_name(event_type: EventType) -> str:
    """``credits.low`` -> ``CreditsLowEvent``."""
    return "".join(part.capitalize() for part in re.split(r"[._]", event_type.value)) + "Event"


def _type_events(components: dict[str, Any]) -> None:
    """``Event`` as the union, by ``type``, of one schema per event type whose ``data`` is that
    type's (``notify.schemas.EVENT_DATA``): a generated ``switch (event.type)`` narrows
    ``data``. The kit's ``Event`` holds ``data`` as a plain mapping, so FastAPI alone would say
    "any object"."""
    event = components["Event"]
    data_types = sorted(set(EVENT_DATA.values()), key=lambda data_type: data_type.__name__)
    _refs_by_key, definitions = TypeAdapter.json_schemas(
        [(data_type.__name__, "serialization", TypeAdapter(data_type)) for data_type in data_types],
        ref_template="#/components/schemas/{model}",
    )
    for name, definition in definitions.get("$defs", {}).items():
        if name in components and components[name] != definition:
            raise InvariantViolation("one schema per component name", f"{name}: two differ")
        # A field with a default is one the emitter may leave out: not required, and no
        # ``default`` that generators would read as "always present".
        for field in definition.get("properties", {}).values():
            field.pop("default", None)
        components[name] = definition
    variants: dict[str, str] = {}
    for event_type, data_type in EVENT_DATA.items():
        name = variants[event_type.value] = _variant_name(event_type)
        components[name] = {
            "type": "object",
            "title": name,
            "description": f"A ``{event_type.value}`` event. {inspect.getdoc(data_type)}",
            "required": list(event["properties"]),
            "properties": {
                **event["properties"],
                "type": {"type": "string", "enum": [event_type.value]},
                "data": _ref(data_type.__name__),
            },
        }
    components["Event"] = {
        "title": "Event",
        "description": event["description"],
        "oneOf": [_ref(name) for name in variants.values()],
        "discriminator": {
            "propertyName": "type",
            "mapping": {value: _ref(name)["$ref"] for value, name in variants.items()},
        },
    }


def _finish(schema: dict[str, Any], public: set[str]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = dict(PROBLEM_SCHEMA)
    problem["properties"] = dict(problem["properties"])
    problem["properties"]["code"] = {"type": "string", "enum": _codes()}
    components["Problem"] = problem
    components.update(PROBLEM_SCHEMAS)
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    schema["servers"] = [{"url": "http://127.0.0.1:8000", "description": "creditkit serve"}]
    for operation in _operations(schema):
        if operation["operationId"] in public:
            operation["security"] = []
        responses = operation["responses"]
        responses.pop("422", None)
        responses.update(_errors_of(operation))
        responses["default"] = _response("An error; ``code`` says which.", "Problem")
    _require_sent_fields(schema)
    # After: an event's data says itself which of its fields the emitter may leave out.
    _type_events(components)


def document(app: FastAPI, public: set[str]) -> None:
    """Finishes ``app``'s document; ``public`` names the operations that need no key."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _finish(build(), public)
        return errors.present(app.openapi_schema, "a finished document is kept on the app")

    app.openapi = openapi  # type: ignore[method-assign]
