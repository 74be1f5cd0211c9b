"""The 402's ``packs``: only what checkout would sell this customer now (no free pack, none past
its ``purchase_limit``), each with its name, amount and price."""

from __future__ import annotations

from pathlib import Path

from api_helpers import Api, assert_problem, write
from fastapi.testclient import TestClient

from creditkit import CreditKit, ManualClock
from creditkit.api.app import create_app

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
