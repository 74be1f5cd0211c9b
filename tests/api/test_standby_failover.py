"""A primary with a synchronous standby, and ``creditkit serve`` on both through one multi-host
``--database-url``: the primary's postmaster is killed (SIGKILL) under 8 writers charging
through the Python ``Client`` and one through the TypeScript client, and the standby promoted a
second later. Every charge a caller was told succeeded is on the new primary, each key applied
once, the ledger audits clean, and no caller saw an error: the server answered the switch 503
with ``Retry-After`` and the clients waited and sent the same Idempotency-Key again.

The clusters are made here (``initdb``, ``pg_basebackup``) on loopback ports of their own and
deleted afterwards; the longest gap between two successful charges (the stall) is printed.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from standby_clusters import StandbyPair, postgres_binaries, standby_pair
from test_two_processes import create_admin_key, free_port, server
from test_typescript_client import PACKAGE, _installed

from creditkit import CreditKit
from creditkit.client import Client
from creditkit.store.tables import transactions

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WRITERS = 8
#: Charges made before the primary is killed, and the wait from the kill to the promotion.
WARM_UP_SECONDS = 2.0
PROMOTE_AFTER_SECONDS = 1.0
#: How long the writers go on after the promotion: long enough for every one of them to be
#: through the switch and charging on the new primary.
AFTER_PROMOTION_SECONDS = 4.0
#: Each writer's own customer, with more credits than it can spend in the run.
GRANT = 10_000_000
DATABASE = "creditkit"
NODE_SECONDS_MAX = 120
#: Credits and one plan without a rate limit: nothing refuses the writers but a dead database.
CATALOG = (
    "units:\n  credits: {scale: 0, label: Credits}\n"
    "plans:\n  free: {name: Free, default: true, rank: 0}\n"
)


@dataclass
class Writer:
    """One caller's record: the keys it was told were charged, when, and what it was raised."""

    customer: str
    acknowledged: list[tuple[str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def pair() -> Iterator[StandbyPair]:
    binaries = postgres_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries (initdb) are installed")
    with standby_pair(binaries, free_port(), free_port()) as made:
        yield made


def charge_until(client: Client, writer: Writer, stop: threading.Event) -> None:
    """Charges one credit at a time, each under a key of its own, until ``stop``."""
    for number in range(1_000_000):
        if stop.is_set():
            return
        key = f"{writer.customer}-{number}"
        try:
            client.charge(writer.customer, 1, idempotency_key=key)
        except Exception as error:  # any error reaching a caller fails the test
            writer.errors.append(f"{key}: {error!r}")
            return
        writer.acknowledged.append((key, time.monotonic()))


NODE_WRITER = """
import { Client } from "./client/index.js";
const [url, secret, customer, seconds] = process.argv.slice(2);
const client = new Client(url, secret);
const acknowledged = [];
const started = Date.now();
let failure = null;
for (let number = 0; Date.now() - started < Number(seconds) * 1000; number += 1) {
  const key = `${customer}-${number}`;
  try {
    await client.charge(customer, { amount: 1, idempotencyKey: key });
    acknowledged.push(key);
  } catch (error) {
    failure = `${key}: ${error}`;
    break;
  }
}
console.log(JSON.stringify({ acknowledged, failure }));
"""


@pytest.fixture
def node_writer() -> Iterator[Path]:
    """The TypeScript client compiled into a folder of the package's (so that its imports
    resolve to the package's node_modules), with a script that charges through it."""
    tools = _installed()
    folder = PACKAGE / "build" / f"failover-{os.getpid()}"
    subprocess.run(
        [str(tools / "tsc"), "-p", "tsconfig.json", "--outDir", str(folder / "client")],
        cwd=PACKAGE,
        check=True,
        timeout=NODE_SECONDS_MAX,
    )
    (folder / "writer.mjs").write_text(NODE_WRITER)
    yield folder / "writer.mjs"
    shutil.rmtree(folder, ignore_errors=True)


def test_a_killed_primary_loses_no_acknowledged_charge(
    pair: StandbyPair, node_writer: Path, tmp_path: Path
) -> None:
    with pair.primary.connect() as connection:
        connection.execute(f'CREATE DATABASE "{DATABASE}"')
    url = pair.url(DATABASE)
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG)
    writers = [Writer(f"writer-{index}") for index in range(WRITERS)]
    with CreditKit(url, catalog=str(catalog)) as kit:
        for customer in [writer.customer for writer in writers] + ["node"]:
            kit.create_customer(customer)
            kit.grant(customer, GRANT, idempotency_key=f"grant-{customer}")
    secret = create_admin_key(url)
    with server(url, tmp_path / "server.log", catalog=catalog) as base_url:
        stop = threading.Event()
        clients = [Client(base_url, secret) for _ in writers]
        threads = [
            threading.Thread(target=charge_until, args=(client, writer, stop))
            for client, writer in zip(clients, writers, strict=True)
        ]
        run_seconds = WARM_UP_SECONDS + PROMOTE_AFTER_SECONDS + AFTER_PROMOTION_SECONDS
        node = subprocess.Popen(
            ["node", str(node_writer), base_url, secret, "node", str(run_seconds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for thread in threads:
            thread.start()
        # Real processes and a real crash: the clusters' own time, not a test clock.
        time.sleep(WARM_UP_SECONDS)
        killed_at = time.monotonic()
        pair.primary.kill_postmaster()
        time.sleep(PROMOTE_AFTER_SECONDS)
        pair.standby.promote()
        time.sleep(AFTER_PROMOTION_SECONDS)
        stop.set()
        for thread in threads:
            thread.join()
        for client in clients:
            client.close()
        node_out, node_err = node.communicate(timeout=NODE_SECONDS_MAX)
        served_503 = answers_of_status(base_url, 503)
    node_result = json.loads(node_out.strip().splitlines()[-1]) if node_out.strip() else {}
    check_no_error_surfaced(writers, node_result, node_err)
    check_all_acknowledged_applied_once(pair, writers, node_result["acknowledged"])
    stall = longest_gap_seconds(writers)
    print(
        f"\nfailover: {sum(len(w.acknowledged) for w in writers)} Python and"
        f" {len(node_result['acknowledged'])} TypeScript charges acknowledged, 0 lost,"
        f" 0 applied twice; longest stall {stall:.2f} s (the kill at"
        f" {killed_at - min(t for w in writers for _, t in w.acknowledged):.2f} s);"
        f" {served_503} answers of 503, retried"
    )
    acknowledged_after_kill = [
        t for writer in writers for _, t in writer.acknowledged if t > killed_at
    ]
    assert acknowledged_after_kill, "no charge went through after the switch"
    assert served_503 > 0, "no request met the switch: the clients' retries were not exercised"


def answers_of_status(base_url: str, status: int) -> int:
    """The server's count of its answers of ``status`` (its Prometheus /metrics)."""
    metrics = httpx.get(f"{base_url}/metrics", timeout=10).text
    pattern = rf'^creditkit_http_requests_total{{[^}}]*status="{status}"[^}}]*}} (\S+)$'
    return sum(int(float(count)) for count in re.findall(pattern, metrics, re.MULTILINE))


def check_no_error_surfaced(writers: list[Writer], node_result: dict, node_err: str) -> None:
    errors = [error for writer in writers for error in writer.errors]
    assert errors == [], errors
    assert node_result, f"the node writer printed nothing:\n{node_err[-3000:]}"
    assert node_result["failure"] is None, node_result["failure"]


def check_all_acknowledged_applied_once(
    pair: StandbyPair, writers: list[Writer], node_keys: list[str]
) -> None:
    """The new primary (the former standby) holds every acknowledged charge, once."""
    new_primary = f"postgresql+psycopg://postgres@127.0.0.1:{pair.standby.port}/{DATABASE}"
    engine = sa.create_engine(new_primary)
    with engine.connect() as connection:
        stored = list(
            connection.execute(
                sa.select(transactions.c.idempotency_key).where(transactions.c.kind == "charge")
            ).scalars()
        )
    engine.dispose()
    assert len(stored) == len(set(stored)), "a key was applied twice"
    acknowledged = {key for writer in writers for key, _ in writer.acknowledged} | set(node_keys)
    lost = acknowledged - set(stored)
    assert lost == set(), f"{len(lost)} acknowledged charges lost: {sorted(lost)[:10]}"
    with CreditKit(new_primary) as kit:
        report = kit.audit()
        assert report.ok, report.problems
        for customer in [writer.customer for writer in writers] + ["node"]:
            charged = sum(1 for key in stored if key.startswith(f"{customer}-"))
            assert kit.balance(customer).available == GRANT - charged


def longest_gap_seconds(writers: list[Writer]) -> float:
    moments = sorted(moment for writer in writers for _, moment in writer.acknowledged)
    return max(later - earlier for earlier, later in itertools.pairwise(moments))
