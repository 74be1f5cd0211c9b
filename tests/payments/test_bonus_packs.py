"""A pack with ``bonus: {amount}``: the paid credits keep the whole price as their cost basis,
the bonus is a promotional grant of its own, and a refund returns the paid part's unused share
of the price and takes back what is left of the bonus."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from payments_support import URLS

from creditkit import CreditKit, GrantSource, Money
from creditkit.catalog import parse_catalog

CATALOG = """\
units: {credits: {scale: 0}}
plans:
  free: {name: Free, default: true, rank: 0, prices: {month: {amount: 0, currency: USD}}}
packs:
  boosted:
    name: "1,000 credits + 200 bonus"
    amount: 1000
    unit: credits
    price: {amount: 1000, currency: USD}
    expires_after_days: 90
    bonus: {amount: 200}
"""


@pytest.fixture
def kit(make_kit: Callable[..., CreditKit]) -> CreditKit:
    kit = make_kit(catalog=parse_catalog(CATALOG))
    kit.create_customer("ada")
    return kit


def grants_by_source(kit: CreditKit) -> dict[GrantSource, int]:
    return {grant.source: int(grant.remaining) for grant in kit.balance("ada").grants}


def test_a_checkout_grants_the_paid_part_and_the_bonus(kit: CreditKit) -> None:
    session = kit.checkout("ada", pack="boosted", idempotency_key="k1", **URLS)
    kit.complete_sandbox_checkout(session.session_id)
    assert grants_by_source(kit) == {GrantSource.PURCHASE: 1000, GrantSource.PROMO: 200}
    paid = kit.payment(session.payment_id)
    bonus = next(g for g in kit.balance("ada").grants if g.source is GrantSource.PROMO)
    purchase = next(g for g in kit.balance("ada").grants if g.grant_id == paid.grant_id)
    assert bonus.expires_at == purchase.expires_at
    kit.complete_sandbox_checkout(session.session_id)  # a webhook replayed grants nothing more
    assert kit.balance("ada").available == 1200
    assert kit.audit().ok


def test_a_refund_prices_the_paid_part_and_takes_the_bonus_back(kit: CreditKit) -> None:
    session = kit.checkout("ada", pack="boosted", idempotency_key="k1", **URLS)
    kit.complete_sandbox_checkout(session.session_id)
    kit.charge("ada", 250, idempotency_key="use")  # the bonus burns first (promo before purchase)
    assert grants_by_source(kit) == {GrantSource.PURCHASE: 950}
    refund = kit.refund(session.payment_id)
    assert (refund.credits, refund.amount) == (950, Money(950, "USD"))  # 950 of 1,000 paid
    assert kit.balance("ada").available == 0
    assert kit.audit().ok


def test_a_refund_takes_back_what_is_left_of_the_bonus(kit: CreditKit) -> None:
    session = kit.checkout("ada", pack="boosted", idempotency_key="k1", **URLS)
    kit.complete_sandbox_checkout(session.session_id)
    kit.charge("ada", 50, idempotency_key="use")
    kit.refund(session.payment_id)
    assert (kit.balance("ada").available, kit.payment(session.payment_id).refunded) == (
        0,
        Money(1000, "USD"),
    )


def test_grant_pack_gives_the_bonus_once(kit: CreditKit) -> None:
    paid = kit.grant_pack("ada", "boosted", idempotency_key="p1")
    assert kit.grant_pack("ada", "boosted", idempotency_key="p1") == paid
    assert (paid.cost_basis, grants_by_source(kit)) == (
        Money(1000, "USD"),
        {GrantSource.PURCHASE: 1000, GrantSource.PROMO: 200},
    )
