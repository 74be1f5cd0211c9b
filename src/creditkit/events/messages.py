"""Usage events as JetStream messages: a request's events go as few messages as fit the bounds
(one per chunk), so that the stream stores, replicates and acknowledges a message per chunk,
not per event. Each event keeps its own idempotency key, which the ledger charges once; the
message's ``Nats-Msg-Id`` is derived from its events' keys, so that a retried publish of the same
chunk is dropped by JetStream too.

A message holds either one event, as a JSON object with ``Nats-Msg-Id`` its idempotency key (a
chunk of one, and what earlier versions published), or several, as ``{"events": [...]}`` with
``Nats-Msg-Id`` ``events:`` and the SHA-256 of their keys in order."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from creditkit.errors import InvalidRequest, InvariantViolation
from creditkit.ledger.checks import METADATA_BYTES_MAX

#: Events in one message at most (as many as one ``POST /v1/events`` carries).
EVENTS_PER_MESSAGE_MAX = 1_000
#: The body of one message, in bytes, at most: under the server's ``max_payload`` (1 MiB unless
#: configured), so that a chunk is never refused for its size.
MESSAGE_BYTES_MAX = 256 * 1024
#: Room kept for a message's headers and subject within ``max_payload``, in bytes.
HEADER_BYTES_MAX = 1_024
#: NATS's default ``max_payload``, in bytes: what a server not configured otherwise takes.
SERVER_PAYLOAD_BYTES_DEFAULT = 1024 * 1024
#: One event that the ledger could charge encodes to at most this many bytes: its metadata's
#: bound and room for its other fields (customer, action, key, member, time). Every such event
#: fits in a message, alone if need be.
EVENT_BYTES_MAX = METADATA_BYTES_MAX + 4_096
#: The ``Nats-Msg-Id`` prefix of a message of several events.
CHUNK_ID_PREFIX = "events:"

if not EVENT_BYTES_MAX <= MESSAGE_BYTES_MAX <= SERVER_PAYLOAD_BYTES_DEFAULT - HEADER_BYTES_MAX:
    raise InvariantViolation(
        "a chargeable event fits in a message, and a message in a server's default max_payload",
        f"{EVENT_BYTES_MAX} <= {MESSAGE_BYTES_MAX} <= {SERVER_PAYLOAD_BYTES_DEFAULT}"
        f" - {HEADER_BYTES_MAX}",
    )


@dataclass(frozen=True, slots=True)
class Chunk:
    """One message to publish: its ``Nats-Msg-Id``, its body, and how many events it holds."""

    message_id: str
    body: bytes
    events: int


def message_bytes_max(server_payload_bytes: int) -> int:
    """The body's bound on a server whose ``max_payload`` is ``server_payload_bytes``; raises
    ``InvalidRequest`` naming ``events`` when such a server cannot hold a chargeable event."""
    bound = min(MESSAGE_BYTES_MAX, server_payload_bytes - HEADER_BYTES_MAX)
    if bound < EVENT_BYTES_MAX:
        raise InvalidRequest(
            "events",
            f"the NATS server's max_payload ({server_payload_bytes} bytes) is below what one"
            f" event may take ({EVENT_BYTES_MAX + HEADER_BYTES_MAX} bytes): raise it",
        )
    return bound


def chunk_id(keys: Sequence[str]) -> str:
    """The ``Nats-Msg-Id`` of a message of ``keys``' events: the key itself for one; for
    several, the same whenever the same keys come in the same order (a retried request)."""
    if len(keys) == 1:
        return keys[0]
    digest = hashlib.sha256(json.dumps(list(keys), separators=(",", ":")).encode())
    return CHUNK_ID_PREFIX + digest.hexdigest()


def encoded_events(events: Sequence[Mapping[str, Any]], bytes_max: int) -> list[bytes]:
    """Each event as JSON; raises ``InvalidRequest`` naming ``events[i]`` when one alone is
    larger than a message may be (before anything is published)."""
    encoded = [json.dumps(dict(event), separators=(",", ":")).encode() for event in events]
    for index, body in enumerate(encoded):
        if len(body) > bytes_max:
            raise InvalidRequest(
                f"events[{index}]",
                f"encodes to {len(body)} bytes, more than a message takes ({bytes_max});"
                f" its metadata may take at most {METADATA_BYTES_MAX} bytes",
            )
    return encoded


def chunks(
    events: Sequence[Mapping[str, Any]],
    bytes_max: int,
    encoded: Sequence[bytes] | None = None,
) -> list[Chunk]:
    """``events`` as messages, in order: as many events each as fit ``bytes_max`` and
    ``EVENTS_PER_MESSAGE_MAX``. The same events give the same chunks. ``encoded``: the events
    as ``encoded_events`` gave them (encoded here otherwise, with its refusal)."""
    if encoded is None:
        encoded = encoded_events(events, bytes_max)
    if len(encoded) != len(events) or any(len(body) > bytes_max for body in encoded):
        raise InvariantViolation("each event encoded within the bound", f"{len(events)} events")
    found: list[Chunk] = []
    start = 0
    while start < len(encoded):
        end, size = start, len(b'{"events":[]}')
        while (
            end < len(encoded)
            and end - start < EVENTS_PER_MESSAGE_MAX
            and size + len(encoded[end]) + 1 <= bytes_max
        ):
            size += len(encoded[end]) + 1
            end += 1
        found.append(_chunk(events[start:end], encoded[start:end]))
        start = end
    return found


def _chunk(events: Sequence[Mapping[str, Any]], encoded: Sequence[bytes]) -> Chunk:
    keys = [str(event["idempotency_key"]) for event in events]
    body = encoded[0] if len(encoded) == 1 else b'{"events":[' + b",".join(encoded) + b"]}"
    return Chunk(chunk_id(keys), body, len(encoded))


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A message that holds no event to charge: ``detail`` why, ``event`` what could be read
    of it (an empty mapping when nothing could)."""

    detail: str
    event: dict[str, Any]


def decoded(message_id: str, body: bytes) -> list[dict[str, Any]] | Unreadable:
    """The events a message holds (one parse of its body), or why none can be read: not JSON,
    not an object, or a ``Nats-Msg-Id`` that its events' keys do not give."""
    try:
        found = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return Unreadable(f"not JSON: {error}", {})
    if not isinstance(found, dict):
        return Unreadable("not a JSON object", {})
    listed = found.get("events")
    if not isinstance(listed, list):
        if found.get("idempotency_key") != message_id:
            return Unreadable("idempotency_key is not Nats-Msg-Id", found)
        return [found]
    if not 2 <= len(listed) <= EVENTS_PER_MESSAGE_MAX:
        return Unreadable(f"holds {len(listed)} events: 2 to {EVENTS_PER_MESSAGE_MAX}", {})
    if not all(isinstance(event, dict) for event in listed):
        return Unreadable("an event is not a JSON object", {})
    keys = [event.get("idempotency_key") for event in listed]
    if not all(isinstance(key, str) for key in keys) or chunk_id(keys) != message_id:
        return Unreadable("its events' idempotency keys do not give Nats-Msg-Id", {})
    return listed
