"""The customer's history on /app, as the ledger's history read groups it: a hold is ONE line
with its final amount ("Charge: Ask anything -8"), its reserve and commit in a detail below it;
a released hold is one line of 0; a plain charge stays a line of its own."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from web_helpers import Site

from creditkit.ledger.schemas import HoldOutcome


def test_a_hold_is_one_line_with_its_final_amount(site: Site, page: Page) -> None:
    kit = site.kit
    kit.create_customer("alice")
    action = next(iter(kit.catalog.actions)) if kit.catalog else None
    assert action is not None
    hold = kit.reserve("alice", 8, idempotency_key="r1", action=action)
    kit.commit(hold.id, 5, idempotency_key="c1")
    released = kit.reserve("alice", 4, idempotency_key="r2", action=action)
    kit.release(released.id, idempotency_key="x2")
    kit.charge("alice", 2, idempotency_key="plain")
    items = kit.history("alice", limit=20).items
    holds = [item for item in items if item.hold is not None]
    assert [
        (item.hold.outcome, item.available_change, len(item.hold.parts))
        for item in holds
        if item.hold
    ] == [
        (HoldOutcome.RELEASED, 0, 2),
        (HoldOutcome.COMMITTED, -5, 2),
    ]
    assert holds[1].hold is not None
    assert [part.kind.value for part in holds[1].hold.parts] == ["reserve", "commit"]
    assert not any(
        item.kind.value in {"reserve", "commit", "release"} for item in items if item.hold is None
    )

    site.open(page, "alice")
    lines = page.locator("tr[data-hold]")
    expect(lines).to_have_count(2)
    charged = page.locator(f"tr[data-hold='{hold.id}']")
    expect(charged.locator("td").nth(1)).to_contain_text("Charge:")
    expect(charged.locator("td.number")).to_have_text("-5")
    charged.get_by_text("Details").click()
    expect(charged.get_by_role("listitem")).to_have_count(2)
    expect(charged.get_by_role("listitem").first).to_contain_text("Reserve")
    expect(page.locator(f"tr[data-hold='{released.id}'] td.number")).to_have_text("0")
