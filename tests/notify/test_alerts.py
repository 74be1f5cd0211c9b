"""Alerts fire from spending, in its transaction, at most once per customer, unit, alert and
period; a customer's own thresholds replace its plan's."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from creditkit import ChargeRequest, CreditKit, ManualClock
from creditkit.errors import InvalidRequest
from creditkit.notify import AlertSource, Event, EventType
from creditkit.notify import repository as notify_repository
from creditkit.notify.alerts import CUSTOMER_ALERTS_REFRESH_SECONDS

ALERT_TYPES = (EventType.CREDITS_LOW, EventType.CREDITS_DEPLETED, EventType.ALERT_TRIGGERED)


def alerts_of(kit: CreditKit, customer: str) -> list[tuple[str, dict[str, Any]]]:
    events: list[Event] = kit.events(customer=customer, limit=500)
    return [(event.type.value, event.data) for event in events if event.type in ALERT_TYPES]


def test_the_plan_low_balance_alert_fires_once_when_crossed(kit: CreditKit) -> None:
    kit.create_customer("ada")  # free: 20 credits, warn at 5 left
    kit.charge("ada", 14, idempotency_key="c1")  # 6 left: above the threshold
    assert alerts_of(kit, "ada") == []
    kit.charge("ada", 1, idempotency_key="c2")  # 5 left: crossed
    kit.charge("ada", 1, idempotency_key="c3")  # 4 left: already fired this period
    kit.charge("ada", 1, idempotency_key="c2")  # a replay spends nothing
    [(kind, data)] = alerts_of(kit, "ada")
    assert kind == "credits.low"
    assert data["available"] == 5 and data["credits_left"] == 5 and data["source"] == "plan"
    assert data["period_start"] == "2026-01-15T10:00:00+00:00"
    assert data["period_end"] == "2026-02-15T10:00:00+00:00"


def test_depletion_fires_for_every_customer_once_per_period(
    kit: CreditKit, start_clock: ManualClock
) -> None:
    kit.create_customer("ada")
    # No plan alerts; depletion is told all the same
    kit.subscribe("ada", "quiet", collected_elsewhere=True)
    kit.charge("ada", 1000, idempotency_key="c1")
    assert [kind for kind, _ in alerts_of(kit, "ada")] == ["credits.depleted"]
    kit.grant("ada", 5, idempotency_key="g1")
    kit.charge("ada", 5, idempotency_key="c2")  # depleted again in the same period
    assert len(alerts_of(kit, "ada")) == 1
    start_clock.advance(days=31)  # renewed: a new period, a new allowance
    kit.charge("ada", 1000, idempotency_key="c3")
    assert [kind for kind, _ in alerts_of(kit, "ada")] == ["credits.depleted"] * 2


def test_percent_used_fires_each_threshold_crossed(kit: CreditKit) -> None:
    kit.create_customer("ada")
    # An upgrade: the allowance is raised to 100 for this period
    kit.subscribe("ada", "pro", collected_elsewhere=True)
    kit.charge("ada", 49, idempotency_key="c1")  # 51 left: 49% used
    assert alerts_of(kit, "ada") == []
    kit.charge("ada", 36, idempotency_key="c2")  # 15 left: 85% used
    fired = alerts_of(kit, "ada")
    assert [(kind, data["percent_used"]) for kind, data in fired] == [
        ("alert.triggered", 50),
        ("alert.triggered", 80),
    ]
    assert fired[0][1]["allowance"] == 100 and fired[0][1]["available"] == 15
    kit.charge("ada", 15, idempotency_key="c3")
    # The 100% used after the charge posted, the depletion as it spent: both in its transaction.
    assert [kind for kind, _ in alerts_of(kit, "ada")][2:] == [
        "alert.triggered",
        "credits.depleted",
    ]


def test_a_batch_fires_once_per_customer(kit: CreditKit) -> None:
    kit.create_customer("ada")
    kit.create_customer("bob")
    outcomes = kit.charge_many(
        [
            ChargeRequest("ada", 16, "a1"),
            ChargeRequest("ada", 4, "a2"),
            ChargeRequest("bob", 3, "b1"),
        ]
    )
    assert all(not isinstance(outcome, Exception) for outcome in outcomes)
    assert [kind for kind, _ in alerts_of(kit, "ada")] == ["credits.low", "credits.depleted"]
    assert alerts_of(kit, "bob") == []


def test_reserve_and_transfer_spend_too(kit: CreditKit) -> None:
    kit.create_customer("ada")
    kit.create_customer("bob")
    kit.reserve("ada", 16, idempotency_key="h1")
    assert [kind for kind, _ in alerts_of(kit, "ada")] == ["credits.low"]
    kit.grant("bob", 30, idempotency_key="g1", source="gift")
    kit.charge("bob", 20, idempotency_key="b1")  # the allowance burns first: 30 gifted left
    kit.transfer("bob", "ada", 26, idempotency_key="t1")  # 4 left
    assert [kind for kind, _ in alerts_of(kit, "bob")] == ["credits.low"]


def test_customer_thresholds_replace_the_plan_ones(kit: CreditKit) -> None:
    kit.create_customer("ada")
    assert kit.alerts("ada").source is AlertSource.PLAN
    own = kit.set_alerts("ada", credits_left=12, percent_used=[25])
    assert (own.credits_left, own.percent_used, own.source) == (12, (25,), AlertSource.CUSTOMER)
    kit.charge("ada", 4, idempotency_key="c1")  # 16 left: 20% used of the free 20
    assert alerts_of(kit, "ada") == []
    kit.charge("ada", 4, idempotency_key="c2")  # 12 left: 40% used, both crossed
    kit.charge("ada", 8, idempotency_key="c3")  # 4 left: the plan's 5 no longer applies
    fired = alerts_of(kit, "ada")
    assert [(kind, data["source"]) for kind, data in fired] == [
        ("alert.triggered", "customer"),  # at 15 left (25% of 20 used), then at 12
        ("credits.low", "customer"),
    ]
    assert kit.clear_alerts("ada").source is AlertSource.PLAN


def test_no_thresholds_at_all(kit: CreditKit) -> None:
    kit.create_customer("ada")
    assert kit.set_alerts("ada").source is AlertSource.CUSTOMER
    kit.charge("ada", 19, idempotency_key="c1")
    assert alerts_of(kit, "ada") == []


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"percent_used": [80, 50]}, "percent_used"),
        ({"percent_used": [0]}, "percent_used"),
        ({"percent_used": "50"}, "percent_used"),
        ({"credits_left": 0}, "credits_left"),
        ({"credits_left": 1.5}, "credits_left"),
        ({"unit": "gold"}, "unit"),
    ],
)
def test_bad_thresholds_are_refused(kit: CreditKit, options: dict[str, Any], field: str) -> None:
    kit.create_customer("ada")
    with pytest.raises(InvalidRequest) as refused:
        kit.set_alerts("ada", **options)
    assert refused.value.field == field
    assert kit.alerts("ada").source is AlertSource.PLAN


def test_alerts_without_a_catalog_count_calendar_months(make_kit: Any, clock: ManualClock) -> None:
    kit = make_kit()
    kit.create_customer("ada")
    kit.grant("ada", 10, idempotency_key="g1")
    kit.set_alerts("ada", credits_left=3, percent_used=[50])  # no allowance: no percentages
    kit.charge("ada", 7, idempotency_key="c1")
    [(kind, data)] = alerts_of(kit, "ada")
    assert kind == "credits.low"
    assert (data["period_start"], data["period_end"]) == (
        "2026-01-01T00:00:00+00:00",
        "2026-02-01T00:00:00+00:00",
    )


def test_a_spend_that_crosses_nothing_reads_no_alert_table(
    tmp_path: Any, start_clock: ManualClock, catalog: Any
) -> None:
    """The hot path: SQLite's trace of every statement a plain charge runs."""
    kit = CreditKit(f"sqlite:///{tmp_path / 'hot.db'}", catalog=catalog, clock=start_clock)
    kit.create_customer("ada")
    kit.subscribe("ada", "quiet", collected_elsewhere=True)
    kit.charge("ada", 1, idempotency_key="warm")  # reads the set of customers with thresholds
    statements: list[str] = []

    def trace(driver: Any, _record: Any) -> None:
        driver.set_trace_callback(statements.append)

    engine = kit._database.engine
    sa.event.listen(engine, "connect", trace)
    # Every connection from here on is traced: the writer's, and the pool's.
    kit._ledger.close()
    engine.dispose()
    kit.charge("ada", 1, idempotency_key="hot")
    sa.event.remove(engine, "connect", trace)
    read = " ".join(statements)
    assert statements and "transactions" in read
    # (The plan in force is read: percent-used alerts count the allowance as the meter does,
    # and this catalog's other plans declare them.)
    for table in ("customer_alerts", "alert_firings", "outbox_events"):
        assert table not in read
    kit.close()


def test_a_charge_answer_crosses_the_customers_own_thresholds(kit: CreditKit) -> None:
    """``alert_crossed`` reads the customer and its own thresholds in one statement: a share of
    the plan's allowance and a credits-left level, on either database."""
    kit.create_customer("ada")
    kit.set_alerts("ada", credits_left=12, percent_used=[25])
    crossed = [
        kit.alert_crossed(kit.charge("ada", amount, idempotency_key=f"c{amount}"))
        for amount in (4, 5, 7)  # 20 -> 16 (20% used), -> 11 (45%, under 12), -> 4
    ]
    assert crossed == [False, True, False]


def test_an_answer_without_thresholds_in_force_reads_nothing(
    tmp_path: Any, start_clock: ManualClock
) -> None:
    """Without plan alerts, a customer known to have no thresholds of its own is answered
    without a query; thresholds set through another process count within the refresh."""
    url = f"sqlite:///{tmp_path / 'answer.db'}"
    kit = CreditKit(url, clock=start_clock)
    other = CreditKit(url, clock=start_clock)  # another process on the same ledger
    kit.create_customer("ada")
    kit.grant("ada", 100, idempotency_key="g")
    assert kit.alert_crossed(kit.charge("ada", 1, idempotency_key="warm")) is False
    statements: list[str] = []

    def trace(driver: Any, _record: Any) -> None:
        driver.set_trace_callback(statements.append)

    engine = kit._database.engine
    sa.event.listen(engine, "connect", trace)
    engine.dispose()  # every pooled connection from here on is traced
    charged = kit.charge("ada", 1, idempotency_key="hot")
    statements.clear()
    assert kit.alert_crossed(charged) is False
    assert statements == []
    other.set_alerts("ada", credits_left=90)
    crossing = kit.charge("ada", 8, idempotency_key="crosses")  # 90 left
    start_clock.advance(seconds=CUSTOMER_ALERTS_REFRESH_SECONDS)
    assert kit.alert_crossed(crossing) is True
    assert any("customer_alerts" in statement for statement in statements)
    sa.event.remove(engine, "connect", trace)
    other.close()
    kit.close()


def test_without_plan_alerts_only_the_customers_own_thresholds_cross(make_kit: Any) -> None:
    kit = make_kit()  # no catalog: no plan sets thresholds
    for customer in ("ada", "bob"):
        kit.create_customer(customer)
        kit.grant(customer, 10, idempotency_key=f"g-{customer}")
    kit.set_alerts("ada", credits_left=3)
    assert kit.alert_crossed(kit.charge("ada", 7, idempotency_key="c1")) is True
    assert kit.alert_crossed(kit.charge("bob", 7, idempotency_key="c2")) is False


def test_batches_past_every_threshold_record_each_once_and_insert_nothing(
    kit: CreditKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A customer whose allowance is used up counts as 100% used on every batch after: each
    threshold is recorded once, and the batches after it attempt no firing row at all."""
    kit.create_customer("ada")
    kit.subscribe("ada", "pro", collected_elsewhere=True)  # 100 a period, alerts at 50/80/100%
    kit.grant("ada", 1000, idempotency_key="g1", source="gift")  # spent once the allowance is
    kit.charge_many([ChargeRequest("ada", 50, "a0"), ChargeRequest("ada", 50, "a1")])
    fired = [data["percent_used"] for kind, data in alerts_of(kit, "ada")]
    assert fired == [50, 80, 100]
    attempted: list[str] = []
    insert_firing = notify_repository.insert_firing

    def counted(connection: Any, values: dict[str, Any]) -> bool:
        attempted.append(values["alert"])
        return insert_firing(connection, values)

    monkeypatch.setattr(notify_repository, "insert_firing", counted)
    for batch in range(3):
        requests = [ChargeRequest("ada", 7, f"b{batch}-{index}") for index in range(4)]
        assert all(not isinstance(outcome, Exception) for outcome in kit.charge_many(requests))
    assert attempted == []
    assert [data["percent_used"] for _kind, data in alerts_of(kit, "ada")] == [50, 80, 100]
    assert kit.balance("ada").available == 1000 - 3 * 4 * 7
