"""PostgreSQL: the one-call charge function against the Python path, interleaved in one run.

Both paths charge through one CreditKit, alternating in rounds (``pg_charge.set_enabled``), so
that the machine's load, which drifts, hits both alike. For each path: charges per second, and
the server CPU per charge of this run's own backends only (``/proc/<pid>/stat`` of the backends
connected to the bench database), which other work on a shared machine does not inflate.
Scenarios: one thread, one customer (``plain``); one thread through a spender under budgets at
three levels (``budgeted``); eight threads on one hot customer (``hot``, the writer's batches).

    python bench/pg_charge_paths.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

import psycopg
from _common import base_parser, bench_database, header, run_threads

from creditkit import CreditKit
from creditkit.ledger import pg_charge

START_BALANCE = 10**15
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def backend_cpu_seconds(admin_url: str, database: str) -> float:
    """User and system CPU of every backend connected to ``database``, from /proc."""
    with psycopg.connect(admin_url, autocommit=True) as connection:
        pids = [
            row[0]
            for row in connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )
        ]
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def measure(
    url: str, database: str, workers: list[Callable[[int], None]], each: int
) -> tuple[float, float]:
    """(charges per second, server CPU microseconds per charge) of one round."""
    before = backend_cpu_seconds(url, database)
    started = time.perf_counter()
    timing = run_threads(workers, each)
    elapsed = time.perf_counter() - started
    after = backend_cpu_seconds(url, database)
    return timing.operations / elapsed, (after - before) * 1e6 / timing.operations


def main() -> int:
    parser = base_parser(
        __doc__.splitlines()[0] if __doc__ else "", 1200, "charges per path per scenario"
    )
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    with bench_database(args.database_url, "pgpaths") as database:
        if database.dialect != "postgresql":
            print("PostgreSQL only")
            return 1
        header("pg_charge_paths", database)
        name = database.url.rpartition("/")[2]
        ck = CreditKit(database.url)
        try:
            for customer in ("plain", "budgeted", "hot"):
                ck.create_customer(customer)
                ck.grant(customer, START_BALANCE, idempotency_key=f"grant-{customer}")
            ck.create_spender("budgeted", "team", kind="project")
            ck.create_spender("budgeted", "agent", kind="agent", parent="team")
            for spender in (None, "team", "agent"):
                ck.set_budget(
                    "budgeted", START_BALANCE, spender=spender, idempotency_key=f"b-{spender}"
                )
            scenarios: dict[str, tuple[int, Callable[[str], Callable[[int], None]]]] = {
                "plain": (1, lambda p: lambda i: ck.charge("plain", 1, idempotency_key=f"{p}{i}")),
                "budgeted": (
                    1,
                    lambda p: (
                        lambda i: ck.charge(
                            "budgeted", 1, spender="agent", idempotency_key=f"{p}{i}"
                        )
                    ),
                ),
                "hot": (8, lambda p: lambda i: ck.charge("hot", 1, idempotency_key=f"{p}{i}")),
            }
            results: dict[tuple[str, bool], list[tuple[float, float]]] = {}
            for scenario, (threads, make) in scenarios.items():
                each = max(1, args.operations // args.rounds // threads)
                for warm in (True, False):
                    pg_charge.set_enabled(warm)
                    run_threads([make(f"warm-{scenario}-{warm}-{w}-") for w in range(threads)], 50)
                for round_ in range(args.rounds):
                    for on in (True, False) if round_ % 2 == 0 else (False, True):
                        pg_charge.set_enabled(on)
                        prefix = f"{scenario}-{on}-{round_}"
                        workers = [make(f"{prefix}-{w}-") for w in range(threads)]
                        results.setdefault((scenario, on), []).append(
                            measure(args.database_url, name, workers, each)
                        )
            pg_charge.set_enabled(True)
            print(f"\n{'scenario':10} {'path':8} {'charges/s':>10} {'server CPU us/charge':>21}")
            summary: dict[str, Any] = {}
            for (scenario, on), rounds in results.items():
                rate = sum(r[0] for r in rounds) / len(rounds)
                cpu = sum(r[1] for r in rounds) / len(rounds)
                summary[f"{scenario}-{'function' if on else 'python'}"] = (rate, cpu)
                path = "function" if on else "python"
                print(f"{scenario:10} {path:8} {rate:10.0f} {cpu:21.0f}")
            for scenario in scenarios:
                on = summary[f"{scenario}-function"][0]
                off = summary[f"{scenario}-python"][0]
                print(f"{scenario}: function/python throughput = {on / off:.3f}")
        finally:
            ck.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
