"""docs/payments.md's restricted Stripe key names a permission for every Stripe resource
creditkit writes or reads through the SDK (``self._client.v1.<resource>``): a key made from the
list works for every step the page describes, the billing portal included."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
PAYMENTS_DOC = ROOT / "docs" / "payments.md"
PAYMENTS_SOURCE = ROOT / "src" / "creditkit" / "payments"
#: The SDK's resource, and the permission's name in Stripe's restricted-key form.
PERMISSIONS = {
    "customers": "Customers",
    "checkout.sessions": "Checkout Sessions",
    "coupons": "Coupons",
    "payment_intents": "PaymentIntents",
    "refunds": "Refunds",
    "billing_portal.sessions": "Customer portal",
    "products": "Products",
    "prices": "Prices",
    "subscriptions": "Subscriptions",
    "subscription_schedules": "Subscription schedules",
}
RESOURCE = re.compile(r"\._client\.v1\.([a-z_]+(?:\.[a-z_]+)*)\.[a-z_]+\(")
RESTRICTED_KEY = re.compile(r"a restricted key `rk_…` allowed to write (.*?)\)", re.DOTALL)


def _resources_used() -> set[str]:
    return {
        found
        for source in PAYMENTS_SOURCE.rglob("*.py")
        for found in RESOURCE.findall(source.read_text(encoding="utf-8"))
    }


def test_every_stripe_resource_creditkit_uses_has_a_known_permission() -> None:
    used = _resources_used()
    assert "customers" in used  # the pattern still finds the SDK's calls
    assert used <= set(PERMISSIONS), f"name the permission of {sorted(used - set(PERMISSIONS))}"


def test_the_restricted_keys_permissions_cover_what_creditkit_uses() -> None:
    listed = RESTRICTED_KEY.search(PAYMENTS_DOC.read_text(encoding="utf-8"))
    assert listed is not None, "docs/payments.md no longer lists a restricted key's permissions"
    permissions = " ".join(listed[1].split())
    missing = [PERMISSIONS[used] for used in sorted(_resources_used()) if PERMISSIONS.get(used)]
    missing = [name for name in missing if name not in permissions]
    assert missing == [], f"docs/payments.md's restricted key lacks {missing}"
