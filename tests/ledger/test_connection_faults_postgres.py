"""Connection faults on PostgreSQL: the service's connections terminated under load
(``pg_terminate_backend``, as a failover or an administrator does) never surface as a database
error. A write whose connection died is rerun on a fresh one (its idempotency key makes that
safe, even when the commit itself was lost in flight); when that cannot succeed, the caller gets
``LedgerBusy``, which the API answers as 503 with Retry-After. Every key is applied exactly once.

Real threads on one CreditKit, and a real killer thread terminating the kit's backends; every
loop is bounded and nothing sleeps on the clock under test.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from creditkit import CreditKit, CreditKitError, LedgerBusy, ManualClock

pytestmark = pytest.mark.postgres

THREADS = 8
CHARGES_PER_THREAD = 40
TERMINATIONS = 10
WAIT_TIMEOUT_SECONDS = 120


def database_name(url: str) -> str:
    return url.rpartition("/")[2]


def terminate_backends(admin_url: str, database: str) -> int:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return len(rows)


def test_terminated_connections_under_load_are_rerun_never_an_error(
    postgres_url: str,
) -> None:
    admin_url = postgres_url.rpartition("/")[0] + "/postgres"
    kit = CreditKit(postgres_url, units={"credits": 0}, clock=ManualClock())
    try:
        kit.create_customer("u1")
        total = THREADS * CHARGES_PER_THREAD
        kit.grant("u1", total, idempotency_key="g1")
        outcomes: dict[str, str] = {}
        errors: list[BaseException] = []
        lock = threading.Lock()
        started = threading.Event()

        def charge(worker: int) -> None:
            started.set()
            for index in range(CHARGES_PER_THREAD):
                key = f"c{worker}-{index}"
                try:
                    kit.charge("u1", 1, idempotency_key=key)
                    outcome = "applied"
                except LedgerBusy:
                    outcome = "busy"
                except CreditKitError as error:
                    outcome = error.code
                except BaseException as error:  # a database error reaching the caller
                    with lock:
                        errors.append(error)
                    outcome = "error"
                with lock:
                    outcomes[key] = outcome

        def kill() -> int:
            started.wait(WAIT_TIMEOUT_SECONDS)
            killed = 0
            for _round in range(TERMINATIONS):
                killed += terminate_backends(admin_url, database_name(postgres_url))
            return killed

        with ThreadPoolExecutor(THREADS + 1) as pool:
            killer = pool.submit(kill)
            workers = [pool.submit(charge, worker) for worker in range(THREADS)]
            for future in workers:
                future.result(timeout=WAIT_TIMEOUT_SECONDS)
            killer.result(timeout=WAIT_TIMEOUT_SECONDS)
        assert errors == [], [repr(error) for error in errors[:3]]
        assert set(outcomes.values()) <= {"applied", "busy"}
        # A key that was answered busy may or may not have committed; its retry tells, and
        # applies it at most once.
        for key, outcome in outcomes.items():
            if outcome == "busy":
                kit.charge("u1", 1, idempotency_key=key)
        balance: Any = kit.balance("u1")
        assert balance.available == 0  # every key spent exactly one credit
        assert kit.audit().ok
    finally:
        kit.close()


def test_a_read_whose_connection_died_is_ledger_busy_not_a_database_error(
    postgres_url: str,
) -> None:
    from creditkit.store.database import Database

    database = Database(postgres_url)
    try:
        with pytest.raises(LedgerBusy), database.read() as connection:
            connection.exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())")
    finally:
        database.dispose()


def test_a_write_whose_connection_died_once_is_rerun(postgres_url: str) -> None:
    from creditkit.store.database import Database

    database = Database(postgres_url)
    runs: list[int] = []

    def work(connection: Any) -> int:
        runs.append(1)
        if len(runs) == 1:
            connection.exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())")
        return int(connection.exec_driver_sql("SELECT 7").scalar_one())

    try:
        assert database.write(work) == 7
        assert len(runs) == 2
    finally:
        database.dispose()
