"""The usage reads against the charges a period holds: ``GET /app`` (through a real server) and
``usage_summary`` for a customer with ``--operations`` charges this period (default 1,000,000)
against one with ``--small`` (default 1,000), in the same database and run. The goal: large/small
<= 1.2 for both, which the usage rollups (hourly buckets kept in the spending transaction) are
for: a read sums a row per hour and action instead of a row per charge.

Both customers are on the example catalog's Pro plan, subscribed at the month's start, their
charges spread evenly over 20 days of it (so the period's partial hours at its edges hold none,
as for any period that started a while ago), each with an ``agent`` in its metadata (the
catalog's declared dimension, which the dashboard's insights break the last week down by).
Charges are seeded through ``charge_many`` in batches of ``BATCH_SIZE_MAX``. Reads alternate
between the customers so that drift hits them alike; the in-process ``dashboard_view`` (the
page's reads without the page) is timed too, to tell the data from the rendering.

    python bench/usage_rollups.py
    python bench/usage_rollups.py --operations 100000 --reads 50
    python bench/usage_rollups.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from _common import (
    Timing,
    base_parser,
    bench_database,
    format_number,
    header,
    print_table,
    vacuum,
    write_json,
)

from creditkit import ChargeRequest, CreditKit, ManualClock
from creditkit.api.auth import Access
from creditkit.client.testing import serve_in_thread
from creditkit.ledger.checks import BATCH_SIZE_MAX
from creditkit.server import create_app
from creditkit.server.serve import example_catalog
from creditkit.web.context import Pages
from creditkit.web.dashboard import HistoryFilters, dashboard_view

GOAL_RATIO = 1.2
WARMUP_READS = 10
MONTH_START = datetime(2027, 3, 1, tzinfo=UTC)
SPREAD = timedelta(days=20)
ACTIONS = ("chat_message", "document_summary", "image_generation")
AGENTS = ("Einstein", "Curie", "Turing", "Lovelace")
CUSTOMERS = ("small", "large")
READS = ("usage_summary", "dashboard_view", "GET /app")


def build(ck: CreditKit, clock: ManualClock, sizes: dict[str, int]) -> None:
    """Each customer's charges spread evenly over ``SPREAD`` from the month's start: one
    ``charge_many`` per time slot (both customers in it), at most ``BATCH_SIZE_MAX`` each."""
    for customer in sizes:
        ck.create_customer(customer)
        ck.subscribe(customer, "pro")
        ck.grant(customer, 10**12, idempotency_key=f"bench-grant-{customer}")
    slots = max(1, -(-sum(sizes.values()) // BATCH_SIZE_MAX))
    step = SPREAD / slots
    done = dict.fromkeys(sizes, 0)
    for slot in range(slots):
        clock.advance(seconds=step.total_seconds())
        requests = []
        for customer, total in sizes.items():
            upto = total * (slot + 1) // slots
            requests += [
                ChargeRequest(
                    customer,
                    1 + index % 5,
                    f"bench-{customer}-{index}",
                    action=ACTIONS[index % len(ACTIONS)],
                    metadata={"agent": AGENTS[index % len(AGENTS)]},
                )
                for index in range(done[customer], upto)
            ]
            done[customer] = upto
        for outcome in ck.charge_many(requests):
            if isinstance(outcome, Exception):
                raise outcome
        if slot % 100 == 99:
            print(f"  {sum(done.values()):,} charges seeded", flush=True)
    clock.advance(hours=5)  # the reads are a while after the last charge, as a page view is


def measure(ck: CreditKit, base_url: str, reads: int) -> dict[tuple[str, str], Timing]:
    pages = Pages(ck, Access(ck))
    filters = HistoryFilters("", "")
    tokens = {name: ck.keys.issue_session(name, ttl_seconds=3_600).token for name in CUSTOMERS}
    clients = {
        name: httpx.Client(base_url=base_url, cookies={"creditkit_session": token})
        for name, token in tokens.items()
    }

    def page(customer: str) -> None:
        response = clients[customer].get("/app")
        if response.status_code != 200:
            raise RuntimeError(f"GET /app answered {response.status_code}")

    sides: dict[str, Callable[[str], Any]] = {
        "usage_summary": ck.usage_summary,
        "dashboard_view": lambda customer: dashboard_view(pages, customer, None, filters),
        "GET /app": page,
    }
    try:
        for _ in range(WARMUP_READS):
            for customer in CUSTOMERS:
                for read in sides.values():
                    read(customer)
        latencies: dict[tuple[str, str], list[float]] = {
            (read, customer): [] for read in READS for customer in CUSTOMERS
        }
        clock = time.perf_counter
        for _ in range(reads):
            for customer in CUSTOMERS:
                for name, read in sides.items():
                    begin = clock()
                    read(customer)
                    latencies[(name, customer)].append(clock() - begin)
    finally:
        for client in clients.values():
            client.close()
    return {key: Timing(len(values), sum(values), values) for key, values in latencies.items()}


def main() -> int:
    parser = base_parser(
        __doc__.splitlines()[0] if __doc__ else "",
        operations=1_000_000,
        operations_help="the large customer's charges this period (default 1,000,000)",
    )
    parser.add_argument("--small", type=int, default=1_000, help="the small customer's charges")
    parser.add_argument("--reads", type=int, default=100, help="reads of each kind per customer")
    args = parser.parse_args()
    sizes = {"small": args.small, "large": args.operations}
    results: dict[str, Any] = {"charges": sizes, "reads": {}}
    with bench_database(args.database_url, "rollups") as database:
        results |= header("usage_rollups", database)
        clock = ManualClock(MONTH_START)
        with CreditKit(database.url, catalog=example_catalog(), clock=clock) as ck:
            begin = time.perf_counter()
            build(ck, clock, sizes)
            print(f"  seeded in {time.perf_counter() - begin:,.0f} s", flush=True)
            if database.dialect == "postgresql":
                # The test server runs with autovacuum off: every upsert of a rollup leaves a
                # dead row version behind until a vacuum, which a production server's
                # autovacuum does on its own (bench/balance_read.py measures both ways).
                vacuum(database)
                print("  VACUUM (ANALYZE) after the load", flush=True)
            with serve_in_thread(create_app(ck)) as base_url:
                timings = measure(ck, base_url, args.reads)
    rows = []
    for read in READS:
        figures = {
            customer: {
                "p50_ms": timings[(read, customer)].latency_ms(0.5),
                "p99_ms": timings[(read, customer)].latency_ms(0.99),
            }
            for customer in CUSTOMERS
        }
        ratio = figures["large"]["p50_ms"] / figures["small"]["p50_ms"]
        results["reads"][read] = figures | {"ratio_p50": ratio}
        rows.append(
            [
                read,
                *(
                    f"{format_number(figures[c]['p50_ms'], 2)} / "
                    f"{format_number(figures[c]['p99_ms'], 2)}"
                    for c in CUSTOMERS
                ),
                f"{ratio:.2f}",
            ]
        )
    print()
    print_table(
        [
            "read",
            f"small ({args.small:,}) p50 / p99 ms",
            f"large ({args.operations:,}) p50 / p99 ms",
            "large/small",
        ],
        rows,
    )
    print()
    for read in ("GET /app", "usage_summary"):
        ratio = results["reads"][read]["ratio_p50"]
        verdict = "meets" if ratio <= GOAL_RATIO else "MISSES"
        print(
            f"{database.label}: {read}, {args.operations:,} charges this period against"
            f" {args.small:,}: median ratio {ratio:.2f} ({verdict} the goal <= {GOAL_RATIO});"
            f" {args.reads:,} reads each"
        )
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
