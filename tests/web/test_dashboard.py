"""The usage dashboard in a browser: balance, meter, breakdowns, chart, insights, history."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect
from web_helpers import Site, SiteFactory, screenshot


def _spend(site: Site, customer: str, actions: list[str]) -> None:
    for index, action in enumerate(actions):
        site.kit.charge(customer, action=action, idempotency_key=f"{customer}-{index}")
        site.clock.advance(hours=7)


def test_dashboard_shows_balance_meter_breakdown_and_history(site: Site, page: Page) -> None:
    site.kit.create_customer("alice")
    site.kit.subscribe("alice", "pro", collected_elsewhere=True)
    _spend(site, "alice", ["document_summary"] * 20 + ["image_generation"] * 10)
    balance = site.kit.balance("alice").available
    site.open(page, "alice")
    expect(page).to_have_url(f"{site.base_url}/app")  # the token left the address bar
    expect(page.get_by_test_id("balance")).to_have_text(f"{balance:,}")
    # 200 of 2,000 credits: 10%, green.
    expect(page.get_by_test_id("period-use")).to_contain_text("10%")
    expect(page.locator("svg.meter rect[data-colour]")).to_have_attribute("data-colour", "green")
    insights = page.get_by_test_id("insights")
    expect(insights).to_contain_text("You spent 50% of your credits on Documents.")
    expect(insights).to_contain_text("Summarize a document: 20 times, 100 credits")
    expect(page.get_by_role("img", name=re.compile("Credits used per day"))).to_be_visible()
    screenshot(page, "dashboard")
    transactions = len(site.kit.history("alice", limit=100).items)
    expect(page.locator("#history tbody tr")).to_have_count(20)
    page.get_by_role("link", name="Older").click()
    expect(page.locator("#history tbody tr")).to_have_count(transactions - 20)


def test_low_balance_turns_the_meter_red_and_shows_a_banner(site: Site, page: Page) -> None:
    site.kit.create_customer("bob")
    site.kit.subscribe("bob", "free")  # 100 credits; the plan's alert is at 10 left
    _spend(site, "bob", ["document_summary"] * 19)  # 95 used
    site.open(page, "bob")
    banner = page.get_by_role("status").filter(has_text="Your balance is low")
    expect(banner).to_contain_text("5 credits left")
    expect(page.locator("svg.meter rect[data-colour]")).to_have_attribute("data-colour", "red")
    expect(page.get_by_test_id("period-use")).to_contain_text("95%")


def test_out_of_credits_says_so_and_offers_packs_and_plans(site: Site, page: Page) -> None:
    site.kit.create_customer("carol")
    site.kit.subscribe("carol", "free")
    _spend(site, "carol", ["image_generation"] * 10)
    site.open(page, "carol")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("You are out of credits.")
    expect(alert.get_by_role("link", name="buy credits")).to_have_attribute(
        "href", "/app/billing#packs"
    )
    expect(page.get_by_test_id("balance")).to_have_text("0")


def test_meter_is_yellow_from_half_the_allowance(site: Site, page: Page) -> None:
    site.kit.create_customer("dan")
    site.kit.subscribe("dan", "free")
    _spend(site, "dan", ["document_summary"] * 10)  # 50 of 100
    site.open(page, "dan")
    expect(page.locator("svg.meter rect[data-colour]")).to_have_attribute("data-colour", "yellow")
    expect(page.get_by_role("img", name="50% of this period's 100 credits used")).to_be_visible()


UNLIMITED_CATALOG = """
units:
  credits: {scale: 0}
actions:
  chat_message: {price: 2, unit: credits, label: "Chat message", category: "Chat"}
plans:
  enterprise:
    name: Enterprise
    default: true
    rank: 0
    prices:
      month: {amount: 50000, currency: USD}
    allowance: unlimited
"""


def test_an_unlimited_plan_shows_unlimited(
    make_site: SiteFactory, page: Page, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(UNLIMITED_CATALOG)
    site = make_site(catalog)
    site.kit.create_customer("erin")
    site.kit.subscribe("erin", "enterprise", collected_elsewhere=True)
    _spend(site, "erin", ["chat_message"] * 3)
    site.open(page, "erin")
    expect(page.get_by_test_id("balance")).to_have_text("Unlimited")
    expect(page.get_by_text("6 credits used so far; your plan sets no cap.")).to_be_visible()
    expect(page.locator(".banner")).to_have_count(0)


def test_the_dashboard_fits_a_phone(site: Site, phone: Page) -> None:
    site.kit.create_customer("fay")
    site.kit.subscribe("fay", "pro", collected_elsewhere=True)
    _spend(site, "fay", ["document_summary", "image_generation"] * 5)
    site.open(phone, "fay")
    expect(phone.get_by_test_id("balance")).to_be_visible()
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    screenshot(phone, "dashboard-phone")


def test_an_expired_or_missing_session_asks_for_a_new_link(site: Site, page: Page) -> None:
    site.kit.create_customer("gus")
    link = site.session_link("gus")
    site.clock.advance(hours=2)  # the token lived an hour
    response = page.goto(link)
    assert response is not None and response.status == 401
    expect(page.get_by_role("heading", name="Your session has ended")).to_be_visible()
    response = page.goto(f"{site.base_url}/app")
    assert response is not None and response.status == 401


def test_signing_out_forgets_the_session(site: Site, page: Page) -> None:
    site.kit.create_customer("hal")
    site.open(page, "hal")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Signed out")).to_be_visible()
    response = page.goto(f"{site.base_url}/app")
    assert response is not None and response.status == 401


def test_history_filters_by_kind_and_action_and_keeps_them_across_pages(
    site: Site, page: Page
) -> None:
    site.kit.create_customer("ivy")
    site.kit.subscribe("ivy", "pro", collected_elsewhere=True)
    _spend(site, "ivy", ["chat_message"] * 25 + ["image_generation"] * 3)
    site.open(page, "ivy")
    page.get_by_label("Show").select_option(label="Credits added")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("#history tbody tr")
    grants = len(site.kit.history("ivy", kinds=["grant"]).items)  # the free and pro allowances
    expect(rows).to_have_count(grants)
    expect(rows.filter(has_text="Grant")).to_have_count(grants)
    page.get_by_label("Show").select_option(label="Spending")
    page.get_by_label("Action", exact=True).select_option(label="Chat message")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(20)
    page.get_by_role("link", name="Older").click()
    expect(rows).to_have_count(5)  # 25 chat messages; the 3 images are filtered out
    expect(rows.filter(has_text="Generate an image")).to_have_count(0)
    expect(page.get_by_label("Action", exact=True)).to_have_value("chat_message")


def test_insights_name_the_top_value_of_a_usage_dimension(site: Site, page: Page) -> None:
    site.kit.create_customer("jon")
    site.kit.subscribe("jon", "pro", collected_elsewhere=True)
    for index, agent in enumerate(["Einstein", "Einstein", "Curie", "Einstein"]):
        site.kit.charge(
            "jon", action="document_summary", idempotency_key=f"jon-{index}",
            metadata={"agent": agent},
        )  # fmt: skip
        site.clock.advance(hours=3)
    site.open(page, "jon")
    expect(page.get_by_test_id("insights")).to_contain_text(
        "Your top agent this week is Einstein: 15 credits, 75% of the week's use."
    )
