"""Spenders, budgets, scoped credits and debt over HTTP answer as the embedded kit does."""

from __future__ import annotations

from datetime import timedelta

import pytest

from creditkit import (
    BudgetExceeded,
    CreditKit,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidRequest,
)
from creditkit.client import Client


def test_spenders_and_budgets_equal_the_kits(client: Client, kit: CreditKit) -> None:
    client.create_customer("org", subscribe=False)
    client.grant("org", 100, idempotency_key="g1")
    team = client.create_spender("org", "team", kind="project")
    assert team == kit.create_spender("org", "team", kind="project")
    agent = client.create_spender("org", "agent", kind="agent", parent="team")
    assert (agent.parent, agent.depth) == ("team", 2)
    with pytest.raises(IdempotencyConflict):
        client.create_spender("org", "agent", kind="api_key", parent="team")
    assert client.spenders("org") == kit.spenders("org")
    budget = client.set_budget("org", 10, spender="team", period="day", idempotency_key="b1")
    assert budget == kit.set_budget("org", 10, spender="team", period="day", idempotency_key="b1")
    charge = client.charge("org", 8, spender="agent", idempotency_key="c1")
    assert charge.spender == "agent"
    with pytest.raises(BudgetExceeded) as over:
        client.charge("org", 3, spender="agent", idempotency_key="c2")
    with pytest.raises(BudgetExceeded) as embedded:
        kit.charge("org", 3, spender="agent", idempotency_key="c2")
    assert over.value.to_fields() == embedded.value.to_fields()
    assert over.value.resets_at is not None
    assert client.budgets("org", spender="team") == kit.budgets("org", spender="team")
    assert client.balance("org", spender="agent") == kit.balance("org", spender="agent")
    assert client.balance("org", spender="agent").available == 2
    assert client.history("org", spender="team", subtree=True) == kit.history(
        "org", spender="team", subtree=True
    )
    assert (
        client.set_budget("org", None, spender="team", period="day", idempotency_key="b2") is None
    )
    hold = client.reserve("org", 5, spender="agent", idempotency_key="r1")
    assert hold.spender == "agent"


def test_scopes_and_debt_equal_the_kits(client: Client, kit: CreditKit) -> None:
    client.create_customer("ada", subscribe=False)
    grant = client.grant("ada", 10, idempotency_key="g1", applies_to=["image_generation"])
    assert grant.applies_to == ("image_generation",)
    assert client.balance("ada", action="chat_message").available == 0
    with pytest.raises(InsufficientCredits) as short:
        client.charge("ada", 1, action="chat_message", idempotency_key="c1")
    assert short.value.not_applicable == 10
    limit = client.set_debt_limit("ada", 5, idempotency_key="d1")
    assert (limit.amount, limit.debt) == (5, 0)
    owed = client.charge("ada", 3, action="chat_message", idempotency_key="c2", allow_debt=True)
    assert owed.debt == 3
    assert client.balance("ada") == kit.balance("ada")
    assert client.balance("ada").debt == 3
    hold = client.reserve("ada", 4, action="image_generation", idempotency_key="r1")
    committed = client.commit(hold.id, 6, idempotency_key="k1", allow_debt=True)
    assert committed == kit.commit(hold.id, 6, idempotency_key="k1", allow_debt=True)
    repaid = client.grant("ada", 10, idempotency_key="g2")
    assert repaid.debt_repaid == 3


def test_usage_by_spender_and_subtree_equals_the_kits(client: Client, kit: CreditKit) -> None:
    client.create_customer("lab", subscribe=False)
    client.grant("lab", 100, idempotency_key="g1")
    client.create_spender("lab", "einstein", kind="agent")
    client.create_spender("lab", "search", kind="sub_agent", parent="einstein")
    client.charge("lab", 4, spender="einstein", idempotency_key="c1")
    client.charge("lab", 6, spender="search", idempotency_key="c2")
    client.charge("lab", 1, idempotency_key="c3")
    now = kit.now()
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    by_spender = client.usage_breakdown("lab", by="spender", start=start, end=end)
    assert by_spender == kit.usage_breakdown("lab", by="spender", start=start, end=end)
    assert [(g.key, g.kind, g.spent) for g in by_spender.groups] == [
        ("search", "sub_agent", 6),
        ("einstein", "agent", 4),
        (None, None, 1),
    ]
    subtree = client.usage_breakdown(
        "lab", by="action", start=start, end=end, spender="einstein", subtree=True
    )
    assert subtree.spent == 10
    summary = client.usage_summary("lab", period=(start, end), spender="search")
    assert summary == kit.usage_summary("lab", period=(start, end), spender="search")
    assert summary.spent == 6
    with pytest.raises(InvalidRequest) as refused:
        client.usage_breakdown("lab", by="spender", start=start, end=end, subtree=True)
    assert refused.value.field == "subtree"


def test_a_commit_answers_with_its_holds_spender(client: Client, kit: CreditKit) -> None:
    client.create_customer("org", subscribe=False)
    client.grant("org", 100, idempotency_key="g1")
    client.create_spender("org", "agent", kind="agent")
    hold = client.reserve("org", 10, spender="agent", idempotency_key="r1")
    part = client.commit(hold.id, 3, final=False, idempotency_key="k1")
    assert part.spender == "agent"
    done = client.commit(hold.id, 4, idempotency_key="k2")
    assert done.spender == "agent"
    assert client.commit(hold.id, 4, idempotency_key="k2").spender == "agent"
    assert kit.commit(hold.id, 4, idempotency_key="k2").spender == "agent"
