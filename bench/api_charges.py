"""``POST /v1/charges`` through a real server: creditkit's API against a bare FastAPI floor.

Both sides are served the same way: one uvicorn process each (``creditkit serve`` for creditkit;
uvicorn with the same settings for the floor), on loopback, hit by the same client threads of
this process, each with a keep-alive ``httpx`` connection and a customer of its own (so nobody
waits on a row lock; SQLite still has one writer at a time). creditkit's side is the whole
service as deployed: a secret key checked, the Idempotency-Key, the JSON body validated, the
charge, its response, the request's metrics and its JSON log line. The floor is a FastAPI
endpoint (a sync one, run in the thread pool like creditkit's) that validates a two-field body
and runs the raw floor of ``charge_throughput.py`` through the bare driver: a conditional
``UPDATE`` of a balance row, an ``INSERT`` of an entry row, ``COMMIT``. Same database, same
durability; floor and creditkit alternate in rounds so that drift hits both.

The service runs with a catalog of one free plan and no rate limit (the example catalog's plans
allow 30 to 600 requests a minute, which a benchmark passes in a second). ``--count-requests``
gives that plan a limit too high to reach, so that each charge also counts itself against it in
the database, as it does under a plan with a rate limit.

    python bench/api_charges.py
    python bench/api_charges.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from _common import (
    BenchDatabase,
    RawConnection,
    Timing,
    base_parser,
    bench_database,
    create_minimal_floor_tables,
    format_number,
    header,
    print_table,
    process_cpu_seconds,
    run_threads,
    write_json,
)
from fastapi import FastAPI
from pydantic import BaseModel

import creditkit
from creditkit import CreditKit
from creditkit.keys.schemas import Scope
from creditkit.notify.sealing import new_secret_key

#: The goal: at least 0.9 of the bare-FastAPI floor's throughput, with rate limits counted (the
#: floor's request is one route, a two-field body and two statements, so its HTTP stack alone
#: costs most of what creditkit's whole request may).
GOAL_RATIO = 0.9
START_BALANCE = 10**15
AMOUNT = 1
WARMUP_EACH = 50
SERVER_START_SECONDS_MAX = 60
SERVER_STOP_SECONDS_MAX = 10
REQUEST_TIMEOUT_SECONDS = 60
#: The floor's connections, one per server thread that runs a charge (uvicorn's thread pool
#: has 40 at most).
FLOOR_CONNECTIONS_MAX = 64
LOOPBACK = "127.0.0.1"
#: A plan's rate limit that no run reaches: requests are counted, never refused.
UNREACHED_RATE_LIMIT_PER_MINUTE = 10**9
CREDITKIT_SERVE = [sys.executable, "-m", "creditkit.cli", "serve", "--payments", "sandbox"]
FLOOR_SERVE = [sys.executable, __file__, "--serve-floor"]
COLUMNS = ["scenario", "side", "charges/s", "p50 ms", "p99 ms", "server CPU us", "client CPU us"]


# -- the floor's server (runs in its own process: ``--serve-floor``) ---------------------------


class FloorCharge(BaseModel):
    balance_id: int
    amount: int


def floor_app(database: BenchDatabase) -> FastAPI:
    local = threading.local()
    opened: list[RawConnection] = []
    lock = threading.Lock()

    def connection() -> RawConnection:
        raw: RawConnection | None = getattr(local, "raw", None)
        if raw is None:
            raw = local.raw = database.connect()
            with lock:
                opened.append(raw)
                assert len(opened) <= FLOOR_CONNECTIONS_MAX
        return raw

    app = FastAPI()

    @app.post("/v1/charges", status_code=201)
    def charge(body: FloorCharge) -> dict[str, int]:
        raw = connection()
        raw.begin()
        updated = raw.execute(
            "UPDATE floor_balances SET balance = balance - ? WHERE id = ? AND balance >= ?",
            (body.amount, body.balance_id, body.amount),
        )
        if updated != 1:
            raw.rollback()
            raise RuntimeError(f"floor balance {body.balance_id} ran out")
        raw.execute(
            "INSERT INTO floor_entries (balance_id, amount) VALUES (?, ?)",
            (body.balance_id, -body.amount),
        )
        raw.commit()
        return {"balance_id": body.balance_id, "amount": body.amount}

    return app


def serve_floor(database_url: str, dialect: str, port: int) -> None:
    import uvicorn

    database = BenchDatabase(
        database_url,
        dialect,
        dialect,
        sqlite_path=Path(database_url.removeprefix("sqlite:///")) if dialect == "sqlite" else None,
        postgres_conninfo=database_url if dialect == "postgresql" else None,
    )
    # The same settings ``creditkit serve`` gives uvicorn.
    uvicorn.run(
        floor_app(database), host=LOOPBACK, port=port, access_log=False, log_level="warning"
    )


# -- running both servers ------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


#: The key webhook secrets are sealed with, by the benchmark's own kit (which sets the database
#: up) and by the served one alike: on PostgreSQL the service refuses to start without one, and
#: a secret sealed by one key does not open with another. The database is thrown away, so a
#: fresh key does.
SECRET_KEY = os.environ.get("CREDITKIT_SECRET_KEY") or new_secret_key()


def server_environment() -> dict[str, str]:
    source = str(Path(creditkit.__file__).resolve().parent.parent)
    return {
        **os.environ,
        "CREDITKIT_SECRET_KEY": SECRET_KEY,
        "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")]),
    }


@contextmanager
def server(command: list[str], port: int, log: Path) -> Iterator[tuple[str, int]]:
    """A server process, healthy until the block ends, then stopped. Yields its URL and pid."""
    with log.open("w") as output:
        process = subprocess.Popen(
            command, env=server_environment(), stdout=output, stderr=subprocess.STDOUT
        )
        try:
            url = f"http://{LOOPBACK}:{port}"
            deadline = time.monotonic() + SERVER_START_SECONDS_MAX
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{command[:4]} did not start:\n{log.read_text()[-3000:]}")
                try:
                    httpx.get(f"{url}/openapi.json", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)  # a process starting: nothing to wait on but its port
            yield url, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=SERVER_STOP_SECONDS_MAX)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# -- measuring -----------------------------------------------------------------------------------


def client_workers(
    clients: list[httpx.Client], bodies: Callable[[int, int], tuple[dict[str, Any], str | None]]
) -> list[Callable[[int], None]]:
    def worker(index: int) -> Callable[[int], None]:
        client = clients[index]

        def charge(i: int) -> None:
            body, key = bodies(index, i)
            headers = {} if key is None else {"Idempotency-Key": key}
            response = client.post("/v1/charges", json=body, headers=headers)
            if response.status_code != 201:
                raise RuntimeError(f"{response.status_code}: {response.text[:500]}")

        return charge

    return [worker(index) for index in range(len(clients))]


def measured(pid: int, workers: list[Callable[[int], None]], each: int) -> tuple[Timing, float]:
    """The round's timing, and the server process's CPU seconds during it."""
    cpu = process_cpu_seconds(pid)
    timing = run_threads(workers, each)
    return timing, process_cpu_seconds(pid) - cpu


def write_catalog(path: Path, count_requests: bool) -> Path:
    """One free plan, with a rate limit no run reaches when requests are to be counted."""
    limit = (
        f"\n    rate_limit_per_minute: {UNREACHED_RATE_LIMIT_PER_MINUTE}" if count_requests else ""
    )
    path.write_text(
        "units:\n  credits: {scale: 0}\nplans:\n  bench:\n    name: Bench\n    default: true\n"
        f"    rank: 0\n    prices:\n      month: {{amount: 0, currency: USD}}"
        f"{limit if count_requests else ''}\n"
    )
    return path


def run(
    database: BenchDatabase, threads: int, operations: int, rounds: int, count_requests: bool
) -> dict[str, Any]:
    customers = [f"customer-{index}" for index in range(threads)]
    with tempfile_directory() as logs:
        return run_in(database, customers, operations, rounds, count_requests, logs)


def run_in(
    database: BenchDatabase,
    customers: list[str],
    operations: int,
    rounds: int,
    count_requests: bool,
    logs: Path,
) -> dict[str, Any]:
    threads = len(customers)
    catalog = write_catalog(logs / "catalog.yaml", count_requests)
    ck = CreditKit(database.url, catalog=catalog, secret_key=SECRET_KEY)
    for customer in customers:
        ck.create_customer(customer)
        ck.grant(customer, START_BALANCE, idempotency_key=f"grant-{customer}")
    secret = ck.keys.create_key("bench", Scope.CHARGE).secret
    setup = database.connect()
    setup.begin()
    create_minimal_floor_tables(setup)
    setup.executemany(
        "INSERT INTO floor_balances (id, balance) VALUES (?, ?)",
        [(index + 1, START_BALANCE) for index in range(threads)],
    )
    setup.commit()
    each = max(1, operations // rounds // threads)
    charged = WARMUP_EACH + each * rounds

    def kit_body(index: int, i: int, round_: str) -> tuple[dict[str, Any], str]:
        return {"customer": customers[index], "amount": AMOUNT}, f"{round_}-{index}-{i}"

    def floor_body(index: int, _i: int) -> tuple[dict[str, Any], None]:
        return {"balance_id": index + 1, "amount": AMOUNT}, None

    with ExitStack() as stack:
        kit_port, floor_port = free_port(), free_port()
        url = ["--database-url", database.url]
        kit_url, kit_pid = stack.enter_context(
            server(
                [*CREDITKIT_SERVE, "--port", str(kit_port), "--catalog", str(catalog), *url],
                kit_port,
                logs / "creditkit.log",
            )
        )
        floor_url, floor_pid = stack.enter_context(
            server(
                [*FLOOR_SERVE, database.url, database.dialect, str(floor_port)],
                floor_port,
                logs / "floor.log",
            )
        )
        kit_clients = [
            stack.enter_context(client(kit_url, {"Authorization": f"Bearer {secret}"}))
            for _ in range(threads)
        ]
        floor_clients = [stack.enter_context(client(floor_url, {})) for _ in range(threads)]
        floor_workers = client_workers(floor_clients, floor_body)
        # Warm-up: connections opened, statements prepared, caches filled; not measured.
        run_threads(floor_workers, WARMUP_EACH)
        run_threads(
            client_workers(kit_clients, lambda index, i: kit_body(index, i, "warm")), WARMUP_EACH
        )
        floor, kit = Timing(0, 0.0, []), Timing(0, 0.0, [])
        floor_cpu = kit_cpu = 0.0
        for round_ in range(rounds):
            timing, cpu = measured(floor_pid, floor_workers, each)
            floor, floor_cpu = floor.merged(timing), floor_cpu + cpu
            kit_workers = client_workers(
                kit_clients, lambda index, i, r=round_: kit_body(index, i, f"r{r}")
            )
            timing, cpu = measured(kit_pid, kit_workers, each)
            kit, kit_cpu = kit.merged(timing), kit_cpu + cpu
    check(ck, setup, customers, charged)
    setup.close()
    ck.close()
    return {
        "threads": threads,
        "requests_counted": count_requests,
        "charges": kit.operations,
        "creditkit": summary(kit, kit_cpu),
        "floor": summary(floor, floor_cpu),
        "ratio": kit.per_second / floor.per_second,
    }


@contextmanager
def tempfile_directory() -> Iterator[Path]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench_api_") as directory:
        yield Path(directory)


@contextmanager
def client(url: str, headers: dict[str, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS) as opened:
        yield opened


def summary(timing: Timing, server_cpu_seconds: float) -> dict[str, float]:
    return {
        "per_second": timing.per_second,
        "p50_ms": timing.latency_ms(0.50),
        "p99_ms": timing.latency_ms(0.99),
        "server_cpu_us": server_cpu_seconds / timing.operations * 1e6,
        "client_cpu_us": timing.cpu_us_per_operation,
    }


def check(ck: CreditKit, raw: RawConnection, customers: list[str], charged: int) -> None:
    """Both sides really charged: every balance is down by what was charged from it."""
    expected = START_BALANCE - charged * AMOUNT
    for index, customer in enumerate(customers):
        available = ck.balance(customer).available
        (floor_balance,) = raw.query_one(
            "SELECT balance FROM floor_balances WHERE id = ?", (index + 1,)
        )
        raw.rollback()
        if available != expected or floor_balance != expected:
            raise AssertionError(
                f"{customer}: creditkit {available}, floor {floor_balance}, expected {expected}"
            )


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--serve-floor":
        serve_floor(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return 0
    parser = base_parser(
        __doc__.splitlines()[0] if __doc__ else "",
        operations=3000,
        operations_help="charges per side, over all rounds and threads (default 3000)",
    )
    parser.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="floor/creditkit alternations")
    parser.add_argument(
        "--count-requests",
        action="store_true",
        help="give the plan a rate limit (never reached): each charge is also counted",
    )
    args: argparse.Namespace = parser.parse_args()
    with bench_database(args.database_url, "api") as database:
        info = header("api_charges", database)
        print(
            f"  {args.operations:,} charges per side, {args.threads} client threads, "
            f"{args.rounds} alternating rounds, {WARMUP_EACH} warm-up charges per thread"
        )
        result = run(database, args.threads, args.operations, args.rounds, args.count_requests)
    rows = [
        [
            f"{database.label} {result['threads']} thread(s)"
            + (", requests counted" if result["requests_counted"] else ""),
            side,
            format_number(result[side]["per_second"]),
            format_number(result[side]["p50_ms"], 2),
            format_number(result[side]["p99_ms"], 2),
            format_number(result[side]["server_cpu_us"]),
            format_number(result[side]["client_cpu_us"]),
            format_number(result["ratio"], 3) if side == "creditkit" else "",
        ]
        for side in ("floor", "creditkit")
    ]
    print()
    print_table(
        [*COLUMNS, "ratio"],
        rows,
    )
    verdict = "meets" if result["ratio"] >= GOAL_RATIO else "MISSES"
    print(
        f"\n{database.label}, {result['threads']} client threads: creditkit API / floor API"
        f" throughput = {result['ratio']:.3f} ({verdict} the goal >= {GOAL_RATIO})"
    )
    write_json(args.json, info | {"results": [result]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
