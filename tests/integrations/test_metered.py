"""``metered`` reserves on entry, commits the actual on a normal exit and releases on an
exception, the same on ``CreditKit`` and on ``Client``."""

from __future__ import annotations

from decimal import Decimal

import pytest

from creditkit import (
    CreditKit,
    HoldAmountExceeded,
    HoldStatus,
    InsufficientCredits,
    ManualClock,
    TransactionKind,
)
from creditkit.catalog import UnknownAction
from creditkit.integrations import Metering


class WorkFailed(Exception):
    pass


def test_the_estimate_is_committed_when_the_work_sets_no_actual(
    ledger: Metering, kit: CreditKit
) -> None:
    with ledger.metered("ada", "image_generation") as meter:
        assert meter.hold is not None and meter.hold.amount == 10  # the catalog price
        assert kit.balance("ada").available == 90
    assert meter.charge is not None and meter.charge.amount == 10
    assert kit.hold(meter.hold.id).status is HoldStatus.COMMITTED
    assert kit.balance("ada").available == 90


def test_the_actual_is_committed_and_the_rest_goes_back(ledger: Metering, kit: CreditKit) -> None:
    with ledger.metered("ada", "chat_message", 50) as meter:
        assert kit.balance("ada").available == 50
        meter.actual = 12
    assert meter.charge is not None and meter.charge.amount == 12
    assert kit.balance("ada").available == 88


def test_an_exception_releases_the_hold_and_goes_on(ledger: Metering, kit: CreditKit) -> None:
    with pytest.raises(WorkFailed), ledger.metered("ada", "chat_message", 30) as meter:
        raise WorkFailed
    assert meter.hold is not None and meter.released
    assert kit.hold(meter.hold.id).status is HoldStatus.RELEASED
    assert kit.balance("ada").available == 100


def test_short_credits_refuse_before_the_work(ledger: Metering, kit: CreditKit) -> None:
    ran = False
    with pytest.raises(InsufficientCredits) as short, ledger.metered("ada", "chat_message", 101):
        ran = True
    assert not ran
    assert (short.value.available, short.value.required) == (100, 101)
    assert kit.balance("ada").held == 0


def test_an_actual_above_the_estimate_is_refused_and_releases(
    ledger: Metering, kit: CreditKit
) -> None:
    with pytest.raises(HoldAmountExceeded), ledger.metered("ada", "chat_message", 5) as meter:
        meter.actual = 6
    assert meter.released
    assert kit.balance("ada").available == 100


def test_commit_settles_at_once_and_a_later_failure_keeps_the_charge(
    ledger: Metering, kit: CreditKit
) -> None:
    with pytest.raises(WorkFailed), ledger.metered("ada", "chat_message", 20) as meter:
        charge = meter.commit(7)
        assert charge.amount == 7 and meter.settled
        raise WorkFailed  # after the commit: what was spent stays spent
    assert kit.balance("ada").available == 93


def test_one_base_key_makes_the_block_exactly_once(ledger: Metering, kit: CreditKit) -> None:
    for _run in range(2):
        with ledger.metered("ada", "chat_message", 20, idempotency_key="job-7") as meter:
            meter.actual = 4
    assert kit.recorded("job-7:reserve") and kit.recorded("job-7:commit")
    assert not kit.recorded("job-7:release")
    charges = [i for i in kit.history("ada").items if i.kind is TransactionKind.COMMIT]
    assert len(charges) == 1
    assert kit.balance("ada").available == 96


def test_an_action_priced_in_a_decimal_unit_holds_in_that_unit(
    ledger: Metering, kit: CreditKit
) -> None:
    kit.grant("ada", "1.00", unit="usd", idempotency_key="g1")
    with ledger.metered("ada", "gpu_second") as meter:
        meter.actual = "0.03"
    assert meter.unit == "usd"
    assert meter.charge is not None and meter.charge.amount == Decimal("0.03")
    assert kit.balance("ada", unit="usd").available == Decimal("0.97")


def test_an_action_the_catalog_does_not_price_needs_an_estimate(
    ledger: Metering, kit: CreditKit
) -> None:
    with pytest.raises(UnknownAction):
        ledger.metered("ada", "fine_tune")
    with ledger.metered("ada", "fine_tune", 3) as meter:
        pass
    assert meter.unit == "credits"
    assert kit.balance("ada").available == 97


def test_a_release_that_fails_is_noted_on_the_error(
    ledger: Metering, kit: CreditKit, clock: ManualClock
) -> None:
    with (
        pytest.raises(WorkFailed) as failed,
        ledger.metered("ada", "chat_message", 5, timeout_seconds=60),
    ):
        clock.advance(seconds=61)  # the work outlived its hold
        raise WorkFailed
    assert any("hold not released" in note for note in failed.value.__notes__)
    assert kit.balance("ada").available == 100
