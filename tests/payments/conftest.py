"""A catalog with packs, two paid plans, coupons and a volume discount; kits on the sandbox
(every test) and on Stripe through the local fake (tests/payments/fake_stripe.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import fake_stripe
import pytest
from payments_support import STRIPE_SECRET

from creditkit import CreditKit
from creditkit.catalog import Catalog, parse_catalog
from creditkit.payments import PaymentSettings
from creditkit.payments.stripe_prices import plan_prices
from creditkit.payments.stripe_provider import StripeProvider

CATALOG = """\
units:
  credits: {scale: 0}
plans:
  free:
    name: Free
    default: true
    rank: 0
    prices: {month: {amount: 0, currency: USD}}
    allowance: {amount: 10, unit: credits}
  pro:
    name: Pro
    rank: 1
    prices:
      month: {amount: 2900, currency: USD}
      year: {amount: 27800, currency: USD}
    allowance: {amount: 1000, unit: credits}
    overage:
      unit: credits
      price: {amount: 500, currency: USD, per: 1000}
      spend_limit: 5000
packs:
  small: {name: "300 credits", amount: 300, unit: credits, price: {amount: 1000, currency: USD}}
  once: {name: "Starter", amount: 50, unit: credits, price: {amount: 100, currency: USD},
    purchase_limit: 1}
  free_trial: {name: "Trial", amount: 5, unit: credits, price: {amount: 0, currency: USD},
    purchase_limit: 1}
coupons:
  annual: {name: "Annual launch", percent_off: 20, intervals: [year], max_redemptions: 1}
  dollar: {name: "A dollar off", amount_off: {amount: 100, currency: USD}, packs: [small]}
  lapsed: {percent_off: 10, expires_at: "2025-12-31T23:59:59Z"}
discounts:
  agency: {name: "Agency", percent_off: 15, min_owner_workspaces: 3}
"""

KitFactory = Callable[..., CreditKit]


@pytest.fixture
def catalog() -> Catalog:
    return parse_catalog(CATALOG, "payments.yaml")


@pytest.fixture
def kit(make_kit: KitFactory, catalog: Catalog) -> CreditKit:
    """On the sandbox, with customers ``alice`` and ``bob``."""
    ck = make_kit(catalog=catalog)
    ck.create_customer("alice")
    ck.create_customer("bob")
    return ck


@pytest.fixture
def stripe_fake() -> Iterator[fake_stripe.FakeStripe]:
    with fake_stripe.running() as fake:
        yield fake


@pytest.fixture
def stripe_kit(
    make_kit: KitFactory, catalog: Catalog, stripe_fake: fake_stripe.FakeStripe
) -> CreditKit:
    provider = StripeProvider("sk_test_fake", STRIPE_SECRET, base_url=stripe_fake.url)
    ck = make_kit(catalog=catalog, payments=PaymentSettings(provider=provider))
    provider.sync_prices(plan_prices(ck.database, catalog))
    ck.create_customer("alice")
    return ck
