"""Single-charge throughput and latency: ``ck.charge(...)`` against a raw-driver floor.

The floor is the least a charge can be on the same database: in one transaction, a conditional
``UPDATE floor_balances SET balance = balance - x WHERE id = ? AND balance >= x``, an ``INSERT``
of one ``floor_entries`` row, ``COMMIT``; through the bare DBAPI driver (sqlite3 / psycopg), on
tables of its own in the same database, at the same durability (SQLite: WAL with creditkit's
``SQLITE_SYNCHRONOUS``). With several threads every thread charges a customer of its own (and
the floor a balance row of its own), so nothing waits on a row lock; SQLite still has one writer
at a time. The *hot* scenario puts every thread on one customer (and the floor on one balance
row), where every floor charge waits for the row lock of the one before. Floor and creditkit
alternate in rounds so that drift (disk, checkpoints) hits both.

Goals: 1 thread >= 0.6x the floor; several threads, spread and hot, >= 2.0x the floor, with a
p99 no worse than twice the floor's. Then, one thread: a charge through a spender under budgets
at three levels (its own, its parent's, the customer's) against the plain charge of another
customer in the same run, alternating: >= 0.8x.

    python bench/charge_throughput.py
    python bench/charge_throughput.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

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
    run_threads,
    write_json,
)

from creditkit import CreditKit

#: A charge through a spender under three budget levels, against the plain charge.
GOAL_RATIO_BUDGETED = 0.8
#: Throughput goals, creditkit / floor, per database: one thread; 8 threads each on a customer
#: of its own (spread); 8 threads on one hot customer (group commit's case).
GOAL_RATIOS = {
    "sqlite": {"one": 0.6, "spread": 1.2, "hot": 1.5},
    "postgresql": {"one": 0.6, "spread": 0.75, "hot": 2.0},
}
#: With several threads, creditkit's p99 latency at most this many times the floor's.
GOAL_P99_RATIO_MAX = 2.0
START_BALANCE = 10**15
AMOUNT = 1
WARMUP_EACH = 100


def create_floor_tables(raw: RawConnection) -> None:
    raw.begin()
    create_minimal_floor_tables(raw)
    raw.commit()


def floor_worker(raw: RawConnection, balance_id: int) -> Callable[[int], None]:
    def charge(_i: int) -> None:
        raw.begin()
        updated = raw.execute(
            "UPDATE floor_balances SET balance = balance - ? WHERE id = ? AND balance >= ?",
            (AMOUNT, balance_id, AMOUNT),
        )
        if updated != 1:
            raw.rollback()
            raise RuntimeError(f"floor balance {balance_id} ran out")
        raw.execute(
            "INSERT INTO floor_entries (balance_id, amount) VALUES (?, ?)", (balance_id, -AMOUNT)
        )
        raw.commit()

    return charge


def creditkit_worker(ck: CreditKit, customer: str, prefix: str) -> Callable[[int], None]:
    def charge(i: int) -> None:
        ck.charge(customer, AMOUNT, idempotency_key=f"{prefix}-{i}")

    return charge


def goal_of(dialect: str, result: dict[str, Any]) -> float:
    case = "one" if result["threads"] == 1 else "hot" if result["hot"] else "spread"
    return GOAL_RATIOS[dialect][case]


def run(
    database: BenchDatabase,
    thread_counts: list[int],
    operations: int,
    rounds: int,
    writer_lanes: int | None,
) -> Any:
    """Each thread count spread over customers of their own; and each count above 1 again with
    every thread on one hot customer."""
    scenarios = [(threads, False) for threads in thread_counts] + [
        (threads, True) for threads in thread_counts if threads > 1
    ]
    workers_max = max(thread_counts)
    customers = [f"customer-{index}" for index in range(workers_max)]
    ck = CreditKit(database.url, writer_lanes=writer_lanes)
    setup = database.connect()
    create_floor_tables(setup)
    setup.begin()
    setup.executemany(
        "INSERT INTO floor_balances (id, balance) VALUES (?, ?)",
        [(index + 1, START_BALANCE) for index in range(workers_max)],
    )
    setup.commit()
    for customer in customers:
        ck.create_customer(customer)
        ck.grant(customer, START_BALANCE, idempotency_key=f"grant-{customer}")
    raws = [database.connect() for _ in range(workers_max)]
    charged = [0] * workers_max

    results = []
    try:
        for threads, hot in scenarios:
            each = max(1, operations // rounds // threads)
            # Hot: every worker on the first customer (and the floor's first balance row).
            target = [0 if hot else w for w in range(threads)]
            floor_workers = [floor_worker(raws[w], target[w] + 1) for w in range(threads)]
            name = f"{threads}{'h' if hot else ''}"
            # Warm-up: connections opened, statements prepared, caches filled; not measured.
            run_threads(floor_workers, WARMUP_EACH)
            run_threads(
                [
                    creditkit_worker(ck, customers[target[w]], f"warm-{name}-{w}")
                    for w in range(threads)
                ],
                WARMUP_EACH,
            )
            floor = Timing(0, 0.0, [])
            kit = Timing(0, 0.0, [])
            for round_ in range(rounds):
                floor = floor.merged(run_threads(floor_workers, each))
                kit = kit.merged(
                    run_threads(
                        [
                            creditkit_worker(ck, customers[target[w]], f"t{name}-r{round_}-w{w}")
                            for w in range(threads)
                        ],
                        each,
                    )
                )
            for w in range(threads):
                charged[target[w]] += WARMUP_EACH + each * rounds
            results.append(
                {
                    "threads": threads,
                    "hot": hot,
                    "charges": kit.operations,
                    "creditkit": summary(kit),
                    "floor": summary(floor),
                    "ratio": kit.per_second / floor.per_second,
                }
            )
        check(ck, setup, customers, charged)
    finally:
        for raw in raws:
            raw.close()
        setup.close()
        ck.close()
    return results


def run_budgeted(database: BenchDatabase, operations: int, rounds: int) -> dict[str, Any]:
    """One thread: the plain charge (its floor here) against a charge through ``agent`` under
    ``team``, each with a budget, under a customer with one of its own (caps far above what
    the run spends), alternating in rounds."""
    ck = CreditKit(database.url)
    try:
        for customer in ("plain", "budgeted"):
            ck.create_customer(customer)
            ck.grant(customer, START_BALANCE, idempotency_key=f"grant-{customer}")
        ck.create_spender("budgeted", "team", kind="project")
        ck.create_spender("budgeted", "agent", kind="agent", parent="team")
        for spender in (None, "team", "agent"):
            ck.set_budget(
                "budgeted", START_BALANCE, spender=spender, idempotency_key=f"budget-{spender}"
            )

        def plain(prefix: str) -> Callable[[int], None]:
            return creditkit_worker(ck, "plain", prefix)

        def budgeted(prefix: str) -> Callable[[int], None]:
            def charge(i: int) -> None:
                ck.charge("budgeted", AMOUNT, spender="agent", idempotency_key=f"{prefix}-{i}")

            return charge

        run_threads([plain("warm-plain")], WARMUP_EACH)
        run_threads([budgeted("warm-budgeted")], WARMUP_EACH)
        each = max(1, operations // rounds)
        floor = Timing(0, 0.0, [])
        kit = Timing(0, 0.0, [])
        for round_ in range(rounds):
            floor = floor.merged(run_threads([plain(f"plain-r{round_}")], each))
            kit = kit.merged(run_threads([budgeted(f"budgeted-r{round_}")], each))
        charged = WARMUP_EACH + each * rounds
        used = [budget.used for budget in ck.budgets("budgeted", spender="agent")]
        if ck.balance("plain").available != START_BALANCE - charged or used != [charged]:
            raise AssertionError(f"plain and budgeted runs charged otherwise: {used}")
        return {
            "plain": summary(floor),
            "budgeted": summary(kit),
            "ratio": kit.per_second / floor.per_second,
        }
    finally:
        ck.close()


def scenario_name(result: dict[str, Any]) -> str:
    spread = "on one hot customer" if result["hot"] else "spread"
    return f"{result['threads']} thread(s) {spread}" if result["threads"] > 1 else "1 thread"


def summary(timing: Timing) -> dict[str, float]:
    return {
        "per_second": timing.per_second,
        "p50_ms": timing.latency_ms(0.50),
        "p99_ms": timing.latency_ms(0.99),
        "client_cpu_us": timing.cpu_us_per_operation,
        "server_cpu_us": timing.server_cpu_us_per_operation,
    }


def check(ck: CreditKit, raw: RawConnection, customers: list[str], charged: list[int]) -> None:
    """Both sides really charged: every balance is down by what was charged from it."""
    for index, customer in enumerate(customers):
        expected = START_BALANCE - charged[index] * AMOUNT
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
    parser = base_parser(
        __doc__.splitlines()[0] if __doc__ else "",
        operations=3000,
        operations_help="charges per implementation per thread count, over all rounds and "
        "threads (default 3000)",
    )
    parser.add_argument(
        "--threads",
        default=None,
        help="comma-separated thread counts (default 1,8; each count above 1 also hot)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="floor/creditkit alternations")
    parser.add_argument(
        "--writer-lanes",
        type=int,
        default=None,
        help="creditkit's writer_lanes (default: creditkit's own, 1 on SQLite, 4 on PostgreSQL)",
    )
    args = parser.parse_args()
    with bench_database(args.database_url, "charge") as database:
        if args.threads is None:
            thread_counts = [1, 8]
        else:
            thread_counts = [int(value) for value in args.threads.split(",")]
        info = header("charge_throughput", database)
        print(
            f"  {args.operations:,} charges per side per thread count, {args.rounds} alternating"
            f" rounds, {WARMUP_EACH} warm-up charges per thread"
        )
        results = run(database, thread_counts, args.operations, args.rounds, args.writer_lanes)
        budgeted = run_budgeted(database, args.operations, args.rounds)
    # A local PostgreSQL server shares the machine's CPUs with the client: its CPU per charge
    # says how much of the machine each side's charge takes in all.
    on_postgres = database.dialect == "postgresql"
    rows = []
    for result in results:
        for side in ("floor", "creditkit"):
            figures = result[side]
            rows.append(
                [
                    f"{database.label} {scenario_name(result)}",
                    side,
                    format_number(figures["per_second"]),
                    format_number(figures["p50_ms"], 3),
                    format_number(figures["p99_ms"], 3),
                    format_number(figures["client_cpu_us"]),
                    *([format_number(figures["server_cpu_us"])] if on_postgres else []),
                    format_number(result["ratio"], 3) if side == "creditkit" else "",
                ]
            )
    print()
    server_column = ["server CPU us/charge"] if on_postgres else []
    print_table(
        [
            "scenario",
            "side",
            "charges/s",
            "p50 ms",
            "p99 ms",
            "client CPU us/charge",
            *server_column,
            "ratio",
        ],
        rows,
    )
    print()
    for result in results:
        goal = goal_of(database.dialect, result)
        verdict = "meets" if result["ratio"] >= goal else "MISSES"
        line = (
            f"{database.label}, {scenario_name(result)}: creditkit/floor throughput ="
            f" {result['ratio']:.3f} ({verdict} the goal >= {goal})"
        )
        if result["threads"] > 1:
            p99_ratio = result["creditkit"]["p99_ms"] / result["floor"]["p99_ms"]
            p99_verdict = "meets" if p99_ratio <= GOAL_P99_RATIO_MAX else "MISSES"
            line += (
                f"; p99 creditkit/floor = {p99_ratio:.2f} ({p99_verdict} <= {GOAL_P99_RATIO_MAX})"
            )
        print(line)
    verdict = "meets" if budgeted["ratio"] >= GOAL_RATIO_BUDGETED else "MISSES"
    print(
        f"{database.label}, 1 thread through a spender under 3 budget levels:"
        f" {format_number(budgeted['budgeted']['per_second'])} charges/s against"
        f" {format_number(budgeted['plain']['per_second'])} plain,"
        f" ratio = {budgeted['ratio']:.3f} ({verdict} the goal >= {GOAL_RATIO_BUDGETED})"
    )
    write_json(args.json, info | {"results": results, "budgeted": budgeted})
    return 0


if __name__ == "__main__":
    sys.exit(main())
