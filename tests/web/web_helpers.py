"""What the page tests share: the running site, viewports, screenshots for the docs."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import APIResponse, Locator, Page

from creditkit import CreditKit, ManualClock
from creditkit.keys.schemas import Scope

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
#: A phone's width (and a desktop's), for the pages that must work on both.
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
#: Where the documentation's screenshots are written when CREDITKIT_SCREENSHOTS is set.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@dataclass
class Site:
    """A running creditkit: its kit (on the test's database), clock and address."""

    kit: CreditKit
    clock: ManualClock
    base_url: str

    def session_link(self, customer: str, user: str | None = None) -> str:
        """A session link as an app makes one: a single-use exchange code."""
        code = self.kit.keys.issue_session_code(customer, user=user, ttl_seconds=3_600).code
        return f"{self.base_url}/app/session?code={code}"

    def open(self, page: Page, customer: str, user: str | None = None) -> None:
        """Follows a session link and confirms the account it names, as a customer does."""
        page.goto(self.session_link(customer, user))
        page.get_by_role("button", name=f"Continue to {customer}").click()
        page.wait_for_url(f"{self.base_url}/app")

    def admin_key(self) -> str:
        return self.kit.keys.create_key("console test", Scope.ADMIN).secret


SiteFactory = Callable[..., Site]


def screenshot(page: Page, name: str) -> None:
    """Saves the page for the documentation when CREDITKIT_SCREENSHOTS=1 (`make screenshots`);
    otherwise nothing: a test run leaves the tree as it found it."""
    if os.environ.get("CREDITKIT_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


# -- forms posted the way a browser's history or a forger would --


def fields_of(form: Locator) -> dict[str, str]:
    """The fields a form would post now, hidden ones (CSRF token, idempotency key) included."""
    fields: dict[str, str] = form.evaluate(
        "form => Object.fromEntries(new FormData(form).entries())"
    )
    return fields


def post(page: Page, path: str, fields: dict[str, str]) -> APIResponse:
    """Posts ``fields`` with the page's cookies (its session), not following the redirect."""
    base = page.url.split("/", 3)[:3]
    origin = "/".join(base)
    # The Origin a browser's form post carries (pages refuse writes from other origins).
    return page.request.post(
        origin + path, form=fields, max_redirects=0, headers={"Origin": origin}
    )
