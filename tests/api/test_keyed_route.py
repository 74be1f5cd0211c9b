"""``KeyedRoute`` (the charge's route) answers every request as FastAPI's own route does, and
skips FastAPI's parameter solving for the well-formed ones only.

The same endpoint is served twice, by a plain ``APIRoute`` and by a ``KeyedRoute``, with
creditkit's problem+json handlers; each request below gets byte-for-byte the same answer from
both (status, headers, body). FastAPI's ``solve_dependencies`` runs for a well-formed request
on the plain route only; for any other, as often on both."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import fastapi.routing
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.responses import Response
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from creditkit.api import problems
from creditkit.api.auth import Credentials
from creditkit.api.idempotency import IdempotencyKey
from creditkit.api.keyed_route import KeyedRoute
from creditkit.api.schemas import ChargeCreate
from creditkit.errors import InvariantViolation

JSON = {"Content-Type": "application/json"}
BEARER = {"Authorization": "Bearer ck_secret_example"}
GOOD = json.dumps({"customer": "c1", "amount": 1, "metadata": {"x": [1, 2.5, "y"]}}).encode()

#: name: (headers, body, whether FastAPI must look at it: the fast path leaves it)
REQUESTS: dict[str, tuple[list[tuple[str, str]], bytes, bool]] = {
    "well-formed": ([*BEARER.items(), *JSON.items(), ("Idempotency-Key", "k1")], GOOD, False),
    "a decimal string": (
        [*BEARER.items(), *JSON.items(), ("Idempotency-Key", "k1")],
        b'{"customer": "c1", "amount": "12.50"}',
        False,
    ),
    "no credentials": ([*JSON.items(), ("Idempotency-Key", "k1")], GOOD, False),
    "another scheme": (
        [("Authorization", "Basic YWRtaW4="), *JSON.items(), ("Idempotency-Key", "k1")],
        GOOD,
        False,
    ),
    "two keys: the first counts": (
        [*BEARER.items(), *JSON.items(), ("Idempotency-Key", "k1"), ("Idempotency-Key", "")],
        GOOD,
        False,
    ),
    "no key": ([*BEARER.items(), *JSON.items()], GOOD, True),
    "an empty key": ([*BEARER.items(), *JSON.items(), ("Idempotency-Key", "")], GOOD, True),
    "a key too long": (
        [*BEARER.items(), *JSON.items(), ("Idempotency-Key", "k" * 256)],
        GOOD,
        True,
    ),
    "a float": (
        [*BEARER.items(), *JSON.items(), ("Idempotency-Key", "k1")],
        b'{"customer": "c1", "amount": 1.5}',
        True,
    ),
    "NaN in metadata": (
        [*BEARER.items(), *JSON.items(), ("Idempotency-Key", "k1")],
        b'{"customer": "c1", "amount": 1, "metadata": {"x": NaN}}',
        True,
    ),
    "an unknown field": (
        [*BEARER.items(), *JSON.items(), ("Idempotency-Key", "k1")],
        b'{"customer": "c1", "amount": 1, "bogus": 1}',
        True,
    ),
    "not JSON": ([*BEARER.items(), *JSON.items(), ("Idempotency-Key", "k1")], b"{no", True),
    "not UTF-8": (
        [*BEARER.items(), *JSON.items(), ("Idempotency-Key", "k1")],
        b'{"customer": "c1\xff", "amount": 1}',
        True,
    ),
    "nested deeper than the parser goes": (
        [*BEARER.items(), *JSON.items(), ("Idempotency-Key", "k1")],
        b"[" * 100_000 + b"]" * 100_000,
        True,
    ),
    "no body": ([*BEARER.items(), *JSON.items(), ("Idempotency-Key", "k1")], b"", True),
    "null": ([*BEARER.items(), *JSON.items(), ("Idempotency-Key", "k1")], b"null", True),
    "text/plain": (
        [*BEARER.items(), ("Content-Type", "text/plain"), ("Idempotency-Key", "k1")],
        GOOD,
        True,
    ),
    "JSON with a charset": (
        [
            *BEARER.items(),
            ("Content-Type", "application/json; charset=utf-8"),
            ("Idempotency-Key", "k1"),
        ],
        GOOD,
        True,
    ),
    "no content type": ([*BEARER.items(), ("Idempotency-Key", "k1")], GOOD, True),
}


async def echo(credentials: Credentials, body: ChargeCreate, key: IdempotencyKey) -> Response:
    """What the endpoint was given, as JSON."""
    given: dict[str, Any] = {
        "credentials": None if credentials is None else credentials.model_dump(),
        "body": body.model_dump(mode="json"),
        "key": key,
    }
    return Response(json.dumps(given), status_code=201, media_type="application/json")


def served(route_class: type[APIRoute]) -> FastAPI:
    app = FastAPI()

    async def no_refusal(_request: object) -> None:
        return None

    problems.install(app, lambda _error: {}, no_refusal)
    router = APIRouter(prefix="/v1")
    router.add_api_route(
        "/charges", echo, methods=["POST"], status_code=201, route_class_override=route_class
    )
    app.include_router(router)
    return app


@pytest.fixture
def clients() -> Iterator[tuple[TestClient, TestClient]]:
    with (
        TestClient(served(APIRoute), raise_server_exceptions=False) as plain,
        TestClient(served(KeyedRoute), raise_server_exceptions=False) as keyed,
    ):
        yield plain, keyed


@pytest.fixture
def solved(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times FastAPI solved a route's parameters."""
    calls: list[int] = []
    solve = fastapi.routing.solve_dependencies

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return await solve(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counted)
    return calls


@pytest.mark.parametrize("name", list(REQUESTS))
def test_answers_as_fastapi_does(
    name: str, clients: tuple[TestClient, TestClient], solved: list[int]
) -> None:
    headers, body, fastapi_looks = REQUESTS[name]
    plain, keyed = clients
    expected = plain.post("/v1/charges", headers=headers, content=body)
    solved_by_plain = len(solved)
    solved.clear()
    answer = keyed.post("/v1/charges", headers=headers, content=body)
    assert (answer.status_code, answer.headers.items(), answer.content) == (
        expected.status_code,
        expected.headers.items(),
        expected.content,
    )
    if fastapi_looks:
        assert len(solved) == solved_by_plain
    else:
        assert (solved_by_plain, len(solved)) == (1, 0)


def test_well_formed_reaches_the_endpoint(clients: tuple[TestClient, TestClient]) -> None:
    _plain, keyed = clients
    headers, body, _ = REQUESTS["well-formed"]
    answer = keyed.post("/v1/charges", headers=headers, content=body)
    assert answer.status_code == 201
    assert answer.json() == {
        "credentials": {"scheme": "Bearer", "credentials": "ck_secret_example"},
        "body": ChargeCreate.model_validate(json.loads(GOOD)).model_dump(mode="json"),
        "key": "k1",
    }


def test_refuses_an_endpoint_of_another_shape() -> None:
    async def other(body: ChargeCreate, key: IdempotencyKey) -> Response:
        return Response(b"{}")

    router = APIRouter()
    with pytest.raises(InvariantViolation):
        router.add_api_route("/x", other, methods=["POST"], route_class_override=KeyedRoute)
