"""Webhook signatures: Standard Webhooks (https://www.standardwebhooks.com, as Svix, Polar and
OpenAI sign theirs; the ``standardwebhooks`` packages on PyPI and npm verify them).

Each delivery carries ``webhook-id`` (the event's id: the same on every attempt, for receivers
to dedupe on), ``webhook-timestamp`` (unix seconds) and ``webhook-signature``: space-separated
``v1,<base64>`` signatures, each HMAC-SHA256 of ``"<id>.<timestamp>.<body>"`` keyed with the
bytes of a ``whsec_<base64>`` secret. While a secret is being rotated the delivery is signed
with both, so a receiver verifies with either. Signing the id and timestamp with the body lets a
receiver refuse a replay (``tolerance_seconds``); comparing in constant time keeps the secret
from leaking through timing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime

from creditkit.notify.errors import InvalidSignature

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
SECRET_BYTES = 32
#: A header longer than this is refused before it is parsed (it would hold dozens of
#: signatures).
SIGNATURE_HEADER_LENGTH_MAX = 4096
TOLERANCE_SECONDS_DEFAULT = 300


def new_secret() -> str:
    """A new endpoint secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSignature("the secret is not whsec_ followed by base64") from None
    if not key:
        raise InvalidSignature("the secret is empty")
    return key


def _signature(message_id: str, timestamp: int, payload: bytes, secret: str) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + payload
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_headers(
    message_id: str, timestamp: int, payload: bytes, signing_secrets: Sequence[str]
) -> dict[str, str]:
    """The three Standard Webhooks headers of ``payload`` sent at ``timestamp`` (unix seconds),
    signed with each of ``signing_secrets`` (the current secret first)."""
    if timestamp < 0:
        raise ValueError(f"timestamp must not be negative: {timestamp}")
    if not signing_secrets:
        raise ValueError("at least one secret signs a delivery")
    signatures = " ".join(
        f"{SIGNATURE_VERSION},{_signature(message_id, timestamp, payload, secret)}"
        for secret in signing_secrets
    )
    return {ID_HEADER: message_id, TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signatures}


def verify_signature(
    payload: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance_seconds: int = TOLERANCE_SECONDS_DEFAULT,
    now: datetime,
) -> None:
    """For receivers: checks that ``headers`` (the request's, any case) sign the raw body
    ``payload`` with ``secret``, at a time within ``tolerance_seconds`` of ``now`` (an aware
    datetime). Any ``v1`` signature may match (two are sent while a secret is rotated). Raises
    ``InvalidSignature`` naming what failed; returns None when it holds. The ``standardwebhooks``
    package's ``Webhook(secret).verify`` checks the same.

    Pass the body exactly as received: parsing and re-encoding the JSON changes the bytes."""
    if now.tzinfo is None:
        raise InvalidSignature("now must be a timezone-aware datetime")
    if tolerance_seconds < 0:
        raise InvalidSignature("tolerance_seconds must not be negative")
    lowered = {name.lower(): value for name, value in headers.items()}
    message_id, timestamp_text, header = (
        lowered.get(name) for name in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)
    )
    if message_id is None or timestamp_text is None or header is None:
        raise InvalidSignature(f"send {ID_HEADER}, {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}")
    if len(header) > SIGNATURE_HEADER_LENGTH_MAX:
        raise InvalidSignature(f"header longer than {SIGNATURE_HEADER_LENGTH_MAX} characters")
    if not timestamp_text.isdigit():
        raise InvalidSignature(f"{TIMESTAMP_HEADER} is not a whole number of seconds")
    timestamp = int(timestamp_text)
    age_seconds = now.timestamp() - timestamp
    if abs(age_seconds) > tolerance_seconds:
        raise InvalidSignature(
            f"signed {int(age_seconds)} seconds from now, beyond the {tolerance_seconds}"
            " seconds tolerated"
        )
    expected = _signature(message_id, timestamp, payload, secret)
    offered = [
        value
        for version, _, value in (part.partition(",") for part in header.split(" "))
        if version == SIGNATURE_VERSION
    ]
    if not offered:
        raise InvalidSignature(f"no {SIGNATURE_VERSION} signature in {SIGNATURE_HEADER}")
    if not any(hmac.compare_digest(expected, signature) for signature in offered):
        raise InvalidSignature("no signature matches the payload and secret")
