"""Running the NATS client's coroutines from synchronous code, whatever the calling thread has:
a thread whose event loop is running (a host app's, or a library's such as Playwright's sync API)
cannot ``asyncio.run`` another, so the coroutine then gets a thread and a loop of its own."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_to_end(coroutine: Coroutine[Any, Any, T]) -> T:
    """Runs ``coroutine`` to its end and returns its result (or raises its error)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(asyncio.run(coroutine))
        except BaseException as error:  # carried back to the caller's thread, raised there
            failure.append(error)

    # No timeout here: each coroutine run this way bounds its own waits (connect, request,
    # fetch timeouts), and the caller's thread is blocked only as long as it would be anyway.
    worker = threading.Thread(target=run, name="creditkit-nats", daemon=True)
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    return outcome[0]
