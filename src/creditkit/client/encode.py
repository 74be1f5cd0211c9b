"""What the client sends: API paths and JSON values, each refused as the kit refuses it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from creditkit.errors import InvalidAmount, InvalidRequest
from creditkit.ledger.schemas import Money


def v1_path(*segments: str) -> str:
    """``/v1/`` and the segments, each escaped: an id with ``?``, ``#`` or spaces stays one
    segment."""
    return "/v1/" + "/".join(quote(segment, safe="") for segment in segments)


def row_id(row_id: int, field: str) -> str:
    """A hold's, payment's, receipt's or webhook endpoint's id as a path segment."""
    if isinstance(row_id, bool) or not isinstance(row_id, int) or row_id < 1:
        raise InvalidRequest(field, "must be a positive int")
    return str(row_id)


def endpoint_path(endpoint_id: int, *rest: str) -> str:
    return v1_path("webhook-endpoints", row_id(endpoint_id, "endpoint_id"), *rest)


def event_json(event: object, index: int) -> dict[str, Any]:
    if not isinstance(event, Mapping):
        raise InvalidRequest(f"events[{index}]", "must be a mapping")
    return dict(event)


def money_json(money: Money, field: str) -> dict[str, Any]:
    if not isinstance(money, Money):
        raise InvalidRequest(field, "must be Money with a non-negative int and a 3-letter currency")
    return {"amount_minor": money.amount_minor, "currency": money.currency}


def amount_json(amount: object, field: str = "amount") -> int | str:
    """An amount as JSON: an integer, or a decimal string (exact); never a float."""
    if isinstance(amount, bool) or not isinstance(amount, int | Decimal | str):
        raise InvalidAmount(
            field,
            f"must be an int, Decimal or decimal string, not {type(amount).__name__}"
            " (floats are not exact)",
        )
    return amount if isinstance(amount, int | str) else str(amount)


def spender_query(spender: str | None, subtree: bool) -> dict[str, str]:
    """A read's spender filter as query parameters (``subtree`` alone is sent, so that the
    server names it in its refusal)."""
    query: dict[str, str] = {}
    if spender is not None:
        query["spender"] = spender
    if spender is not None or subtree:
        query["subtree"] = "true" if subtree else "false"
    return query


def time_json(moment: datetime | None, field: str) -> str | None:
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        raise InvalidRequest(field, "must be a timezone-aware datetime")
    if moment.tzinfo is None:
        raise InvalidRequest(field, "must be timezone-aware")
    return moment.isoformat()
