"""Auto top-up: a charge that takes the balance under the threshold records a pending top-up in
its own transaction; the worker charges the saved card and grants the pack once; at most N a
day, counted in the database."""

from __future__ import annotations

import threading

import pytest
from payments_support import URLS, count_rows, outbox

from creditkit import CreditKit, InvalidRequest, ManualClock, Money
from creditkit.catalog import Catalog
from creditkit.notify.schemas import EventType
from creditkit.payments import (
    CARD_DECLINED,
    CARD_SUCCEEDS,
    ChargeRunReport,
    PaymentKind,
    PaymentStatus,
    ReceiptKind,
)


@pytest.fixture
def topped(kit: CreditKit) -> CreditKit:
    """Alice has 310 credits (a pack bought with a card that works) and tops up 300 when she
    falls under 50, at most twice a day."""
    session = kit.checkout("alice", pack="small", idempotency_key="first", **URLS)
    kit.complete_sandbox_checkout(session.session_id, card=CARD_SUCCEEDS)
    kit.set_auto_top_up("alice", "small", threshold=50, per_day_max=2)
    return kit


def _top_ups(kit: CreditKit) -> int:
    with kit._database.read() as connection:
        return int(
            connection.exec_driver_sql(
                "SELECT COUNT(*) FROM payments WHERE kind = 'top_up'"
            ).scalar_one()
        )


def test_falling_under_the_threshold_tops_up_once(topped: CreditKit) -> None:
    topped.charge("alice", 200, idempotency_key="c1")
    assert _top_ups(topped) == 0  # 110 left: above the threshold
    topped.charge("alice", 70, idempotency_key="c2")  # 40 left: under it
    topped.charge("alice", 10, idempotency_key="c3")  # still under: no second top-up
    assert _top_ups(topped) == 1
    assert topped.balance("alice").available == 30  # nothing granted before it is paid

    assert topped.run_due_top_ups() == ChargeRunReport(1, 1, 0)
    assert topped.balance("alice").available == 330
    assert topped.run_due_top_ups() == ChargeRunReport(0, 0, 0)
    assert topped.balance("alice").available == 330
    receipt = topped.receipts("alice").items[0]
    assert (receipt.kind, receipt.total) == (ReceiptKind.TOP_UP, Money(1000, "USD"))
    assert len(outbox(topped, EventType.PAYMENT_SUCCEEDED)) == 2  # the first pack, the top-up
    assert topped.audit().ok


def test_a_refused_charge_records_no_top_up(topped: CreditKit) -> None:
    with pytest.raises(Exception, match="available"):
        topped.charge("alice", 1000, idempotency_key="too-much")
    assert _top_ups(topped) == 0


def test_at_most_per_day_max_a_day(topped: CreditKit, clock: ManualClock) -> None:
    for round_ in range(3):
        topped.charge("alice", topped.balance("alice").available - 10, idempotency_key=f"c{round_}")
        topped.run_due_top_ups()
    assert _top_ups(topped) == 2
    assert topped.balance("alice").available == 10  # the third was not recorded
    clock.advance(days=1)
    topped.grant("alice", 100, idempotency_key="gift", source="gift")
    topped.charge("alice", 100, idempotency_key="next-day")
    assert _top_ups(topped) == 3


def test_a_declined_card_fails_the_top_up_and_says_so(topped: CreditKit) -> None:
    topped.save_payment_method("alice", CARD_DECLINED)
    topped.charge("alice", 270, idempotency_key="c1")
    assert topped.run_due_top_ups() == ChargeRunReport(1, 0, 1)
    assert topped.balance("alice").available == 40
    [failed] = outbox(topped, EventType.PAYMENT_FAILED)
    assert (failed.data["kind"], failed.data["reason"]) == (PaymentKind.TOP_UP, "card_declined")
    assert topped.run_due_top_ups() == ChargeRunReport(0, 0, 0)  # not retried


def test_an_auto_top_up_needs_a_saved_payment_method(kit: CreditKit) -> None:
    with pytest.raises(InvalidRequest) as raised:
        kit.set_auto_top_up("alice", "small", threshold=50)
    assert raised.value.field == "customer"
    kit.save_payment_method("alice", CARD_SUCCEEDS)
    assert kit.set_auto_top_up("alice", "small", threshold=50).threshold == 50


def test_settings_are_checked_read_back_and_disabled(kit: CreditKit) -> None:
    kit.save_payment_method("alice", CARD_SUCCEEDS)
    with pytest.raises(InvalidRequest) as raised:
        kit.set_auto_top_up("alice", "small", threshold=0)
    assert raised.value.field == "threshold"
    with pytest.raises(InvalidRequest) as raised:
        kit.set_auto_top_up("alice", "small", threshold=5, per_day_max=0)
    assert raised.value.field == "per_day_max"
    with pytest.raises(InvalidRequest):
        kit.set_auto_top_up("alice", "free_trial", threshold=5)
    settings = kit.set_auto_top_up("alice", "small", threshold=5, per_day_max=3)
    assert kit.auto_top_up("alice") == settings
    assert kit.disable_auto_top_up("alice")
    assert kit.auto_top_up("alice") is None
    assert not kit.disable_auto_top_up("alice")


@pytest.mark.postgres
def test_workers_racing_on_one_top_up_grant_it_once(catalog: Catalog, postgres_url: str) -> None:
    kits = [CreditKit(postgres_url, catalog=catalog) for _ in range(4)]
    try:
        kit = kits[0]
        kit.create_customer("alice")
        session = kit.checkout("alice", pack="small", idempotency_key="first", **URLS)
        kit.complete_sandbox_checkout(session.session_id)
        kit.set_auto_top_up("alice", "small", threshold=50)
        kit.charge("alice", 270, idempotency_key="c1")
        barrier = threading.Barrier(len(kits))
        reports: list[ChargeRunReport] = []

        def work(worker: CreditKit) -> None:
            barrier.wait()
            reports.append(worker.run_due_top_ups())

        threads = [threading.Thread(target=work, args=(worker,)) for worker in kits]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(report.succeeded for report in reports) == 1
        assert kit.balance("alice").available == 340
        payment = kit.payment(session.payment_id + 1)
        assert (payment.kind, payment.status) == (PaymentKind.TOP_UP, PaymentStatus.SUCCEEDED)
        assert count_rows(kit, "receipts") == 2
        assert kit.audit().ok
    finally:
        for kit in kits:
            kit.close()
