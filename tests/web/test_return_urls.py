"""Open redirects and the Host header: a checkout's return URLs are on the allowed origins only
(the public URL and a configured list), checked when set and again when the checkout page is
rendered; the billing page's links are built from the public URL, never from ``Host``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from creditkit import CreditKit, InvalidRequest, ManualClock
from creditkit.payments import PaymentSettings
from creditkit.payments.checkout import return_url_refusal
from creditkit.server import create_app
from creditkit.server.serve import example_catalog

PUBLIC_URL = "https://billing.example"
ORIGINS = ("https://billing.example", "https://app.example")


@pytest.fixture
def served(database_url: str, clock: ManualClock) -> Iterator[tuple[CreditKit, TestClient]]:
    settings = PaymentSettings(return_origins=ORIGINS)
    kit = CreditKit(database_url, catalog=example_catalog(), clock=clock, payments=settings)
    kit.create_customer("ana")
    app = create_app(kit, public_url=PUBLIC_URL, return_origins=ORIGINS)
    with TestClient(app, base_url=PUBLIC_URL) as http:
        yield kit, http
    kit.close()


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/phish",
        "/\\evil.example/x",
        "//evil.example/x",
        "\\\\evil.example/x",
        "https:\\\\evil.example",
        "https://app.example@evil.example/",
        "javascript:alert(1)",
        " https://app.example/",
        "/app\tx",
    ],
)
def test_a_customer_token_cannot_choose_a_foreign_return_url(
    served: tuple[CreditKit, TestClient], url: str
) -> None:
    kit, http = served
    token = kit.keys.issue_session("ana").token
    for field, other in (("success_url", "cancel_url"), ("cancel_url", "success_url")):
        answered = http.post(
            "/v1/customers/ana/checkout",
            json={"pack": "credits_500", field: url, other: "https://app.example/ok"},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"{field}{url}"},
        )
        assert answered.status_code == 422, (field, url, answered.text)
        assert answered.json()["invalid_params"][0]["name"] == field


def test_allowed_origins_and_paths_pass_normalised() -> None:
    for url in (
        "https://app.example/paid?x=1",
        "HTTPS://APP.EXAMPLE:443/paid",
        "https://billing.example/app",
        "/app/billing?paid=1",
    ):
        assert return_url_refusal(url, ORIGINS) is None, url
    assert return_url_refusal("https://app.example:8443/", ORIGINS) is not None
    assert return_url_refusal("http://app.example/", ORIGINS) is not None


def test_the_checkout_page_checks_its_return_links_again_when_rendered(
    served: tuple[CreditKit, TestClient],
) -> None:
    """A row written before the policy (or by hand) links nowhere foreign: the page leaves the
    link out and paying stays on the page."""
    kit, http = served
    session = kit.checkout(
        "ana",
        pack="credits_500",
        success_url="https://app.example/paid",
        cancel_url="https://app.example/",
        idempotency_key="co",
    )
    with kit.database.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE payments SET success_url = :s, cancel_url = :c WHERE id = :id"),
            {"s": "https://evil.example/phish", "c": "/\\evil.example/x", "id": session.payment_id},
        )
    page = http.get(f"/checkout/sandbox/{session.session_id}")
    assert page.status_code == 200
    assert "evil.example" not in page.text
    assert "evil.example" not in page.headers["Content-Security-Policy"]


def test_an_embedded_checkout_refuses_scheme_relative_forms_too(
    database_url: str, clock: ManualClock
) -> None:
    with CreditKit(database_url, catalog=example_catalog(), clock=clock) as kit:
        kit.create_customer("ana")
        with pytest.raises(InvalidRequest) as refused:
            kit.checkout(
                "ana",
                pack="credits_500",
                success_url="https://app.example/ok",
                cancel_url="/\\evil.example/x",
                idempotency_key="co",
            )
    assert refused.value.field == "cancel_url"


def test_the_billing_page_builds_its_return_links_from_the_public_url(
    served: tuple[CreditKit, TestClient],
) -> None:
    """Host: evil.example made the billing page's checkout return there."""
    kit, http = served
    token = kit.keys.issue_session("ana").token
    http.cookies.set("creditkit_session", token)
    billing = http.get("/app/billing", headers={"Host": "evil.example"}).text
    csrf = billing.split('name="csrf" value="')[1].split('"')[0]
    posted = http.post(
        "/app/billing/checkout",
        data={"pack": "credits_500", "csrf": csrf, "idempotency_key": "buy1"},
        headers={"Host": "evil.example", "Origin": PUBLIC_URL},
        follow_redirects=False,
    )
    assert posted.status_code == 303, posted.text
    session_id = posted.headers["location"].rsplit("/", 1)[1]
    state = kit.checkout_session(session_id)
    assert state.success_url is not None
    assert state.success_url.startswith(f"{PUBLIC_URL}/app/billing")
