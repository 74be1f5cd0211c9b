"""Putting several callers' writes into one shared transaction, in a known order, for tests.

The writer's leader runs whatever is queued when it starts a transaction. ``OneTransaction``
needs a writer of one lane (``CreditKit(..., writer_lanes=1)``; SQLite's default) and holds it
busy with a write of its own that waits (inside its transaction, writing nothing) until the test
has queued its callers one by one, each in a thread of its own; then it lets go, and the next
leader takes them all, in that order, into one transaction. No test sleeps: every wait is on an
event or a bounded check of the queue, with a generous timeout that turns a hang into a failure.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from creditkit import CreditKit, CreditKitError
from creditkit.ledger.coalescing import CoalescingWriter, Operation

WAIT_TIMEOUT_SECONDS = 60
#: Bound on the checks that a queued caller has reached the queue.
QUEUE_CHECKS_MAX = 10_000_000


def writer_of(ck: CreditKit) -> CoalescingWriter:
    writer = ck._ledger.postings._writer
    assert writer is not None, "group commit is off"
    assert len(writer._lanes) == 1, "one transaction needs one lane: writer_lanes=1"
    return writer


class OneTransaction:
    """``with OneTransaction(ck) as batch: batch.add(lambda: ck.charge(...)); ...`` then
    ``batch.outcomes`` holds each call's return value or the CreditKitError it raised."""

    def __init__(self, ck: CreditKit) -> None:
        self._writer = writer_of(ck)
        self._entered = threading.Event()
        self._release = threading.Event()
        self._threads: list[threading.Thread] = []
        self._results: list[Any] = []
        self.outcomes: list[Any] = []

    def __enter__(self) -> OneTransaction:
        def hold(_connection: Any, _replay: bool) -> None:
            self._entered.set()
            if not self._release.wait(WAIT_TIMEOUT_SECONDS):
                raise TimeoutError("the test never let the writer go")

        def blocker() -> None:
            self._writer.submit(Operation(attempt=hold, alone=lambda: None))

        thread = threading.Thread(target=blocker)
        thread.start()
        self._blocker = thread
        assert self._entered.wait(WAIT_TIMEOUT_SECONDS), "the writer never started the hold"
        return self

    def add(self, call: Callable[[], Any]) -> None:
        """Queues ``call`` behind the ones added before it (it runs in a thread of its own)."""
        index = len(self._results)
        self._results.append(None)

        def run() -> None:
            try:
                self._results[index] = call()
            except CreditKitError as error:
                self._results[index] = error
            except Exception as error:  # a database error reaches its caller as itself
                self._results[index] = error

        queued_before = self._writer.queued()
        thread = threading.Thread(target=run)
        thread.start()
        self._threads.append(thread)
        for _check in range(QUEUE_CHECKS_MAX):
            if self._writer.queued() > queued_before:
                return
            os.sched_yield()
        raise AssertionError("the call never reached the writer's queue")

    def __exit__(self, *exc_info: object) -> None:
        self._release.set()
        self._blocker.join(WAIT_TIMEOUT_SECONDS)
        for thread in self._threads:
            thread.join(WAIT_TIMEOUT_SECONDS)
            assert not thread.is_alive(), "a caller never returned"
        self.outcomes = list(self._results)
