"""Webhook signatures: Standard Webhooks, HMAC-SHA256 of "<id>.<timestamp>.<body>" keyed with
the bytes of a whsec_ secret, as the standardwebhooks package verifies them."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from creditkit.notify import InvalidSignature, verify_signature
from creditkit.notify.signing import new_secret, signed_headers

SECRET = "whsec_" + base64.b64encode(b"creditkit signing test key bytes").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"another signing key, not the one").decode()
BODY = b'{"id":"evt_1","type":"credits.low"}'
NOW = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
T = int(NOW.timestamp())


def test_the_signature_is_the_hmac_of_id_dot_timestamp_dot_body() -> None:
    key = b"creditkit signing test key bytes"
    digest = hmac.new(key, f"evt_1.{T}.".encode() + BODY, hashlib.sha256).digest()
    assert signed_headers("evt_1", T, BODY, [SECRET]) == {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(T),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def test_new_secrets_are_whsec_and_32_random_bytes() -> None:
    first, second = new_secret(), new_secret()
    assert first != second and first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


def test_a_signature_verifies_within_the_tolerance() -> None:
    headers = signed_headers("evt_1", T, BODY, [SECRET])
    verify_signature(BODY, headers, SECRET, now=NOW)
    verify_signature(BODY, headers, SECRET, now=NOW + timedelta(seconds=300))
    upper = {name.upper(): value for name, value in headers.items()}
    verify_signature(BODY, upper, SECRET, now=NOW)


def test_the_standardwebhooks_package_verifies_what_is_signed() -> None:
    """At the wall clock's time: the package checks the timestamp against it."""
    now = int(datetime.now(UTC).timestamp())
    headers = signed_headers("evt_1", now, BODY, [OTHER_SECRET, SECRET])
    assert Webhook(SECRET).verify(BODY, headers) == {"id": "evt_1", "type": "credits.low"}
    assert Webhook(OTHER_SECRET).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


@pytest.mark.parametrize(
    ("body", "secret", "now", "reason"),
    [
        (BODY + b" ", SECRET, NOW, "no signature matches"),
        (BODY, OTHER_SECRET, NOW, "no signature matches"),
        (BODY, SECRET, NOW + timedelta(seconds=301), "beyond the 300 seconds"),
        (BODY, SECRET, NOW - timedelta(seconds=301), "beyond the 300 seconds"),
        (BODY, "whsec_not base64!", NOW, "not whsec_ followed by base64"),
    ],
)
def test_a_changed_body_secret_or_stale_time_is_refused(
    body: bytes, secret: str, now: datetime, reason: str
) -> None:
    with pytest.raises(InvalidSignature, match=reason):
        verify_signature(body, signed_headers("evt_1", T, BODY, [SECRET]), secret, now=now)


def test_a_changed_id_is_refused() -> None:
    headers = {**signed_headers("evt_1", T, BODY, [SECRET]), "webhook-id": "evt_2"}
    with pytest.raises(InvalidSignature, match="no signature matches"):
        verify_signature(BODY, headers, SECRET, now=NOW)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"webhook-id": "evt_1", "webhook-timestamp": str(T)}, "send webhook-id"),
        ({"webhook-id": "evt_1", "webhook-signature": "v1,x"}, "send webhook-id"),
        (
            {"webhook-id": "evt_1", "webhook-timestamp": str(T), "webhook-signature": "v2,x"},
            "no v1 signature",
        ),
        (
            {"webhook-id": "evt_1", "webhook-timestamp": "soon", "webhook-signature": "v1,x"},
            "not a whole number",
        ),
        (
            {
                "webhook-id": "evt_1",
                "webhook-timestamp": str(T),
                "webhook-signature": "v1,x " * 1000,
            },
            "longer than",
        ),
    ],
)
def test_malformed_headers_are_refused(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(InvalidSignature, match=reason) as refused:
        verify_signature(BODY, headers, SECRET, now=NOW)
    assert reason in refused.value.reason


def test_any_v1_may_match_while_a_secret_is_rotated() -> None:
    headers = signed_headers("evt_1", T, BODY, [OTHER_SECRET, SECRET])
    assert headers["webhook-signature"].count("v1,") == 2
    verify_signature(BODY, headers, SECRET, now=NOW)
    verify_signature(BODY, headers, OTHER_SECRET, now=NOW)
