"""Webhook signatures, as Stripe signs its webhooks.

Each delivery carries ``Creditkit-Signature: t=<unix seconds>,v1=<hex>``, where the hex is
HMAC-SHA256, keyed with the endpoint's secret, of ``"<t>.<body>"``. Signing the timestamp with the
body lets a receiver refuse a replay of an old delivery (``tolerance_seconds``); comparing in
constant time keeps the secret from leaking through timing.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from creditkit.notify.errors import InvalidSignature

SIGNATURE_HEADER = "Creditkit-Signature"
EVENT_ID_HEADER = "Creditkit-Event-Id"
SIGNATURE_SCHEME = "v1"
#: A header longer than this is refused before it is parsed (it would hold hundreds of
#: signatures).
SIGNATURE_HEADER_LENGTH_MAX = 4096
TOLERANCE_SECONDS_DEFAULT = 300


def _digest(payload: bytes, secret: str, timestamp: int) -> str:
    signed = str(timestamp).encode("ascii") + b"." + payload
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The ``Creditkit-Signature`` header's value for ``payload`` sent at ``timestamp`` (unix
    seconds)."""
    assert timestamp >= 0, timestamp
    return f"t={timestamp},{SIGNATURE_SCHEME}={_digest(payload, secret, timestamp)}"


def verify_signature(
    payload: bytes,
    header: str,
    secret: str,
    *,
    tolerance_seconds: int = TOLERANCE_SECONDS_DEFAULT,
    now: datetime,
) -> None:
    """For receivers: checks that ``header`` (the ``Creditkit-Signature`` value) signs the raw
    request body ``payload`` with ``secret``, at a time within ``tolerance_seconds`` of ``now``
    (an aware datetime). Any ``v1`` signature may match (several are sent while a secret is
    rotated). Raises ``InvalidSignature`` naming what failed; returns None when it holds.

    Pass the body exactly as received: parsing and re-encoding the JSON changes the bytes."""
    if now.tzinfo is None:
        raise InvalidSignature("now must be a timezone-aware datetime")
    if tolerance_seconds < 0:
        raise InvalidSignature("tolerance_seconds must not be negative")
    if len(header) > SIGNATURE_HEADER_LENGTH_MAX:
        raise InvalidSignature(f"header longer than {SIGNATURE_HEADER_LENGTH_MAX} characters")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            if not value.isdigit():
                raise InvalidSignature("the timestamp t= is not a whole number of seconds")
            timestamp = int(value)
        elif name == SIGNATURE_SCHEME:
            signatures.append(value)
    if timestamp is None:
        raise InvalidSignature("no timestamp t= in the header")
    if not signatures:
        raise InvalidSignature(f"no {SIGNATURE_SCHEME}= signature in the header")
    expected = _digest(payload, secret, timestamp)
    if not any(hmac.compare_digest(expected, signature) for signature in signatures):
        raise InvalidSignature("no signature matches the payload and secret")
    age_seconds = now.timestamp() - timestamp
    if abs(age_seconds) > tolerance_seconds:
        raise InvalidSignature(
            f"signed {int(age_seconds)} seconds from now, beyond the {tolerance_seconds}"
            " seconds tolerated"
        )
