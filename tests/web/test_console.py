"""The operator's console in a browser: sign-in, customers, one customer in full, adjustments of
its credits with a reason, analytics, and every page at a phone's width."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect
from web_helpers import PHONE, Site, screenshot

from creditkit import CreditKit, ManualClock, load_catalog
from creditkit.client.testing import serve_in_thread
from creditkit.keys.schemas import Scope
from creditkit.server import create_app
from creditkit.server.serve import example_catalog
from creditkit.web.rendering import credits, money, percent


def _sign_in(site: Site, page: Page) -> str:
    """Signs ``page`` in to the console; returns the admin key's id."""
    secret = site.admin_key()
    page.goto(f"{site.base_url}/console/login")
    page.get_by_label("Admin API key").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{site.base_url}/console")
    caller = site.kit.keys.authenticate(secret)
    assert caller is not None and caller.key_id is not None
    return caller.key_id


def _open_customer(site: Site, page: Page, customer: str) -> None:
    page.goto(f"{site.base_url}/console/customers/{customer}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(customer)


def _correct(page: Page, direction: str, amount: str, reason: str) -> None:
    form = page.locator("#adjust")
    form.get_by_label("Remove credits" if direction == "remove" else "Add credits").check()
    form.get_by_label("Amount (credits)").fill(amount)
    form.get_by_label("Reason").fill(reason)
    form.get_by_role("button", name="Apply").click()


def test_a_bad_key_stays_signed_out_and_an_admin_key_signs_in(site: Site, page: Page) -> None:
    page.goto(f"{site.base_url}/console")
    expect(page).to_have_url(f"{site.base_url}/console/login")
    for refused in ("ck_not_a_key", site.kit.keys.create_key("app", Scope.WRITE).secret):
        page.get_by_label("Admin API key").fill(refused)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("That is not an active admin key.")
        page.goto(f"{site.base_url}/console")
        expect(page).to_have_url(f"{site.base_url}/console/login")
    _sign_in(site, page)
    expect(page.get_by_role("status")).to_have_text("Signed in.")
    expect(page.get_by_role("link", name="Customers")).to_have_attribute("aria-current", "page")


def test_search_finds_a_customer_by_part_of_its_id(site: Site, page: Page) -> None:
    site.kit.create_customer("acme-corp", kind="workspace")
    site.kit.create_customer("alice-0017")
    site.kit.create_customer("bob-0042")
    site.kit.subscribe("alice-0017", "pro")
    _sign_in(site, page)
    rows = page.get_by_test_id("customers").locator("tbody tr")
    expect(rows).to_have_count(3)
    screenshot(page, "console-customers")
    page.get_by_label("Customer id, or part of it").fill("CE-00")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"search=CE-00"))
    expect(rows).to_have_count(1)
    available = site.kit.balance("alice-0017").available
    expect(rows.first).to_have_text(re.compile(rf"alice-0017\s*User\s*Pro\s*{available:,}"))
    page.get_by_role("link", name="alice-0017").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("alice-0017")
    page.goto(f"{site.base_url}/console?search=nobody")
    expect(page.get_by_text("No customer id contains “nobody”.")).to_be_visible()
    # An id is one path segment of its page's address, whatever characters it holds.
    site.kit.create_customer("team/alpha?1")
    page.goto(f"{site.base_url}/console?search=alpha")
    page.get_by_role("link", name="team/alpha?1").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("team/alpha?1")
    _correct(page, "add", "5", "Welcome bonus")
    expect(page.get_by_role("status")).to_have_text("Added 5 credits to team/alpha?1.")


def test_the_customer_page_shows_grants_holds_members_and_history(site: Site, page: Page) -> None:
    kit = site.kit
    kit.create_customer("acme", kind="workspace", metadata={"crm": "A-17"})
    kit.subscribe("acme", "team")
    for user in ("ann", "raj"):
        kit.create_customer(user, subscribe=False)
    kit.add_member("acme", "ann", "owner")
    kit.add_member("acme", "raj", "editor")
    expires_at = kit.now() + timedelta(days=10)
    kit.grant("acme", 50, source="promo", expires_at=expires_at, idempotency_key="promo")
    kit.charge("acme", action="document_summary", idempotency_key="c1")
    hold = kit.reserve("acme", 30, action="image_generation", idempotency_key="h1")
    kit.cancel("acme")
    _sign_in(site, page)
    _open_customer(site, page, "acme")
    expect(page.get_by_test_id("subscription")).to_contain_text("Team")
    expect(page.get_by_test_id("subscription")).to_contain_text("Cancels at period end")
    expect(page.get_by_text('"A-17"')).to_be_visible()
    balance = kit.balance("acme")
    expect(page.get_by_test_id("available")).to_have_text(credits(balance.available))
    expect(page.get_by_test_id("held")).to_have_text("30")
    promo = page.get_by_test_id("grants").locator("tr", has_text="Promo")
    expect(promo).to_contain_text(f"{expires_at:%b} {expires_at.day}, {expires_at.year}")
    expect(promo).to_contain_text("50")
    holds = page.get_by_test_id("holds")
    expect(holds).to_contain_text(f"#{hold.id}")
    expect(holds).to_contain_text("image_generation")
    expect(page.get_by_test_id("members").locator("tbody tr")).to_have_count(2)
    history = page.get_by_test_id("history").locator("tbody tr")
    expect(history).to_have_count(len(kit.history("acme").items))
    expect(history.first).to_contain_text("Reserve")
    expect(page.get_by_test_id("usage")).to_contain_text("5 credits; charges: 1")
    screenshot(page, "console-customer")
    page.goto(f"{site.base_url}/console/customers/nobody")
    expect(page.get_by_role("heading", level=1)).to_have_text("No such customer")


def test_an_operator_grants_credits_with_a_reason(site: Site, page: Page) -> None:
    site.kit.create_customer("alice")
    before = site.kit.balance("alice").available
    key_id = _sign_in(site, page)
    _open_customer(site, page, "alice")
    reason = "Goodwill for the outage on Nov 20"
    _correct(page, "add", "250", reason)
    expect(page.get_by_role("status")).to_have_text("Added 250 credits to alice.")
    expect(page.get_by_test_id("available")).to_have_text(credits(before + 250))
    newest = page.get_by_test_id("history").locator("tbody tr").first
    expect(newest).to_contain_text("+250")
    expect(newest).to_contain_text(reason)
    expect(newest).to_contain_text(key_id)
    page.reload()  # a reload gets the page again; it posts nothing
    expect(page.get_by_test_id("available")).to_have_text(credits(before + 250))
    assert site.kit.balance("alice").available == before + 250
    granted = site.kit.history("alice", limit=1).items[0]
    assert granted.metadata == {"reason": reason, "operator_key": key_id}
    report = site.kit.audit()
    assert report.ok, report.problems


def test_removing_more_than_the_balance_is_refused_naming_the_amount(
    site: Site, page: Page
) -> None:
    site.kit.create_customer("alice")
    site.kit.charge("alice", action="chat_message", idempotency_key="c1")
    available = site.kit.balance("alice").available
    _sign_in(site, page)
    _open_customer(site, page, "alice")
    _correct(page, "remove", str(available + 1), "Clawback of a duplicate grant")
    error = page.get_by_test_id("adjust-error")
    expect(error).to_contain_text("Amount:")
    expect(error).to_contain_text(f"{available:,} credits that can be removed")
    expect(page.get_by_label("Amount (credits)")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Reason")).to_have_value("Clawback of a duplicate grant")
    _correct(page, "add", "10", "   ")  # only spaces: no reason
    expect(error).to_contain_text("Reason:")
    assert site.kit.balance("alice").available == available
    _correct(page, "remove", "40", "Clawback of a duplicate grant")
    expect(page.get_by_role("status")).to_have_text("Removed 40 credits from alice.")
    expect(page.get_by_test_id("available")).to_have_text(credits(available - 40))
    newest = page.get_by_test_id("history").locator("tbody tr").first
    expect(newest).to_contain_text("Adjustment")
    expect(newest).to_contain_text("-40")
    # Taken back, not spent: the period's usage still counts the one chat message.
    assert site.kit.usage_summary("alice").spent == 1
    assert site.kit.audit().ok


def test_a_revoked_keys_console_session_stops_working(site: Site, page: Page) -> None:
    key_id = _sign_in(site, page)
    assert site.kit.keys.revoke(key_id)
    site.clock.advance(seconds=6)  # past the 5 s cache of keys every process keeps
    page.goto(f"{site.base_url}/console")
    expect(page).to_have_url(f"{site.base_url}/console/login")


def test_analytics_shows_the_kits_figures(site: Site, page: Page) -> None:
    kit = site.kit
    kit.create_customer("free-user")
    kit.create_customer("payer")
    session = kit.checkout(
        "payer",
        plan="pro",
        success_url="https://app.example/ok",
        cancel_url="https://app.example/no",
        idempotency_key="checkout-pro",
    )
    kit.complete_sandbox_checkout(session.session_id)
    pack = kit.checkout(
        "payer",
        pack="credits_500",
        success_url="https://app.example/ok",
        cancel_url="https://app.example/no",
        idempotency_key="checkout-pack",
    )
    kit.complete_sandbox_checkout(pack.session_id)
    for index in range(3):
        kit.charge("payer", action="image_generation", idempotency_key=f"img-{index}")
    kit.charge("free-user", action="chat_message", idempotency_key="chat")
    site.clock.advance(hours=1)
    _sign_in(site, page)
    page.get_by_role("link", name="Analytics").click()
    now = kit.now()
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    expected = kit.analytics(start=start, end=now)
    assert expected.mrr and expected.consumed == 31  # the scenario is what the test thinks
    expect(page.get_by_test_id("mrr")).to_have_text(
        ", ".join(money(expected.mrr[currency]) for currency in sorted(expected.mrr))
    )
    expect(page.get_by_test_id("arr")).to_have_text(
        ", ".join(money(expected.arr[currency]) for currency in sorted(expected.arr))
    )
    expect(page.get_by_test_id("revenue")).to_have_text(
        ", ".join(money(expected.revenue[currency]) for currency in sorted(expected.revenue))
    )
    expect(page.get_by_test_id("conversion")).to_have_text(percent(expected.conversion.share))
    expect(page.get_by_test_id("outstanding")).to_have_text(credits(expected.credits_outstanding))
    expect(page.get_by_test_id("consumed")).to_have_text(credits(expected.consumed))
    expect(page.get_by_test_id("expired")).to_have_text(credits(expected.expired))
    assert expected.margin is not None and kit.catalog is not None
    expect(page.get_by_test_id("margin")).to_have_text(money(expected.margin))
    cost = kit.catalog.unit("credits").cost
    assert cost is not None
    expect(page.get_by_test_id("liability-cost")).to_have_text(
        money(cost.amount_for(int(expected.credits_outstanding), 0))
    )
    subscribers = page.get_by_test_id("subscribers")
    for plan, count in expected.subscribers_by_plan.items():
        name = kit.catalog.plan(plan).name
        expect(subscribers.locator("tr", has_text=name)).to_contain_text(str(count))
    expect(page.get_by_role("img", name=re.compile("Subscribers per plan: Free"))).to_be_visible()
    expect(page.get_by_test_id("revenue-by-plan").locator("tr", has_text="Pro")).to_contain_text(
        money(next(item.net for item in expected.revenue_by_plan if item.item == "pro"))
    )
    expect(page.get_by_test_id("consumed-by-action")).to_contain_text("Generate an image")
    screenshot(page, "console-analytics")
    # A range by dates: from the start date's first moment to the end date's last (or now).
    page.get_by_label("Start date").fill(f"{now:%Y-%m-%d}")
    page.get_by_label("End date").fill(f"{now:%Y-%m-%d}")
    page.get_by_role("button", name="Show").click()
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    narrowed = kit.analytics(start=today, end=now)
    expect(page.get_by_test_id("consumed")).to_have_text(credits(narrowed.consumed))
    page.get_by_label("Start date").fill(f"{now + timedelta(days=2):%Y-%m-%d}")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_test_id("range-error")).to_contain_text("Start date:")


@pytest.fixture
def costless_site(database_url: str, clock: ManualClock) -> Iterator[Site]:
    """The example catalog without its cost per credit."""
    catalog = load_catalog(example_catalog())
    units = {name: replace(spec, cost=None) for name, spec in catalog.units.items()}
    kit = CreditKit(database_url, catalog=replace(catalog, units=units), clock=clock)
    with serve_in_thread(create_app(kit)) as base_url:
        yield Site(kit, clock, base_url)
    kit.close()


def test_without_a_cost_per_credit_analytics_asks_for_one(costless_site: Site, page: Page) -> None:
    costless_site.kit.create_customer("alice")
    costless_site.kit.charge("alice", action="chat_message", idempotency_key="chat")
    _sign_in(costless_site, page)
    page.goto(f"{costless_site.base_url}/console/analytics")
    expect(page.get_by_test_id("consumed")).to_have_text("1")
    expect(page.get_by_test_id("margin")).to_have_text("—")
    expect(page.get_by_text("Set a cost per credit in the catalog")).to_be_visible()
    expect(page.get_by_test_id("liability-cost")).to_have_count(0)


def test_console_pages_fit_a_phone(site: Site, phone: Page) -> None:
    site.kit.create_customer("a-customer-with-a-rather-long-identifier-0001", kind="workspace")
    site.kit.grant(
        "a-customer-with-a-rather-long-identifier-0001",
        1_000_000,
        idempotency_key="big",
        expires_at=site.kit.now() + timedelta(days=30),
    )
    _sign_in(site, phone)
    for path in (
        "/console",
        "/console/customers/a-customer-with-a-rather-long-identifier-0001",
        "/console/analytics",
    ):
        phone.goto(f"{site.base_url}{path}")
        expect(phone.get_by_role("heading", level=1)).to_be_visible()
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} scrolls sideways: {width}px"


def test_the_customer_page_shows_the_spender_tree_budgets_and_debt(site: Site, page: Page) -> None:
    kit = site.kit
    kit.create_customer("lab")
    kit.subscribe("lab", "pro")
    kit.create_spender("lab", "orchestrator", kind="agent")
    kit.create_spender("lab", "einstein", kind="sub_agent", parent="orchestrator")
    kit.create_spender("lab", "ci-key", kind="api_key")
    kit.set_budget("lab", 300, spender="einstein", period="week", idempotency_key="b1")
    kit.charge("lab", 40, spender="einstein", idempotency_key="c1")
    kit.set_debt_limit("lab", 100, idempotency_key="d1")
    available = kit.balance("lab").available
    kit.charge("lab", available + 25, spender="ci-key", allow_debt=True, idempotency_key="c2")
    _sign_in(site, page)
    _open_customer(site, page, "lab")
    tree = page.get_by_test_id("spenders").locator("tbody tr")
    expect(tree).to_have_count(3)
    # Each spender after its parent: the orchestrator, its sub-agent, then the API key.
    expect(tree.nth(0)).to_contain_text("orchestrator")
    expect(tree.nth(1)).to_contain_text("einstein (under orchestrator)")
    expect(tree.nth(2)).to_contain_text("ci-key")
    expect(page.get_by_test_id("budgets").locator("tr", has_text="einstein")).to_contain_text("40")
    expect(page.get_by_test_id("debt")).to_have_text("25")
    screenshot(page, "console-spenders")


def test_an_operator_resets_a_customers_period_with_a_reason(site: Site, page: Page) -> None:
    site.kit.create_customer("carol")
    site.kit.charge("carol", 3, idempotency_key="c1")
    before = site.kit.subscription("carol")
    assert before is not None and before.allowance_period_start is not None
    allowance = site.kit.balance("carol").available + 3
    _sign_in(site, page)
    _open_customer(site, page, "carol")
    form = page.locator("#reset-period")
    form.get_by_role("button", name="Reset period").click()  # no reason: the browser refuses
    assert site.kit.subscription("carol") == before
    form.get_by_label("Why reset the period").fill("Charged twice by a retry storm")
    form.get_by_role("button", name="Reset period").click()
    expect(page.get_by_role("status")).to_have_text("Reset carol's period.")
    expect(page.get_by_test_id("available")).to_have_text(credits(allowance))
    newest = page.get_by_test_id("history").locator("tbody tr")
    expect(newest.filter(has_text="Charged twice by a retry storm")).to_have_count(1)
    after = site.kit.subscription("carol")
    assert after is not None and after.allowance_period_start == site.kit.now()
    page.reload()  # a reload posts nothing
    resets = [i for i in site.kit.history("carol").items if i.kind.value == "period_reset"]
    assert len(resets) == 1
    report = site.kit.audit()
    assert report.ok, report.problems
