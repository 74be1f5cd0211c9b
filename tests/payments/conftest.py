"""A catalog with packs, two paid plans, coupons and a volume discount; kits on the sandbox
(every test) and on Stripe through the local fake (tests/payments/fake_stripe.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import fake_stripe
import pytest
from payments_support import CATALOG, STRIPE_SECRET

from creditkit import CreditKit
from creditkit.catalog import Catalog, parse_catalog
from creditkit.payments import PaymentSettings
from creditkit.payments.stripe_prices import plan_prices
from creditkit.payments.stripe_provider import StripeProvider

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
