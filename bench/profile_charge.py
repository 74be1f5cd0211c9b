"""Where a charge's time goes: the driver and database, SQLAlchemy, creditkit's own Python.

Runs charges unprofiled (the true time per charge), then again under cProfile, and sorts the
profiled time by who spent it:

* ``database``: the driver's calls into the database: sqlite3's C methods, which include
  SQLite's own work and the commit's fsync; psycopg's waits for the server (round trips and
  the server's work, the commit's WAL flush included);
* ``psycopg``: the rest of psycopg (adapting parameters, the pipeline, results, socket calls);
* ``sqlalchemy``: SQLAlchemy's Python (connection pool, transactions, statement compilation,
  result processing);
* ``creditkit``: creditkit's own Python;
* ``stdlib``: the standard library (json, decimal, dataclasses...), nearly all called by
  creditkit.

cProfile slows Python code down more than C calls, so the Python shares come out high; the
database time per charge under the profiler is close to its unprofiled value, and the unprofiled
time minus it is the Python time. Also prints the driver calls per charge and the functions with
the most own time.

    python bench/profile_charge.py                      # ck.charge, one at a time
    python bench/profile_charge.py --mode batch         # ck.charge_many, 10,000 per batch
    python bench/profile_charge.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from collections.abc import Callable
from typing import Any

from _common import base_parser, bench_database, header, print_table

from creditkit import ChargeRequest, CreditKit

START_BALANCE = 10**15
BATCH = 10_000
CUSTOMERS = 1_000

#: pstats keys a function as (filename, line, name); C functions have filename "~".
FunctionKey = tuple[str, int, str]


def category(key: FunctionKey) -> str:
    filename, _line, name = key
    if filename == "~":
        if "sqlite3" in name:
            return "database"
        if "psycopg" in name:
            return "database" if "wait" in name else "psycopg"
        return "stdlib"
    if "/psycopg/" in filename or "/psycopg_binary/" in filename:
        # psycopg blocks on the server in its wait functions; the rest is the driver's own
        # Python (adapting parameters, the pipeline, parsing results) and its socket calls.
        return "database" if name.startswith("wait") else "psycopg"
    if "/sqlalchemy/" in filename:
        return "sqlalchemy"
    if "/creditkit/" in filename:
        return "creditkit"
    if "/bench/" in filename:
        return "benchmark loop"
    return "stdlib"


def describe(key: FunctionKey) -> str:
    filename, line, name = key
    if filename == "~":
        return name[:80]
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line}({name})"[-80:]


def is_driver_call(key: FunctionKey) -> str | None:
    """The kind of driver call a function is (execute, executemany, commit...), if it is one
    that sends something to the database."""
    filename, _line, name = key
    if filename == "~" and "sqlite3" in name:
        for kind in ("executemany", "execute", "commit", "rollback"):
            if f"'{kind}'" in name:
                return kind
        return None
    if filename.endswith("/psycopg/cursor.py") and name in ("execute", "executemany"):
        return name
    if filename.endswith("/psycopg/connection.py") and name in ("commit", "rollback"):
        return name
    return None


def setup(ck: CreditKit, mode: str) -> Callable[[str, int], None]:
    """Customers and grants; returns a function that charges ``count`` times under a tag."""
    if mode == "single":
        ck.create_customer("customer")
        ck.grant("customer", START_BALANCE, idempotency_key="grant")

        def single(tag: str, count: int) -> None:
            for index in range(count):
                ck.charge("customer", 1, idempotency_key=f"{tag}-{index}")

        return single
    names = [f"customer-{index}" for index in range(CUSTOMERS)]
    for name in names:
        ck.create_customer(name)
        ck.grant(name, START_BALANCE, idempotency_key=f"grant-{name}")

    def batch(tag: str, count: int) -> None:
        for start in range(0, count, BATCH):
            requests = [
                ChargeRequest(names[index % CUSTOMERS], 1, f"{tag}-{index}")
                for index in range(start, min(count, start + BATCH))
            ]
            for outcome in ck.charge_many(requests):
                if isinstance(outcome, Exception):
                    raise outcome

    return batch


def main() -> int:
    parser = base_parser(
        __doc__.splitlines()[0] if __doc__ else "",
        operations=3_000,
        operations_help="charges per run (default 3,000; in batch mode, rounded to batches)",
    )
    parser.add_argument("--mode", choices=("single", "batch"), default="single")
    parser.add_argument("--top", type=int, default=25, help="functions listed by own time")
    args = parser.parse_args()
    count = args.operations
    if args.mode == "batch":
        count = max(BATCH, count // BATCH * BATCH)
    with bench_database(args.database_url, "profile") as database, CreditKit(database.url) as ck:
        header(f"profile_charge --mode {args.mode}", database)
        charge = setup(ck, args.mode)
        charge("warm", min(count, BATCH if args.mode == "batch" else 200))
        begin = time.perf_counter()
        charge("plain", count)
        plain_us = (time.perf_counter() - begin) / count * 1e6
        profiler = cProfile.Profile()
        profiler.enable()
        charge("profiled", count)
        profiler.disable()
    stats: dict[FunctionKey, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    by_category: dict[str, float] = {}
    calls: dict[str, int] = {}
    for key, (_primitive, ncalls, tottime, _cumtime, _callers) in stats.items():
        by_category[category(key)] = by_category.get(category(key), 0.0) + tottime
        kind = is_driver_call(key)
        if kind is not None:
            calls[kind] = calls.get(kind, 0) + ncalls
    profiled_total = sum(by_category.values())
    database_us = by_category.get("database", 0.0) / count * 1e6
    print()
    print(f"unprofiled: {plain_us:,.1f} us per charge ({1e6 / plain_us:,.0f} charges/s)")
    print(
        f"database (driver calls) under the profiler: {database_us:,.1f} us per charge, so"
        f" ~{max(0.0, plain_us - database_us):,.1f} us of Python per charge unprofiled"
    )
    print(
        "driver calls per charge: "
        + ", ".join(f"{kind} {value / count:.3g}" for kind, value in sorted(calls.items()))
    )
    print()
    print_table(
        ["own time under cProfile", "us/charge", "share"],
        [
            [name, f"{seconds / count * 1e6:,.1f}", f"{seconds / profiled_total:.0%}"]
            for name, seconds in sorted(by_category.items(), key=lambda item: -item[1])
        ],
    )
    print()
    top = sorted(stats.items(), key=lambda item: -item[1][2])[: args.top]
    print_table(
        ["function (by own time)", "calls/charge", "own us/charge", "category"],
        [
            [
                describe(key),
                f"{ncalls / count:.3g}",
                f"{tottime / count * 1e6:,.2f}",
                category(key),
            ]
            for key, (_primitive, ncalls, tottime, _cumtime, _callers) in top
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
