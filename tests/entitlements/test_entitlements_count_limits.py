"""Count limits (live things): acquire and release_resource, idempotent per resource, refused at
the cap with the plan that would allow it, uncapped where the plan says unlimited or is silent."""

from collections.abc import Callable

import pytest

from creditkit import CreditKit, InvalidRequest, UnknownCustomer
from creditkit.catalog import UNLIMITED, LimitKind
from creditkit.entitlements import Decision, LimitUsage, Reason


def usage(kit: CreditKit, customer: str, name: str) -> LimitUsage:
    found = [item for item in kit.usage_of_limits(customer) if item.name == name]
    assert len(found) == 1
    return found[0]


def test_acquire_counts_up_to_the_cap_then_refuses_with_an_upgrade(kit: CreditKit) -> None:
    assert kit.acquire("u1", "tasks", "t1") == Decision(True, Reason.WITHIN_LIMIT, None, 1, 1)
    refused = kit.acquire("u1", "tasks", "t2")
    assert refused == Decision(False, Reason.LIMIT_REACHED, "plus", 1, 1)
    assert usage(kit, "u1", "tasks") == LimitUsage("tasks", LimitKind.COUNT, 1, 1)


def test_acquiring_the_same_resource_again_counts_once(kit: CreditKit) -> None:
    kit.change_plan("u1", "plus")
    kit.acquire("u1", "tasks", "t1")
    again = kit.acquire("u1", "tasks", "t1")
    assert again == Decision(True, Reason.ALREADY_COUNTED, None, 1, 5)
    assert usage(kit, "u1", "tasks").used == 1


def test_a_held_resource_is_allowed_at_the_cap(kit: CreditKit) -> None:
    kit.acquire("u1", "tasks", "t1")
    assert kit.acquire("u1", "tasks", "t1").allowed


def test_release_frees_the_slot_and_is_harmless_twice(kit: CreditKit) -> None:
    kit.acquire("u1", "tasks", "t1")
    assert kit.release_resource("u1", "tasks", "t1") is True
    assert kit.release_resource("u1", "tasks", "t1") is False
    assert kit.release_resource("u1", "tasks", "never-acquired") is False
    assert usage(kit, "u1", "tasks").used == 0
    assert kit.acquire("u1", "tasks", "t2").allowed


def test_resources_are_counted_per_customer_and_per_limit(kit: CreditKit) -> None:
    assert kit.acquire("u1", "tasks", "same").allowed
    assert kit.acquire("u2", "tasks", "same").allowed
    assert kit.acquire("u1", "projects", "same").allowed
    kit.release_resource("u1", "projects", "same")
    assert usage(kit, "u1", "tasks").used == 1
    assert usage(kit, "u2", "tasks").used == 1


def test_unlimited_always_allows_and_still_counts(kit: CreditKit) -> None:
    kit.change_plan("u1", "max")
    for number in range(1, 26):
        decision = kit.acquire("u1", "tasks", f"t{number}")
        assert decision == Decision(True, Reason.UNLIMITED, None, number, UNLIMITED)
    assert usage(kit, "u1", "tasks").used == 25


def test_the_suggestion_is_the_lowest_plan_above_whose_cap_allows_it(kit: CreditKit) -> None:
    kit.change_plan("u1", "plus")
    for number in range(2):
        assert kit.acquire("u1", "projects", f"p{number}").allowed
    assert kit.acquire("u1", "projects", "p2").upgrade_to == "max"
    kit.change_plan("u1", "max")
    assert kit.acquire("u1", "projects", "p2").allowed
    refused = kit.acquire("u1", "projects", "p3")
    assert (refused.allowed, refused.upgrade_to, refused.used, refused.limit) == (
        False,
        None,
        3,
        3,
    )


def test_a_limit_of_zero_allows_nothing(kit: CreditKit) -> None:
    assert kit.acquire("u1", "integrations", "slack") == Decision(
        False, Reason.LIMIT_REACHED, "plus", 0, 0
    )


def test_a_limit_the_plan_does_not_name_is_not_capped(kit: CreditKit) -> None:
    kit.acquire("u1", "webhooks", "h1")
    kit.acquire("u1", "webhooks", "h2")
    # Free caps webhooks at 2; Plus does not name them, so Plus is the plan that allows a 3rd.
    assert kit.acquire("u1", "webhooks", "h3").upgrade_to == "plus"
    kit.change_plan("u1", "plus")
    assert kit.acquire("u1", "webhooks", "h3") == Decision(
        True, Reason.UNLIMITED, None, 3, UNLIMITED
    )
    assert usage(kit, "u1", "webhooks") == LimitUsage("webhooks", LimitKind.COUNT, 3, UNLIMITED)


def test_a_refusal_writes_nothing(kit: CreditKit) -> None:
    kit.acquire("u1", "tasks", "t1")
    for attempt in range(3):
        assert not kit.acquire("u1", "tasks", f"x{attempt}").allowed
    kit.change_plan("u1", "plus")
    assert kit.acquire("u1", "tasks", "t2").used == 2


def test_limits_are_checked_by_name_and_kind(kit: CreditKit) -> None:
    cases: list[tuple[Callable[[], object], str, str]] = [
        (lambda: kit.acquire("u1", "teleports", "t1"), "limit", "unknown limit"),
        (lambda: kit.acquire("u1", "posts", "p1"), "limit", "use track"),
        (lambda: kit.release_resource("u1", "posts", "p1"), "limit", "use track"),
        (lambda: kit.acquire("w1", "team_members", "u2"), "limit", "add_member"),
        (lambda: kit.release_resource("w1", "team_members", "u2"), "limit", "add_member"),
        (lambda: kit.acquire("u1", "tasks", ""), "resource_id", "non-empty"),
        (lambda: kit.acquire("u1", "tasks", "t" * 256), "resource_id", "at most"),
        (lambda: kit.acquire("u1", "", "t1"), "limit", "non-empty"),
    ]
    for call, field, reason in cases:
        with pytest.raises(InvalidRequest) as raised:
            call()
        assert raised.value.field == field
        assert reason in raised.value.reason
    with pytest.raises(UnknownCustomer):
        kit.acquire("nobody", "tasks", "t1")


def test_usage_lists_every_limit_in_the_catalogs_order(kit: CreditKit) -> None:
    names = [item.name for item in kit.usage_of_limits("u1")]
    assert names == [
        "tasks",
        "projects",
        "webhooks",
        "integrations",
        "posts",
        "exports",
        "team_members",
    ]
    kit.change_plan("u1", "plus")
    plus = {item.name: item.limit for item in kit.usage_of_limits("u1")}
    assert list(plus) == names
    # Not named by Plus: uncapped.
    assert plus["webhooks"] is UNLIMITED and plus["exports"] is UNLIMITED
    assert kit.over_limit("u1") == []
