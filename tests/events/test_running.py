"""The NATS client's coroutines run from synchronous code even where the calling thread's event
loop is running (a host app's, or Playwright's sync API in the same process)."""

from __future__ import annotations

import asyncio

import pytest

from creditkit.events.running import run_to_end


async def _answer(value: int) -> int:
    await asyncio.sleep(0)
    return value


async def _fail() -> int:
    await asyncio.sleep(0)
    raise ValueError("from the coroutine")


def test_without_a_running_loop_the_coroutine_runs_here() -> None:
    assert run_to_end(_answer(7)) == 7


def test_inside_a_running_loop_the_coroutine_runs_on_its_own_thread() -> None:
    async def host() -> int:
        return run_to_end(_answer(11))  # a synchronous call made while this loop runs

    # run_to_end here too: this thread may itself run a loop already (Playwright's, when the
    # browser tests ran first in this worker), where asyncio.run would refuse.
    assert run_to_end(host()) == 11


def test_its_error_reaches_the_caller() -> None:
    async def host() -> int:
        return run_to_end(_fail())

    with pytest.raises(ValueError, match="from the coroutine"):
        run_to_end(host())
