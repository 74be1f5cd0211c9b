"""The usage dashboard's cost: the whole page over HTTP (``GET /app``: session cookie, the
kit's reads, the template, the response) against its floor, the same reads made in-process
with no page around them, in the same run. The ratio floor/page is the part of a page's time
that is the data; the rest is rendering and HTTP.

One customer on the example catalog's Pro plan with ``--operations`` charges spread over the
month so far, as a busy customer's dashboard has. Reads alternate between the two sides so that
drift hits them alike.

    python bench/pages.py
    python bench/pages.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import time
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
    write_json,
)

from creditkit import ChargeRequest, CreditKit, ManualClock
from creditkit.api.auth import Access
from creditkit.client.testing import serve_in_thread
from creditkit.server import create_app
from creditkit.server.serve import example_catalog
from creditkit.web.context import Pages
from creditkit.web.dashboard import HistoryFilters, dashboard_view

BATCH = 1_000
WARMUP_READS = 20
MONTH_START = datetime(2027, 3, 1, tzinfo=UTC)
ACTIONS = ("chat_message", "document_summary", "image_generation")
AGENTS = ("Einstein", "Curie", "Turing", "Lovelace")


def build(ck: CreditKit, clock: ManualClock, charges: int) -> None:
    """``charges`` charges spread evenly over 20 days of the month, in batches."""
    ck.create_customer("alice")
    ck.subscribe("alice", "pro")
    ck.grant("alice", 10**12, idempotency_key="bench-grant")
    step = timedelta(days=20) / max(charges // BATCH, 1)
    for start in range(0, charges, BATCH):
        clock.advance(seconds=step.total_seconds())
        requests = [
            ChargeRequest(
                "alice",
                1 + index % 5,
                f"bench-{index}",
                action=ACTIONS[index % len(ACTIONS)],
                metadata={"agent": AGENTS[index % len(AGENTS)]},
            )
            for index in range(start, min(start + BATCH, charges))
        ]
        for outcome in ck.charge_many(requests):
            if isinstance(outcome, Exception):
                raise outcome


def measure(ck: CreditKit, base_url: str, reads: int) -> tuple[Timing, Timing]:
    pages = Pages(ck, Access(ck))
    filters = HistoryFilters("", "")
    token = ck.keys.issue_session("alice", ttl_seconds=3_600).token
    with httpx.Client(base_url=base_url, cookies={"creditkit_session": token}) as http:

        def page() -> None:
            response = http.get("/app")
            assert response.status_code == 200, response.status_code

        def floor() -> None:
            dashboard_view(pages, "alice", None, filters)

        for _ in range(WARMUP_READS):
            page()
            floor()
        sides: dict[str, list[float]] = {"floor": [], "page": []}
        clock = time.perf_counter
        for _ in range(reads):
            for name, read in (("floor", floor), ("page", page)):
                begin = clock()
                read()
                sides[name].append(clock() - begin)
    return tuple(  # type: ignore[return-value]
        Timing(len(values), sum(values), values) for values in sides.values()
    )


def main() -> int:
    parser = base_parser(
        __doc__.splitlines()[0] if __doc__ else "",
        operations=20_000,
        operations_help="the customer's charges this month (default 20,000)",
    )
    parser.add_argument("--reads", type=int, default=200, help="reads of each side")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with bench_database(args.database_url, "pages") as database:
        results |= header("pages", database)
        clock = ManualClock(MONTH_START)
        with CreditKit(database.url, catalog=example_catalog(), clock=clock) as ck:
            build(ck, clock, args.operations)
            with serve_in_thread(create_app(ck)) as base_url:
                floor, page = measure(ck, base_url, args.reads)
    results |= {
        "charges": args.operations,
        "floor": {"p50_ms": floor.latency_ms(0.5), "p99_ms": floor.latency_ms(0.99)},
        "page": {"p50_ms": page.latency_ms(0.5), "p99_ms": page.latency_ms(0.99)},
        "ratio_p50": floor.latency_ms(0.5) / page.latency_ms(0.5),
    }
    print()
    print_table(
        ["side", "median ms", "p99 ms"],
        [
            [name, format_number(results[name]["p50_ms"], 2),
             format_number(results[name]["p99_ms"], 2)]
            for name in ("floor", "page")
        ],
    )  # fmt: skip
    print(
        f"\n{database.label}: dashboard of a customer with {args.operations:,} charges this"
        f" month: floor/page median = {results['ratio_p50']:.2f} (the part that is the data);"
        f" {args.reads:,} reads each"
    )
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
