"""Every page at a phone's width (390 px), the customer's and the operator's console: the page
body never scrolls sideways, the key columns stay on screen, no text is drawn under 11 px; and
what the pages say in words (error pages, empty states, the pack's name, the same label on both
sides). One browser (the session's) and one server for the module, on a ledger seeded once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from web_helpers import DESKTOP, PHONE, Site, screenshot

from creditkit import CreditKit, ManualClock
from creditkit.client.testing import serve_in_thread
from creditkit.server import create_app
from creditkit.server.serve import example_catalog

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
#: The smallest text a phone page may draw, in CSS pixels as rendered (an SVG's text scaled).
TEXT_PX_MIN = 11
#: Every visible text's rendered size, and the ones under the minimum, as the browser drew them.
SMALL_TEXT = """(minimum) => {
  const small = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const element = node.parentElement;
    if (!node.textContent.trim() || element === null) continue;
    const box = element.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1) continue;  // not drawn, or visually hidden
    const style = getComputedStyle(element);
    if (style.visibility === "hidden") continue;
    let size = parseFloat(style.fontSize);
    if (element instanceof SVGElement) size *= element.getScreenCTM().a;
    const text = node.textContent.trim().slice(0, 30);
    if (size < minimum) small.push(`${element.tagName} "${text}" ${size.toFixed(1)}px`);
  }
  return small;
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    database = tmp_path_factory.mktemp("phone") / "pages.db"
    clock = ManualClock(START)
    with ExitStack() as stack:
        kit = stack.enter_context(
            CreditKit(f"sqlite:///{database}", catalog=example_catalog(), clock=clock)
        )
        _seed(kit, clock)
        base_url = stack.enter_context(serve_in_thread(create_app(kit)))
        yield Site(kit, clock, base_url)


def _seed(kit: CreditKit, clock: ManualClock) -> None:
    """alice: a month of use, a pack bought through checkout, a gift, an operator's
    correction and a charge without an action; nova: new, nothing used; acme: alice's team."""
    for customer in ("alice", "bob", "nova"):
        kit.create_customer(customer)
    kit.subscribe("alice", "pro")
    actions = ["chat_message", "document_summary", "image_generation"]
    for index in range(24):
        kit.charge("alice", action=actions[index % 3], idempotency_key=f"alice-{index}")
        clock.advance(hours=20)
    kit.charge("alice", 7, idempotency_key="alice-plain")  # no action
    kit.remove_credits(
        "alice", 3, idempotency_key="fix-1", metadata={"reason": "A double charge on a retry"}
    )
    session = kit.checkout(
        "alice",
        pack="credits_500",
        success_url="https://app.test/paid",
        cancel_url="https://app.test/cancel",
        idempotency_key="alice-pack",
    )
    kit.complete_sandbox_checkout(session.session_id)
    kit.transfer("alice", "bob", 25, idempotency_key="gift-1", metadata={"note": "Thanks"})
    kit.create_customer("acme", kind="workspace")
    kit.subscribe("acme", "team")
    kit.add_member("acme", "alice", "owner")


@pytest.fixture(scope="module")
def phone_context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    yield context
    context.close()


@pytest.fixture(scope="module")
def customer(site: Site, phone_context: BrowserContext) -> Iterator[Page]:
    """alice's pages on a phone, signed in once."""
    page = phone_context.new_page()
    site.open(page, "alice")
    expect(page).to_have_url(f"{site.base_url}/app")
    yield page
    page.close()


@pytest.fixture(scope="module")
def console(site: Site, browser: Browser) -> Iterator[Page]:
    """The operator's console on a phone (a context of its own: its own cookies), signed in."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(f"{site.base_url}/console/login")
    check_fits(page, "console-login-phone")
    page.get_by_label("Admin API key").fill(site.admin_key())
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{site.base_url}/console")
    yield page
    context.close()


#: The phone pages the documentation shows (`make screenshots`); the others are only checked.
SHOWN = frozenset({"billing-phone", "credits-phone", "console-customer-phone",
                   "console-analytics-phone", "dashboard-new-customer-phone"})  # fmt: skip


def check_fits(page: Page, name: str) -> None:
    """The page fits the phone: nothing wider than the viewport, no text under 11 px."""
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    # The viewport's own width: a phone's browser widens the layout to fit what overflows.
    width = page.evaluate("document.documentElement.scrollWidth")
    body = page.evaluate("document.body.scrollWidth")
    assert max(width, body) <= PHONE["width"], f"{name}: {max(width, body)} px wide"
    assert page.evaluate(SMALL_TEXT, TEXT_PX_MIN) == [], f"{name}: text under {TEXT_PX_MIN} px"
    if name in SHOWN:
        screenshot(page, name)


def on_screen(page: Page, selector: str) -> None:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not drawn"
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], f"{selector}: {box}"


# -- the customer's pages ---------------------------------------------------------------------


def test_the_dashboard_fits_with_its_history_credits_on_screen(customer: Page) -> None:
    customer.goto(customer.url.split("/app")[0] + "/app")
    check_fits(customer, "dashboard-phone")
    on_screen(customer, "#history thead th:has-text('Credits')")
    on_screen(customer, "#history tbody tr td.number")
    expect(customer.locator(".chart-axis")).to_be_visible()  # the days, in HTML


def test_billing_fits_and_says_its_comparison_scrolls(site: Site, customer: Page) -> None:
    customer.goto(f"{site.base_url}/app/billing")
    check_fits(customer, "billing-phone")
    expect(customer.get_by_test_id("scroll-hint")).to_be_visible()
    frame = customer.locator("#compare .table-wrap")
    assert frame.evaluate("frame => frame.scrollWidth > frame.clientWidth")


def test_credits_page_and_a_receipt_fit(site: Site, customer: Page) -> None:
    customer.goto(f"{site.base_url}/app/credits")
    check_fits(customer, "credits-phone")
    receipt = site.kit.receipts("alice").items[0]
    customer.goto(f"{site.base_url}/app/receipts/{receipt.id}")
    check_fits(customer, "receipt-phone")


def test_the_sandbox_checkout_and_its_step_fit(site: Site, customer: Page) -> None:
    session = site.kit.checkout(
        "alice",
        pack="credits_2000",
        success_url=f"{site.base_url}/app/credits?paid=1",
        cancel_url=f"{site.base_url}/app/credits?canceled=1",
        idempotency_key="alice-open-checkout",
    )
    customer.goto(f"{site.base_url}/app/billing/pay/{session.session_id}")
    check_fits(customer, "continue-to-payment-phone")
    customer.goto(f"{site.base_url}/checkout/sandbox/{session.session_id}")
    check_fits(customer, "sandbox-checkout-phone")


def test_a_new_customer_chart_says_in_words_there_is_no_usage(site: Site, browser: Browser) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        site.open(page, "nova")
        empty = page.get_by_test_id("chart-empty")
        expect(empty).to_contain_text("No usage yet this period.")
        expect(page.locator("svg.chart")).to_have_count(0)  # no empty box
        check_fits(page, "dashboard-new-customer-phone")
    finally:
        context.close()


def test_unknown_page_paths_are_html_pages(site: Site, customer: Page) -> None:
    for path, back in (("/app/nope", "Go to your usage"), ("/console/nope", "Go to the console")):
        response = customer.goto(f"{site.base_url}{path}")
        assert response is not None and response.status == 404
        assert response.headers["content-type"].startswith("text/html")
        expect(customer.get_by_role("heading", name="Page not found")).to_be_visible()
        expect(customer.get_by_role("link", name=back)).to_be_visible()
        check_fits(customer, "not-found-phone")
    # A malformed query on a page is a page too; the API keeps its problem+json.
    response = customer.goto(f"{site.base_url}/app?cursor={'x' * 300}")
    assert response is not None and response.status == 422
    expect(customer.get_by_role("heading", level=1)).to_have_text("That address is not right")
    # Same-origin, as a page's own request would be (another site's gets 403 before this).
    wrong_method = customer.request.delete(
        f"{site.base_url}/app", headers={"Origin": site.base_url}
    )
    assert wrong_method.status == 405 and "<h1>Page not found</h1>" in wrong_method.text()
    api = customer.request.get(f"{site.base_url}/v1/nope")
    assert api.status == 404 and api.headers["content-type"] == "application/problem+json"


def test_session_ended_only_after_a_session(site: Site, browser: Browser) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.goto(f"{site.base_url}/app")  # never signed in
        expect(page.get_by_role("heading", level=1)).to_have_text("Open your account from the app")
        expect(page.get_by_text("Your session has ended")).to_have_count(0)
        # Authentication answers before validation: a malformed query without a session is
        # the sign-in page, not the malformed-address page.
        response = page.goto(f"{site.base_url}/app?cursor={'x' * 300}")
        assert response is not None and response.status == 401
        expect(page.get_by_role("heading", level=1)).to_have_text("Open your account from the app")
        page.goto(f"{site.base_url}/console?search={'x' * 300}")
        assert page.url.endswith("/console/login")
        check_fits(page, "signed-out-phone")
        page.goto(f"{site.base_url}/app/session?token=cks_expired")  # a link that no longer works
        expect(page.get_by_role("heading", level=1)).to_have_text("Your session has ended")
        site.open(page, "bob")
        context.clear_cookies()
        context.add_cookies(
            [{"name": "creditkit_session", "value": "cks_revoked", "url": site.base_url}]
        )
        page.goto(f"{site.base_url}/app")  # had a session; it no longer answers
        expect(page.get_by_role("heading", level=1)).to_have_text("Your session has ended")
    finally:
        context.close()


# -- the console ------------------------------------------------------------------------------


def test_the_console_pages_fit_with_their_key_columns(site: Site, console: Page) -> None:
    console.goto(f"{site.base_url}/console")
    check_fits(console, "console-customers-phone")
    on_screen(console, "thead th:has-text('Customer')")
    console.goto(f"{site.base_url}/console/customers/alice")
    check_fits(console, "console-customer-phone")
    on_screen(console, "[data-testid=history] thead th:has-text('Credits')")
    on_screen(console, "[data-testid=history] tbody td.number")
    expect(console.get_by_test_id("history")).to_contain_text("A double charge on a retry")
    console.goto(f"{site.base_url}/console/customers/ghost")
    check_fits(console, "console-not-found-phone")
    console.goto(f"{site.base_url}/console/analytics")
    check_fits(console, "console-analytics-phone")  # the rows chart's labels at 11 px or more


def test_history_names_the_pack_and_both_sides_say_no_action(
    site: Site, customer: Page, console: Page
) -> None:
    customer.goto(f"{site.base_url}/app")
    console.goto(f"{site.base_url}/console/customers/alice")
    for page, history in ((customer, "#history"), (console, "[data-testid=history]")):
        table = page.locator(history)
        expect(table).to_contain_text("Grant: 500 credits pack")
        expect(table).not_to_contain_text("pack:credits_500")
    by_action = customer.locator("#by-action-heading + .table-wrap, #by-action-heading ~ *")
    expect(by_action.get_by_role("rowheader", name="No action")).to_be_visible()
    console_rows = console.get_by_role("rowheader", name=re.compile(r"^No action$"))
    expect(console_rows.first).to_be_visible()


def test_the_billing_hint_is_not_shown_where_the_comparison_fits(
    site: Site, browser: Browser, tmp_path: Path
) -> None:
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        site.open(page, "alice")
        page.goto(f"{site.base_url}/app/billing")
        expect(page.get_by_test_id("scroll-hint")).to_be_hidden()
        frame = page.locator("#compare .table-wrap")
        assert frame.evaluate("frame => frame.scrollWidth <= frame.clientWidth")
    finally:
        context.close()
