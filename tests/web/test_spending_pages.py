"""Spenders on the pages: the dashboard's spending by spender, budgets with their use and the
week's top agent; the console's spender tree, budgets and debt."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from web_helpers import Site, screenshot


def _agents(site: Site, customer: str) -> None:
    """An orchestrator with two sub-agents and an API key under ``customer``, each spending."""
    kit = site.kit
    kit.create_customer(customer)
    kit.subscribe(customer, "pro", collected_elsewhere=True)
    kit.create_spender(customer, "orchestrator", kind="agent")
    kit.create_spender(customer, "einstein", kind="sub_agent", parent="orchestrator")
    kit.create_spender(customer, "curie", kind="sub_agent", parent="orchestrator")
    kit.create_spender(customer, "ci-key", kind="api_key")
    kit.set_budget(customer, 500, spender="orchestrator", period="day", idempotency_key="b1")
    kit.set_budget(customer, 1_500, period="month", idempotency_key="b2")
    spends = [("einstein", 6), ("curie", 2), ("orchestrator", 1), ("ci-key", 3)]
    for spender, times in spends:
        for index in range(times):
            kit.charge(
                customer,
                action="document_summary",
                spender=spender,
                idempotency_key=f"{spender}-{index}",
            )
            site.clock.advance(minutes=20)


def test_the_dashboard_shows_spending_by_spender_budgets_and_the_top_agent(
    site: Site, page: Page
) -> None:
    _agents(site, "lab")
    site.open(page, "lab")
    insights = page.get_by_test_id("insights")
    expect(insights).to_contain_text("Your top sub-agent this week is einstein: 30 credits, 50%")
    expect(insights).to_contain_text("Your top API key this week is ci-key: 15 credits, 25%")
    expect(insights).to_contain_text("Your top agent this week is orchestrator: 5 credits")
    by_spender = page.locator("section", has=page.locator("#by-spender-heading"))
    expect(by_spender.locator("tbody tr").first).to_contain_text("einstein")
    expect(by_spender.locator("tbody tr")).to_have_count(4)
    budgets = page.get_by_test_id("budgets")
    # The orchestrator's day budget counts its sub-agents' spending: 45 of 500.
    expect(budgets.locator("tr", has_text="orchestrator")).to_contain_text("45")
    expect(budgets.locator("tr", has_text="Everyone")).to_contain_text("60")
    screenshot(page, "dashboard-spenders")


def test_a_customer_without_spenders_sees_no_spender_sections(site: Site, page: Page) -> None:
    site.kit.create_customer("solo")
    site.kit.subscribe("solo", "pro", collected_elsewhere=True)
    site.kit.charge("solo", action="document_summary", idempotency_key="c1")
    site.open(page, "solo")
    expect(page.locator("#insights-heading")).to_be_visible()
    expect(page.locator("#by-spender-heading")).to_have_count(0)
    expect(page.locator("#budgets-heading")).to_have_count(0)
