"""A PostgreSQL primary and its synchronous standby, made here on loopback ports for a test.

Each cluster is a data folder of its own (``initdb``, then ``pg_basebackup -R`` for the standby)
served by its own postmaster. The primary waits for the standby to confirm each commit
(``synchronous_standby_names``), so a commit it acknowledged is on the standby too. PostgreSQL
refuses to run as root: under root the clusters belong to the ``postgres`` user (``runuser``).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

#: The standby's name in the primary's ``synchronous_standby_names``.
STANDBY_NAME = "standby"
COMMAND_TIMEOUT_SECONDS = 120
#: How long the standby may take to stream and be counted synchronous.
SYNC_WAIT_SECONDS_MAX = 60
POLL_SECONDS = 0.1
CLUSTER_USER = "postgres"
#: Small: two clusters beside the machine's own server and the suite's.
SETTINGS = (
    "listen_addresses = '127.0.0.1'",
    "shared_buffers = 32MB",
    "max_connections = 120",
    "wal_level = replica",
    "max_wal_senders = 4",
    "synchronous_commit = on",
    "log_min_messages = warning",
)


def postgres_binaries() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian's layout), else the one on PATH."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parent.parent.name),
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return None if initdb is None else Path(initdb).parent


def _as_cluster_user() -> list[str]:
    return ["runuser", "-u", CLUSTER_USER, "--"] if os.geteuid() == 0 else []


@dataclass
class Cluster:
    binaries: Path
    data: Path
    port: int

    def run(self, tool: str, *arguments: str) -> None:
        subprocess.run(
            [*_as_cluster_user(), str(self.binaries / tool), *arguments],
            check=True,
            capture_output=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
        )

    def configure(self, *lines: str) -> None:
        with (self.data / "postgresql.auto.conf").open("a") as settings:
            settings.write("".join(f"{line}\n" for line in lines))

    def start(self) -> None:
        log = str(self.data.parent / f"{self.data.name}.log")
        self.run("pg_ctl", "-D", str(self.data), "-l", log, "-w", "start")

    def connect(self, database: str = "postgres") -> psycopg.Connection[Any]:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=CLUSTER_USER,
            dbname=database,
            autocommit=True,
            connect_timeout=3,
        )

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().splitlines()[0])

    def kill_postmaster(self) -> None:
        """SIGKILL to the postmaster alone, as a crash would: its backends notice and exit."""
        os.kill(self.postmaster_pid(), signal.SIGKILL)

    def promote(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-w", "promote")

    def stop(self) -> None:
        """Stops the cluster whatever state it is in (a killed postmaster leaves nothing to
        stop, its pid file names a dead process)."""
        with suppress(subprocess.SubprocessError, OSError):
            self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")


@dataclass
class StandbyPair:
    primary: Cluster
    standby: Cluster

    def url(self, database: str) -> str:
        """The multi-host URL a server is given: the primary first, the standby second, and
        only a host that accepts writes is used."""
        return (
            f"postgresql://{CLUSTER_USER}@/{database}?host=127.0.0.1:{self.primary.port}"
            f"&host=127.0.0.1:{self.standby.port}&target_session_attrs=read-write"
        )


def _wait_synchronous(primary: Cluster) -> None:
    deadline = time.monotonic() + SYNC_WAIT_SECONDS_MAX
    with primary.connect() as connection:
        while time.monotonic() < deadline:
            states = connection.execute(
                "SELECT sync_state FROM pg_stat_replication WHERE application_name = %s",
                (STANDBY_NAME,),
            ).fetchall()
            if states == [("sync",)]:
                return
            time.sleep(POLL_SECONDS)  # the walreceiver is a separate process catching up
    raise AssertionError(f"the standby was not synchronous within {SYNC_WAIT_SECONDS_MAX} s")


@contextmanager
def standby_pair(binaries: Path, primary_port: int, standby_port: int) -> Iterator[StandbyPair]:
    """A running primary with a synchronous standby; both stopped and deleted afterwards."""
    root = Path(tempfile.mkdtemp(prefix="creditkit-standby-"))
    if os.geteuid() == 0:
        shutil.chown(root, CLUSTER_USER)
    primary = Cluster(binaries, root / "primary", primary_port)
    standby = Cluster(binaries, root / "standby", standby_port)
    try:
        primary.run("initdb", "-D", str(primary.data), "-U", CLUSTER_USER, "--auth=trust")
        primary.configure(
            *SETTINGS, f"port = {primary_port}", f"unix_socket_directories = '{root}'"
        )
        primary.start()
        primary.run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(primary_port), "-U", CLUSTER_USER),
            *("-D", str(standby.data), "-R", "-X", "stream"),
        )
        # After pg_basebackup -R's own lines, so these win: the standby's port, and its name
        # as the primary's synchronous_standby_names knows it.
        standby.configure(
            f"port = {standby_port}",
            f"primary_conninfo = 'host=127.0.0.1 port={primary_port} user={CLUSTER_USER}"
            f" application_name={STANDBY_NAME}'",
        )
        standby.start()
        with primary.connect() as connection:
            connection.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{STANDBY_NAME}'")
            connection.execute("SELECT pg_reload_conf()")
        _wait_synchronous(primary)
        yield StandbyPair(primary, standby)
    finally:
        primary.stop()
        standby.stop()
        shutil.rmtree(root, ignore_errors=True)
