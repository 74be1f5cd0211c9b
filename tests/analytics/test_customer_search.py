"""kit.customers: the console's customer search. Ids containing the search (any case, wildcards
matching themselves), newest first, in pages with an opaque cursor; each with its kind, plan and
available credits as ``balance`` gives them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from analytics_support import START

from creditkit import CreditKit, InvalidRequest, ManualClock, UnknownUnit
from creditkit.analytics import CustomerOverview
from creditkit.ledger.schemas import CustomerKind

IDS = ("a%b", "A%B-upper", "axb", "a_b", "aab", "100%_done", "path/to\\x", "ab")


@pytest.fixture
def listed(kit: CreditKit, clock: ManualClock) -> CreditKit:
    """The ``IDS`` in order, a second apart, on Free (100 credits)."""
    for customer in IDS:
        kit.create_customer(customer)
        clock.advance(seconds=1)
    return kit


def ids(kit: CreditKit, search: str | None, limit: int = 50) -> list[str]:
    return [item.id for item in kit.customers(search=search, limit=limit).items]


def test_every_customer_newest_first_with_kind_plan_and_credits(
    kit: CreditKit, clock: ManualClock
) -> None:
    kit.create_customer("user-1")
    clock.advance(minutes=1)
    kit.create_customer("team-1", "workspace")
    kit.subscribe("team-1", "team", collected_elsewhere=True)
    kit.grant_pack("team-1", "credits_500", idempotency_key="pack")
    clock.advance(minutes=1)
    kit.create_customer("member-1", subscribe=False)
    kit.charge("user-1", action="chat_message", quantity=30, idempotency_key="chat")

    page = kit.customers()

    assert page.items == (
        CustomerOverview("member-1", CustomerKind.USER, START + timedelta(minutes=2), None, 0),
        # Free's 100, raised to Team's 10,000 by the upgrade, and the pack's 500.
        CustomerOverview(
            "team-1", CustomerKind.WORKSPACE, START + timedelta(minutes=1), "team", 10_000 + 500
        ),
        CustomerOverview("user-1", CustomerKind.USER, START, "free", 70),
    )
    assert page.next_cursor is None
    for item in page.items:
        assert item.available == kit.balance(item.id).available


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("%", ["100%_done", "A%B-upper", "a%b"]),
        ("_", ["100%_done", "a_b"]),
        ("a%b", ["A%B-upper", "a%b"]),  # any case, and % is no wildcard
        ("A_B", ["a_b"]),  # _ is no wildcard: not aab, axb
        ("/", ["path/to\\x"]),  # the escape character itself
        ("\\", ["path/to\\x"]),
        ("ab", ["ab", "aab"]),
        ("B-UP", ["A%B-upper"]),
        ("", list(reversed(IDS))),
        ("zzz", []),
    ],
)
def test_search_is_a_case_insensitive_substring_without_wildcards(
    listed: CreditKit, search: str, expected: list[str]
) -> None:
    assert ids(listed, search) == expected


@pytest.mark.parametrize(("search", "limit"), [(None, 3), (None, 1), ("a", 2), ("%", 2)])
def test_pages_cover_every_match_once_in_order(
    listed: CreditKit, search: str | None, limit: int
) -> None:
    everything = ids(listed, search)
    seen: list[str] = []
    cursor = None
    for _page in range(len(IDS) + 1):
        page = listed.customers(search=search, limit=limit, cursor=cursor)
        assert len(page.items) <= limit
        seen.extend(item.id for item in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
        assert len(page.items) == limit
    assert seen == everything
    assert len(everything) > limit  # so that there were several pages


def test_a_page_ends_exactly_at_the_last_customer(listed: CreditKit) -> None:
    first = listed.customers(limit=len(IDS) - 1)
    assert first.next_cursor is not None
    last = listed.customers(limit=1, cursor=first.next_cursor)
    assert [item.id for item in last.items] == [IDS[0]]
    assert last.next_cursor is None
    assert listed.customers(limit=len(IDS)).next_cursor is None


def test_a_customer_created_meanwhile_does_not_shift_the_pages(
    listed: CreditKit,
) -> None:
    first = listed.customers(limit=4)
    listed.create_customer("newcomer")
    rest = listed.customers(limit=50, cursor=first.next_cursor)
    assert [item.id for item in (*first.items, *rest.items)] == list(reversed(IDS))


def test_credits_are_as_balance_says_after_due_work(kit: CreditKit, clock: ManualClock) -> None:
    """A hold timed out and a month renewed since anyone touched the customer: the listing does
    that due work first, as ``balance`` would."""
    kit.create_customer("sleeper")
    kit.charge("sleeper", action="chat_message", quantity=60, idempotency_key="chat")
    kit.reserve("sleeper", 30, timeout_seconds=3600, idempotency_key="hold")
    clock.advance(days=40)  # the hold timed out, and the allowance renewed on Apr 1

    [item] = kit.customers().items

    assert item.available == 100
    assert kit.balance("sleeper").available == 100


def test_the_unit_may_be_named(kit: CreditKit) -> None:
    kit.create_customer("u1")
    assert kit.customers(unit="credits").items[0].available == 100
    with pytest.raises(UnknownUnit):
        kit.customers(unit="coins")


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": True}, "limit"),
        ({"limit": "5"}, "limit"),
        ({"cursor": "t12"}, "cursor"),
        ({"cursor": "c"}, "cursor"),
        ({"cursor": "c-1"}, "cursor"),
        ({"cursor": "c12a"}, "cursor"),
        ({"cursor": "c\u0661\u0662"}, "cursor"),  # digits, but not ASCII ones
        ({"cursor": "c" + "9" * 30}, "cursor"),  # beyond any id
        ({"cursor": 12}, "cursor"),
        ({"search": 5}, "search"),
        ({"search": "a\x00b"}, "search"),
        ({"search": "a" * 256}, "search"),
    ],
)
def test_bad_input_is_refused_naming_its_field(
    listed: CreditKit, arguments: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        listed.customers(**arguments)
    assert raised.value.field == field


def test_the_largest_page_and_search_are_accepted(listed: CreditKit) -> None:
    assert len(listed.customers(limit=200).items) == len(IDS)
    assert listed.customers(search="a" * 255).items == ()
