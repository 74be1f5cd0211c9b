"""The public catalog spells money and amounts as the rest of the API does (docs/api.md,
"Amounts and money"): a plan's prices are Money (``amount_minor``) like a pack's, and its
allowance is a JSON integer like a pack's amount."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from creditkit import CreditKit
from creditkit.server import create_app
from creditkit.server.serve import example_catalog


def test_plans_and_packs_share_one_money_and_amount_shape(tmp_path: Path) -> None:
    kit = CreditKit(f"sqlite:///{tmp_path / 'catalog.db'}", catalog=example_catalog())
    with TestClient(create_app(kit)) as http:
        catalog = http.get("/v1/catalog").json()
    kit.close()
    pro = next(plan for plan in catalog["plans"] if plan["id"] == "pro")
    assert pro["prices"]["month"] == {"amount_minor": 2000, "currency": "USD"}
    assert pro["allowance"]["amount"] == 2000
    team = next(plan for plan in catalog["plans"] if plan["id"] == "team")
    assert team["overage"]["price"] == {"amount_minor": 1000, "currency": "USD", "per": 1000}
    assert team["overage"]["spend_limit"] == 20000
    pack = catalog["packs"][0]
    assert set(pack["price"]) == {"amount_minor", "currency"}
    assert isinstance(pack["amount"], int)
