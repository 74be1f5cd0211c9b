"""Coupons and volume discounts at checkout: what they take off, what they apply to, and
redemptions counted exactly once (given back when the payment fails), even under races."""

from __future__ import annotations

import threading

import pytest
from payments_support import URLS

from creditkit import CreditKit, ManualClock, Money
from creditkit.catalog import Catalog, Discount, DiscountKind, Interval
from creditkit.payments import CARD_DECLINED, CheckoutClosed, CouponNotApplicable, ReceiptLine


def _redeemed(kit: CreditKit, coupon: str) -> int:
    with kit._database.read() as connection:
        return int(
            connection.exec_driver_sql(
                f"SELECT redeemed FROM coupon_counters WHERE coupon_id = '{coupon}'"
            ).scalar_one()
        )


def _agency(kit: CreditKit, workspaces: int) -> None:
    kit.create_customer("owner", subscribe=False)
    for number in range(workspaces):
        kit.create_customer(f"ws{number}", kind="workspace")
        kit.add_member(f"ws{number}", "owner", "owner")


def test_percent_off_is_rounded_half_up_to_the_cent() -> None:
    discount = Discount("d", DiscountKind.COUPON, "D", percent_off=15)
    assert discount.off(Money(2900, "USD")) == 435
    assert discount.off(Money(1001, "USD")) == 150  # 150.15
    assert discount.off(Money(1010, "USD")) == 152  # 151.5 rounds up
    assert (
        Discount("a", DiscountKind.COUPON, "A", amount_off=Money(500, "USD")).off(Money(300, "USD"))
        == 300
    )  # never more than the price


def test_a_discount_limited_to_intervals_applies_to_those_plans_only() -> None:
    annual = Discount("a", DiscountKind.COUPON, "A", percent_off=20, intervals=(Interval.YEAR,))
    assert annual.applies_to("pro", None, Interval.YEAR)
    assert not annual.applies_to("pro", None, Interval.MONTH)
    assert not annual.applies_to(None, "small", None)
    packs_only = Discount("p", DiscountKind.COUPON, "P", percent_off=5, packs=("small",))
    assert packs_only.applies_to(None, "small", None)
    assert not packs_only.applies_to("pro", None, Interval.MONTH)


def test_an_owner_of_three_workspaces_gets_the_volume_discount(kit: CreditKit) -> None:
    _agency(kit, 3)
    session = kit.checkout("ws0", plan="pro", idempotency_key="k1", **URLS)
    assert session.amount == Money(2465, "USD")  # 2900 less 15% (435)
    assert session.lines[1] == ReceiptLine("Agency (15% off)", -435)


def test_two_workspaces_are_not_an_agency(kit: CreditKit) -> None:
    _agency(kit, 2)
    session = kit.checkout("ws0", plan="pro", idempotency_key="k1", **URLS)
    assert session.amount == Money(2900, "USD")


def test_the_coupon_applies_after_the_volume_discount(kit: CreditKit) -> None:
    _agency(kit, 3)
    session = kit.checkout(
        "ws0", plan="pro", interval="year", coupon="annual", idempotency_key="k1", **URLS
    )
    # 27800 less 15% (4170) = 23630, less 20% (4726) = 18904.
    assert [line.amount_minor for line in session.lines] == [27800, -4170, -4726]
    assert session.amount == Money(18904, "USD")


def test_a_coupon_is_redeemed_once_per_checkout_and_given_back_on_failure(
    kit: CreditKit,
) -> None:
    first = kit.checkout(
        "alice", plan="pro", interval="year", coupon="annual", idempotency_key="k1", **URLS
    )
    kit.checkout(
        "alice", plan="pro", interval="year", coupon="annual", idempotency_key="k1", **URLS
    )
    assert _redeemed(kit, "annual") == 1
    with pytest.raises(CouponNotApplicable) as raised:
        kit.checkout(
            "bob", plan="pro", interval="year", coupon="annual", idempotency_key="k2", **URLS
        )
    assert raised.value.coupon_reason == "is fully redeemed"
    kit.complete_sandbox_checkout(first.session_id, card=CARD_DECLINED)
    assert _redeemed(kit, "annual") == 0
    with pytest.raises(CheckoutClosed):  # paying it again gives nothing back
        kit.complete_sandbox_checkout(first.session_id, card=CARD_DECLINED)
    assert _redeemed(kit, "annual") == 0
    second = kit.checkout(
        "bob", plan="pro", interval="year", coupon="annual", idempotency_key="k2", **URLS
    )
    kit.complete_sandbox_checkout(second.session_id)
    assert _redeemed(kit, "annual") == 1


def test_an_expired_coupon_is_refused(kit: CreditKit, clock: ManualClock) -> None:
    with pytest.raises(CouponNotApplicable) as raised:
        kit.checkout("alice", pack="small", coupon="lapsed", idempotency_key="k1", **URLS)
    assert "expired" in raised.value.coupon_reason


@pytest.mark.postgres
def test_two_customers_racing_for_the_last_redemption_get_one(
    catalog: Catalog, postgres_url: str
) -> None:
    kits = [CreditKit(postgres_url, catalog=catalog) for _ in range(2)]
    try:
        for index, kit in enumerate(kits):
            kit.create_customer(f"racer{index}")
        outcomes: list[object] = []
        barrier = threading.Barrier(2)

        def race(index: int) -> None:
            barrier.wait()
            try:
                outcomes.append(
                    kits[index].checkout(
                        f"racer{index}",
                        plan="pro",
                        interval="year",
                        coupon="annual",
                        idempotency_key=f"race-{index}",
                        **URLS,
                    )
                )
            except CouponNotApplicable as error:
                outcomes.append(error)

        threads = [threading.Thread(target=race, args=(index,)) for index in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(type(outcome).__name__ for outcome in outcomes) == [
            "CheckoutSession", "CouponNotApplicable",
        ]  # fmt: skip
        assert _redeemed(kits[0], "annual") == 1
    finally:
        for kit in kits:
            kit.close()
