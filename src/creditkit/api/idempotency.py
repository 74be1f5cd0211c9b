"""``Idempotency-Key`` for the writes the ledger does not key itself (customers, members,
subscriptions, limits): the first response is stored and a retry gets it again; the same key on
a different request is a 409. These writes are idempotent by state too (adding a member twice
adds one), so a crash between the write and storing its response only loses the stored copy.

Ledger writes (grants, charges, holds, transfers) pass the key to the ledger instead, which
records it in the same transaction as the write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool

from creditkit.api import repository
from creditkit.api.problems import ApiProblem
from creditkit.api.schemas import TEXT_PATTERN
from creditkit.kit import CreditKit

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=TEXT_PATTERN,
        description="Makes the write exactly-once: a retry with the same key and request gets "
        "the first outcome; with another request, 409.",
    ),
]


#: One adapter per result type, built on first use (building one costs milliseconds).
_adapters: dict[type, TypeAdapter[Any]] = {}


def _adapter(kind: type) -> TypeAdapter[Any]:
    adapter = _adapters.get(kind)
    if adapter is None:
        adapter = _adapters[kind] = TypeAdapter(kind)
    return adapter


def encode(value: Any) -> Any:
    """A result as JSON values, the way FastAPI's response models write it (exact decimals as
    strings, times as ISO 8601)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, list):
        return [encode(item) for item in value]
    return _adapter(type(value)).dump_python(value, mode="json")


class Responses:
    def __init__(self, kit: CreditKit) -> None:
        self._kit = kit

    async def once(
        self,
        request: Request,
        idempotency_key: str,
        produce: Callable[[], Any],
        status_code: int = 200,
    ) -> JSONResponse:
        body = await request.body()
        fingerprint = hashlib.sha256(
            b"\n".join([request.method.encode(), request.url.path.encode(), body])
        ).hexdigest()
        return await run_in_threadpool(
            self._once, idempotency_key, fingerprint, produce, status_code
        )

    def _once(
        self,
        idempotency_key: str,
        fingerprint: str,
        produce: Callable[[], Any],
        status_code: int,
    ) -> JSONResponse:
        database = self._kit.database
        with database.read() as connection:
            recorded = repository.recorded_response(connection, idempotency_key)
        if recorded is not None:
            if recorded.request_sha256 != fingerprint:
                raise ApiProblem(
                    409,
                    "idempotency_conflict",
                    f"idempotency key {idempotency_key!r} was used for a different request",
                    idempotency_key=idempotency_key,
                )
            return JSONResponse(json.loads(recorded.body), status_code=recorded.status_code)
        content = encode(produce())
        text = json.dumps(content, separators=(",", ":"))
        database.unit_of_work(
            self._kit.now,
            lambda context: repository.record_response(
                context.connection, idempotency_key, fingerprint, status_code, text, context.now
            ),
        )
        return JSONResponse(content, status_code=status_code)
