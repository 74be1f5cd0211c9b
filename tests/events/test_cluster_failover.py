"""Three JetStream nodes on loopback (file storage, ``sync_interval: always``), the stream's
leader killed with SIGKILL while a publisher sends events and two ingest workers charge them on
PostgreSQL. The publisher retries a batch that got no acknowledgement with the same keys (as a
client retries a 503). Afterwards: every acknowledged event charged exactly once, no event
charged that the publisher did not send and see acknowledged, the audit clean."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from events_helpers import WAIT_SECONDS_MAX, charged_keys, running, wait_until

from creditkit import CreditKit
from creditkit.events.errors import EventsUnavailable
from creditkit.events.nodes import LocalNodes
from creditkit.events.publisher import EventPublisher
from creditkit.events.stream import STREAM
from creditkit.events.worker import IngestWorker
from creditkit.server.serve import example_catalog

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

EVENTS = 1_500
BATCH = 25
#: Attempts of one batch at most, a quarter of a second apart (as a client that honours
#: ``Retry-After``, sooner): a publisher that never gets an acknowledgement gives up.
ATTEMPTS_MAX = 240


class Publisher:
    """Publishes ``EVENTS`` events in batches, each retried with the same keys until the stream
    acknowledges it; records what it sent and what was acknowledged."""

    def __init__(self, servers: tuple[str, ...]) -> None:
        self._servers = servers
        self.sent: set[str] = set()
        self.acknowledged: set[str] = set()
        self.retries: Counter[str] = Counter()
        self.gave_up: list[str] = []

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        publisher = EventPublisher(self._servers, timeout_seconds=2.0)
        try:
            for start in range(0, EVENTS, BATCH):
                keys = [f"ev-{n}" for n in range(start, start + BATCH)]
                events = [
                    {"customer": "u1", "action": "chat_message", "idempotency_key": key,
                     "metadata": {"key": key}}
                    for key in keys
                ]  # fmt: skip
                await self._publish(publisher, keys, events)
        finally:
            await publisher.close()

    async def _publish(
        self, publisher: EventPublisher, keys: list[str], events: list[dict]
    ) -> None:  # type: ignore[type-arg]
        for _attempt in range(ATTEMPTS_MAX):
            self.sent.update(keys)
            try:
                await publisher.publish(events)
            except EventsUnavailable as error:
                self.retries[error.reason.split("(")[0][:40]] += 1
                await asyncio.sleep(0.25)
                continue
            self.acknowledged.update(keys)
            return
        self.gave_up.extend(keys)


async def _stream_leader(servers: tuple[str, ...]) -> str:
    connection = await nats.connect(servers=list(servers))
    try:
        info = await connection.jetstream().stream_info(STREAM)
    finally:
        await connection.close()
    if info.cluster is None or info.cluster.leader is None:
        raise AssertionError(f"the stream has no leader: {info}")
    return info.cluster.leader


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[LocalNodes]:
    with LocalNodes(tmp_path / "nats", 3) as started:
        yield started


def _nothing_pending(worker: IngestWorker) -> bool:
    """Whether the consumers have nothing pending; while the killed node's streams and
    consumers elect new leaders the lag read answers ``EventsUnavailable`` (an operator's 503),
    which is "not yet", not a failure: ``wait_until`` bounds the wait."""
    try:
        return worker.lag().pending == 0
    except EventsUnavailable:
        return False


def test_a_node_killed_while_publishing_loses_and_doubles_nothing(
    postgres_url: str, nodes: LocalNodes
) -> None:
    with CreditKit(postgres_url, catalog=example_catalog()) as kit:
        kit.create_customer("u1")
        kit.grant("u1", 1_000_000, idempotency_key="plenty")
        publisher = Publisher(nodes.urls)
        workers = [IngestWorker(kit, nodes.urls, batch_max=200) for _ in range(2)]
        with running(workers):
            publishing = threading.Thread(target=publisher.run)
            publishing.start()
            wait_until(lambda: len(publisher.acknowledged) >= EVENTS // 3, "a third published")
            leader = asyncio.run(_stream_leader(nodes.urls))
            nodes.kill(int(leader.removeprefix("n")) - 1)
            publishing.join(WAIT_SECONDS_MAX * 2)
            assert not publishing.is_alive()
            assert publisher.gave_up == []
            wait_until(
                lambda: set(charged_keys(kit, "u1")) >= publisher.acknowledged,
                "every acknowledged event charged",
            )
            wait_until(lambda: _nothing_pending(workers[0]), "nothing pending")
        charged = charged_keys(kit, "u1")
        assert publisher.acknowledged == {f"ev-{n}" for n in range(EVENTS)}
        # Each acknowledged key once; none the publisher did not send and see acknowledged.
        assert charged == dict.fromkeys(publisher.acknowledged, 1)
        assert set(charged) <= publisher.sent
        assert kit.balance("u1").available == 1_000_000 + 100 - EVENTS
        assert kit.audit().ok
        print(f"leader {leader} killed; publisher retried {publisher.retries} batches")
