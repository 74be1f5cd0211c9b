"""Shared plumbing for the benchmarks: a throwaway database, a bare DBAPI connection for the
floors, timing statistics and table printing.

A benchmark's ``--database-url`` names where to run, never a database it may touch: for SQLite
the default is a file in a temporary directory (removed afterwards); for PostgreSQL the URL names
the server (any database on it, e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``) and the
benchmark creates a database of its own there, ``bench_<name>_<random>``, and drops it at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sqlite3
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

import creditkit
from creditkit.store.database import SQLITE_SYNCHRONOUS, normalize_url

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def base_parser(description: str, operations: int, operations_help: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--database-url",
        default=None,
        help="sqlite:///path/file.db, or a PostgreSQL server URL such as "
        f"{DEFAULT_POSTGRES_URL} (a database bench_* is created there and dropped); "
        "default: a SQLite file in a temporary directory",
    )
    parser.add_argument("--operations", type=int, default=operations, help=operations_help)
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the results to this JSON file"
    )
    return parser


def source_version() -> str:
    """The creditkit source measured: its git commit, and a digest of the source files since the
    tree may hold uncommitted edits."""
    source = Path(creditkit.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(source.rglob("*.py")):
        digest.update(path.read_bytes())
    try:
        commit = subprocess.run(
            ["git", "-C", str(source), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return f"creditkit {commit} (src sha256 {digest.hexdigest()[:12]})"


def load_average() -> float:
    """The machine's 1-minute load average: other processes skew absolute figures (ratios less
    so, because each benchmark alternates creditkit and its floor)."""
    return os.getloadavg()[0]


def header(benchmark: str, database: BenchDatabase) -> dict[str, Any]:
    """Prints what the figures depend on besides the code measured, and returns it for the
    JSON results."""
    info: dict[str, Any] = {
        "benchmark": benchmark,
        "database": database.label,
        "description": database.describe(),
        "source": source_version(),
        "load_average": load_average(),
    }
    print(f"{benchmark} on {info['description']}")
    print(f"  {info['source']}; load average {info['load_average']:.2f} on {os.cpu_count()} CPUs")
    return info


# -- databases ------------------------------------------------------------------------------------


class RawConnection:
    """A bare DBAPI connection (sqlite3 or psycopg 3) with the few calls the floors make; SQL is
    written with ``?`` placeholders and translated for psycopg."""

    def __init__(self, dialect: str, connection: Any) -> None:
        self.dialect = dialect
        self._connection = connection

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def begin(self) -> None:
        # psycopg starts a transaction by itself at the first statement; sqlite3 runs with
        # isolation_level=None, so the transaction is explicit, and IMMEDIATE like creditkit's
        # writes (it takes the write lock at the start).
        if self.dialect == "sqlite":
            self._connection.execute("BEGIN IMMEDIATE")

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> int:
        """Runs one statement; returns its rowcount."""
        cursor = self._connection.execute(self._sql(sql), parameters)
        rowcount: int = cursor.rowcount
        return rowcount

    def query_one(self, sql: str, parameters: Sequence[Any] = ()) -> tuple[Any, ...]:
        row: tuple[Any, ...] | None = self._connection.execute(
            self._sql(sql), parameters
        ).fetchone()
        assert row is not None, sql
        return row

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        cursor = self._connection.cursor()
        cursor.executemany(self._sql(sql), rows)
        cursor.close()

    def execute_outside_transaction(self, sql: str) -> None:
        """Runs a statement that may not run in a transaction (VACUUM)."""
        self.rollback()
        if self.dialect == "postgresql":
            self._connection.autocommit = True
            try:
                self._connection.execute(sql)
            finally:
                self._connection.autocommit = False
        else:
            self._connection.execute(sql)

    def commit(self) -> None:
        if self.dialect == "sqlite":
            self._connection.execute("COMMIT")
        else:
            self._connection.commit()

    def rollback(self) -> None:
        """Ends the transaction, if one is open, without keeping its writes."""
        if self.dialect == "sqlite":
            if self._connection.in_transaction:
                self._connection.execute("ROLLBACK")
        else:
            self._connection.rollback()

    def close(self) -> None:
        self._connection.close()


@dataclass(frozen=True)
class BenchDatabase:
    """Where one benchmark runs: ``url`` for CreditKit, ``connect`` for the raw floors."""

    url: str
    dialect: str
    label: str
    sqlite_path: Path | None = None
    postgres_conninfo: str | None = None

    def connect(self) -> RawConnection:
        if self.dialect == "sqlite":
            assert self.sqlite_path is not None
            connection = sqlite3.connect(
                self.sqlite_path, isolation_level=None, check_same_thread=False, timeout=30
            )
            # The same durability creditkit runs at (creditkit.store.database).
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
            connection.execute("PRAGMA busy_timeout=30000")
            return RawConnection("sqlite", connection)
        assert self.postgres_conninfo is not None
        return RawConnection("postgresql", psycopg.connect(self.postgres_conninfo))

    def describe(self) -> str:
        if self.dialect == "sqlite":
            return f"SQLite {sqlite3.sqlite_version}, WAL, synchronous={SQLITE_SYNCHRONOUS}"
        raw = self.connect()
        try:
            settings = {}
            for name in ("server_version", "synchronous_commit", "fsync", "autovacuum"):
                settings[name] = raw.query_one(f"SHOW {name}")[0]
            raw.rollback()
        finally:
            raw.close()
        return (
            f"PostgreSQL {settings['server_version']}, synchronous_commit="
            f"{settings['synchronous_commit']}, fsync={settings['fsync']}, "
            f"autovacuum={settings['autovacuum']}"
        )


def _postgres_conninfo(url: str) -> str:
    """The URL psycopg accepts (SQLAlchemy's driver suffix removed)."""
    return (
        sa.make_url(normalize_url(url))
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )


@contextmanager
def bench_database(url: str | None, name: str) -> Iterator[BenchDatabase]:
    """A fresh, empty database for one benchmark run, removed afterwards."""
    if url is None or url.startswith("sqlite"):
        if url is not None:
            path = sa.make_url(url).database
            if not path or path == ":memory:":
                raise SystemExit("SQLite benchmarks need a file: sqlite:///path/to/file.db")
            if Path(path).exists():
                raise SystemExit(f"{path} exists: the benchmark wants a new file")
            yield BenchDatabase(f"sqlite:///{path}", "sqlite", "sqlite", sqlite_path=Path(path))
            return
        with tempfile.TemporaryDirectory(prefix=f"bench_{name}_") as directory:
            path = str(Path(directory) / "ledger.db")
            yield BenchDatabase(f"sqlite:///{path}", "sqlite", "sqlite", sqlite_path=Path(path))
        return
    admin_conninfo = _postgres_conninfo(url)
    database = f"bench_{name}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_conninfo, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    conninfo = (
        sa.make_url(admin_conninfo).set(database=database).render_as_string(hide_password=False)
    )
    try:
        yield BenchDatabase(conninfo, "postgresql", "postgresql", postgres_conninfo=conninfo)
    finally:
        with psycopg.connect(admin_conninfo, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


# -- measuring ------------------------------------------------------------------------------------


def integer_types(dialect: str) -> tuple[str, str]:
    """The floor's integer type and auto-increment key type on this database."""
    if dialect == "sqlite":
        return "INTEGER", "INTEGER PRIMARY KEY"
    return "BIGINT", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"


def create_minimal_floor_tables(raw: RawConnection) -> None:
    """The floor's own tables: balances with a non-negative check, and one entry per charge
    (inside the caller's transaction)."""
    integer, serial = integer_types(raw.dialect)
    raw.execute(
        f"CREATE TABLE floor_balances (id {integer} PRIMARY KEY,"
        f" balance {integer} NOT NULL CHECK (balance >= 0))"
    )
    raw.execute(
        f"CREATE TABLE floor_entries (id {serial}, balance_id {integer} NOT NULL,"
        f" amount {integer} NOT NULL)"
    )


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def _stat_fields(stat: str) -> tuple[str, list[str]]:
    """A /proc/<pid>/stat line as (command name, the fields after it). The name is in
    parentheses and may hold spaces, so the fields follow the last ")"."""
    return stat[stat.find("(") + 1 : stat.rfind(")")], stat[stat.rfind(")") + 2 :].split()


def _cpu_ticks(fields: list[str]) -> int:
    # utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the name.
    return int(fields[11]) + int(fields[12])


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process (Linux /proc), in seconds."""
    _name, fields = _stat_fields(Path(f"/proc/{pid}/stat").read_text())
    return _cpu_ticks(fields) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """The CPU time (user and system) that this machine's PostgreSQL processes have spent so
    far, in seconds: the server's share of a benchmark on a local server. Processes that start
    or end in between count from their start or up to the last reading; 0 without /proc."""
    proc = Path("/proc")
    if not proc.is_dir():
        return 0.0
    total_ticks = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name, fields = _stat_fields((entry / "stat").read_text())
        except OSError:
            continue  # the process ended while we looked
        if name == "postgres" or name.startswith("postgres:"):
            total_ticks += _cpu_ticks(fields)
    return total_ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Timing:
    """Operations, their wall time, each operation's latency, and the CPU time this process
    spent on them (all threads; with SQLite that includes the database engine's own work),
    and the local PostgreSQL server's processes spent meanwhile, in seconds."""

    operations: int
    seconds: float
    latencies: list[float]
    cpu_seconds: float = 0.0
    server_cpu_seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds

    def latency_ms(self, fraction: float) -> float:
        return percentile(sorted(self.latencies), fraction) * 1000

    @property
    def cpu_us_per_operation(self) -> float:
        return self.cpu_seconds / self.operations * 1e6

    @property
    def server_cpu_us_per_operation(self) -> float:
        return self.server_cpu_seconds / self.operations * 1e6

    def merged(self, other: Timing) -> Timing:
        return Timing(
            self.operations + other.operations,
            self.seconds + other.seconds,
            self.latencies + other.latencies,
            self.cpu_seconds + other.cpu_seconds,
            self.server_cpu_seconds + other.server_cpu_seconds,
        )


def run_threads(workers: Sequence[Callable[[int], None]], operations_each: int) -> Timing:
    """Runs ``worker(i)`` for i in range(operations_each) in one thread per worker, all started
    together; the wall time runs from the start to the last thread's end."""
    latencies: list[list[float]] = [[] for _ in workers]
    errors: list[BaseException] = []
    started = threading.Barrier(len(workers) + 1)

    def body(index: int) -> None:
        worker = workers[index]
        own = latencies[index]
        clock = time.perf_counter
        started.wait()
        try:
            for i in range(operations_each):
                begin = clock()
                worker(i)
                own.append(clock() - begin)
        except BaseException as error:
            errors.append(error)
            raise

    threads = [threading.Thread(target=body, args=(index,)) for index in range(len(workers))]
    for thread in threads:
        thread.start()
    # Read before the client's CPU clock starts: the scan of /proc is not the client's work.
    server_cpu = postgres_cpu_seconds()
    cpu = time.process_time()
    started.wait()
    begin = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - begin
    cpu = time.process_time() - cpu
    server_cpu = postgres_cpu_seconds() - server_cpu
    if errors:
        raise RuntimeError(f"{len(errors)} worker(s) failed") from errors[0]
    return Timing(
        operations_each * len(workers),
        seconds,
        [value for own in latencies for value in own],
        cpu,
        server_cpu,
    )


# -- output ---------------------------------------------------------------------------------------


def format_number(value: float, digits: int = 0) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            f"{cell:<{width}}" if index == 0 else f"{cell:>{width}}"
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )

    print(line(headers))
    print("  ".join("-" * width for width in widths))
    for row in rows:
        print(line(row))


def write_json(path: Path | None, results: dict[str, Any]) -> None:
    if path is not None:
        path.write_text(json.dumps(results, indent=2) + "\n")


def vacuum(database: BenchDatabase) -> None:
    """``VACUUM (ANALYZE)`` of the whole database (PostgreSQL), outside a transaction."""
    raw = database.connect()
    try:
        raw.execute_outside_transaction("VACUUM (ANALYZE)")
    finally:
        raw.close()
