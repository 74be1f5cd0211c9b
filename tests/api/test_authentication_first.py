"""Authentication answers first: every operation of the OpenAPI document that takes credentials
refuses a request without valid ones with a 401, whatever else is wrong with it (junk path
parameters, junk query parameters, no Idempotency-Key, a body that is no JSON or the wrong
JSON)."""

from __future__ import annotations

from typing import Any

import pytest
from api_helpers import Api, assert_problem

from creditkit import ManualClock

#: The operations anyone may call: the public catalog, and the payment providers' webhooks
#: (which prove themselves by their signature, not by a key).
PUBLIC_OPERATIONS = frozenset(
    {
        ("get", "/v1/catalog"),
        ("get", "/v1/catalog/plans"),
        ("get", "/v1/catalog/packs"),
        ("get", "/v1/catalog/action-costs"),
        ("post", "/v1/payments/{provider}/webhook"),
        ("get", "/healthz"),
        ("get", "/metrics"),
    }
)
#: Each way of not being authenticated.
NOT_AUTHENTICATED = {
    "no credentials": {},
    "an unknown secret key": {"Authorization": "Bearer ck_secret_unknown"},
    "a forged session token": {"Authorization": "Bearer cks_forged.token"},
    "another scheme": {"Authorization": "Basic YWRtaW46YWRtaW4="},
    "an empty bearer": {"Authorization": "Bearer "},
}
#: Each way a body can be wrong.
BAD_BODIES: dict[str, bytes] = {
    "no body": b"",
    "not JSON": b"{not json",
    "a list": b"[]",
    "a float amount": b'{"amount": 1.5, "customer": "\\u0000"}',
}
JUNK_VALUE = "\x00junk"


def operations(api: Api) -> list[tuple[str, str, dict[str, Any]]]:
    document = api.client.get("/openapi.json").json()
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def test_the_public_operations_are_exactly_those_without_security(api: Api) -> None:
    public = {
        (method, path)
        for method, path, operation in operations(api)
        if not operation.get("security")
    }
    assert public == PUBLIC_OPERATIONS
    every_v1 = {(method, path) for method, path, _operation in operations(api)}
    assert len(every_v1 - public) > 40  # the test sees the whole API, not a few routes


def junk_request(path: str, operation: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """``path`` with every path parameter junk (no int, no allowed text), and every query
    parameter junk."""
    query: dict[str, str] = {}
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", "%00junk")
        elif parameter["in"] == "query":
            query[parameter["name"]] = JUNK_VALUE
    return path, query


@pytest.mark.parametrize("credentials", list(NOT_AUTHENTICATED), ids=list(NOT_AUTHENTICATED))
def test_every_operation_answers_401_before_validation(
    api: Api, clock: ManualClock, credentials: str
) -> None:
    checked = 0
    for method, template, operation in operations(api):
        if (method, template) in PUBLIC_OPERATIONS:
            continue
        path, query = junk_request(template, operation)
        bodies = BAD_BODIES if "requestBody" in operation else {"no body": b""}
        for body_name, body in bodies.items():
            # A minute between requests: each wrong key is then the address's first failure
            # of its minute, below the throttle of failed authentication (test_side_doors.py).
            clock.advance(seconds=60)
            response = api.client.request(
                method.upper(),
                path,
                params=query,
                content=body,
                headers={**NOT_AUTHENTICATED[credentials], "Content-Type": "application/json"},
            )
            assert response.status_code == 401, (method, template, body_name, response.text)
            assert_problem(response, 401, "unauthorized")
            assert response.headers["WWW-Authenticate"] == 'Bearer realm="creditkit"'
            checked += 1
    assert checked > 100


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/charges", b'{"customer": "ada", "amount": 3}'),  # no Idempotency-Key
        ("POST", "/v1/charges", b'{"customer": "ada", "amount": 1.5}'),
        ("POST", "/v1/charges", b"[]"),
        ("POST", "/v1/holds", b"{}"),
        ("POST", "/v1/holds/1/commit", b"{}"),
        ("GET", "/v1/customers/ada/balance?unit=%00", b""),
    ],
)
def test_the_requests_of_the_report_answer_401(
    api: Api, method: str, path: str, body: bytes
) -> None:
    response = api.client.request(
        method, path, content=body, headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 401, "unauthorized")


def test_with_a_valid_key_the_validation_error_stands(api: Api) -> None:
    response = api.client.request(
        "POST", "/v1/charges", content=b"[]", headers={**api.admin, "Idempotency-Key": "k1"}
    )
    body = assert_problem(response, 422, "invalid_request")
    assert body["invalid_params"][0]["name"] == "body"
    response = api.client.get(
        "/v1/customers/ada/balance", params={"unit": "\x00"}, headers=api.admin
    )
    assert_problem(response, 422, "invalid_request")
