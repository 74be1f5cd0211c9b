"""Pages driven in a real browser: Debian's Chromium under Playwright, against a creditkit
server (``create_app``) in a thread of this process, on SQLite and on PostgreSQL, with a
ManualClock. ``make test`` installs Chromium (see the Makefile)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from web_helpers import CHROMIUM, CHROMIUM_FLAGS, DESKTOP, PHONE, Site, SiteFactory

from creditkit import CreditKit, ManualClock
from creditkit.client.testing import serve_in_thread
from creditkit.server import create_app
from creditkit.server.serve import example_catalog


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


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
