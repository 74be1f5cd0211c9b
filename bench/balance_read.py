"""Balance read time against history length: ``ck.balance(customer)`` for a customer with a
thousand ledger entries and for one with a million, in the same database.

A balance should cost the same however long the history is (creditkit reads cached balances of
the grants that still hold credits, never the entries), so the goal is large/small <= 1.2.

Entries are counted per customer as the rows of ``entries`` that belong to the customer's
transactions: a grant writes 2 (issuance and grant legs), a charge 2 (grant and consumption
legs). The large ledger is built with ``ck.charge_many`` in batches of 10,000 charges of one
credit, all from one grant. Reads alternate small/large so that drift hits both alike.

On PostgreSQL the reads are measured twice: right after the load, and after ``VACUUM (ANALYZE)``
(the load updates the grant's account row once per charge, which leaves dead row versions
behind until a vacuum; with autovacuum on, the server would get there on its own).

    python bench/balance_read.py
    python bench/balance_read.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import sys
import time
from typing import Any

from _common import (
    BenchDatabase,
    Timing,
    base_parser,
    bench_database,
    format_number,
    header,
    print_table,
    vacuum,
    write_json,
)

from creditkit import ChargeRequest, CreditKit

GOAL_RATIO = 1.2
BATCH = 10_000
START_BALANCE = 10**15
WARMUP_READS = 100


def build_ledger(ck: CreditKit, customer: str, entries: int) -> float:
    """Gives ``customer`` ``entries`` ledger entries (rounded down to even); returns the charges
    per second the load ran at."""
    ck.create_customer(customer)
    ck.grant(customer, START_BALANCE, idempotency_key=f"grant-{customer}")
    charges = max(0, (entries - 2) // 2)
    begin = time.perf_counter()
    for start in range(0, charges, BATCH):
        requests = [
            ChargeRequest(customer, 1, f"{customer}-{index}")
            for index in range(start, min(charges, start + BATCH))
        ]
        for outcome in ck.charge_many(requests):
            if isinstance(outcome, Exception):
                raise outcome
        done = min(charges, start + BATCH)
        if charges >= 10 * BATCH and done % (10 * BATCH) == 0:
            elapsed = time.perf_counter() - begin
            rate = done / elapsed
            print(f"  {customer}: {done:,}/{charges:,} charges, {rate:,.0f}/s", flush=True)
    elapsed = time.perf_counter() - begin
    return charges / elapsed if charges else 0.0


def count_entries(database: BenchDatabase, customer: str) -> int:
    raw = database.connect()
    try:
        (count,) = raw.query_one(
            "SELECT count(*) FROM entries"
            " JOIN transactions ON transactions.id = entries.transaction_id"
            " JOIN customers ON customers.id = transactions.customer_id"
            " WHERE customers.external_id = ?",
            (customer,),
        )
        raw.rollback()
    finally:
        raw.close()
    return int(count)


def measure(ck: CreditKit, customers: list[str], reads: int) -> list[Timing]:
    for _ in range(WARMUP_READS):
        for customer in customers:
            ck.balance(customer)
    latencies: list[list[float]] = [[] for _ in customers]
    clock = time.perf_counter
    for _ in range(reads):
        for index, customer in enumerate(customers):
            begin = clock()
            ck.balance(customer)
            latencies[index].append(clock() - begin)
    return [Timing(len(values), sum(values), values) for values in latencies]


def latencies(timing: Timing) -> dict[str, float]:
    return {"p50_ms": timing.latency_ms(0.5), "p99_ms": timing.latency_ms(0.99)}


def main() -> int:
    parser = base_parser(
        __doc__.splitlines()[0] if __doc__ else "",
        operations=1_000_000,
        operations_help="ledger entries of the large customer (default 1,000,000)",
    )
    parser.add_argument(
        "--small-entries", type=int, default=1_000, help="entries of the small customer"
    )
    parser.add_argument("--reads", type=int, default=2_000, help="reads of each customer")
    args = parser.parse_args()
    results: dict[str, Any] = {"phases": []}
    with bench_database(args.database_url, "balance") as database:
        results |= header("balance_read", database)
        with CreditKit(database.url) as ck:
            small_rate = build_ledger(ck, "small", args.small_entries)
            print(f"  building the large ledger ({args.operations:,} entries)...", flush=True)
            large_rate = build_ledger(ck, "large", args.operations)
            sizes = {name: count_entries(database, name) for name in ("small", "large")}
            print(
                f"  entries: small {sizes['small']:,}, large {sizes['large']:,}; load ran at"
                f" {large_rate:,.0f} charges/s (small: {small_rate:,.0f})"
            )
            results |= {"entries": sizes, "load_charges_per_second": large_rate}
            phases = [("as loaded", False)]
            if database.dialect == "postgresql":
                phases.append(("after VACUUM (ANALYZE)", True))
            for phase, vacuum_first in phases:
                if vacuum_first:
                    vacuum(database)
                small, large = measure(ck, ["small", "large"], args.reads)
                results["phases"].append(
                    {
                        "phase": phase,
                        "small": latencies(small),
                        "large": latencies(large),
                        "ratio_p50": large.latency_ms(0.5) / small.latency_ms(0.5),
                        "ratio_p99": large.latency_ms(0.99) / small.latency_ms(0.99),
                    }
                )
    print()
    rows = []
    for phase in results["phases"]:
        for name in ("small", "large"):
            rows.append(
                [
                    f"{database.label} {phase['phase']}",
                    f"{name} ({sizes[name]:,} entries)",
                    format_number(phase[name]["p50_ms"], 3),
                    format_number(phase[name]["p99_ms"], 3),
                ]
            )
        rows.append(
            [
                f"{database.label} {phase['phase']}",
                "ratio large/small",
                format_number(phase["ratio_p50"], 3),
                format_number(phase["ratio_p99"], 3),
            ]
        )
    print_table(["scenario", "customer", "median ms", "p99 ms"], rows)
    print()
    for phase in results["phases"]:
        verdict = "meets" if phase["ratio_p50"] <= GOAL_RATIO else "MISSES"
        print(
            f"{database.label} {phase['phase']}: median large/small = {phase['ratio_p50']:.3f}"
            f" ({verdict} the goal <= {GOAL_RATIO}); p99 ratio {phase['ratio_p99']:.3f};"
            f" {args.reads:,} reads each"
        )
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
