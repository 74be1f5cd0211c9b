"""Session fixation and revocation: a session link opens nothing by itself (the page names
whose account it opens and asks), its code works once and briefly, and a customer's sessions
end on sign-out, through the API and through the CLI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from creditkit import CreditKit, ManualClock
from creditkit.cli import main
from creditkit.client import Client
from creditkit.client.testing import serve_in_thread
from creditkit.keys.schemas import Scope
from creditkit.server import create_app
from creditkit.server.serve import example_catalog
from creditkit.web.context import CUSTOMER_COOKIE

SAME_SITE = {"Origin": "http://testserver"}


@pytest.fixture
def served(database_url: str, clock: ManualClock) -> Iterator[tuple[CreditKit, TestClient]]:
    kit = CreditKit(database_url, catalog=example_catalog(), clock=clock)
    kit.create_customer("victim")
    kit.create_customer("attacker")
    with TestClient(create_app(kit)) as http:
        yield kit, http
    kit.close()


def test_a_link_made_for_another_account_does_not_sign_the_browser_in(
    served: tuple[CreditKit, TestClient],
) -> None:
    """Session fixation: the attacker's link (for the attacker's own customer) signed the
    victim's browser in as the attacker at once, so the victim browsed and bought on the
    attacker's account. Now following it sets no cookie: the page names the account and asks."""
    kit, http = served
    for link in (
        {"code": kit.keys.issue_session_code("attacker").code},
        {"token": kit.keys.issue_session("attacker").token},
    ):
        followed = http.get("/app/session", params=link, follow_redirects=False)
        assert followed.status_code == 200
        assert "set-cookie" not in followed.headers
        assert "attacker" in followed.text and "Continue to attacker" in followed.text
        assert CUSTOMER_COOKIE not in http.cookies
        # Another site cannot confirm it for the victim.
        forged = http.post("/app/session", data=link, headers={"Origin": "https://evil.example"})
        assert forged.status_code == 403 and CUSTOMER_COOKIE not in http.cookies


def test_a_session_code_opens_once_and_briefly(
    served: tuple[CreditKit, TestClient], clock: ManualClock
) -> None:
    kit, http = served
    code = kit.keys.issue_session_code("victim").code
    opened = http.post("/app/session", data={"code": code}, headers=SAME_SITE)
    assert opened.status_code == 200 and "victim" in opened.text
    http.cookies.clear()
    again = http.post("/app/session", data={"code": code}, headers=SAME_SITE)
    assert again.status_code == 401 and CUSTOMER_COOKIE not in http.cookies
    assert http.get("/app/session", params={"code": code}).status_code == 401
    stale = kit.keys.issue_session_code("victim", code_ttl_seconds=60).code
    clock.advance(seconds=61)
    assert http.post("/app/session", data={"code": stale}, headers=SAME_SITE).status_code == 401


def test_signing_out_revokes_the_session_everywhere(
    served: tuple[CreditKit, TestClient], clock: ManualClock
) -> None:
    """Logout only deleted the cookie: a copied token kept working for its hour."""
    kit, http = served
    token = kit.keys.issue_session("victim").token
    http.post("/app/session", data={"token": token}, headers=SAME_SITE)
    assert http.get("/app").status_code == 200
    clock.advance(seconds=1)
    assert http.post("/app/logout", headers=SAME_SITE).status_code == 200
    assert kit.keys.authenticate(token) is None
    with TestClient(http.app) as other:
        other.cookies.set(CUSTOMER_COOKIE, token)
        assert other.get("/app").status_code == 401
    clock.advance(seconds=1)
    assert kit.keys.authenticate(kit.keys.issue_session("victim").token) is not None


def test_sessions_are_revoked_through_the_api_and_the_client(
    database_url: str, clock: ManualClock
) -> None:
    with CreditKit(database_url, catalog=example_catalog(), clock=clock) as kit:
        kit.create_customer("victim")
        secret = kit.keys.create_key("backend", Scope.WRITE).secret
        token = kit.keys.issue_session("victim").token
        with serve_in_thread(create_app(kit)) as base_url, Client(base_url, secret) as client:
            code = client.issue_session_code("victim", code_ttl_seconds=120)
            assert code.customer == "victim" and code.code.startswith("ckx_")
            assert kit.keys.session_code(code.code) == code
            clock.advance(seconds=1)
            client.revoke_sessions("victim")
            assert kit.keys.authenticate(token) is None
            # A session token signs itself out through the API.
            clock.advance(seconds=1)
            own = kit.keys.issue_session("victim").token
            with Client(base_url, own) as browser:
                clock.advance(seconds=1)
                browser.revoke_sessions("victim")
            assert kit.keys.authenticate(own) is None


def test_creditkit_revoke_sessions(
    database_url: str, tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    with CreditKit(url, catalog=example_catalog()) as kit:
        kit.create_customer("victim")
        token = kit.keys.issue_session("victim").token
    # The CLI reads the system clock: opening the ledger again takes well over the millisecond
    # that tells a token issued before the revocation from one issued at it.
    assert main(["revoke-sessions", "victim", "--database-url", url]) == 0
    assert capsys.readouterr().out.startswith("victim: sessions issued until")
    with CreditKit(url, catalog=example_catalog()) as kit:
        assert kit.keys.authenticate(token) is None
    assert main(["revoke-sessions", "nobody", "--database-url", url]) == 1
