"""The customer's history on /app: a hold is ONE line with its final amount ("Charge: Ask
anything -8"), its reserve and commit in a detail below it; a released hold is one line of 0;
a plain charge stays a line of its own."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from web_helpers import Site

from creditkit.web.history_rows import history_rows


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
    rows = history_rows(kit.history("alice", limit=20).items)
    holds = [row for row in rows if row.parts]
    assert [(row.title, row.change, len(row.parts)) for row in holds] == [
        ("Released", 0, 2),
        ("Charge", -5, 2),
    ]
    assert [part.kind.value for part in holds[1].parts] == ["reserve", "commit"]
    assert not any(
        row.item.kind.value in {"reserve", "commit", "release"} for row in rows if not row.parts
    )

    page.goto(site.session_link("alice"))
    lines = page.locator("tr[data-hold]")
    expect(lines).to_have_count(2)
    charged = page.locator(f"tr[data-hold='{hold.id}']")
    expect(charged.locator("td").nth(1)).to_contain_text("Charge:")
    expect(charged.locator("td.number")).to_have_text("-5")
    charged.get_by_text("Details").click()
    expect(charged.get_by_role("listitem")).to_have_count(2)
    expect(charged.get_by_role("listitem").first).to_contain_text("Reserve")
    expect(page.locator(f"tr[data-hold='{released.id}'] td.number")).to_have_text("0")
