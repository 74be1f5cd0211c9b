"""``metered`` without a unit prices the action from the catalog's action costs, which a
``Client`` reads once per ``ACTION_COSTS_TTL_SECONDS`` rather than on every call."""

from __future__ import annotations

from datetime import timedelta

import httpx
from waiting import Waits

from creditkit import CreditKit, ManualClock
from creditkit.client import Client
from creditkit.client.holds import ACTION_COSTS_TTL_SECONDS

ACTION_COSTS = "/v1/catalog/action-costs"


class Recorded(httpx.BaseTransport):
    """The real transport, recording the path of every request."""

    def __init__(self) -> None:
        self._real = httpx.HTTPTransport()
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return self._real.handle_request(request)


def test_action_costs_are_read_once_per_time_to_live(
    kit: CreditKit, base_url: str, secret: str, waits: Waits, clock: ManualClock
) -> None:
    kit.create_customer("ada")
    kit.grant("ada", "1.00", unit="usd", idempotency_key="g1")
    recorded = Recorded()
    with Client(base_url, secret, transport=recorded, sleep=waits, clock=clock) as client:
        for _call in range(3):
            with client.metered("ada", "image_generation") as meter:
                assert meter.estimate == 10 and meter.unit == "credits"
        assert recorded.paths.count(ACTION_COSTS) == 1
        clock.advance(seconds=ACTION_COSTS_TTL_SECONDS - 1)
        with client.metered("ada", "gpu_second", "0.05") as meter:  # no unit: looked up
            assert meter.unit == "usd"
        assert recorded.paths.count(ACTION_COSTS) == 1
        clock.advance(seconds=1)
        with client.metered("ada", "chat_message"):
            pass
        assert recorded.paths.count(ACTION_COSTS) == 2
        with client.metered("ada", "chat_message", 1, unit="credits"):  # nothing to look up
            pass
        assert recorded.paths.count(ACTION_COSTS) == 2
    assert kit.balance("ada").available == 100 - 3 * 10 - 2


def test_a_clock_set_back_reads_them_again(
    kit: CreditKit, base_url: str, secret: str, waits: Waits
) -> None:
    kit.create_customer("ada")
    recorded = Recorded()
    now = kit.now()
    times = iter([now, now - timedelta(seconds=1)])
    with Client(
        base_url, secret, transport=recorded, sleep=waits, clock=lambda: next(times)
    ) as client:
        for _call in range(2):
            with client.metered("ada", "chat_message"):
                pass
    assert recorded.paths.count(ACTION_COSTS) == 2
