"""The side doors of the HTTP service: request bodies past the limit, guessing keys, the audit
an operator runs, and the service's secrets at rest."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from api_helpers import Api, assert_problem
from fastapi.testclient import TestClient

from creditkit import CreditKit, InvalidRequest, ManualClock
from creditkit.api.throttle import FAILURES_PER_MINUTE_MAX
from creditkit.keys.schemas import Scope
from creditkit.notify.errors import SecretKeyWrong
from creditkit.notify.sealing import new_secret_key
from creditkit.server import create_app
from creditkit.server.serve import Settings, example_catalog, serve


def test_a_body_past_the_limit_is_refused_with_413_unread(api: Api) -> None:
    """10 MB of JSON with a valid key was read whole: now 413 before reading on, whether the
    body declares its length or streams in chunks."""
    big = b'{"amount": 1, "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    headers = {**api.admin, "Idempotency-Key": "big", "Content-Type": "application/json"}
    declared = api.client.post("/v1/customers", content=big, headers=headers)
    body = assert_problem(declared, 413, "body_too_large")
    assert body["body_bytes_max"] == 1024 * 1024

    def chunks() -> object:
        for _ in range(40):
            yield b"x" * 65536

    streamed = api.client.post("/v1/customers", content=chunks(), headers=headers)  # type: ignore[arg-type]
    assert_problem(streamed, 413, "body_too_large")


def test_the_body_limit_is_configurable(database_url: str, clock: ManualClock) -> None:
    with CreditKit(database_url, catalog=example_catalog(), clock=clock) as kit:
        secret = kit.keys.create_key("admin", Scope.ADMIN).secret
        app = create_app(kit, body_bytes_max=32 * 1024)
        with TestClient(app, raise_server_exceptions=False) as http:
            posted = http.post(
                "/v1/customers",
                content=b"{" + b" " * 40_000 + b"}",
                headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": "k",
                         "Content-Type": "application/json"},
            )  # fmt: skip
    assert_problem(posted, 413, "body_too_large")


def test_failed_authentication_is_throttled_per_address_across_processes(
    database_url: str, clock: ManualClock
) -> None:
    """500 random keys got 500 401s: now, past the documented number of failures in a minute
    from one address, 429 with Retry-After, counted in the database, so two processes (two
    apps on their own kits) share the count; a valid key is not told apart meanwhile."""
    with (
        CreditKit(database_url, catalog=example_catalog(), clock=clock) as first,
        CreditKit(database_url, catalog=example_catalog(), clock=clock) as second,
        TestClient(create_app(first), raise_server_exceptions=False) as one,
        TestClient(create_app(second), raise_server_exceptions=False) as two,
    ):
        valid = {"Authorization": f"Bearer {first.keys.create_key('ok', Scope.ADMIN).secret}"}
        statuses = []
        for attempt in range(FAILURES_PER_MINUTE_MAX + 1):
            http = one if attempt % 2 else two
            wrong = {"Authorization": f"Bearer ck_secret_guess{attempt}"}
            statuses.append(http.get("/v1/webhook-endpoints", headers=wrong).status_code)
        assert statuses == [401] * FAILURES_PER_MINUTE_MAX + [429]
        refused = one.get("/v1/webhook-endpoints", headers=valid)
        body = assert_problem(refused, 429, "authentication_throttled")
        assert int(refused.headers["Retry-After"]) == body["retry_after_seconds"] > 0
        clock.advance(seconds=61)  # the next minute's window
        assert one.get("/v1/webhook-endpoints", headers=valid).status_code == 200


def test_console_sign_in_failures_are_throttled(api: Api) -> None:
    http = api.client
    page = http.get("/console/login").text
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    statuses = [
        http.post(
            "/console/login",
            data={"key": f"ck_secret_guess{n}", "csrf": csrf},
            headers={"Origin": "http://testserver"},
        ).status_code
        for n in range(FAILURES_PER_MINUTE_MAX + 1)
    ]
    assert statuses == [401] * FAILURES_PER_MINUTE_MAX + [429]


def test_the_audit_is_an_admin_route(api: Api) -> None:
    assert_problem(
        api.client.get("/v1/audit", headers=api.key(Scope.WRITE)), 403, "scope_insufficient"
    )
    answered = api.client.get("/v1/audit", headers=api.admin)
    assert answered.status_code == 200
    assert answered.json()["problems"] == []
    assert answered.json()["transactions_checked"] == api.kit.audit().transactions_checked


def test_no_service_secret_is_readable_without_the_sealing_key(tmp_path: object) -> None:
    """The session-signing secret and the sandbox's webhook secret were in clear: a copy of
    the database forged console cookies and customer tokens. Now every row is sealed, and the
    database opened with another key cannot read (or sign with) them."""
    url = f"sqlite:///{tmp_path}/ledger.db"
    key = new_secret_key()
    with CreditKit(url, catalog=example_catalog(), secret_key=key) as kit:
        token = kit.keys.issue_session("ada").token
        with kit.database.read() as connection:
            rows = connection.execute(
                sa.text("SELECT name, secret_sealed FROM service_secrets")
            ).all()
    names = {name for name, _sealed in rows}
    assert names == {"session_tokens", "sandbox_webhook_secret"}
    for _name, sealed in rows:
        assert sealed.startswith("gAAAA")  # a Fernet token: nothing in clear
        assert len(sealed) > 100
    with pytest.raises(SecretKeyWrong):
        CreditKit(url, catalog=example_catalog(), secret_key=new_secret_key()).keys.authenticate(
            token
        )
    with CreditKit(url, catalog=example_catalog(), secret_key=key) as reopened:
        assert reopened.keys.authenticate(token) is not None


def test_rotating_the_signing_secret_keeps_earlier_tokens_valid_until_the_overlap_ends(
    database_url: str, clock: ManualClock
) -> None:
    with CreditKit(database_url, catalog=example_catalog(), clock=clock) as kit:
        before = kit.keys.issue_session("ada", ttl_seconds=3600).token
        ends_at = kit.keys.rotate_signing_secret()
        after = kit.keys.issue_session("ada").token
        assert kit.keys.authenticate(before) is not None
        assert kit.keys.authenticate(after) is not None
        clock.set(ends_at)
        assert kit.keys.authenticate(before) is None  # expired anyway, and no longer signed


def test_serve_requires_a_public_url_beyond_loopback() -> None:
    """Links were built from ``Host:``; serving where others reach the service now needs the
    address they reach it at, and the check comes before anything binds."""
    exposed = Settings.resolve({"host": "0.0.0.0", "payments": "sandbox"}, {}, None)
    with pytest.raises(InvalidRequest) as refused:
        serve(exposed)
    assert refused.value.field == "public_url"
    Settings.resolve({"payments": "sandbox"}, {}, None).require_public_url()  # loopback
    public = Settings.resolve(
        {"host": "0.0.0.0", "public_url": "https://billing.example"}, {}, None
    )
    public.require_public_url()
    assert public.allowed_return_origins() == ("https://billing.example",)


def test_security_settings_read_from_the_environment() -> None:
    settings = Settings.resolve(
        {},
        {
            "CREDITKIT_ALLOW_PRIVATE_WEBHOOKS": "true",
            "CREDITKIT_BODY_BYTES_MAX": "65536",
            "CREDITKIT_RETURN_ORIGINS": "https://app.example, https://www.app.example/",
        },
        None,
    )
    assert settings.allow_private_webhooks and settings.webhook_policy().allow_private
    assert settings.body_bytes_max == 65536
    assert settings.allowed_return_origins() == (
        "http://127.0.0.1:8000",
        "https://app.example",
        "https://www.app.example",
    )
    assert Settings.resolve({}, settings.environment(), None) == settings
    assert not Settings().webhook_policy().allow_private  # off by default
    for name, value in (
        ("CREDITKIT_BODY_BYTES_MAX", "10"),
        ("CREDITKIT_RETURN_ORIGINS", "https://app.example/path"),
        ("CREDITKIT_ALLOW_PRIVATE_WEBHOOKS", "perhaps"),
    ):
        with pytest.raises(InvalidRequest) as refused:
            Settings.resolve({}, {name: value}, None)
        assert refused.value.field == name.removeprefix("CREDITKIT_").lower()
