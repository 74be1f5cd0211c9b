"""On PostgreSQL, a customer's usage reads (the summary, breakdowns and series the dashboard
shows) touch pages for that customer's rows and rollup buckets, not for the ledger's. Measured
with the plans PostgreSQL itself picks once the driver prepares the statements (psycopg does
from a statement's fifth run on a connection; from the server's sixth run of a prepared
statement it may switch to a generic plan, one that does not know the customer), after
``ANALYZE``. auto_explain reports each statement's plan with the pages it touched (``Shared Hit
Blocks`` and ``Shared Read Blocks`` of the top node include its children's).

The ledger's other rows here are another customer's charges, some in the range's partial edge
hours (read from the ledger's rows) and some in its whole hours (read from the rollups): a plan
that scans ``transactions`` reads them all for every customer, as the summary's grants did
(bench/usage_rollups.py: 53 ms for 1,000 charges as for 100,000).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from creditkit import ChargeRequest, CreditKit, ManualClock
from creditkit.catalog import Catalog

pytestmark = pytest.mark.postgres

#: Runs before the one measured: enough for the driver to prepare every statement and for the
#: server to weigh its generic plan (five custom plans first).
WARM_UP_READS = 12
#: The other customer's charges before the first measure and between the two, in batches of
#: ``BATCH``: enough that reading them is many pages.
OTHER_CHARGES_BEFORE = 1_000
OTHER_CHARGES_BETWEEN = 5_000
BATCH = 2_500
#: A whole hour, so that the range below has partial hours at both ends.
START = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
#: The range read: partial hours at both ends and whole hours between.
RANGE_START = START + timedelta(minutes=10)
RANGE_END = START + timedelta(hours=2, minutes=40)

Read = Callable[[CreditKit, str], object]
READS: dict[str, Read] = {
    "usage_summary": lambda kit, customer: kit.usage_summary(
        customer, period=(RANGE_START, RANGE_END)
    ),
    "usage_breakdown by action": lambda kit, customer: kit.usage_breakdown(
        customer, by="action", start=RANGE_START, end=RANGE_END
    ),
    "usage_breakdown by category": lambda kit, customer: kit.usage_breakdown(
        customer, by="category", start=RANGE_START, end=RANGE_END
    ),
    "usage_series by hour": lambda kit, customer: kit.usage_series(
        customer, start=RANGE_START, end=RANGE_END, granularity="hour"
    ),
}


def _pages_of(kit: CreditKit, read: Read, customer: str) -> tuple[int, list[str]]:
    """The pages ``read`` of the customer touches on the server, with each statement's count
    and first line, after ``WARM_UP_READS`` runs (on connections that log their plans)."""
    engine = kit._database.engine
    engine.dispose()  # new connections, each with the listener below from its start
    plans: list[str] = []
    recording = False

    def collect(diagnostic: psycopg.errors.Diagnostic) -> None:
        if recording and diagnostic.message_primary:
            plans.append(diagnostic.message_primary)

    @sa.event.listens_for(engine, "connect")
    def explain_everything(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.autocommit = True
        for setting in (
            "LOAD 'auto_explain'",
            "SET auto_explain.log_min_duration = 0",
            "SET auto_explain.log_analyze = on",
            "SET auto_explain.log_buffers = on",
            "SET auto_explain.log_timing = off",
            "SET auto_explain.log_format = json",
            "SET client_min_messages = log",
        ):
            dbapi_connection.execute(setting)
        dbapi_connection.autocommit = False
        dbapi_connection.add_notice_handler(collect)

    try:
        for _ in range(WARM_UP_READS):
            read(kit, customer)
        recording = True
        read(kit, customer)
        recording = False
    finally:
        sa.event.remove(engine, "connect", explain_everything)
        engine.dispose()
    total = 0
    lines = []
    for message in plans:
        # "duration: … ms  plan:\n{json}"
        plan = json.loads(message.split("\n", 1)[1])
        top = plan["Plan"]
        pages = top["Shared Hit Blocks"] + top["Shared Read Blocks"]
        total += pages
        lines.append(f"{pages} pages: {plan['Query Text'].splitlines()[0][:100]}")
    return total, lines


def _analyze(url: str) -> None:
    """Statistics as a production server's autovacuum keeps them (the test server's is off)."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE)")


def _charge_busy(kit: CreditKit, first: int, count: int) -> None:
    for low in range(first, first + count, BATCH):
        kit.charge_many(
            [
                ChargeRequest("busy", 1, f"busy-{index}", action="ask_anything")
                for index in range(low, min(low + BATCH, first + count))
            ]
        )


# Counted alone (``make test-slow`` runs its tests one at a time): the pages a plan touches also
# depend on what else the server runs, and `make test`'s second worker runs other tests beside it.
@pytest.mark.slow
def test_usage_reads_touch_the_customers_rows_however_many_charges_others_made(
    postgres_url: str, usage_catalog: Catalog
) -> None:
    clock = ManualClock(START)
    with CreditKit(postgres_url, catalog=usage_catalog, clock=clock) as kit:
        for customer in ("u1", "busy"):
            kit.create_customer(customer)
            kit.grant(customer, 10**9, idempotency_key=f"grant-{customer}")
        # Each hour of the range: the first and the last partial, the middle one whole.
        for hour in range(3):
            clock.set(START + timedelta(hours=hour, minutes=20))
            for index in range(5):
                action = ("ask_anything", "generate_image")[index % 2]
                kit.charge("u1", idempotency_key=f"u1-{hour}-{index}", action=action)
            _charge_busy(kit, hour * OTHER_CHARGES_BEFORE, OTHER_CHARGES_BEFORE // 3)
        _analyze(postgres_url)
        alone = {name: _pages_of(kit, read, "u1") for name, read in READS.items()}
        # Within the range's last (partial) hour.
        clock.set(START + timedelta(hours=2, minutes=30))
        _charge_busy(kit, 10 * OTHER_CHARGES_BEFORE, OTHER_CHARGES_BETWEEN)
        _analyze(postgres_url)
        beside = {name: _pages_of(kit, read, "u1") for name, read in READS.items()}
    # The ledger grew by hundreds of pages; a read bounded by the customer's rows and buckets
    # may only descend a level deeper in an index here and there (each partial hour's range is
    # read through two indexes, one for spending counted when it was made, one for late usage).
    for name in READS:
        pages_alone, _ = alone[name]
        pages_beside, statements = beside[name]
        assert pages_beside <= pages_alone + 20, f"{name}: {pages_alone} pages, then\n" + (
            "\n".join(statements)
        )
