"""The usage dashboard in a browser: balance, meter, breakdowns, chart, insights, history."""

from __future__ import annotations

import re

from conftest import Site, screenshot
from playwright.sync_api import Page, expect


def _spend(site: Site, customer: str, actions: list[str]) -> None:
    for index, action in enumerate(actions):
        site.kit.charge(customer, action=action, idempotency_key=f"{customer}-{index}")
        site.clock.advance(hours=7)


def test_dashboard_shows_balance_meter_breakdown_and_history(site: Site, page: Page) -> None:
    site.kit.create_customer("alice")
    site.kit.subscribe("alice", "pro")
    _spend(site, "alice", ["document_summary"] * 20 + ["image_generation"] * 10)
    balance = site.kit.balance("alice").available
    page.goto(site.session_link("alice"))
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
