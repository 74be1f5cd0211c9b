"""``metered_tokens`` holds the price of a model call's request, grows the hold while the
answer streams, commits the usage the provider reports (debt only when allowed) and releases a
call that produced nothing; the same on ``CreditKit`` and on ``Client``, on both databases.

The catalog prices ``house-model`` at 1 credit an input token and 2 an output token."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from creditkit import (
    CreditKit,
    HoldStatus,
    InsufficientCredits,
    InvalidRequest,
    ManualClock,
    TransactionKind,
)
from creditkit.client import Client
from creditkit.client.testing import serve_in_thread
from creditkit.keys.schemas import Scope
from creditkit.metering.metered_tokens import TOKEN_METER_EXTENDS_MAX, TokenLedger
from creditkit.server import create_app

CATALOG = Path(__file__).with_name("tokens_catalog.yaml")
REQUEST = {"model": "house-model", "input_tokens": 10, "output_tokens": 20}  # 10 + 40 credits


class StreamBroke(Exception):
    pass


@pytest.fixture
def kit(database_url: str, clock: ManualClock) -> Iterator[CreditKit]:
    kit = CreditKit(database_url, catalog=CATALOG, clock=clock)
    kit.create_customer("ada")  # 200 credits, the free plan's allowance
    yield kit
    kit.close()


@pytest.fixture(params=["embedded", "client"])
def ledger(request: pytest.FixtureRequest, kit: CreditKit) -> Iterator[TokenLedger]:
    """The kit itself, or a Client of it served over real HTTP."""
    if request.param == "embedded":
        yield kit
        return
    secret = kit.keys.create_key("token meter tests", Scope.ADMIN).secret
    with serve_in_thread(create_app(kit)) as base_url, Client(base_url, secret) as client:
        yield client


def _commits(kit: CreditKit) -> list[Decimal]:
    return [
        Decimal(item.amount)
        for item in kit.history("ada").items
        if item.kind is TransactionKind.COMMIT
    ]


def test_the_request_is_held_and_the_reported_usage_charged(
    ledger: TokenLedger, kit: CreditKit
) -> None:
    with ledger.metered_tokens("ada", "chat", REQUEST) as meter:
        assert meter.hold is not None and meter.hold.amount == 50
        assert kit.balance("ada").available == 150
        for _token in range(12):
            meter.seen()
        meter.usage = {"input_tokens": 10, "output_tokens": 12}
    assert meter.extends == 0
    assert meter.charge is not None and meter.charge.amount == 34
    assert kit.hold(meter.hold.id).status is HoldStatus.COMMITTED
    assert kit.balance("ada").available == 166


def test_the_hold_grows_as_the_stream_passes_it(ledger: TokenLedger, kit: CreditKit) -> None:
    with ledger.metered_tokens("ada", "chat", REQUEST, extend_tokens=10) as meter:
        for _token in range(19):
            meter.seen()
        assert meter.extends == 0  # 19 of the 20 held
        meter.seen()
        assert meter.hold is not None and meter.hold.amount == 70  # 30 output tokens now
        assert kit.balance("ada").available == 130
        meter.seen(25)  # 45: two steps more (to 50), in one extend
        assert (meter.extends, meter.output_tokens_held, meter.hold.amount) == (2, 50, 110)
        meter.usage = {"input_tokens": 10, "output_tokens": 45}
    assert meter.charge is not None and meter.charge.amount == 100
    assert kit.balance("ada").available == 100


def test_each_growth_pushes_the_timeout(
    ledger: TokenLedger, kit: CreditKit, clock: ManualClock
) -> None:
    with ledger.metered_tokens(
        "ada", "chat", REQUEST, extend_tokens=10, timeout_seconds=60
    ) as meter:
        clock.advance(seconds=50)
        meter.seen(20)
        assert meter.hold is not None
        assert meter.hold.expires_at == clock() + timedelta(seconds=60)
        clock.advance(seconds=50)  # 100 s into a hold first timed for 60
        meter.usage = {"input_tokens": 10, "output_tokens": 25}
    assert meter.charge is not None and meter.charge.amount == 60


def test_openai_and_anthropic_usage_objects_are_taken_as_they_come(
    ledger: TokenLedger, kit: CreditKit
) -> None:
    openai = {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 4},
    }
    with ledger.metered_tokens("ada", "chat", REQUEST) as meter:
        meter.usage = openai
    # 6 uncached input tokens, 4 read from the cache at 0.1, 5 output tokens.
    assert meter.charge is not None and meter.charge.amount == Decimal("16.4")
    anthropic = {"input_tokens": 6, "cache_read_input_tokens": 4, "output_tokens": 5}
    with ledger.metered_tokens("ada", "chat", REQUEST) as meter:
        meter.usage = anthropic
    assert meter.charge is not None and meter.charge.amount == Decimal("16.4")


def test_without_a_final_usage_the_tokens_seen_are_charged(
    ledger: TokenLedger, kit: CreditKit
) -> None:
    with ledger.metered_tokens("ada", "chat", REQUEST) as meter:
        meter.seen(7)
    assert meter.charge is not None and meter.charge.amount == 10 + 14


def test_a_call_that_fails_before_any_output_is_released(
    ledger: TokenLedger, kit: CreditKit
) -> None:
    with pytest.raises(StreamBroke), ledger.metered_tokens("ada", "chat", REQUEST) as meter:
        raise StreamBroke
    assert meter.released and meter.hold is not None
    assert kit.hold(meter.hold.id).status is HoldStatus.RELEASED
    assert kit.balance("ada").available == 200


def test_a_stream_that_breaks_is_charged_for_what_it_streamed(
    ledger: TokenLedger, kit: CreditKit
) -> None:
    with pytest.raises(StreamBroke), ledger.metered_tokens("ada", "chat", REQUEST) as meter:
        meter.seen(3)
        raise StreamBroke  # the provider bills the three tokens it sent
    assert meter.charge is not None and meter.charge.amount == 16
    assert kit.balance("ada").available == 184


def test_an_extend_the_customer_cannot_cover_stops_the_stream(
    ledger: TokenLedger, kit: CreditKit
) -> None:
    big = {**REQUEST, "output_tokens": 80}  # 170 of the 200 held
    with (
        pytest.raises(InsufficientCredits),
        ledger.metered_tokens("ada", "chat", big, extend_tokens=20) as meter,
    ):
        for _token in range(200):
            meter.seen()  # at 80 seen, 40 more credits are needed: 30 are left
    assert meter.output_tokens_seen == 80
    assert meter.charge is not None and meter.charge.amount == 170
    assert kit.balance("ada").available == 30


def test_usage_above_the_hold_extends_it_at_commit(ledger: TokenLedger, kit: CreditKit) -> None:
    with ledger.metered_tokens("ada", "chat", REQUEST) as meter:
        meter.usage = {"input_tokens": 30, "output_tokens": 20}  # the prompt was longer
    assert meter.charge is not None and meter.charge.amount == 70
    assert meter.uncovered == 0
    assert kit.balance("ada").available == 130


def test_usage_the_customer_cannot_cover_takes_the_hold_without_debt(
    ledger: TokenLedger, kit: CreditKit
) -> None:
    kit.charge("ada", 120, idempotency_key="before")  # 80 left
    with ledger.metered_tokens("ada", "chat", REQUEST) as meter:
        meter.usage = {"input_tokens": 10, "output_tokens": 50}  # 110
    assert meter.charge is not None and meter.charge.amount == 50  # what the hold held
    assert meter.uncovered == 60
    assert kit.balance("ada").available == 30
    assert kit.balance("ada").debt == 0
    [commit] = [i for i in kit.history("ada").items if i.kind is TransactionKind.COMMIT]
    assert Decimal(commit.metadata["uncovered"]) == 60
    assert commit.metadata["token_price"]["tokens"]["output"] == 50  # what it would have cost


def test_usage_the_customer_cannot_cover_is_owed_when_debt_is_allowed(
    ledger: TokenLedger, kit: CreditKit
) -> None:
    kit.set_debt_limit("ada", 100, idempotency_key="limit")
    kit.charge("ada", 120, idempotency_key="before")  # 80 left
    with ledger.metered_tokens("ada", "chat", REQUEST, allow_debt=True) as meter:
        meter.usage = {"input_tokens": 10, "output_tokens": 50}  # 110
    assert meter.charge is not None and meter.charge.amount == 110
    assert meter.uncovered == 0
    assert kit.balance("ada").available == 0
    assert kit.balance("ada").debt == 30


def test_past_the_debt_limit_the_hold_is_taken_and_the_rest_unbilled(
    ledger: TokenLedger, kit: CreditKit
) -> None:
    kit.set_debt_limit("ada", 10, idempotency_key="limit")
    kit.charge("ada", 120, idempotency_key="before")  # 80 left
    with ledger.metered_tokens("ada", "chat", REQUEST, allow_debt=True) as meter:
        meter.usage = {"input_tokens": 10, "output_tokens": 50}  # 110: 30 past the 80
    assert meter.charge is not None and meter.charge.amount == 50
    assert meter.uncovered == 60
    assert kit.balance("ada").debt == 0


def test_one_key_bills_the_call_once(ledger: TokenLedger, kit: CreditKit) -> None:
    for _run in range(2):
        with ledger.metered_tokens(
            "ada", "chat", REQUEST, idempotency_key="call-7", extend_tokens=5
        ) as meter:
            meter.seen(25)
            meter.usage = {"input_tokens": 10, "output_tokens": 25}
    assert kit.recorded("call-7:reserve") and kit.recorded("call-7:extend:1")
    assert _commits(kit) == [60]
    assert kit.balance("ada").available == 140


def test_extends_are_bounded(ledger: TokenLedger, kit: CreditKit) -> None:
    kit.grant("ada", 10_000, idempotency_key="more")
    small = {**REQUEST, "output_tokens": 1}
    with (
        pytest.raises(InvalidRequest, match="extend_tokens"),
        ledger.metered_tokens("ada", "chat", small) as meter,
    ):
        for _token in range(TOKEN_METER_EXTENDS_MAX + 2):
            meter.seen()
    assert meter.extends == TOKEN_METER_EXTENDS_MAX
    assert meter.charge is not None  # what streamed is charged


@pytest.mark.parametrize(
    ("request_usage", "field"),
    [
        ({"input_tokens": 1, "output_tokens": 2}, "usage.model"),
        ({"model": "house-model", "input_tokens": 1}, "usage.output_tokens"),
        ({"model": "house-model", "input_tokens": 1, "output_tokens": 0}, "usage.output_tokens"),
        ({"model": "house-model", "input_tokens": -1, "output_tokens": 2}, "usage.input_tokens"),
        ({"model": "house-model", "input_tokens": 1, "output_tokens": 2.5}, "usage.output_tokens"),
    ],
)
def test_a_bad_request_usage_names_its_field(
    ledger: TokenLedger, kit: CreditKit, request_usage: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        ledger.metered_tokens("ada", "chat", request_usage)
    assert refused.value.field == field
    assert kit.balance("ada").held == 0
