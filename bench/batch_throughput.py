"""Batch charge throughput: ``ck.charge_many`` with batches of 10,000 charges (``--batch``)
spread round robin over 1,000 customers (10 charges each per batch; ``--customers``), each batch
going on where the last stopped, against two raw-driver floors in the same database:

* ``floor (minimal)``: per batch one transaction of ``executemany`` of the conditional
  ``UPDATE floor_balances SET balance = balance - x WHERE id = ? AND balance >= x`` and
  ``executemany`` of one ``INSERT`` into ``floor_entries`` per charge: the least a charge is.
* ``floor (same rows)``: what creditkit writes per batch, written raw: the conditional
  ``UPDATE`` per charge, one transaction row per charge (unique idempotency key, request text)
  and two entry rows per charge, all by ``executemany``.

Goal on SQLite: creditkit >= 100,000 charges/s. Floors and creditkit alternate batch by batch.
creditkit's side checks that every charge went through with the answers' ``errors()``, which
builds no ``Charge``; ``--read-answers`` reads every answer instead (each ``Charge`` is built
when it is first read), as a caller that uses them all would.

    python bench/batch_throughput.py
    python bench/batch_throughput.py --replay-share 0.01   # a redelivery's replays, refusals
    python bench/batch_throughput.py --batch 256 --customers 2000   # the events ingest's shape
    python bench/batch_throughput.py --catalog src/creditkit/catalog/example.yaml  # plan alerts
    python bench/batch_throughput.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
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
    integer_types,
    print_table,
    write_json,
)

from creditkit import ChargeRequest, CreditKit

GOAL_PER_SECOND = 100_000
BATCH = 10_000
START_BALANCE = 10**15
AMOUNT = 1
SIDES = ("floor (minimal)", "floor (same rows)", "creditkit")


def create_floor_tables(raw: RawConnection) -> None:
    integer, serial = integer_types(raw.dialect)
    raw.begin()
    create_minimal_floor_tables(raw)
    raw.execute(
        f"CREATE TABLE floor_transactions (id {integer} PRIMARY KEY,"
        f" idempotency_key VARCHAR(255) NOT NULL UNIQUE, customer_id {integer} NOT NULL,"
        f" amount {integer} NOT NULL, request TEXT NOT NULL, created_at {integer} NOT NULL)"
    )
    raw.execute(
        f"CREATE TABLE floor_ledger_entries (id {serial}, transaction_id {integer} NOT NULL,"
        f" balance_id {integer}, amount {integer} NOT NULL)"
    )
    raw.commit()


UPDATE = "UPDATE floor_balances SET balance = balance - ? WHERE id = ? AND balance >= ?"


def floor_minimal(raw: RawConnection, customers: list[int]) -> None:
    raw.begin()
    raw.executemany(UPDATE, [(AMOUNT, customer, AMOUNT) for customer in customers])
    raw.executemany(
        "INSERT INTO floor_entries (balance_id, amount) VALUES (?, ?)",
        [(customer, -AMOUNT) for customer in customers],
    )
    raw.commit()


def floor_same_rows(raw: RawConnection, customers: list[int], first_id: int, tag: str) -> None:
    now = time.time_ns() // 1000
    raw.begin()
    raw.executemany(UPDATE, [(AMOUNT, customer, AMOUNT) for customer in customers])
    raw.executemany(
        "INSERT INTO floor_transactions"
        " (id, idempotency_key, customer_id, amount, request, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                first_id + index,
                f"{tag}-{index}",
                customer,
                AMOUNT,
                f'{{"operation":"charge","customer":"customer-{customer}","amount":{AMOUNT}}}',
                now,
            )
            for index, customer in enumerate(customers)
        ],
    )
    legs: list[tuple[int, int | None, int]] = []
    for index, customer in enumerate(customers):
        legs.append((first_id + index, customer, -AMOUNT))
        legs.append((first_id + index, None, AMOUNT))
    raw.executemany(
        "INSERT INTO floor_ledger_entries (transaction_id, balance_id, amount) VALUES (?, ?, ?)",
        legs,
    )
    raw.commit()


def timed(work: Callable[[], None]) -> float:
    begin = time.perf_counter()
    work()
    return time.perf_counter() - begin


def mixed(
    requests: list[ChargeRequest], previous: list[ChargeRequest], share: float, batch: int
) -> list[int]:
    """Mixes into ``requests``, in place, replays of ``previous`` (the last batch's charges, as a
    redelivered message brings them) and short charges (more than any balance holds after the
    warm-up batch: refused),
    alternately, spread evenly: ``share`` of the batch in all. Returns the positions replaced
    (they charge nothing)."""
    every = round(1 / share) if share > 0 else 0
    if every < 2 or not previous:
        return []
    replaced = list(range(every // 2, len(requests) - 1, every))
    for turn, index in enumerate(replaced):
        if turn % 2 == 0:
            # The next position's charge of the last batch: one that was charged, not mixed.
            requests[index] = previous[index + 1]
        else:
            requests[index] = ChargeRequest(
                requests[index].customer, START_BALANCE, f"short-{batch}-{index}"
            )
    return replaced


def run(
    database: BenchDatabase,
    customer_count: int,
    operations: int,
    read_answers: bool,
    replay_share: float = 0.0,
    batch_size: int = BATCH,
    catalog: str | None = None,
) -> dict[str, Any]:
    names = [f"customer-{index}" for index in range(customer_count)]
    raw = database.connect()
    create_floor_tables(raw)
    raw.begin()
    raw.executemany(
        "INSERT INTO floor_balances (id, balance) VALUES (?, ?)",
        [(index, START_BALANCE) for index in range(customer_count)],
    )
    raw.commit()
    ck = CreditKit(database.url, catalog=catalog)
    try:
        begin = time.perf_counter()
        for name in names:
            ck.create_customer(name)
            ck.grant(name, START_BALANCE, idempotency_key=f"grant-{name}")
            # A catalog's plan gave an allowance: used up, as a backlog's customers past it are
            # (every batch then finds them at 100% used), and the balances compare as without.
            allowance = ck.balance(name).available - START_BALANCE
            if allowance:
                ck.charge(name, allowance, idempotency_key=f"allowance-{name}")
        setup_seconds = time.perf_counter() - begin
        print(f"  {customer_count:,} customers with a grant each in {setup_seconds:.1f} s")
        batches = max(1, operations // batch_size)
        sides: dict[str, list[float]] = {side: [] for side in SIDES}
        transaction_id = 1
        previous: list[ChargeRequest] = []
        not_charged: Counter[int] = Counter()
        charged: Counter[int] = Counter()
        # One warm-up batch each (index -1), not measured.
        for batch in range(-1, batches):
            # Round robin over the customers, each batch going on where the last stopped: with
            # more customers than a batch holds, a customer's charges spread over many batches.
            first = (batch + 1) * batch_size
            order = [(first + index) % customer_count for index in range(batch_size)]
            charged.update(order)
            requests = [
                ChargeRequest(names[customer], AMOUNT, f"b{batch}-{index}")
                for index, customer in enumerate(order)
            ]
            fresh = list(requests)
            if replay_share:
                not_charged.update(
                    order[index] for index in mixed(requests, previous, replay_share, batch)
                )
            previous = fresh
            seconds = {
                "floor (minimal)": timed(partial(floor_minimal, raw, order)),
                "floor (same rows)": timed(
                    partial(floor_same_rows, raw, order, transaction_id, f"b{batch}")
                ),
                "creditkit": timed(partial(charge_many, ck, requests, read_answers)),
            }
            transaction_id += batch_size
            if batch >= 0:
                for side, value in seconds.items():
                    sides[side].append(value)
        check_balances(ck, raw, names, charged - not_charged, charged)
    finally:
        raw.close()
        ck.close()
    results: dict[str, Any] = {
        "batch": batch_size,
        "customers": customer_count,
        "batches": batches,
    }
    for side, values in sides.items():
        timing = Timing(batches * batch_size, sum(values), values)
        results[side] = {
            "per_second": timing.per_second,
            "batch_p50_ms": timing.latency_ms(0.5),
            "batch_p99_ms": timing.latency_ms(0.99),
        }
    return results


def charge_many(ck: CreditKit, requests: list[ChargeRequest], read_answers: bool) -> None:
    outcomes = ck.charge_many(requests)
    if read_answers:
        for request, outcome in zip(requests, outcomes, strict=True):
            if isinstance(outcome, Exception) and not request.idempotency_key.startswith("short-"):
                raise outcome
        return
    for index, error in outcomes.errors().items():
        if not requests[index].idempotency_key.startswith("short-"):
            raise error


def check_balances(
    ck: CreditKit,
    raw: RawConnection,
    names: list[str],
    charged: Counter[int],
    floor_charged: Counter[int],
) -> None:
    """Every side really charged: each balance is down by what was charged from it (the
    floors charge every position; creditkit not the replays and short charges mixed in)."""
    for index, name in enumerate(names):
        expected = START_BALANCE - charged[index] * AMOUNT
        available = ck.balance(name).available
        (floor_balance,) = raw.query_one(
            "SELECT balance FROM floor_balances WHERE id = ?", (index,)
        )
        raw.rollback()
        # Two floors charge the same rows, so the floor balance went down twice as far.
        floor_expected = START_BALANCE - 2 * floor_charged[index] * AMOUNT
        if available != expected or floor_balance != floor_expected:
            raise AssertionError(f"{name}: creditkit {available}, floor {floor_balance}")


def main() -> int:
    parser = base_parser(
        __doc__.splitlines()[0] if __doc__ else "",
        operations=200_000,
        operations_help="charges per side (default 200,000)",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=BATCH,
        help=f"charges per batch (default {BATCH:,}; the events ingest worker's are about 256)",
    )
    parser.add_argument("--customers", type=int, default=1_000, help="customers (default 1,000)")
    parser.add_argument(
        "--replay-share",
        type=float,
        default=0.0,
        help="share of each batch replaced by replays of the last batch's keys and short"
        " (refused) charges, half each, at most 0.5 (default 0: every charge plain and new)",
    )
    parser.add_argument(
        "--read-answers", action="store_true", help="read every answer (builds every Charge)"
    )
    parser.add_argument(
        "--catalog",
        help="a catalog YAML file: customers on its default plan, their allowance used up, its"
        " alerts looked at after every batch (default: no catalog)",
    )
    args = parser.parse_args()
    if not 0 <= args.replay_share <= 0.5:
        parser.error("--replay-share: from 0 to 0.5")
    if not 1 <= args.batch <= BATCH:
        parser.error(f"--batch: from 1 to {BATCH:,}")
    with bench_database(args.database_url, "batch") as database:
        info = header("batch_throughput", database)
        print(f"  answers: {'every one read' if args.read_answers else 'errors() only'}")
        print(f"  replays and short charges: {args.replay_share:.2%} of each batch")
        results = info | run(
            database,
            args.customers,
            args.operations,
            args.read_answers,
            args.replay_share,
            args.batch,
            args.catalog,
        )
        results["replay_share"] = args.replay_share
    kit = results["creditkit"]["per_second"]
    rows = []
    for side in SIDES:
        figures = results[side]
        rows.append(
            [
                f"{database.label}",
                side,
                format_number(figures["per_second"]),
                format_number(figures["batch_p50_ms"], 1),
                format_number(figures["batch_p99_ms"], 1),
                format_number(kit / figures["per_second"], 3) if side != "creditkit" else "",
            ]
        )
    print()
    print_table(
        ["database", "side", "charges/s", "batch p50 ms", "batch p99 ms", "creditkit/floor"], rows
    )
    print()
    verdict = "meets" if kit >= GOAL_PER_SECOND else "MISSES"
    print(
        f"{database.label}: creditkit charge_many {kit:,.0f} charges/s over"
        f" {results['batches']} batches of {args.batch:,} on {args.customers:,} customers"
        + (f" ({verdict} the goal >= {GOAL_PER_SECOND:,})" if database.dialect == "sqlite" else "")
    )
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
