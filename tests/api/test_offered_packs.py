"""The 402's ``packs``: only what checkout would sell this customer now (no free pack, none past
its ``purchase_limit``), each with its name, amount and price."""

from __future__ import annotations

from pathlib import Path

from api_helpers import Api, assert_problem, write
from fastapi.testclient import TestClient

from creditkit import CreditKit, ManualClock
from creditkit.server.app import create_app

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
packs:
  trial: {name: "Trial", amount: 500, unit: credits, price: {amount: 0, currency: USD},
    purchase_limit: 1}
  starter: {name: "Starter", amount: 500, unit: credits, price: {amount: 100, currency: USD},
    purchase_limit: 1}
  big: {name: "2,000 credits", amount: 2000, unit: credits, price: {amount: 1800, currency: USD}}
"""
URLS = {"success_url": "https://app.test/paid", "cancel_url": "https://app.test/cancel"}


def _short(api: Api, key: str) -> list[dict[str, object]]:
    response = api.client.post(
        "/v1/charges", json={"customer": "u1", "amount": 400}, headers=write(api.admin, key)
    )
    packs: list[dict[str, object]] = assert_problem(response, 402, "insufficient_credits")["packs"]
    return packs


def test_the_402_offers_only_packs_the_customer_can_buy_now(
    tmp_path: Path, database_url: str, clock: ManualClock
) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG)
    kit = CreditKit(database_url, catalog=str(catalog), clock=clock)
    with TestClient(create_app(kit), raise_server_exceptions=False) as client:
        api = Api(kit, client)
        client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
        assert _short(api, "k1") == [
            {
                "id": "starter",
                "name": "Starter",
                "amount": 500,
                "price": {"amount_minor": 100, "currency": "USD"},
            },
            {
                "id": "big",
                "name": "2,000 credits",
                "amount": 2000,
                "price": {"amount_minor": 1800, "currency": "USD"},
            },
        ]
        session = kit.checkout("u1", pack="starter", idempotency_key="buy", **URLS)
        assert session.session_id is not None
        kit.complete_sandbox_checkout(session.session_id)
        kit.charge("u1", 510, idempotency_key="spend")  # the allowance and the starter pack
        assert [pack["id"] for pack in _short(api, "k2")] == ["big"]
    kit.close()


SEED_002_CATALOG = """\
units:
  credits: {scale: 0}
plans:
  free:
    name: Free
    default: true
    rank: 0
    prices: {month: {amount: 0, currency: USD}}
    allowance: {amount: 20, unit: credits}
  professional:
    name: Professional
    rank: 2
    prices: {month: {amount: 7900, currency: USD}}
    allowance: {amount: 1000, unit: credits}
packs:
  credits_100: {name: "100 credits", amount: 100, unit: credits,
    price: {amount: 1000, currency: USD}}
  credits_250: {name: "250 credits", amount: 250, unit: credits,
    price: {amount: 2000, currency: USD}}
  credits_500: {name: "500 credits", amount: 500, unit: credits,
    price: {amount: 3500, currency: USD}}
  credits_1000: {name: "1,000 credits", amount: 1000, unit: credits,
    price: {amount: 6000, currency: USD}}
"""


def test_more_covering_packs_than_offered_keep_the_best_value_among_the_offers(
    tmp_path: Path, database_url: str, clock: ManualClock
) -> None:
    """Seed 002's four packs all cover a small shortfall: the two cheapest are offered, and the
    last place goes to the 1,000-credit pack, the lowest price per credit (40% off)."""
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(SEED_002_CATALOG)
    kit = CreditKit(database_url, catalog=str(catalog), clock=clock)
    with TestClient(create_app(kit), raise_server_exceptions=False) as client:
        api = Api(kit, client)
        client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c"))
        response = client.post(
            "/v1/charges", json={"customer": "u1", "amount": 25}, headers=write(api.admin, "k")
        )
        problem = assert_problem(response, 402, "insufficient_credits")
        assert [(pack["id"], pack["name"]) for pack in problem["packs"]] == [
            ("credits_100", "100 credits"),
            ("credits_250", "250 credits"),
            ("credits_1000", "1,000 credits"),
        ]
        assert problem["upgrade_to"] == "professional"
        assert problem["upgrade"] == {
            "id": "professional",
            "name": "Professional",
            "price": {"amount_minor": 7900, "currency": "USD"},
            "interval": "month",
        }
    kit.close()
