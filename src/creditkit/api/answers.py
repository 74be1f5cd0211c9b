"""A route's answer encoded once.

A route that returns its result lets FastAPI check it against the route's response model first:
for the ledger's dataclasses that builds each of them (and each draw of a charge) anew, only to
encode the copy. The hot routes (charges, holds, balances) encode their result straight to JSON
bytes with the same type's serializer instead, and keep ``response_model`` for the document."""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response
from pydantic import TypeAdapter

#: One adapter per result type, built on first use (building one costs milliseconds); a
#: handful of types, so no bound is needed beyond the routes that call this.
_adapters: dict[type, TypeAdapter[Any]] = {}


def adapter(kind: type) -> TypeAdapter[Any]:
    found = _adapters.get(kind)
    if found is None:
        # Two threads may both build one: either is the same adapter.
        found = _adapters[kind] = TypeAdapter(kind)
    return found


def answer(value: Any, status_code: int = 200) -> Response:
    """``value`` as JSON, written as FastAPI writes a response model of its type (by alias,
    exact decimals as strings, times as ISO 8601)."""
    return Response(
        adapter(type(value)).dump_json(value, by_alias=True),
        status_code=status_code,
        media_type="application/json",
    )
