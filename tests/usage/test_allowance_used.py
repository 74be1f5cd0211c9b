"""One definition of "used": the dashboard's meter, ``usage_summary().allowance_used`` and the
percent-used alerts agree at every step, a customer who bought a pack included (spending bought
credits uses none of the allowance, so the meter stops at 100% and the 100% alert fires)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from creditkit import CreditKit, ManualClock
from creditkit.notify import EventType
from creditkit.server import create_app
from creditkit.server.serve import example_catalog

#: The example catalog's free plan: 100 credits a month, alerts at 50%, 80% and 100% used.
FREE_PERCENTS = (50, 80, 100)


@pytest.fixture
def kit(database_url: str, clock: ManualClock) -> Iterator[CreditKit]:
    with CreditKit(database_url, catalog=example_catalog(), clock=clock) as opened:
        yield opened


def fired_percents(kit: CreditKit, customer: str) -> list[int]:
    events = kit.events(customer=customer, limit=500)
    return [
        event.data["percent_used"] for event in events if event.type is EventType.ALERT_TRIGGERED
    ]


def meter_text(http: TestClient) -> str:
    page = http.get("/app").text
    found = re.search(r'data-testid="period-use"><strong>([^<]*)</strong> used: ([^<]*)</p>', page)
    assert found is not None, "the dashboard shows no meter"
    return f"{found[1]} used: {found[2]}"


def test_meter_and_alerts_agree_with_a_bought_pack(kit: CreditKit) -> None:
    kit.create_customer("alice")  # on the free plan: a 100-credit allowance
    kit.grant_pack("alice", "credits_500", idempotency_key="pack")  # burns after the allowance
    with TestClient(create_app(kit)) as http:
        http.post(
            "/app/session",
            data={"token": kit.keys.issue_session("alice").token},
            headers={"Origin": "http://testserver"},
        )
        spent = 0
        for index, amount in enumerate([30, 19, 1, 29, 1, 19, 1, 427]):
            kit.charge("alice", amount, idempotency_key=f"c{index}")
            spent += amount
            summary = kit.usage_summary("alice")
            used = min(spent, 100)
            assert (summary.spent, summary.allowance_spent) == (spent, used)
            assert summary.allowance_used == Decimal(used) / 100
            assert meter_text(http) == f"{used}% used: {used} of 100 credits"
            # Each alert has fired exactly when the meter reached its share, once.
            assert fired_percents(kit, "alice") == [p for p in FREE_PERCENTS if used >= p]
        # 527 spent, 427 of them bought: the meter says 100%, never 527%, and says where the rest
        # came from; the 100% alert fired though credits are left (no depletion).
        assert kit.balance("alice").available == 73
        assert (
            "527 credits spent this period in all: 427 beyond the allowance"
            in http.get("/app").text
        )
    types = [event.type for event in kit.events(customer="alice", limit=500)]
    assert EventType.CREDITS_DEPLETED not in types


def test_a_pack_bought_after_the_allowance_is_gone_moves_no_percentage(kit: CreditKit) -> None:
    kit.create_customer("bea")
    kit.charge("bea", 100, idempotency_key="c1")  # the allowance, all of it
    assert fired_percents(kit, "bea") == [50, 80, 100]
    kit.grant_pack("bea", "credits_500", idempotency_key="pack")
    kit.charge("bea", 200, idempotency_key="c2")
    summary = kit.usage_summary("bea")
    assert (summary.allowance_spent, summary.allowance_used) == (100, Decimal(1))
    assert fired_percents(kit, "bea") == [50, 80, 100]  # none twice in the period
