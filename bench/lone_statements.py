"""SQLite: what a lone charge's statements cost in themselves, with no Python of creditkit's.

Makes a ledger with creditkit, then sends the statements a lone plain charge sends (BEGIN
IMMEDIATE, the lock read with the grants, the transaction's insert, its two entries, the usage
rollup's upsert, COMMIT) through the bare ``sqlite3`` module on the same file, and beside it the
floor of ``charge_throughput.py`` (its balance update and entry insert, WAL, the same
``synchronous``). Each variant leaves one statement out (the commit left out is a ROLLBACK), so
that the difference to the whole is that statement's share; the variants and the floor take
turns every ``--chunk`` charges, so that the machine's drift hits them alike. Prints each
variant's median CPU (this process, ``time.process_time``: SQLite's work and the syscalls it
makes) and wall time per charge, and floor/variant throughput.

    python bench/lone_statements.py [--chunk 50] [--rounds 20] [--page-size 4096]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import load_average

from creditkit import CreditKit
from creditkit.store.database import SQLITE_SYNCHRONOUS
from creditkit.store.flavor import ENTRY_IDS_PER_TRANSACTION, flavor_of_dialect

START_BALANCE = 10**15
WARMUP = 100
REQUEST = (
    '{"operation":"charge","customer":"a","unit":"credits","amount":1,"action":null,"metadata":{}}'
)
INSERT_TRANSACTION = (
    "INSERT INTO transactions (idempotency_key, kind, status, customer_id, counterparty_id, unit,"
    " amount, action, hold_id, member, spender, request, outcome, metadata, created_at,"
    " occurred_at, reverses_id) VALUES (?, 'charge', 'applied', ?, NULL, 'credits', 1, NULL, NULL,"
    " NULL, NULL, ?, NULL, '{}', ?, NULL, NULL)"
)
INSERT_ENTRY = (
    "INSERT INTO entries (id, transaction_id, account_id, unit, amount) VALUES (?, ?, ?, ?, ?)"
)
UPSERT_ROLLUP = (
    "INSERT INTO usage_rollups (customer_id, unit, bucket_start, action, member, spender, steps,"
    " charges, issued, expired) VALUES (?, 'credits', ?, '', '', '', 1, 1, 0, 0)"
    " ON CONFLICT (customer_id, unit, bucket_start, action, member, spender) DO UPDATE SET"
    " steps = usage_rollups.steps + excluded.steps, charges = usage_rollups.charges + 1"
)
VARIANTS = ("whole", "lock read", "transaction", "entries", "rollup", "commit")
BUCKET_START = 1_796_691_600_000_000


def _ledger(path: Path, page_size: int | None) -> tuple[int, int, int]:
    """A customer with a grant, charged ``WARMUP`` times: its id, its grant's account and the
    unit's consumption account."""
    if page_size is not None:
        with sqlite3.connect(path) as connection:
            connection.execute(f"PRAGMA page_size={page_size}")
            connection.execute("CREATE TABLE page_size_set (id INTEGER PRIMARY KEY)")
    ck = CreditKit(f"sqlite:///{path}")
    try:
        ck.create_customer("a")
        grant = ck.grant("a", START_BALANCE, idempotency_key="grant")
        for index in range(WARMUP):
            ck.charge("a", 1, idempotency_key=f"warm-{index}")
    finally:
        ck.close()
    with sqlite3.connect(path) as connection:
        customer = connection.execute("SELECT id FROM customers WHERE external_id = 'a'")
        consumption = connection.execute(
            "SELECT id FROM accounts WHERE kind = 'consumption' AND unit = 'credits'"
        )
        return customer.fetchone()[0], grant.id, consumption.fetchone()[0]


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
    connection.execute("PRAGMA foreign_keys=ON")
    return connection


def _creditkit_statements(path: Path, page_size: int | None) -> Callable[[int, str], None]:
    customer, grant, consumption = _ledger(path, page_size)
    connection = _connect(path)
    lock = flavor_of_dialect("sqlite").lock_statement(1, with_grants=True)

    def charge(index: int, left_out: str) -> None:
        cursor = connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        if left_out != "lock read":
            cursor.execute(lock, ("a",)).fetchall()
        if left_out != "transaction":
            key = f"{left_out}-{index}"
            cursor.execute(INSERT_TRANSACTION, (key, customer, REQUEST, BUCKET_START + index))
            if left_out != "entries":
                transaction = int(cursor.lastrowid or 0)
                first = transaction * ENTRY_IDS_PER_TRANSACTION
                cursor.executemany(
                    INSERT_ENTRY,
                    [
                        (first, transaction, grant, "credits", -1),
                        (first + 1, transaction, consumption, "credits", 1),
                    ],
                )
        if left_out != "rollup":
            cursor.execute(UPSERT_ROLLUP, (customer, BUCKET_START))
        cursor.execute("ROLLBACK" if left_out == "commit" else "COMMIT")
        cursor.close()

    return charge


def _floor(path: Path) -> Callable[[int, str], None]:
    connection = _connect(path)
    connection.execute("CREATE TABLE floor_balances (id INTEGER PRIMARY KEY, balance INTEGER)")
    connection.execute(
        "CREATE TABLE floor_entries (id INTEGER PRIMARY KEY, balance_id INTEGER, amount INTEGER)"
    )
    connection.execute("INSERT INTO floor_balances VALUES (1, ?)", (START_BALANCE,))

    def charge(_index: int, _left_out: str) -> None:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(
            "UPDATE floor_balances SET balance = balance - 1 WHERE id = 1 AND balance >= 1"
        )
        connection.execute("INSERT INTO floor_entries (balance_id, amount) VALUES (1, -1)")
        connection.execute("COMMIT")

    return charge


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunk", type=int, default=50, help="charges per turn (default 50)")
    parser.add_argument("--rounds", type=int, default=20, help="turns of each (default 20)")
    parser.add_argument(
        "--page-size", type=int, default=None, help="the ledger's page size (default SQLite's)"
    )
    arguments = parser.parse_args()
    if not 0 < arguments.chunk <= 10_000 or not 0 < arguments.rounds <= 1_000:
        parser.error("--chunk from 1 to 10,000, --rounds from 1 to 1,000")
    print(f"lone_statements on SQLite {sqlite3.sqlite_version}, WAL, synchronous="
          f"{SQLITE_SYNCHRONOUS}; load average {load_average():.2f}")  # fmt: skip
    with tempfile.TemporaryDirectory() as directory:
        ledger = _creditkit_statements(Path(directory) / "ledger.db", arguments.page_size)
        floor = _floor(Path(directory) / "floor.db")
        sides = [("floor", floor, "")] + [(name, ledger, name) for name in VARIANTS]
        cpu: dict[str, list[float]] = {name: [] for name, _charge, _left in sides}
        wall: dict[str, list[float]] = {name: [] for name, _charge, _left in sides}
        index = 0
        for _round in range(arguments.rounds):
            for name, charge, left_out in sides:
                started, started_cpu = time.perf_counter(), time.process_time()
                for _charge in range(arguments.chunk):
                    charge(index, left_out)
                    index += 1
                cpu[name].append((time.process_time() - started_cpu) / arguments.chunk * 1e6)
                wall[name].append((time.perf_counter() - started) / arguments.chunk * 1e6)
    whole_cpu = statistics.median(cpu["whole"])
    print(f"{'statements':22s} {'CPU us':>8s} {'wall us':>8s} {'floor/this':>10s} {'its CPU':>8s}")
    for name, _charge, _left in sides:
        ratio = statistics.median(f / w for f, w in zip(wall["floor"], wall[name], strict=True))
        cpu_us, wall_us = statistics.median(cpu[name]), statistics.median(wall[name])
        whole = name in ("floor", "whole")
        label = name if whole else f"without {name}"
        share = "" if whole else f"{whole_cpu - cpu_us:8.1f}"
        print(f"{label:22s} {cpu_us:8.1f} {wall_us:8.1f} {ratio:10.3f} {share}")


if __name__ == "__main__":
    main()
