"""Input checks every ledger operation makes before it writes anything: each refusal names
the field and the reason, and every input has a size limit (bounded work).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from creditkit.errors import (
    InvalidAmount,
    InvalidRequest,
)
from creditkit.ledger import history_repository, repository
from creditkit.ledger.schemas import (
    AMOUNT_DIGITS_MAX,
    TransactionKind,
)

IDEMPOTENCY_KEY_LENGTH_MAX = 255

EXTERNAL_ID_LENGTH_MAX = 255

NAME_LENGTH_MAX = 128

HOLD_TIMEOUT_SECONDS_MAX = 7 * 24 * 3600
#: How long a hold may live, from its reserve to its last timeout, however often it is extended:
#: a lease a worker keeps extending still ends.
HOLD_LIFETIME_SECONDS_MAX = 30 * 24 * 3600
#: Levels of a tree of holds: a root and up to three levels of holds taken under it (the
#: database checks depth 0 to 3 as well).
HOLD_TREE_LEVELS_MAX = 4
#: Open holds below one root at once: releasing the root closes them all in its transaction,
#: so this bounds the work a release does under the customer's lock.
HOLD_TREE_OPEN_MAX = 256

HISTORY_PAGE_SIZE_MAX = 500

HOLDS_PAGE_SIZE_MAX = 500

BATCH_SIZE_MAX = 10_000

PRIORITY_MAX = 1_000_000

METADATA_BYTES_MAX = 16_384

METADATA_DEPTH_MAX = 8

METADATA_KEY_LENGTH_MAX = 128

METADATA_NODES_MAX = 4_096


def check_text(value: object, field_name: str, length_max: int) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidRequest(field_name, "must be a non-empty string")
    if len(value) > length_max:
        raise InvalidRequest(field_name, f"must be at most {length_max} characters")
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL: refused here, by name, not as a database error.
        raise InvalidRequest(field_name, "must not contain NUL (U+0000)")
    return value


#: The longest IANA zone name is 32 characters; the column holds 64.
TIME_ZONE_LENGTH_MAX = 64


def check_time_zone(value: object, field_name: str = "time_zone") -> str | None:
    """None, or a zone the IANA database (the system's, else the ``tzdata`` package) knows."""
    if value is None:
        return None
    name = check_text(value, field_name, TIME_ZONE_LENGTH_MAX)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidRequest(
            field_name, f"unknown time zone {name!r} (an IANA name: Europe/Paris, UTC)"
        ) from None
    return name


def check_metadata(metadata: object) -> dict[str, Any]:
    """Metadata within its limits (nesting depth, key length, encoded size), refused naming the
    field before anything is written: what is stored must also be readable back, and a value
    nested deeper than a JSON encoder's recursion limit would be written and then fail every
    read of the customer's history."""
    if metadata is None or metadata == {}:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidRequest("metadata", "must be a mapping with string keys")
    _check_metadata_shape(metadata)
    try:
        encoded = repository.encode_json(metadata)
    except (TypeError, ValueError) as error:
        raise InvalidRequest("metadata", f"must be JSON-serializable: {error}") from None
    if len(encoded.encode()) > METADATA_BYTES_MAX:
        raise InvalidRequest("metadata", f"must encode to at most {METADATA_BYTES_MAX} bytes")
    return metadata


def _check_metadata_shape(metadata: dict[Any, Any]) -> None:
    """Walks the value without recursion (so a hostile depth cannot overflow the stack), at most
    ``METADATA_NODES_MAX`` nodes."""
    pending: list[tuple[object, int, str]] = [(metadata, 1, "metadata")]
    for _node in range(METADATA_NODES_MAX):
        if not pending:
            return
        value, depth, path = pending.pop()
        if isinstance(value, dict | list) and depth > METADATA_DEPTH_MAX:
            raise InvalidRequest(path, f"nests deeper than {METADATA_DEPTH_MAX} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise InvalidRequest(path, "must be a mapping with string keys")
                if len(key) > METADATA_KEY_LENGTH_MAX:
                    raise InvalidRequest(
                        path, f"has a key longer than {METADATA_KEY_LENGTH_MAX} characters"
                    )
                pending.append((item, depth + 1, f"{path}.{key}"))
        elif isinstance(value, list):
            pending.extend(
                (item, depth + 1, f"{path}[{index}]") for index, item in enumerate(value)
            )
    if pending:
        raise InvalidRequest("metadata", f"must hold at most {METADATA_NODES_MAX} values")


def check_time(value: object, field_name: str) -> datetime:
    """``value`` in UTC; refuses anything but an aware datetime, naming ``field_name``."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidRequest(field_name, "must be a timezone-aware datetime")
    return value.astimezone(UTC)


def check_range(
    start: object, end: object, days_max: int | None = None
) -> tuple[datetime, datetime]:
    """A time range ``[start, end)`` in UTC: aware datetimes, ``end`` after ``start``, and at
    most ``days_max`` days long when given."""
    start_ = check_time(start, "start")
    end_ = check_time(end, "end")
    if end_ <= start_:
        raise InvalidRequest("end", "must be after start")
    if days_max is not None and end_ - start_ > timedelta(days=days_max):
        raise InvalidRequest("end", f"the range spans at most {days_max} days from start")
    return start_, end_


def check_history_filters(
    kinds: object, action: object, start: object, end: object
) -> history_repository.HistoryFilters:
    """The filters of a history read, checked: ``kinds`` a list of ``TransactionKind`` values
    (None: every kind), ``action`` an action name, [start, end) timezone-aware (either None)."""
    kinds_ = None if kinds is None else check_kinds(kinds)
    action_ = None if action is None else check_text(action, "action", NAME_LENGTH_MAX)
    start_ = None if start is None else check_time(start, "start")
    end_ = None if end is None else check_time(end, "end")
    if start_ is not None and end_ is not None and end_ <= start_:
        raise InvalidRequest("end", "must be after start")
    return history_repository.HistoryFilters(kinds_, action_, start_, end_)


def check_kinds(kinds: object) -> frozenset[TransactionKind]:
    """``kinds`` as a set of ``TransactionKind``: a non-empty list of their values, at most
    one entry per kind (the client checks with it too, before sending)."""
    known = ", ".join(kind.value for kind in TransactionKind)
    if isinstance(kinds, str | bytes) or not isinstance(kinds, Sequence):
        raise InvalidRequest("kinds", f"must be a list of transaction kinds ({known})")
    if not 1 <= len(kinds) <= len(TransactionKind):
        raise InvalidRequest(
            "kinds", f"must name 1 to {len(TransactionKind)} kinds (None: every kind)"
        )
    values = {kind.value for kind in TransactionKind}
    for kind in kinds:
        if not isinstance(kind, str) or kind not in values:
            raise InvalidRequest("kinds", f"{kind!r} is not a transaction kind ({known})")
    return frozenset(TransactionKind(kind) for kind in kinds)


def canonical_quantity(amount: object) -> str:
    """The amount as recorded in a request, so that ``37``, ``"37"`` and ``Decimal("37.0")``
    are one request; refuses what is not exact."""
    if isinstance(amount, bool) or not isinstance(amount, int | Decimal | str):
        raise InvalidAmount(
            "amount", "must be an int, Decimal or decimal string (floats are not exact)"
        )
    try:
        exact = Decimal(amount)
    except ArithmeticError:
        raise InvalidAmount("amount", f"{amount!r} is not a number") from None
    if not exact.is_finite():
        raise InvalidAmount("amount", "must be finite")
    if exact and abs(exact.adjusted()) > AMOUNT_DIGITS_MAX:
        # Before normalize(), which would overflow the decimal context on 1e1000000.
        raise InvalidAmount("amount", f"{amount!r} is out of range")
    return format(exact.normalize(), "f")


def iso_or_none(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
