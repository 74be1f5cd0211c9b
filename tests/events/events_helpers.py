"""What the events tests share: the keys a customer's charges carry (in their metadata, as the
events that made them said), and a worker run in a thread until a condition holds."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from creditkit import CreditKit
from creditkit.events.worker import IngestWorker

#: How long a test waits for its workers to reach what it expects, in seconds, at most.
WAIT_SECONDS_MAX = 60.0


def charged_keys(kit: CreditKit, customer: str) -> Counter[str]:
    """How many charges of ``customer`` carry each event key (``metadata["key"]``)."""
    counts: Counter[str] = Counter()
    cursor: str | None = None
    for _page in range(1_000):
        page = kit.history(customer, limit=200, cursor=cursor, kinds=["charge"])
        counts.update(str(item.metadata["key"]) for item in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return counts
    raise AssertionError("more than 1,000 pages of history")


def wait_until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS_MAX
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_SECONDS_MAX} s: {what}")
        time.sleep(0.05)


@contextmanager
def running(workers: list[IngestWorker]) -> Iterator[list[IngestWorker]]:
    """The workers, each in a thread of its own, stopped (and joined) at the block's end."""
    stop = threading.Event()
    threads = [threading.Thread(target=worker.run, args=(stop,)) for worker in workers]
    for thread in threads:
        thread.start()
    try:
        yield workers
    finally:
        stop.set()
        for thread in threads:
            thread.join(WAIT_SECONDS_MAX)
