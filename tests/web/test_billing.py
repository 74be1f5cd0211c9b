"""The billing page and the sandbox's checkout page in a browser: packs and plans bought through
checkout, a declined card, the yearly toggle, a downgrade at the period's end, receipts, a
phone's width, and forms posted twice or forged."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect
from web_helpers import PHONE, Site, fields_of, post, screenshot

from creditkit import Money
from creditkit.payments import PaymentStatus
from creditkit.web.context import CUSTOMER_COOKIE


def _sign_in(site: Site, page: Page, customer: str = "alice", user: str | None = None) -> None:
    site.open(page, customer, user=user)
    expect(page).to_have_url(f"{site.base_url}/app")


def _plan_card(page: Page, plan: str) -> Locator:
    return page.locator(f"article[data-plan='{plan}']")


def _pay(page: Page, card: str | None = None) -> None:
    expect(page).to_have_url(re.compile(r"/checkout/sandbox/cs_sandbox_\w+$"))
    if card is not None:
        page.get_by_label("Card number").fill(card)
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()


def test_a_pack_bought_through_the_sandbox_checkout_shows_on_the_dashboard(
    site: Site, page: Page
) -> None:
    site.kit.create_customer("alice")
    _sign_in(site, page)
    expect(page.get_by_test_id("balance")).to_have_text("100")
    page.get_by_role("link", name="Billing").click()
    page.get_by_role("button", name="Buy 2,000 credits").click()

    expect(page.get_by_role("heading", name="Pay $18.00")).to_be_visible()
    expect(page.get_by_test_id("checkout-total")).to_have_text("$18.00")
    expect(page.get_by_text("For account alice")).to_be_visible()
    expect(page.get_by_text("4000 0000 0000 0002 is declined")).to_be_visible()
    screenshot(page, "sandbox-checkout")
    _pay(page, "4242 4242 4242 4242")

    expect(page).to_have_url(f"{site.base_url}/app/billing?paid=1")
    expect(page.get_by_text("your payment went through")).to_be_visible()
    receipts = page.locator("#receipts tbody tr")
    expect(receipts).to_have_count(1)
    expect(receipts.first).to_contain_text("2,000 credits")
    expect(receipts.first).to_contain_text("$18.00")
    receipts.first.get_by_role("link").click()
    expect(page.get_by_role("heading", name=re.compile(r"Receipt No\. \d+"))).to_be_visible()
    expect(page.get_by_test_id("receipt-total")).to_have_text("$18.00")
    page.get_by_role("link", name="Usage").click()
    expect(page.get_by_test_id("balance")).to_have_text("2,100")
    assert site.kit.audit().ok


def test_a_declined_card_shows_an_error_and_changes_nothing(site: Site, page: Page) -> None:
    site.kit.create_customer("alice")
    _sign_in(site, page)
    page.goto(f"{site.base_url}/app/billing")
    page.get_by_role("button", name="Buy 500 credits").click()
    _pay(page, "4242")
    expect(page.get_by_role("alert")).to_have_text(
        "Card number: enter the 12 to 19 digits on the card."
    )
    _pay(page, "4000 0000 0000 0002")

    expect(page.get_by_role("alert")).to_have_text(
        "The payment failed (card declined): nothing was charged."
    )
    expect(page.get_by_role("heading", name="Payment failed")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Pay"))).to_have_count(0)
    page.get_by_role("link", name="Go back and start again").click()
    expect(page).to_have_url(f"{site.base_url}/app/billing?canceled=1")
    expect(page.locator("#receipts")).to_contain_text("No receipts yet.")
    assert site.kit.balance("alice").available == 100
    assert site.kit.receipts("alice").items == ()


def test_an_upgrade_through_checkout_moves_the_current_plan(site: Site, page: Page) -> None:
    site.kit.create_customer("alice")
    _sign_in(site, page)
    page.goto(f"{site.base_url}/app/billing")
    free, pro = _plan_card(page, "free"), _plan_card(page, "pro")
    expect(free).to_have_attribute("aria-current", "true")
    expect(free.get_by_text("Current plan")).to_be_visible()
    expect(pro).not_to_have_attribute("aria-current", "true")

    pro.get_by_role("button", name="Upgrade to Pro").click()
    expect(page.get_by_role("heading", name="Pay $20.00")).to_be_visible()
    _pay(page)

    expect(page).to_have_url(f"{site.base_url}/app/billing?paid=1")
    expect(pro).to_have_attribute("aria-current", "true")
    expect(pro.get_by_text("Current plan")).to_be_visible()
    expect(free.get_by_text("Current plan")).to_have_count(0)
    expect(page.get_by_test_id("subscription")).to_contain_text("You are on Pro, billed monthly")
    expect(free.get_by_role("button", name="Downgrade to Free")).to_be_visible()
    screenshot(page, "billing")
    subscription = site.kit.subscription("alice")
    assert subscription is not None and subscription.plan == "pro"


def test_the_yearly_toggle_shows_yearly_prices_and_the_saving(site: Site, page: Page) -> None:
    site.kit.create_customer("alice")
    _sign_in(site, page)
    page.goto(f"{site.base_url}/app/billing")
    pro = _plan_card(page, "pro")
    expect(pro.get_by_test_id("price")).to_have_text("$20.00 a month")

    page.get_by_role("link", name=re.compile("^Yearly")).click()

    expect(page).to_have_url(re.compile(r"/app/billing\?interval=year"))
    expect(page.get_by_role("link", name=re.compile("^Yearly"))).to_have_attribute(
        "aria-current", "true"
    )
    expect(pro.get_by_test_id("price")).to_have_text("$192.00 a year")
    expect(pro.get_by_test_id("saving")).to_have_text(
        "$16.00 a month: you save $48.00 (20%) against paying monthly"
    )
    expect(_plan_card(page, "team").get_by_test_id("price")).to_have_text("$768.00 a year")
    expect(_plan_card(page, "free").get_by_test_id("price")).to_have_text("$0.00 a month")
    pro.get_by_role("button", name="Upgrade to Pro").click()
    expect(page.get_by_role("heading", name="Pay $192.00")).to_be_visible()
    expect(page.get_by_text("Pro, yearly")).to_be_visible()


def test_a_downgrade_to_free_waits_for_the_period_end_and_can_be_taken_back(
    site: Site, page: Page
) -> None:
    site.kit.create_customer("alice")
    site.kit.subscribe("alice", "pro", collected_elsewhere=True)
    _sign_in(site, page)
    page.goto(f"{site.base_url}/app/billing")
    downgrade = _plan_card(page, "free").locator("form")
    fields = fields_of(downgrade)
    downgrade.get_by_role("button", name="Downgrade to Free").click()

    expect(page.get_by_role("status").first).to_contain_text(
        "Your Pro plan stays until the end of this period"
    )
    expect(page.get_by_test_id("subscription")).to_contain_text("It changes to Free on")
    expect(_plan_card(page, "pro")).to_have_attribute("aria-current", "true")
    subscription = site.kit.subscription("alice")
    assert subscription is not None
    assert (subscription.plan, subscription.scheduled_plan) == ("pro", "free")

    page.get_by_role("button", name="Keep Pro").click()
    expect(page.get_by_role("status").first).to_have_text("You keep the Pro plan.")
    subscription = site.kit.subscription("alice")
    assert subscription is not None and subscription.scheduled_plan is None
    # The downgrade form posted again from the browser's history was applied already.
    assert post(page, "/app/billing/downgrade", fields).status == 303
    subscription = site.kit.subscription("alice")
    assert subscription is not None and subscription.scheduled_plan is None


def test_the_billing_and_credits_pages_fit_a_phone(site: Site, phone: Page) -> None:
    site.kit.create_customer("alice")
    site.kit.subscribe("alice", "pro", collected_elsewhere=True)
    _sign_in(site, phone)
    phone.goto(f"{site.base_url}/app/billing")
    expect(phone.get_by_role("heading", name="Plans", exact=True)).to_be_visible()
    # The viewport's own width: a phone's browser widens the layout to fit what overflows.
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # The plans stack: one column, each card below the one before.
    boxes = [_plan_card(phone, plan).bounding_box() for plan in ("free", "pro", "team")]
    assert all(box is not None for box in boxes)
    lefts = {round(box["x"]) for box in boxes if box}
    tops = [box["y"] for box in boxes if box]
    assert len(lefts) == 1 and tops == sorted(tops)
    phone.goto(f"{site.base_url}/app/credits")
    expect(phone.get_by_role("heading", name="Buy credits")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_buy_form_posted_twice_opens_one_checkout_and_grants_once(site: Site, page: Page) -> None:
    site.kit.create_customer("alice")
    _sign_in(site, page)
    page.goto(f"{site.base_url}/app/billing")
    buy = page.locator("article[data-pack='credits_500'] form")
    fields = fields_of(buy)
    first = post(page, "/app/billing/checkout", fields)
    second = post(page, "/app/billing/checkout", fields)

    assert first.status == second.status == 303
    assert first.headers["location"] == second.headers["location"]
    page.goto(f"{site.base_url}{first.headers['location']}")
    _pay(page)
    expect(page).to_have_url(f"{site.base_url}/app/billing?paid=1")
    page.go_back()  # the checkout page again, paid: nothing more to pay
    expect(page.get_by_role("heading", name="Paid")).to_be_visible()
    assert (
        post(page, "/app/billing/checkout", fields).headers["location"]
        == (first.headers["location"])
    )
    assert site.kit.balance("alice").available == 600
    assert len(site.kit.receipts("alice").items) == 1


def test_a_forged_form_is_refused_and_changes_nothing(site: Site, page: Page) -> None:
    site.kit.create_customer("alice")
    _sign_in(site, page)
    page.goto(f"{site.base_url}/app/billing")
    fields = fields_of(page.locator("article[data-pack='credits_500'] form"))

    refused = post(page, "/app/billing/checkout", {**fields, "csrf": "forged"})

    assert refused.status == 403
    assert "This form has expired" in refused.text()
    assert site.kit.receipts("alice").items == ()
    with site.kit.database.read() as connection:
        assert connection.exec_driver_sql("SELECT COUNT(*) FROM payments").scalar_one() == 0


def test_a_workspace_editor_sees_no_buy_buttons_and_may_not_buy(site: Site, page: Page) -> None:
    site.kit.create_customer("owner")
    site.kit.create_customer("eve")
    site.kit.create_customer("acme", kind="workspace")
    site.kit.subscribe("acme", "team", collected_elsewhere=True)
    site.kit.add_member("acme", "owner", "owner")
    site.kit.add_member("acme", "eve", "editor")
    _sign_in(site, page, "acme", user="eve")
    page.goto(f"{site.base_url}/app/billing")
    changes = re.compile("^(Buy|Upgrade|Switch|Downgrade)")
    expect(page.get_by_role("button", name=changes)).to_have_count(0)
    expect(page.get_by_text("Only the workspace's owner or an admin can buy")).to_be_visible()

    # A buy form as an owner's page draws it, posted with the editor's own session and token.
    form = {
        "csrf": _csrf_of(site, page),
        "idempotency_key": "k1",
        "pack": "credits_500",
        "return": "billing",
    }
    assert post(page, "/app/billing/checkout", form).status == 303
    page.goto(f"{site.base_url}/app/billing")
    expect(page.get_by_role("alert")).to_have_text(
        "Only the workspace's owner or an admin may buy."
    )
    with site.kit.database.read() as connection:
        assert connection.exec_driver_sql("SELECT COUNT(*) FROM payments").scalar_one() == 0


def _csrf_of(site: Site, page: Page) -> str:
    """The CSRF token of the page's session, as the pages sign it into their forms."""
    [cookie] = [c for c in page.context.cookies() if c["name"] == CUSTOMER_COOKIE]
    return site.kit.keys.sign("csrf", cookie["value"])


def test_a_receipt_of_another_customer_is_not_found(site: Site, page: Page) -> None:
    site.kit.create_customer("alice")
    site.kit.create_customer("bob")
    session = site.kit.checkout(
        "bob",
        pack="credits_500",
        success_url="https://app.test/paid",
        cancel_url="https://app.test/cancel",
        idempotency_key="bob-1",
    )
    site.kit.complete_sandbox_checkout(session.session_id)
    bobs = site.kit.receipts("bob").items[0]
    _sign_in(site, page)

    for receipt_id in (str(bobs.id), "999999", "0", "x1", "99999999999999999999"):
        response = page.goto(f"{site.base_url}/app/receipts/{receipt_id}")
        assert response is not None and response.status == 404, receipt_id
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    assert bobs.total == Money(500, "USD")


def test_a_checkout_made_through_the_api_pays_and_returns_to_the_app(
    site: Site, page: Page
) -> None:
    site.kit.create_customer("alice")
    # The app's own site is another origin: the page lets its form's redirect go there.
    app_origin = site.base_url.replace("127.0.0.1", "localhost")
    session = site.kit.checkout(
        "alice",
        plan="team",
        interval="month",
        success_url=f"{app_origin}/app/billing?paid=1",
        cancel_url=f"{app_origin}/app/billing?canceled=1",
        idempotency_key="api-1",
    )
    page.goto(f"{site.base_url}/checkout/sandbox/{session.session_id}")
    expect(page.get_by_role("heading", name="Pay $80.00")).to_be_visible()
    _pay(page)
    expect(page).to_have_url(f"{app_origin}/app/billing?paid=1")
    assert site.kit.payment(session.payment_id).status is PaymentStatus.SUCCEEDED
    missing = page.goto(f"{site.base_url}/checkout/sandbox/cs_sandbox_unknown")
    assert missing is not None and missing.status == 404


def test_a_provider_page_is_reached_through_a_refresh_for_its_customer_only(
    site: Site, page: Page
) -> None:
    """A provider on another site (Stripe) is reached through ``/app/billing/pay/{id}``: a
    form's redirect may only stay on this site. Shown here with sandbox sessions."""
    site.kit.create_customer("alice")
    site.kit.create_customer("bob")
    urls = {"success_url": "/app/billing?paid=1", "cancel_url": "/app/billing?canceled=1"}
    alices = site.kit.checkout("alice", pack="credits_500", idempotency_key="a1", **urls)
    bobs = site.kit.checkout("bob", pack="credits_500", idempotency_key="b1", **urls)
    _sign_in(site, page)

    page.goto(f"{site.base_url}/app/billing/pay/{alices.session_id}")

    expect(page).to_have_url(f"{site.base_url}/checkout/sandbox/{alices.session_id}")
    expect(page.get_by_role("heading", name="Pay $5.00")).to_be_visible()
    for session_id in (bobs.session_id, "cs_sandbox_unknown"):
        response = page.goto(f"{site.base_url}/app/billing/pay/{session_id}")
        assert response is not None and response.status == 404
