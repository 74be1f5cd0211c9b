"""Peers' published semantics for scoped credits, sub-entity balances, commits above a lock and
overage paid later, each as creditkit expresses it (scopes, member budgets, debt)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from creditkit import BudgetExceeded, CreditKit, InsufficientCredits

CATALOG = """
units:
  credits: {scale: 0}
actions:
  chat: {price: 1, unit: credits, category: text}
  summarize: {price: 2, unit: credits, category: text}
  image: {price: 5, unit: credits, category: images}
plans:
  free:
    name: Free
    default: true
    rank: 0
  team:
    name: Team
    rank: 1
    prices:
      month: {amount: 0, currency: USD}
    allowance: {amount: 100, unit: credits, period: month, applies_to: [text]}
    debt_limit: 30
    spender_budgets:
      member: {amount: 40, period: month}
packs:
  images_50:
    name: Images
    amount: 50
    unit: credits
    price: {amount: 500, currency: USD}
    applies_to: [images]
"""


@pytest.fixture
def kit(make_kit: Callable[..., CreditKit], tmp_path: Path) -> CreditKit:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG)
    kit = make_kit(catalog=str(catalog))
    kit.create_customer("acme", kind="workspace")
    return kit


def test_stripe_applicability_config_restricts_a_grant_to_prices(kit: CreditKit) -> None:
    """Stripe: a credit grant's ``applicability_config.scope.prices`` lists the prices it may
    pay; invoices for other prices do not draw from it."""
    kit.grant("acme", 20, idempotency_key="g1", applies_to=["image"])
    with pytest.raises(InsufficientCredits) as short:
        kit.charge("acme", action="chat", idempotency_key="c1")
    assert short.value.not_applicable == 20
    assert kit.charge("acme", action="image", idempotency_key="c2").amount == 5
    assert kit.balance("acme", action="image").available == 15


def test_metronome_applicable_product_ids_scope_by_product(kit: CreditKit) -> None:
    """Metronome: a credit's ``applicable_product_ids`` lets it pay only usage of those
    products: here a catalog category covers every action in it."""
    kit.grant("acme", 10, idempotency_key="g1", applies_to=["text"])
    kit.charge("acme", action="chat", idempotency_key="c1")
    kit.charge("acme", action="summarize", idempotency_key="c2")
    assert kit.balance("acme", action="summarize").available == 7
    assert kit.balance("acme", action="image").available == 0


def test_lago_wallet_applies_to_skips_wallets_in_burn_down(kit: CreditKit) -> None:
    """Lago: a wallet's ``applies_to`` limits the fees it pays; consumption skips wallets that
    do not apply and draws the next one in order. A pack's scope is the wallet's."""
    images = kit.grant_pack("acme", "images_50", idempotency_key="p1")
    assert images.applies_to == ("images",)
    general = kit.grant("acme", 10, idempotency_key="g1", priority=100)
    chat = kit.charge("acme", action="chat", idempotency_key="c1")
    assert [draw.grant_id for draw in chat.draws] == [general.id]
    image = kit.charge("acme", action="image", idempotency_key="c2")
    assert [draw.grant_id for draw in image.draws] == [images.id]


def test_a_plans_allowance_may_be_scoped(kit: CreditKit) -> None:
    kit.subscribe("acme", "team", collected_elsewhere=True)
    assert kit.balance("acme", action="chat").available == 100
    assert kit.balance("acme", action="image").available == 0


def test_autumn_entity_balances_are_member_budgets(kit: CreditKit) -> None:
    """Autumn: each entity (a seat) has its own balance of a feature. Here every member of a
    Team workspace gets the plan's 40 a month, each its own, from the workspace's credits."""
    kit.subscribe("acme", "team", collected_elsewhere=True)
    for user, role in (("owner", "owner"), ("ann", "editor"), ("bo", "editor")):
        kit.create_customer(user, subscribe=False)
        kit.add_member("acme", user, role)
    assert [s.kind for s in kit.spenders("acme")] == ["member", "member", "member"]
    assert [b.cap for b in kit.budgets("acme", spender="ann")] == [40]
    kit.charge("acme", action="chat", quantity=40, member="ann", idempotency_key="a1")
    with pytest.raises(BudgetExceeded) as refused:
        kit.charge("acme", action="chat", member="ann", idempotency_key="a2")
    assert (refused.value.spender, refused.value.cap, refused.value.used) == ("ann", 40, 40)
    kit.charge("acme", action="chat", quantity=40, member="bo", idempotency_key="b1")
    assert kit.balance("acme", spender="bo").available == 0
    assert kit.balance("acme", spender="owner").available == 20


def test_autumn_commit_above_a_lock_takes_the_difference(kit: CreditKit) -> None:
    """Autumn: lock 8, confirm 11: 3 more are deducted. Without ``allow_debt`` creditkit
    refuses a commit above its hold, as before."""
    kit.grant("acme", 20, idempotency_key="g1")
    hold = kit.reserve("acme", 8, action="chat", idempotency_key="r1")
    committed = kit.commit(hold.id, 11, idempotency_key="k1", allow_debt=True)
    assert (committed.amount, committed.debt) == (11, 0)
    assert kit.balance("acme").available == 9
    assert kit.audit().ok


def test_openmeter_overage_is_paid_by_a_later_grant(kit: CreditKit) -> None:
    """OpenMeter: usage beyond the grants is overage, paid off by the next grant. Here it is
    debt within the plan's ``debt_limit`` (30), repaid first by the next grant."""
    kit.subscribe("acme", "team", collected_elsewhere=True)
    kit.charge("acme", action="chat", quantity=100, idempotency_key="c1")
    charge = kit.charge("acme", action="chat", quantity=25, idempotency_key="c2", allow_debt=True)
    assert charge.debt == 25
    with pytest.raises(InsufficientCredits):
        kit.charge("acme", action="chat", quantity=6, idempotency_key="c3", allow_debt=True)
    grant = kit.grant("acme", 40, idempotency_key="g1")
    assert grant.debt_repaid == 25
    balance = kit.balance("acme")
    assert (balance.debt, balance.available) == (0, 15)
    assert kit.audit().ok


def test_a_plans_default_budget_counts_the_spending_of_a_members_agents(kit: CreditKit) -> None:
    """A default budget is a budget on the path: a member's agents spend within the member's
    plan budget (40 a month) by charges, reserves, extends and commits above a hold alike,
    and each refusal names the member."""
    kit.subscribe("acme", "team", collected_elsewhere=True)
    kit.create_customer("ann", subscribe=False)
    kit.add_member("acme", "ann", "owner")
    kit.create_spender("acme", "ann-bot", kind="agent", parent="ann")
    kit.create_spender("acme", "ann-bot-2", kind="agent", parent="ann-bot")
    kit.charge("acme", action="chat", quantity=30, spender="ann-bot", idempotency_key="c1")
    with pytest.raises(BudgetExceeded) as refused:
        kit.charge("acme", action="chat", quantity=11, spender="ann-bot-2", idempotency_key="c2")
    assert (refused.value.spender, refused.value.cap, refused.value.used) == ("ann", 40, 30)
    assert kit.balance("acme", spender="ann-bot-2").available == 10
    with pytest.raises(BudgetExceeded) as refused:
        kit.reserve("acme", 11, action="chat", spender="ann-bot", idempotency_key="r0")
    assert refused.value.spender == "ann"
    hold = kit.reserve("acme", 6, action="chat", spender="ann-bot-2", idempotency_key="r1")
    with pytest.raises(BudgetExceeded) as refused:
        kit.extend(hold.id, 5, idempotency_key="e1")
    assert (refused.value.spender, refused.value.used) == ("ann", 36)
    with pytest.raises(BudgetExceeded) as refused:
        kit.commit(hold.id, 11, idempotency_key="k1", allow_debt=True)
    assert refused.value.spender == "ann"
    assert kit.commit(hold.id, 10, idempotency_key="k2", allow_debt=True).amount == 10
    with pytest.raises(BudgetExceeded):
        kit.charge("acme", action="chat", spender="ann", idempotency_key="c3")
    assert kit.audit().ok
