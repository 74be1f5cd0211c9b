"""The catalog's plans as Stripe Products and Prices, by lookup key (plan, version, interval):
``creditkit stripe sync`` makes what Stripe lacks once, ``creditkit stripe check`` lists it,
and a plan checkout sells the synced Price."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fake_stripe import FakeStripe
from payments_support import CATALOG, STRIPE_SECRET, URLS

from creditkit import CreditKit
from creditkit.catalog import parse_catalog
from creditkit.cli import main
from creditkit.payments import PaymentSettings
from creditkit.payments.errors import ProviderError
from creditkit.payments.stripe_provider import StripeProvider

KEYS = ("creditkit_pro_v1_month", "creditkit_pro_v1_year")


@pytest.fixture
def stripe_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stripe_fake: FakeStripe
) -> list[str]:
    """The flags of a ``creditkit stripe`` command on a fresh ledger; Stripe's keys in the
    environment, as serve reads them."""
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG)
    monkeypatch.setenv("CREDITKIT_STRIPE_SECRET_KEY", "sk_test_fake")
    monkeypatch.setenv("CREDITKIT_STRIPE_WEBHOOK_SECRET", STRIPE_SECRET)
    monkeypatch.setenv("CREDITKIT_STRIPE_API_URL", stripe_fake.url)
    return ["--database-url", f"sqlite:///{tmp_path / 'ledger.db'}", "--catalog", str(catalog)]


def test_sync_creates_the_products_and_prices_once_and_check_sees_them(
    stripe_cli: list[str], stripe_fake: FakeStripe, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stripe", "check", *stripe_cli]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{KEYS[0]}: missing",
        f"{KEYS[1]}: missing",
        "0 of 2 plan prices are in Stripe",
    ]
    assert main(["stripe", "sync", *stripe_cli]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{key}: created" for key in KEYS]
    assert main(["stripe", "sync", *stripe_cli]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{key}: present" for key in KEYS]
    assert main(["stripe", "check", *stripe_cli]) == 0

    assert list(stripe_fake.products) == ["creditkit_pro"]  # the free plan collects nothing
    prices = sorted(stripe_fake.prices.values(), key=lambda price: price["lookup_key"])
    assert [
        (price["lookup_key"], price["unit_amount"], price["currency"], price["recurring"])
        for price in prices
    ] == [
        (KEYS[0], 2900, "usd", {"interval": "month"}),
        (KEYS[1], 27800, "usd", {"interval": "year"}),
    ]
    created = stripe_fake.calls("POST", "/v1/prices")
    assert [call.idempotency_key for call in created] == [f"creditkit-price-{key}" for key in KEYS]


def test_a_price_that_differs_from_the_catalog_is_refused_by_name(
    stripe_cli: list[str], stripe_fake: FakeStripe, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stripe", "sync", *stripe_cli]) == 0
    capsys.readouterr()
    [monthly] = [price for price in stripe_fake.prices.values() if price["lookup_key"] == KEYS[0]]
    monthly["unit_amount"] = 1900  # made by hand in the dashboard
    assert main(["stripe", "sync", *stripe_cli]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"creditkit: stripe: the Price with lookup key {KEYS[0]} is 1900 USD")
    assert "the catalog says 2900 USD a month" in error


def test_the_stripe_commands_need_stripes_keys(
    stripe_cli: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CREDITKIT_STRIPE_SECRET_KEY")
    assert main(["stripe", "sync", *stripe_cli]) == 1
    assert capsys.readouterr().err.startswith("creditkit: stripe_secret_key: is required")


def test_a_plan_checkout_without_its_price_is_refused_naming_the_sync(
    make_kit: Callable[..., CreditKit], stripe_fake: FakeStripe
) -> None:
    provider = StripeProvider("sk_test_fake", STRIPE_SECRET, base_url=stripe_fake.url)
    catalog = parse_catalog(CATALOG, "payments.yaml")
    kit = make_kit(catalog=catalog, payments=PaymentSettings(provider=provider))
    kit.create_customer("alice")
    with pytest.raises(ProviderError, match="no Price with lookup key creditkit_pro_v1_month"):
        kit.checkout("alice", plan="pro", idempotency_key="k1", **URLS)
    assert stripe_fake.calls("POST", "/v1/checkout/sessions") == []
    kit.checkout("alice", pack="small", idempotency_key="k2", **URLS)  # packs sell inline
