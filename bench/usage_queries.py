"""Usage query time against spending volume: ``usage_summary``, ``usage_breakdown`` (by action)
and ``usage_series`` (per day) over one month, for three customers in the same database:

* ``small``: 1,000 charges in the month;
* ``large``: 100,000 charges in the month;
* ``history``: 1,000 charges in the month after 99,000 in the twelve months before it.

The queries sum a customer's charges over the period, so ``large`` costs what its 100,000 rows
cost to read (the ratio large/small says how much that is); ``history`` must cost what ``small``
costs, whatever came before the period (the goal: history/small <= 1.2), which is what
``ix_transactions_customer_usage`` (customer, unit, kind, created_at) is for.

Charges are spread evenly over their time span with a ManualClock, in batches of 1,000 through
``charge_many``, over four catalog actions. Reads alternate between the customers so that drift
hits them alike. ``--explain`` prints PostgreSQL's plan (EXPLAIN ANALYZE) of every statement the
three queries run for ``large``.

    python bench/usage_queries.py
    python bench/usage_queries.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from _common import (
    BenchDatabase,
    Timing,
    base_parser,
    bench_database,
    format_number,
    header,
    print_table,
    write_json,
)

from creditkit import ChargeRequest, CreditKit, ManualClock
from creditkit.catalog import parse_catalog

GOAL_RATIO_HISTORY = 1.2
BATCH = 1_000
START_BALANCE = 10**12
WARMUP_READS = 20
PERIOD_START = datetime(2027, 3, 1, tzinfo=UTC)
PERIOD_END = datetime(2027, 4, 1, tzinfo=UTC)
HISTORY_START = datetime(2026, 3, 1, tzinfo=UTC)
ACTIONS = ("ask_anything", "generate_image", "agent_message", "run_task")

CATALOG = """
units:
  credits: {scale: 0}
actions:
  ask_anything: {price: 1, unit: credits, label: Ask anything, category: chat}
  generate_image: {price: 5, unit: credits, label: Generate an image, category: images}
  agent_message: {price: 2, unit: credits, label: Agent message, category: agents}
  run_task: {price: 3, unit: credits, label: Run a task, category: agents}
plans:
  free:
    name: Free
    default: true
    rank: 0
"""


def spread(
    ck: CreditKit, clock: ManualClock, plan: dict[str, int], phase: str, until: datetime
) -> None:
    """Charges each customer of ``plan`` its number of charges, spread evenly from the clock's
    now to ``until``: one ``charge_many`` per time slot, at most ``BATCH`` charges each."""
    slots = max(1, sum(plan.values()) // BATCH)
    step = (until - clock()) / (slots + 1)
    done = dict.fromkeys(plan, 0)
    for slot in range(slots):
        clock.advance(seconds=step.total_seconds())
        requests = []
        for customer, total in plan.items():
            upto = total * (slot + 1) // slots
            requests += [
                ChargeRequest(
                    customer,
                    1 + index % 5,
                    f"{customer}-{phase}-{index}",
                    action=ACTIONS[index % len(ACTIONS)],
                )
                for index in range(done[customer], upto)
            ]
            done[customer] = upto
        for outcome in ck.charge_many(requests):
            if isinstance(outcome, Exception):
                raise outcome


def build(ck: CreditKit, clock: ManualClock, small: int, large: int) -> None:
    for customer in ("small", "large", "history"):
        ck.create_customer(customer)
        ck.grant(customer, START_BALANCE, idempotency_key=f"grant-{customer}")
    spread(ck, clock, {"history": large - small}, "before", PERIOD_START)
    print(f"  history: {large - small:,} charges in the year before the period", flush=True)
    clock.set(PERIOD_START)
    spread(
        ck,
        clock,
        {"small": small, "large": large, "history": small},
        "period",
        PERIOD_START + timedelta(days=28),
    )
    print(f"  small, history: {small:,} charges in the period; large: {large:,}", flush=True)
    clock.set(PERIOD_END - timedelta(days=1))


def queries(ck: CreditKit, customer: str) -> None:
    ck.usage_summary(customer, period=(PERIOD_START, PERIOD_END))
    ck.usage_breakdown(customer, by="action", start=PERIOD_START, end=PERIOD_END)
    ck.usage_series(customer, start=PERIOD_START, end=PERIOD_END)


def measure(ck: CreditKit, customers: list[str], reads: int) -> list[Timing]:
    for _ in range(WARMUP_READS):
        for customer in customers:
            queries(ck, customer)
    latencies: list[list[float]] = [[] for _ in customers]
    clock = time.perf_counter
    for _ in range(reads):
        for index, customer in enumerate(customers):
            begin = clock()
            queries(ck, customer)
            latencies[index].append(clock() - begin)
    return [Timing(len(values), sum(values), values) for values in latencies]


def explain(ck: CreditKit, database: BenchDatabase, customer: str) -> None:
    """Runs the queries once, capturing their statements, then prints each one's plan."""
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            captured.append((statement, parameters))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", capture)
    try:
        queries(ck, customer)
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", capture)
    engine = sa.create_engine(database.url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        for statement, parameters in captured:
            plan = connection.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
            ).fetchall()
            print("\n" + " ".join(statement.split())[:300])
            for (line,) in plan:
                print("    " + line)
    engine.dispose()


def latencies(timing: Timing) -> dict[str, float]:
    return {"p50_ms": timing.latency_ms(0.5), "p99_ms": timing.latency_ms(0.99)}


def vacuum(database: BenchDatabase) -> None:
    raw = database.connect()
    try:
        raw.execute_outside_transaction("VACUUM (ANALYZE)")
    finally:
        raw.close()


def main() -> int:
    parser = base_parser(
        __doc__.splitlines()[0] if __doc__ else "",
        operations=100_000,
        operations_help="charges of the large customer in the period (default 100,000)",
    )
    parser.add_argument("--small", type=int, default=1_000, help="charges of the small customer")
    parser.add_argument("--reads", type=int, default=100, help="reads of each customer")
    parser.add_argument("--explain", action="store_true", help="print PostgreSQL's plans")
    args = parser.parse_args()
    customers = ["small", "large", "history"]
    results: dict[str, Any] = {"phases": []}
    with bench_database(args.database_url, "usage") as database:
        results |= header("usage_queries", database)
        clock = ManualClock(HISTORY_START)
        with CreditKit(database.url, catalog=parse_catalog(CATALOG), clock=clock) as ck:
            begin = time.perf_counter()
            build(ck, clock, args.small, args.operations)
            print(f"  built in {time.perf_counter() - begin:,.0f} s", flush=True)
            phases = [("as loaded", False)]
            if database.dialect == "postgresql":
                phases.append(("after VACUUM (ANALYZE)", True))
            for phase, vacuum_first in phases:
                if vacuum_first:
                    vacuum(database)
                timings = dict(zip(customers, measure(ck, customers, args.reads), strict=True))
                small = timings["small"].latency_ms(0.5)
                results["phases"].append(
                    {
                        "phase": phase,
                        **{name: latencies(timing) for name, timing in timings.items()},
                        "ratio_large_p50": timings["large"].latency_ms(0.5) / small,
                        "ratio_history_p50": timings["history"].latency_ms(0.5) / small,
                    }
                )
            if args.explain and database.dialect == "postgresql":
                explain(ck, database, "large")
    sizes = {"small": args.small, "large": args.operations, "history": args.small}
    print()
    rows = []
    for phase in results["phases"]:
        for name in customers:
            rows.append(
                [
                    f"{database.label} {phase['phase']}",
                    f"{name} ({sizes[name]:,} charges in the period)",
                    format_number(phase[name]["p50_ms"], 2),
                    format_number(phase[name]["p99_ms"], 2),
                ]
            )
    print_table(["scenario", "customer", "median ms", "p99 ms"], rows)
    print()
    for phase in results["phases"]:
        verdict = "meets" if phase["ratio_history_p50"] <= GOAL_RATIO_HISTORY else "MISSES"
        print(
            f"{database.label} {phase['phase']}: summary+breakdown+series, median"
            f" large/small = {phase['ratio_large_p50']:.1f} (100x the rows);"
            f" history/small = {phase['ratio_history_p50']:.2f} ({verdict} the goal"
            f" <= {GOAL_RATIO_HISTORY}); {args.reads:,} reads each"
        )
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
