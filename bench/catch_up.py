"""The charge that finds a backlog: one ``ck.charge`` of a customer whose ``--operations`` holds
(default 3,000) all timed out before it, against the floor of a plain charge of a customer with
nothing due, in the same database and the same run.

Each round builds a fresh customer: a grant, ``--operations`` holds of one credit (a third of
them spent by a spender with a budget, a tenth taken under a parent hold), the clock moved past
their timeout, then the charge, timed. The plain charges are timed in between (20 per round,
the median kept). Also timed: the worker's ``ck.tick()`` over the same backlog (the ahead of
time catch-up a charge should rarely have to share). Every round checks the balance and the
audit afterwards.

    python bench/catch_up.py
    python bench/catch_up.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

from _common import base_parser, bench_database, format_number, header, print_table, write_json

from creditkit import CreditKit, ManualClock

GOAL_SECONDS = 0.2
PLAIN_CHARGES_PER_ROUND = 20
HOLD_TIMEOUT_SECONDS = 60
GRANT = 10**9


def build_backlog(ck: CreditKit, clock: ManualClock, customer: str, holds: int) -> None:
    """``customer`` with ``holds`` active holds of one credit, every one timed out by now."""
    ck.create_customer(customer)
    ck.grant(customer, GRANT, idempotency_key=f"{customer}-grant")
    ck.create_spender(customer, "agent", kind="agent")
    ck.set_budget(
        customer, 10**6, spender="agent", period="day", idempotency_key=f"{customer}-budget"
    )
    parent = None
    for index in range(holds):
        spender = "agent" if index % 3 == 0 else None
        if index % 10 == 0 or parent is None:
            parent = ck.reserve(
                customer,
                20,
                idempotency_key=f"{customer}-parent-{index}",
                timeout_seconds=HOLD_TIMEOUT_SECONDS,
            ).id
            continue
        ck.reserve(
            customer,
            1,
            idempotency_key=f"{customer}-hold-{index}",
            timeout_seconds=HOLD_TIMEOUT_SECONDS - 1,
            spender=spender,
            parent=parent if index % 10 == 1 else None,
        )
    clock.advance(seconds=HOLD_TIMEOUT_SECONDS + 1)


def plain_charge_seconds(ck: CreditKit, customer: str, round_: int) -> float:
    laps = []
    for index in range(PLAIN_CHARGES_PER_ROUND):
        begin = time.perf_counter()
        ck.charge(customer, 1, idempotency_key=f"plain-{round_}-{index}")
        laps.append(time.perf_counter() - begin)
    return statistics.median(laps)


def check(ck: CreditKit, customer: str, charged: int) -> None:
    balance = ck.balance(customer)
    if balance.held != 0 or balance.available != GRANT - charged:
        raise SystemExit(f"{customer}: wrong balance after the run: {balance}")
    report = ck.audit()
    if not report.ok:
        raise SystemExit(f"audit failed: {report.problems[:3]}")


def main() -> int:
    parser = base_parser(
        __doc__.splitlines()[0] if __doc__ else "",
        operations=3_000,
        operations_help="timed-out holds the charge finds (default 3,000)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="customers with a backlog each")
    args = parser.parse_args()
    results: dict[str, Any] = {"rounds": []}
    clock = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    with bench_database(args.database_url, "catch_up") as database:
        results |= header("catch_up", database)
        with CreditKit(database.url, clock=clock) as ck:
            ck.create_customer("plain")
            ck.grant("plain", GRANT, idempotency_key="plain-grant")
            plain_charge_seconds(ck, "plain", -1)  # warm-up
            for round_ in range(args.rounds):
                customer = f"backlog-{round_}"
                build_backlog(ck, clock, customer, args.operations)
                floor = plain_charge_seconds(ck, "plain", round_)
                begin = time.perf_counter()
                ck.charge(customer, 1, idempotency_key=f"{customer}-charge")
                charge = time.perf_counter() - begin
                worker_customer = f"worker-{round_}"
                build_backlog(ck, clock, worker_customer, args.operations)
                begin = time.perf_counter()
                ck.tick()
                worker = time.perf_counter() - begin
                check(ck, customer, 1)
                check(ck, worker_customer, 0)
                results["rounds"].append(
                    {"charge_s": charge, "floor_s": floor, "worker_expire_s": worker}
                )
                print(
                    f"  round {round_}: charge {charge:.3f} s, plain charge {floor * 1000:.2f} ms,"
                    f" worker tick {worker:.3f} s",
                    flush=True,
                )
    rounds = results["rounds"]
    charge = statistics.median(r["charge_s"] for r in rounds)
    floor = statistics.median(r["floor_s"] for r in rounds)
    worker = statistics.median(r["worker_expire_s"] for r in rounds)
    results |= {
        "holds": args.operations,
        "charge_s": charge,
        "floor_s": floor,
        "ratio": charge / floor,
        "worker_s": worker,
    }
    print()
    print_table(
        ["scenario", "seconds (median)", "ratio to a plain charge"],
        [
            [f"{database.label} plain charge (floor)", format_number(floor, 4), "1"],
            [
                f"{database.label} charge finding {args.operations:,} timed-out holds",
                format_number(charge, 4),
                format_number(charge / floor, 1),
            ],
            [
                f"{database.label} worker ck.tick() of {args.operations:,} holds",
                format_number(worker, 4),
                format_number(worker / floor, 1),
            ],
        ],
    )
    verdict = "meets" if charge <= GOAL_SECONDS else "MISSES"
    print(
        f"\n{database.label}: the charge that finds {args.operations:,} timed-out holds took"
        f" {charge:.3f} s ({verdict} the goal <= {GOAL_SECONDS} s), {charge / floor:.1f}x a plain"
        f" charge; {args.rounds} rounds"
    )
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
