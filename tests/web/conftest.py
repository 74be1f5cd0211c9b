"""Pages driven in a real browser: Debian's Chromium under Playwright, against a creditkit
server (``create_app``) in a thread of this process, on SQLite and on PostgreSQL, with a
ManualClock. ``make test`` installs Chromium (see the Makefile)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from creditkit import CreditKit, ManualClock
from creditkit.api import create_app
from creditkit.api.serve import example_catalog
from creditkit.client.testing import serve_in_thread
from creditkit.keys.schemas import Scope

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
#: A phone's width (and a desktop's), for the pages that must work on both.
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
#: Where the documentation's screenshots are written when CREDITKIT_SCREENSHOTS is set.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@dataclass
class Site:
    """A running creditkit: its kit (on the test's database), clock and address."""

    kit: CreditKit
    clock: ManualClock
    base_url: str

    def session_link(self, customer: str, user: str | None = None) -> str:
        token = self.kit.keys.issue_session(customer, user=user, ttl_seconds=3_600).token
        return f"{self.base_url}/app/session?token={token}"

    def admin_key(self) -> str:
        return self.kit.keys.create_key("console test", Scope.ADMIN).secret


SiteFactory = Callable[..., Site]


@pytest.fixture
def make_site(database_url: str, clock: ManualClock) -> Iterator[SiteFactory]:
    """Starts a site on the test's database with a catalog (the bundled example by default)."""
    with ExitStack() as stack:

        def make(catalog: str | Path | None = None) -> Site:
            kit = CreditKit(database_url, catalog=catalog or example_catalog(), clock=clock)
            stack.callback(kit.close)
            base_url = stack.enter_context(serve_in_thread(create_app(kit)))
            return Site(kit, clock, base_url)

        yield make


@pytest.fixture
def site(make_site: SiteFactory) -> Site:
    return make_site()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    yield page
    context.close()


def screenshot(page: Page, name: str) -> None:
    """Saves the page for the documentation when CREDITKIT_SCREENSHOTS=1 (`make screenshots`);
    otherwise nothing: a test run leaves the tree as it found it."""
    import os

    if os.environ.get("CREDITKIT_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
