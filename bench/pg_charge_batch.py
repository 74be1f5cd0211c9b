"""PostgreSQL: one hot customer's batches through the charge function, old body and new, and the
Python path, interleaved in one run.

The writer hands the charge function a busy customer's coalesced charges as one batch. This
measures what a batch of each size costs through each way of writing it: migration 0027's body
of ``creditkit_charge`` (a statement per charge and table), the current body (the batch
decided in memory, one statement per table) and the Python path (``ChargeBatch``'s multi-row
statements). The bodies are swapped in place (``CREATE OR REPLACE``) between rounds, in the
bench's own database, and the order alternates by round so that the machine's drifting load
hits all alike. Reported per way and batch size: charges per second, and the server CPU per
charge of this run's own backends (``/proc``), which other work on the machine does not
inflate. One thread, ``charge_many`` of the batch size; the customer has three grants (the
batch burns down across them) and, as in charge_throughput's hot case, no budget. A lone
charge goes to ``creditkit_charge_one`` (0027's body) either way: its row is the noise's
measure.

    python bench/pg_charge_batch.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import importlib
import sys
import time
from typing import Any

import psycopg
from _common import base_parser, bench_database, header
from pg_charge_paths import backend_cpu_seconds

from creditkit import ChargeRequest, CreditKit
from creditkit.ledger import pg_charge

START_BALANCE = 10**15
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)
WAYS = ("0027", "current", "python")


def _bodies() -> dict[str, str]:
    """The two bodies of ``creditkit_charge``, as ``CREATE OR REPLACE`` statements."""
    old = importlib.import_module("creditkit.store.migrations.versions.0027_pg_charge_function")
    new = importlib.import_module("creditkit.store.migrations.versions.0031_pg_charge_set_based")
    return {
        "0027": old._CHARGE.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1),
        "current": new._CHARGE,
    }


def main() -> int:
    parser = base_parser(
        __doc__.splitlines()[0] if __doc__ else "", 1024, "charges per way per batch size"
    )
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    bodies = _bodies()
    with bench_database(args.database_url, "pgbatch") as database:
        if database.dialect != "postgresql":
            print("PostgreSQL only")
            return 1
        header("pg_charge_batch", database)
        name = database.url.rpartition("/")[2]
        admin_url = args.database_url.rpartition("/")[0] + "/" + name
        ck = CreditKit(database.url)
        # Every batch size through the function, whatever its bound, so that the bodies compare.
        pg_charge.CHARGES_MAX = max(BATCH_SIZES)
        try:
            ck.create_customer("hot")
            for n in range(3):
                ck.grant("hot", START_BALANCE, idempotency_key=f"grant-{n}", priority=n)
            results: dict[tuple[str, int], list[tuple[float, float]]] = {}
            serial = 0
            with psycopg.connect(admin_url, autocommit=True) as admin:

                def run(way: str, size: int, batches: int) -> tuple[float, float]:
                    nonlocal serial
                    if way in bodies:
                        admin.execute(bodies[way])
                    pg_charge.set_enabled(way != "python")
                    before = backend_cpu_seconds(args.database_url, name)
                    started = time.perf_counter()
                    for _batch in range(batches):
                        serial += 1
                        ck.charge_many(
                            [
                                ChargeRequest(
                                    customer="hot",
                                    amount=1 + i % 3,
                                    idempotency_key=f"k{serial}-{i}",
                                )
                                for i in range(size)
                            ]
                        )
                    elapsed = time.perf_counter() - started
                    cpu = backend_cpu_seconds(args.database_url, name) - before
                    charges = batches * size
                    return charges / elapsed, cpu * 1e6 / charges

                for size in BATCH_SIZES:
                    batches = max(2, args.operations // args.rounds // size)
                    for way in WAYS:
                        run(way, size, 2)  # warm-up
                    for round_ in range(args.rounds):
                        order = WAYS if round_ % 2 == 0 else tuple(reversed(WAYS))
                        for way in order:
                            results.setdefault((way, size), []).append(run(way, size, batches))
                admin.execute(bodies["current"])
            pg_charge.set_enabled(True)
            print(f"\n{'batch':>5} {'way':8} {'charges/s':>10} {'server CPU us/charge':>21}")
            summary: dict[str, Any] = {}
            for (way, size), rounds in results.items():
                rate = sum(r[0] for r in rounds) / len(rounds)
                cpu = sum(r[1] for r in rounds) / len(rounds)
                summary[f"{way}-{size}"] = (rate, cpu)
                print(f"{size:5} {way:8} {rate:10.0f} {cpu:21.0f}")
            for size in BATCH_SIZES:
                current, old, python = (
                    summary[f"{way}-{size}"] for way in ("current", "0027", "python")
                )
                print(
                    f"batch {size}: current/0027 throughput {current[0] / old[0]:.2f},"
                    f" current/python {current[0] / python[0]:.2f};"
                    f" server CPU current/0027 {current[1] / old[1]:.2f}"
                )
        finally:
            ck.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
