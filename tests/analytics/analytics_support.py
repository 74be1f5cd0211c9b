"""Helpers of the analytics tests: the catalog they run on, and a sandbox purchase."""

from __future__ import annotations

from datetime import UTC, datetime

from creditkit import CreditKit

START = datetime(2026, 3, 1, tzinfo=UTC)
URLS = {"success_url": "https://app.test/paid", "cancel_url": "https://app.test/cancel"}

#: Pro's yearly price is not a multiple of 12 on purpose: MRR must round once, ARR not at all.
CATALOG = """
units:
  credits: {scale: 0, label: Credits, cost: {amount: 2, currency: USD, per: 1000}}
actions:
  chat_message: {price: 1, unit: credits, label: Chat message}
  image_generation: {price: 10, unit: credits, label: Generate an image}
plans:
  free:
    name: Free
    default: true
    rank: 0
    prices: {month: {amount: 0, currency: USD}}
    allowance: {amount: 100, unit: credits}
  pro:
    name: Pro
    rank: 1
    prices: {month: {amount: 2000, currency: USD}, year: {amount: 19990, currency: USD}}
    allowance: {amount: 2000, unit: credits}
  team:
    name: Team
    rank: 2
    prices: {month: {amount: 8000, currency: USD}, year: {amount: 76800, currency: USD}}
    allowance: {amount: 10000, unit: credits}
    overage: {unit: credits, price: {amount: 1000, currency: USD, per: 1000}, spend_limit: 20000}
packs:
  credits_500: {name: "500 credits", amount: 500, unit: credits,
    price: {amount: 500, currency: USD}}
  credits_2000: {name: "2,000 credits", amount: 2000, unit: credits,
    price: {amount: 1800, currency: USD}, expires_after_days: 30}
"""


def buy(kit: CreditKit, customer: str, key: str, **item: str) -> int:
    """Checks out a pack or a plan on the sandbox and pays it with the test card that succeeds;
    returns the payment's id."""
    session = kit.checkout(customer, idempotency_key=key, **item, **URLS)
    assert kit.complete_sandbox_checkout(session.session_id).applied
    return session.payment_id
