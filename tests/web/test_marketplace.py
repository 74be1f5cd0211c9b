"""The credit marketplace in a browser: a gift seen by both sides, moves between a user and its
workspace, refusals naming their field, buying a pack, and forms posted twice or forged."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect
from web_helpers import DESKTOP, Site, fields_of, post, screenshot

from creditkit.ledger.schemas import TransactionKind


def _sign_in(site: Site, page: Page, customer: str) -> None:
    site.open(page, customer)
    expect(page).to_have_url(f"{site.base_url}/app")
    page.get_by_role("link", name="Credits").click()
    expect(page).to_have_url(f"{site.base_url}/app/credits")


def _users(site: Site, *users: str, bought: int = 300) -> None:
    """Users on the free plan (100 allowance credits, which do not move) with ``bought``
    purchased credits (which do)."""
    for user in users:
        site.kit.create_customer(user)
        site.kit.grant(user, bought, idempotency_key=f"{user}-bought")


def _give(page: Page, recipient: str, amount: str, note: str = "") -> None:
    page.get_by_label("Recipient").fill(recipient)
    page.get_by_label("Amount", exact=True).fill(amount)
    page.get_by_label("Note (optional)").fill(note)
    page.get_by_role("button", name="Give credits").click()


def _transfers(site: Site, customer: str) -> int:
    items = site.kit.history(customer, limit=100).items
    return sum(1 for item in items if item.kind is TransactionKind.TRANSFER)


def test_a_gift_shows_as_sent_and_received_and_moves_both_balances(
    site: Site, page: Page, browser: Browser
) -> None:
    _users(site, "alice", "bob")
    _sign_in(site, page, "alice")
    expect(page.get_by_test_id("balance")).to_have_text("400")
    expect(page.get_by_test_id("transferable")).to_have_text("300")

    _give(page, "bob", "120", "Thanks for the review")

    expect(page.get_by_role("status")).to_have_text("You gave 120 credits to bob.")
    expect(page.get_by_test_id("balance")).to_have_text("280")
    sent = page.locator("#gifts tbody tr")
    expect(sent).to_have_count(1)
    expect(sent.first).to_have_attribute("data-direction", "sent")
    expect(sent.first).to_contain_text("Sent to bob")
    expect(sent.first).to_contain_text("-120")
    expect(sent.first).to_contain_text("Thanks for the review")
    screenshot(page, "marketplace")

    bobs = browser.new_context(viewport=DESKTOP)
    try:
        bob = bobs.new_page()
        _sign_in(site, bob, "bob")
        expect(bob.get_by_test_id("balance")).to_have_text("520")
        received = bob.locator("#gifts tbody tr")
        expect(received).to_have_count(1)
        expect(received.first).to_have_attribute("data-direction", "received")
        expect(received.first).to_contain_text("Received from alice")
        expect(received.first).to_contain_text("+120")
        expect(received.first).to_contain_text("Thanks for the review")
    finally:
        bobs.close()
    assert site.kit.balance("alice").available == 280
    assert site.kit.balance("bob").available == 520
    assert site.kit.audit().ok


def test_refused_gifts_name_the_field_and_change_nothing(site: Site, page: Page) -> None:
    _users(site, "alice", "bob")
    _sign_in(site, page, "alice")
    alert = page.get_by_role("alert")

    _give(page, "ghost", "10")
    expect(alert).to_have_text("Recipient: there is no account 'ghost'.")
    _give(page, "bob", "-5")
    expect(alert).to_have_text("Amount: enter a whole number above 0.")
    _give(page, "bob", "2.5")
    expect(alert).to_have_text("Amount: enter a whole number above 0.")
    _give(page, "bob", "1000", note="For the review")
    expect(alert).to_have_text(
        "Amount: you can give 300 credits (bought or gifted ones), not 1,000."
    )
    # What was typed is still there, to correct rather than type again.
    expect(page.get_by_label("Recipient")).to_have_value("bob")
    expect(page.get_by_label("Amount", exact=True)).to_have_value("1000")
    expect(page.get_by_label("Note (optional)")).to_have_value("For the review")
    _give(page, "alice", "10")
    expect(alert).to_have_text("Recipient: must be another customer than the sender.")

    expect(page.get_by_test_id("balance")).to_have_text("400")
    assert site.kit.balance("bob").available == 400
    assert _transfers(site, "alice") == _transfers(site, "bob") == 0


def test_credits_move_into_a_workspace_and_back_out(site: Site, page: Page) -> None:
    _users(site, "alice")
    site.kit.create_customer("acme", kind="workspace")
    site.kit.add_member("acme", "alice", "owner")
    _sign_in(site, page, "alice")
    expect(page.get_by_label("Workspace", exact=True)).to_have_value("acme")

    page.get_by_label("Into the workspace").check()
    page.locator("#move-amount").fill("200")
    page.get_by_role("button", name="Move credits").click()
    expect(page.get_by_role("status")).to_have_text("You moved 200 credits to acme.")
    expect(page.get_by_test_id("balance")).to_have_text("200")
    assert site.kit.balance("acme").available == 100 + 200

    page.get_by_label("Out of the workspace, to you").check()
    page.locator("#move-amount").fill("50")
    page.get_by_role("button", name="Move credits").click()
    expect(page.get_by_role("status")).to_have_text(
        "You moved 50 credits from acme to your account."
    )
    expect(page.get_by_test_id("balance")).to_have_text("250")
    rows = page.locator("#gifts tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Moved from acme")
    expect(rows.nth(1)).to_contain_text("Moved to acme")
    assert site.kit.balance("acme").available == 100 + 150
    assert site.kit.audit().ok


def test_a_viewer_may_move_credits_in_but_not_take_them_out(site: Site, page: Page) -> None:
    _users(site, "owner", "bob")
    site.kit.create_customer("acme", kind="workspace")
    site.kit.subscribe("acme", "team", collected_elsewhere=True)
    site.kit.add_member("acme", "owner", "owner")
    site.kit.add_member("acme", "bob", "viewer")
    site.kit.grant("acme", 500, idempotency_key="acme-bought")
    _sign_in(site, page, "bob")
    expect(page.get_by_label("Workspace", exact=True)).to_contain_text("acme (viewer)")

    page.get_by_label("Out of the workspace, to you").check()
    page.locator("#move-amount").fill("50")
    page.get_by_role("button", name="Move credits").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Workspace: only an owner or admin of acme may take its credits out."
    )
    assert site.kit.balance("bob").available == 400

    # A workspace the user is not a member of, posted by hand.
    site.kit.create_customer("other", kind="workspace")
    fields = fields_of(page.locator("form[action='/app/credits/move']"))
    refused = post(
        page,
        "/app/credits/move",
        {**fields, "workspace": "other", "direction": "in", "amount": "5"},
    )
    assert refused.status == 422  # the form drawn again with its reason, as typed
    assert "Workspace: you are not a member of other." in refused.text()
    page.goto(f"{site.base_url}/app/credits")

    page.get_by_label("Into the workspace").check()
    page.locator("#move-amount").fill("100")
    page.get_by_role("button", name="Move credits").click()
    expect(page.get_by_role("status")).to_have_text("You moved 100 credits to acme.")
    assert site.kit.balance("bob").available == 300


def test_a_gift_form_posted_twice_gives_once(site: Site, page: Page) -> None:
    _users(site, "alice", "bob")
    _sign_in(site, page, "alice")
    page.get_by_label("Recipient").fill("bob")
    page.get_by_label("Amount", exact=True).fill("70")
    fields = fields_of(page.locator("form[action='/app/credits/gift']"))
    page.get_by_role("button", name="Give credits").click()
    expect(page.get_by_role("status")).to_have_text("You gave 70 credits to bob.")

    again = post(page, "/app/credits/gift", fields)  # the browser's resubmission

    assert again.status == 303
    page.reload()
    expect(page.get_by_role("status")).to_have_text("You gave 70 credits to bob.")
    expect(page.get_by_test_id("balance")).to_have_text("330")
    assert site.kit.balance("bob").available == 470
    assert _transfers(site, "alice") == 1


def test_a_forged_gift_is_refused_and_changes_nothing(site: Site, page: Page) -> None:
    _users(site, "alice", "bob")
    _sign_in(site, page, "alice")
    fields = fields_of(page.locator("form[action='/app/credits/gift']"))
    forged = {**fields, "recipient": "bob", "amount": "300", "csrf": "forged"}

    refused = post(page, "/app/credits/gift", forged)

    assert refused.status == 403
    assert site.kit.balance("alice").available == 400
    assert _transfers(site, "alice") == 0


def test_credits_bought_on_the_credits_page_come_back_to_it(site: Site, page: Page) -> None:
    _users(site, "alice")
    _sign_in(site, page, "alice")
    popular = page.locator("article[data-pack='credits_2000']")
    expect(popular.get_by_text("Most popular")).to_be_visible()
    expect(popular.get_by_text("Save 10%")).to_be_visible()
    expect(popular.get_by_test_id("price-per")).to_have_text("$0.90 per 100 credits")
    popular.get_by_role("button", name="Buy 2,000 credits").click()
    page.get_by_role("button", name=re.compile("^Pay ")).click()

    expect(page).to_have_url(f"{site.base_url}/app/credits?paid=1")
    expect(page.get_by_test_id("balance")).to_have_text("2,400")
    expect(page.get_by_test_id("transferable")).to_have_text("2,300")
