"""The pages at the HTTP level: headers, sign-in redirects, and their absence from the API's
OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from creditkit import CreditKit, ManualClock
from creditkit.cli import main
from creditkit.server import create_app
from creditkit.server.serve import example_catalog


@pytest.fixture
def client(database_url: str, clock: ManualClock) -> Iterator[tuple[CreditKit, TestClient]]:
    kit = CreditKit(database_url, catalog=example_catalog(), clock=clock)
    kit.create_customer("ana")
    with TestClient(create_app(kit)) as client:
        yield kit, client
    kit.close()


def test_the_session_link_sets_an_http_only_cookie_and_drops_the_token(
    client: tuple[CreditKit, TestClient],
) -> None:
    kit, http = client
    token = kit.keys.issue_session("ana").token
    asked = http.get("/app/session", params={"token": token}, follow_redirects=False)
    assert asked.status_code == 200 and "set-cookie" not in asked.headers
    response = http.post(
        "/app/session",
        data={"token": token},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/app"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert response.headers["referrer-policy"] == "same-origin"


def test_pages_forbid_inline_code_and_framing(client: tuple[CreditKit, TestClient]) -> None:
    kit, http = client
    http.post(
        "/app/session",
        data={"token": kit.keys.issue_session("ana").token},
        headers={"Origin": "http://testserver"},
    )
    response = http.get("/app")
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["cache-control"] == "no-store"
    assert "<script" not in response.text and "style=" not in response.text


def test_a_secret_key_is_not_a_session_link(client: tuple[CreditKit, TestClient]) -> None:
    kit, http = client
    secret = kit.keys.create_key("backend").secret
    assert http.get("/app/session", params={"token": secret}).status_code == 401


def test_the_console_asks_for_an_admin_key_and_refuses_any_other(
    client: tuple[CreditKit, TestClient],
) -> None:
    kit, http = client
    response = http.get("/console", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/console/login"
    write = kit.keys.create_key("backend").secret
    csrf = login_csrf(http)
    same_site = {"Origin": "http://testserver"}
    for key in (write, "ck_secret_nope"):
        posted = http.post("/console/login", data={"key": key, "csrf": csrf}, headers=same_site)
        assert posted.status_code == 401


def login_csrf(http: TestClient) -> str:
    """The sign-in form's CSRF token (its cookie now in ``http``)."""
    page = http.get("/console/login").text
    return page.split('name="csrf" value="')[1].split('"')[0]


def test_login_csrf_a_form_from_another_site_cannot_sign_a_browser_in(
    client: tuple[CreditKit, TestClient],
) -> None:
    """Login CSRF: another site's form posting the attacker's admin key would sign the victim's
    browser in as the attacker. Without the form's token (bound to this browser's cookie), or
    with the other site's Origin, nothing is signed in."""
    kit, http = client
    attacker = kit.keys.create_key("attacker", "admin").secret
    same_site = {"Origin": "http://testserver"}
    no_token = http.post("/console/login", data={"key": attacker}, headers=same_site)
    assert no_token.status_code == 403 and "creditkit_console" not in no_token.cookies
    csrf = login_csrf(http)
    cross_site = http.post(
        "/console/login",
        data={"key": attacker, "csrf": csrf},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert cross_site.status_code == 403 and cross_site.json()["code"] == "origin_refused"
    signed_in = http.post(
        "/console/login", data={"key": attacker, "csrf": csrf}, headers=same_site,
        follow_redirects=False,
    )  # fmt: skip
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/console"


def test_a_state_changing_page_request_without_a_same_origin_is_refused(
    client: tuple[CreditKit, TestClient],
) -> None:
    _kit, http = client
    for headers in ({}, {"Origin": "https://evil.example"}, {"Referer": "https://evil.example/"}):
        refused = http.post("/app/logout", headers=headers)
        assert refused.status_code == 403, headers
    assert http.post("/app/logout", headers={"Referer": "http://testserver/app"}).status_code == 200


def test_pages_are_not_in_the_api_document(client: tuple[CreditKit, TestClient]) -> None:
    _kit, http = client
    paths = http.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if not path.startswith(("/v1/", "/healthz", "/metrics"))]
    assert http.get("/static/style.css").status_code == 200


def test_creditkit_link_prints_a_working_session_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    with CreditKit(url, catalog=example_catalog()) as kit:
        kit.create_customer("ana")
    assert main(["link", "ana", "--database-url", url, "--base-url", "http://x:1/"]) == 0
    link = capsys.readouterr().out.strip()
    assert link.startswith("http://x:1/app/session?code=ckx_")
    assert main(["link", "nobody", "--database-url", url]) == 1
    with CreditKit(url, catalog=example_catalog()) as kit, TestClient(create_app(kit)) as http:
        page = http.get(link.removeprefix("http://x:1"))
        assert page.status_code == 200 and "Continue to ana" in page.text
        code = link.split("code=")[1]
        opened = http.post(
            "/app/session", data={"code": code}, headers={"Origin": "http://testserver"}
        )
        assert opened.status_code == 200 and "Usage" in opened.text


def test_the_dashboard_says_no_action_as_the_console_does(
    client: tuple[CreditKit, TestClient],
) -> None:
    kit, http = client
    kit.charge("ana", 2, idempotency_key="no-action")  # a charge that names no action
    http.post(
        "/app/session",
        data={"token": kit.keys.issue_session("ana").token},
        headers={"Origin": "http://testserver"},
    )
    page = http.get("/app").text
    assert "No action" in page and ">Other<" not in page
