"""``Client`` over real HTTP returns exactly what the embedded ``CreditKit`` returns: each write
is compared with the kit's replay of the same idempotency key (the first outcome), each read
with the kit's own read."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from client_helpers import assert_same_error, raised

from creditkit import (
    UNLIMITED,
    BudgetExceeded,
    CheckoutRequired,
    CreditKit,
    CustomerKind,
    Decision,
    HoldStatus,
    InvalidRequest,
    ManualClock,
    Money,
    Reason,
    Role,
)
from creditkit.client import Client
from creditkit.client.errors import ApiError


def test_customers_and_reads_equal_the_kits(client: Client, kit: CreditKit) -> None:
    created = client.create_customer("ada", metadata={"plan_source": "signup"})
    assert created == kit.create_customer("ada")
    assert created.kind is CustomerKind.USER
    assert client.create_customer("ada") == created  # the same id again: the customer
    assert client.customer("ada") == kit.customer("ada")
    assert client.balance("ada") == kit.balance("ada")
    assert client.balance("ada").available == 100  # the free plan's allowance
    assert client.history("ada") == kit.history("ada")
    assert client.subscription("ada") == kit.subscription("ada")
    assert client.billing_lines("ada") == kit.billing_lines("ada")


def test_ledger_writes_equal_the_kits_replays(client: Client, kit: CreditKit) -> None:
    client.create_customer("ada")
    client.create_customer("bob")
    grant = client.grant("ada", 40, idempotency_key="g1", source="promo", metadata={"by": "x"})
    assert grant == kit.grant("ada", 40, idempotency_key="g1", source="promo", metadata={"by": "x"})
    paid = client.grant("ada", 25, idempotency_key="g2", cost_basis=Money(250, "EUR"))
    assert paid == kit.grant("ada", 25, idempotency_key="g2", cost_basis=Money(250, "EUR"))
    assert paid.cost_basis == Money(250, "EUR")
    pack = client.grant_pack("ada", "credits_500", idempotency_key="p1")
    assert pack == kit.grant_pack("ada", "credits_500", idempotency_key="p1")
    assert pack.cost_basis is not None and pack.cost_basis.amount_minor == 500

    charge = client.charge("ada", action="image_generation", quantity=2, idempotency_key="c1")
    assert charge == kit.charge("ada", action="image_generation", quantity=2, idempotency_key="c1")
    assert charge.amount == 20

    hold = client.reserve("ada", 30, idempotency_key="r1", action="chat_message")
    assert hold == kit.reserve("ada", 30, idempotency_key="r1", action="chat_message")
    committed = client.commit(hold.id, 12, idempotency_key="k1")
    assert committed == kit.commit(hold.id, 12, idempotency_key="k1")
    assert client.hold(hold.id) == kit.hold(hold.id)
    assert client.hold(hold.id).amount_committed == 12

    other = client.reserve("ada", 5, idempotency_key="r2")
    released = client.release(other.id, idempotency_key="x2")
    assert released == kit.release(other.id, idempotency_key="x2")
    assert released.status is HoldStatus.RELEASED

    transfer = client.transfer("ada", "bob", 100, idempotency_key="t1")
    assert transfer == kit.transfer("ada", "bob", 100, idempotency_key="t1")

    page = client.history("ada", limit=3)
    assert page == kit.history("ada", limit=3)
    assert page.next_cursor is not None
    assert client.history("ada", cursor=page.next_cursor) == kit.history(
        "ada", cursor=page.next_cursor
    )
    assert client.balance("ada") == kit.balance("ada")


def test_amounts_with_decimal_places_stay_exact(client: Client, kit: CreditKit) -> None:
    client.create_customer("ada")
    grant = client.grant("ada", "12.50", unit="usd", idempotency_key="g1")
    assert grant.amount == Decimal("12.50") and isinstance(grant.amount, Decimal)
    charge = client.charge("ada", Decimal("0.05"), unit="usd", idempotency_key="c1")
    assert charge == kit.charge("ada", Decimal("0.05"), unit="usd", idempotency_key="c1")
    priced = client.charge("ada", action="gpu_second", quantity=3, idempotency_key="c2")
    assert priced.amount == Decimal("0.15")
    balance = client.balance("ada", unit="usd")
    assert balance == kit.balance("ada", unit="usd")
    assert balance.available == Decimal("12.30")


def test_expiring_and_future_grants_cross_with_their_times(client: Client, kit: CreditKit) -> None:
    client.create_customer("ada")
    now = kit.now()
    grant = client.grant(
        "ada",
        7,
        idempotency_key="g1",
        effective_at=now + timedelta(days=1),
        expires_at=now + timedelta(days=30),
        priority=5,
        transferable=False,
    )
    assert grant.expires_at == now + timedelta(days=30)
    assert grant == kit.grant(
        "ada",
        7,
        idempotency_key="g1",
        effective_at=now + timedelta(days=1),
        expires_at=now + timedelta(days=30),
        priority=5,
        transferable=False,
    )
    assert client.balance("ada").upcoming == kit.balance("ada").upcoming


def test_subscriptions_equal_the_kits(client: Client, kit: CreditKit) -> None:
    client.create_customer("ada")
    client.create_customer("cy", subscribe=False)
    assert client.subscription("cy") is None
    upgraded = client.change_plan("ada", "pro")
    assert upgraded == kit.subscription("ada")
    assert upgraded.plan == "pro"
    assert client.billing_lines("ada") == kit.billing_lines("ada")
    canceled = client.cancel("ada")
    assert canceled.cancel_at_period_end
    assert canceled == kit.subscription("ada")
    # The engine's rule, raised as the kit raises it: a priced plan nobody collects.
    remote = raised(lambda: client.subscribe("cy", "pro", interval="year"))
    embedded = raised(lambda: kit.subscribe("cy", "pro", interval="year"))
    assert isinstance(embedded, CheckoutRequired)
    assert_same_error(remote, embedded)
    subscribed = client.subscribe("cy", "pro", interval="year", collected_elsewhere=True)
    assert subscribed == kit.subscription("cy")


def test_entitlements_and_refusals_are_the_kits_decisions(client: Client, kit: CreditKit) -> None:
    client.create_customer("acme", "workspace")
    for user in ("ada", "bob"):
        client.create_customer(user, subscribe=False)
    assert client.entitled("acme", "images") == kit.entitled("acme", "images")
    assert client.entitled("acme", "images").upgrade_to == "pro"

    assert client.acquire("acme", "agents", "a1").allowed
    assert client.acquire("acme", "agents", "a2").allowed
    refused = client.acquire("acme", "agents", "a3")
    assert refused == kit.acquire("acme", "agents", "a3")
    assert refused == Decision(False, Reason.LIMIT_REACHED, upgrade_to="pro", used=2, limit=2)
    assert client.release_resource("acme", "agents", "a1") is True
    assert client.release_resource("acme", "agents", "a1") is False  # counted no more
    assert kit.release_resource("acme", "agents", "a1") is False
    assert client.acquire("acme", "agents", "a3").allowed

    for post in range(3):
        assert client.track("acme", "scheduled_posts", idempotency_key=f"post-{post}").allowed
    over = client.track("acme", "scheduled_posts", idempotency_key="post-3")
    assert not over.allowed
    assert over == kit.track("acme", "scheduled_posts", idempotency_key="post-3")  # replayed
    assert client.usage_of_limits("acme") == kit.usage_of_limits("acme")

    assert client.quota("acme", "max_file_mb") == 10
    client.change_plan("acme", "pro")
    assert client.quota("acme", "max_file_mb") is UNLIMITED


def test_members_equal_the_kits(client: Client, kit: CreditKit) -> None:
    client.create_customer("acme", "workspace")
    for user in ("ada", "bob", "cy"):
        client.create_customer(user, subscribe=False)
    assert client.add_member("acme", "ada", "owner").allowed
    refused = client.add_member("acme", "bob", "editor")  # the free plan seats one
    assert refused == kit.add_member("acme", "bob", "editor")
    assert not refused.allowed and refused.upgrade_to == "pro"
    client.change_plan("acme", "pro")
    assert client.add_member("acme", "bob", "editor").allowed
    assert client.add_member("acme", "cy", "viewer").allowed
    members = client.transfer_ownership("acme", "bob")
    assert members == kit.members("acme")
    assert [(member.user, member.role) for member in members] == [
        ("bob", Role.OWNER),
        ("ada", Role.ADMIN),
        ("cy", Role.VIEWER),
    ]
    assert client.remove_member("acme", "cy") is True
    assert client.remove_member("acme", "cy") is False  # a member no more
    assert kit.remove_member("acme", "cy") is False
    assert client.members("acme") == kit.members("acme")
    assert [member.user for member in client.members("acme")] == ["bob", "ada"]


def test_member_spend_caps_refuse_as_the_kit_does(client: Client, kit: CreditKit) -> None:
    client.create_customer("acme", "workspace")
    client.create_customer("ada", subscribe=False)
    client.add_member("acme", "ada", "owner")
    client.set_member_spend_cap("acme", "ada", 5)
    client.charge("acme", 5, member="ada", idempotency_key="c1")
    with pytest.raises(BudgetExceeded) as over:
        client.charge("acme", 1, member="ada", idempotency_key="c2")
    with pytest.raises(BudgetExceeded) as embedded:
        kit.charge("acme", 1, member="ada", idempotency_key="c2")
    assert over.value.to_fields() == embedded.value.to_fields()
    assert str(over.value) == str(embedded.value)
    client.set_member_spend_cap("acme", "ada", None)
    assert client.charge("acme", 1, member="ada", idempotency_key="c3").amount == 1


def test_a_session_token_reads_its_own_customer(
    client: Client, kit: CreditKit, base_url: str
) -> None:
    client.create_customer("ada")
    token = client.issue_session("ada", permissions=["read"], ttl_seconds=600)
    assert token.customer == "ada"
    assert token.expires_at == kit.now().replace(microsecond=0) + timedelta(seconds=600)
    with Client(base_url, token.token) as browser:
        assert browser.balance("ada") == kit.balance("ada")
        # Whose the token is, as a browser holding only the token asks (GET /v1/session).
        session = browser.session()
    assert (session.customer, session.expires_at) == ("ada", token.expires_at)
    with pytest.raises(ApiError) as refused:
        client.session()
    assert (refused.value.status, refused.value.problem) == (403, "session_token_required")


def test_a_filtered_history_equals_the_kits(
    client: Client, kit: CreditKit, clock: ManualClock
) -> None:
    client.create_customer("ada")
    client.create_customer("bob")
    client.grant("ada", 30, idempotency_key="g1", source="purchase")
    start = clock()
    for index in range(3):
        clock.advance(hours=1)
        client.charge("ada", action="chat_message", idempotency_key=f"c{index}")
        client.transfer("ada", "bob", 2, idempotency_key=f"t{index}")
    client.transfer("bob", "ada", 1, idempotency_key="back")
    filters_tried = [
        {"kinds": ["transfer"]},
        {"kinds": ["charge", "grant"], "limit": 2},
        {"action": "chat_message"},
        {"start": start + timedelta(hours=2), "end": clock()},
        {"kinds": ["transfer"], "start": start + timedelta(hours=2)},
    ]
    for filters in filters_tried:
        page = client.history("ada", **filters)  # type: ignore[arg-type]
        assert page == kit.history("ada", **filters), filters  # type: ignore[arg-type]
        assert page.items, filters
    gifts = client.history("ada", kinds=["transfer"], limit=2)
    assert [(item.counterparty, item.available_change) for item in gifts.items] == [
        ("bob", 1),
        ("bob", -2),
    ]
    assert gifts.next_cursor is not None
    older = client.history("ada", kinds=["transfer"], cursor=gifts.next_cursor)
    assert older == kit.history("ada", kinds=["transfer"], cursor=gifts.next_cursor)
    assert len(older.items) == 2


@pytest.mark.parametrize(
    "filters",
    [{"kinds": ["gift"]}, {"kinds": "transfer"}, {"kinds": []}, {"start": "yesterday"}],
)
def test_bad_history_filters_are_the_kits_invalid_request(
    client: Client, kit: CreditKit, filters: dict[str, object]
) -> None:
    client.create_customer("ada")
    remote = raised(lambda: client.history("ada", **filters))  # type: ignore[arg-type]
    embedded = raised(lambda: kit.history("ada", **filters))  # type: ignore[arg-type]
    assert isinstance(remote, InvalidRequest)
    assert remote.field == embedded.field  # type: ignore[attr-defined]
    if "kinds" in filters:
        assert_same_error(remote, embedded)
