"""Two ``creditkit serve`` processes on one PostgreSQL database, charged from many threads at once:
every Idempotency-Key applies once (also when sent to both processes at the same moment), the
balances come out exact, nothing answers 5xx, the plan's rate limit holds across both processes
(the database counts it), and the ledger audits clean.

Both servers read their time from one clock file (``CREDITKIT_CLOCK_FILE``) that holds still
while they are charged, so the free customer's requests all fall in one rate window however long
they take: exactly the plan's limit goes through and the rest are 429s. On the system clock a slow
run spread them over windows that each stayed under the limit, and nothing was refused.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import creditkit
from creditkit import CreditKit
from creditkit.api.problems import PROBLEM_CONTENT_TYPE
from creditkit.server.serve import example_catalog
from creditkit.store.tables import customers, rate_windows

pytestmark = pytest.mark.postgres

SERVERS = 2
#: Client threads, in pairs: the two threads of a pair send the same requests in the same order,
#: one to each server, so that each twin key reaches both processes at about the same moment.
THREAD_PAIRS = 8
#: Keys each pair sends to both servers (twins), and keys each thread sends alone.
TWIN_KEYS_PER_PAIR = 10
SINGLE_KEYS_PER_THREAD = 5
#: Customers on the pro plan (120 requests a minute: the 60 each gets here stay under it).
PRO_CUSTOMERS = 4
#: Charges of one credit to the free customer, per thread: 16 x 3 = 48 against a limit of 30.
FREE_CHARGES_PER_THREAD = 3
FREE_RATE_LIMIT_PER_MINUTE = 30
FREE_ALLOWANCE = 100
SERVER_START_SECONDS_MAX = 60
SERVER_STOP_SECONDS_MAX = 10
REQUEST_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Sent:
    server: int
    customer: str
    key: str
    amount: int
    status: int
    body: dict[str, Any]
    headers: httpx.Headers


def source_environment() -> dict[str, str]:
    """The environment of the processes: the creditkit under test, whichever tree it is in."""
    source = str(Path(creditkit.__file__).resolve().parent.parent)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def create_admin_key(database_url: str) -> str:
    """``creditkit keys create``, as an operator would; its first line ends with the secret."""
    command = [sys.executable, "-m", "creditkit.cli", "keys", "create", "--name", "proof"]
    output = subprocess.run(
        [*command, "--scope", "admin", "--database-url", database_url],
        env=source_environment(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    secret = output.splitlines()[0].rsplit(": ", 1)[1]
    assert secret.startswith("ck_secret_"), output
    return secret


@contextmanager
def server(
    database_url: str,
    log: Path,
    payments: dict[str, str] | None = None,
    catalog: Path | str | None = None,
    clock_file: Path | None = None,
) -> Iterator[str]:
    """A ``creditkit serve`` process, up (its /healthz answers 200) until the block ends; then
    stopped, and killed if it does not stop. ``payments``: the provider's settings as
    environment (default: the sandbox); ``catalog``: default, the bundled example;
    ``clock_file``: the file its clock reads (default: the system clock)."""
    port = free_port()
    command = [sys.executable, "-m", "creditkit.cli", "serve", "--port", str(port)]
    chosen = dict(payments or {"CREDITKIT_PAYMENTS": "sandbox"})
    # The apps whose pages these tests' checkouts return to (the TypeScript client's too).
    chosen.setdefault(
        "CREDITKIT_RETURN_ORIGINS", "https://app.test,https://proxy.test,https://proxy.example"
    )
    if clock_file is not None:
        chosen["CREDITKIT_CLOCK_FILE"] = str(clock_file)
    catalog_path = str(catalog or example_catalog())
    with log.open("w") as output:
        process = subprocess.Popen(
            [*command, "--database-url", database_url, "--catalog", catalog_path],
            env={**source_environment(), **chosen},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_healthy(url, process, log)
            yield url
            assert process.poll() is None, f"the server died:\n{log.read_text()[-3000:]}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=SERVER_STOP_SECONDS_MAX)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS_MAX
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server exited:\n{log.read_text()[-3000:]}"
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.1)  # a real process starting: nothing to wait on but the port
    raise AssertionError(f"{url} not healthy in {SERVER_START_SECONDS_MAX} s:\n{log.read_text()}")


def plan_requests(pair: int, side: int) -> list[tuple[str, str, int]]:
    """(customer, key, amount) that one thread of a pair sends, in order. Both threads of a pair
    send the twin keys in the same order; each sends its own single keys."""
    customer = f"pro-{pair % PRO_CUSTOMERS}"
    twins = [(customer, f"twin-{pair}-{i}", 1 + i % 3) for i in range(TWIN_KEYS_PER_PAIR)]
    singles = [
        (customer, f"single-{pair}-{side}-{i}", 1 + i % 4) for i in range(SINGLE_KEYS_PER_THREAD)
    ]
    free = [("free", f"free-{pair}-{side}-{i}", 1) for i in range(FREE_CHARGES_PER_THREAD)]
    planned: list[tuple[str, str, int]] = []
    for index, twin in enumerate(twins):
        planned.append(twin)
        if index < len(singles):
            planned.append(singles[index])
        if index < len(free):
            planned.append(free[index])
    return planned


def fire(urls: list[str], secret: str) -> list[Sent]:
    sent: list[Sent] = []
    failures: list[BaseException] = []
    start = threading.Barrier(THREAD_PAIRS * SERVERS)
    headers = {"Authorization": f"Bearer {secret}"}

    def thread(pair: int, side: int) -> None:
        try:
            with httpx.Client(
                base_url=urls[side], headers=headers, timeout=REQUEST_TIMEOUT_SECONDS
            ) as client:
                start.wait()
                for customer, key, amount in plan_requests(pair, side):
                    response = client.post(
                        "/v1/charges",
                        json={"customer": customer, "amount": amount},
                        headers={"Idempotency-Key": key},
                    )
                    sent.append(
                        Sent(
                            side,
                            customer,
                            key,
                            amount,
                            response.status_code,
                            response.json(),
                            response.headers,
                        )
                    )
        except BaseException as error:
            failures.append(error)
            raise

    threads = [
        threading.Thread(target=thread, args=(pair, side))
        for pair in range(THREAD_PAIRS)
        for side in range(SERVERS)
    ]
    for started in threads:
        started.start()
    for started in threads:
        started.join()
    assert not failures, failures
    return sent


def window_counts(kit: CreditKit, customer: str) -> list[int]:
    """Requests counted in each rate window of the customer, from the database."""
    with kit.database.read() as connection:
        return list(
            connection.execute(
                sa.select(rate_windows.c.count)
                .join(customers, customers.c.id == rate_windows.c.customer_id)
                .where(customers.c.external_id == customer)
            ).scalars()
        )


def test_two_servers_apply_each_key_once_and_share_the_rate_limit(
    postgres_url: str, tmp_path: Path
) -> None:
    kit = CreditKit(postgres_url, catalog=example_catalog())
    try:
        kit.create_customer("free")
        before = {}
        for index in range(PRO_CUSTOMERS):
            customer = f"pro-{index}"
            kit.create_customer(customer)
            kit.subscribe(customer, "pro")
            before[customer] = kit.balance(customer).available
        secret = create_admin_key(postgres_url)
        # Written after the subscriptions, so the servers' time is inside their periods.
        clock_file = tmp_path / "clock"
        clock_file.write_text(datetime.now(UTC).isoformat())
        with ExitStack() as servers:
            urls = [
                servers.enter_context(
                    server(postgres_url, tmp_path / f"server-{index}.log", clock_file=clock_file)
                )
                for index in range(SERVERS)
            ]
            sent = fire(urls, secret)
        check(kit, sent, before)
    finally:
        kit.close()


def check(kit: CreditKit, sent: list[Sent], before: dict[str, int]) -> None:
    expected_requests = (
        THREAD_PAIRS
        * SERVERS
        * (TWIN_KEYS_PER_PAIR + SINGLE_KEYS_PER_THREAD + FREE_CHARGES_PER_THREAD)
    )
    assert len(sent) == expected_requests
    server_errors = [item for item in sent if item.status >= 500]
    assert not server_errors, server_errors[:5]
    assert {item.server for item in sent} == set(range(SERVERS))
    check_each_key_applied_once(kit, [item for item in sent if item.customer != "free"], before)
    check_rate_limit(kit, [item for item in sent if item.customer == "free"])
    report = kit.audit()
    assert report.ok, report.problems


def check_each_key_applied_once(kit: CreditKit, sent: list[Sent], before: dict[str, int]) -> None:
    refused = [item for item in sent if item.status != 201]
    assert not refused, refused[:5]
    charge_of_key: dict[str, int] = {}
    for item in sent:
        # Both twins answer with the one charge the key made, whichever process made it.
        assert charge_of_key.setdefault(item.key, item.body["id"]) == item.body["id"], item
        assert item.body["amount"] == item.amount
    twins = [item for item in sent if item.key.startswith("twin-")]
    assert {item.server for item in twins} == set(range(SERVERS))
    assert len(twins) == 2 * THREAD_PAIRS * TWIN_KEYS_PER_PAIR
    for customer, available in before.items():
        amounts = {item.key: item.amount for item in sent if item.customer == customer}
        assert kit.balance(customer).available == available - sum(amounts.values())
        history = kit.history(customer, limit=len(amounts) + 10).items
        charges = [entry for entry in history if entry.kind == "charge"]
        assert len(charges) == len(amounts), customer
        assert {entry.transaction_id for entry in charges} == {
            charge_of_key[key] for key in amounts
        }


def check_rate_limit(kit: CreditKit, sent: list[Sent]) -> None:
    """Across both servers, the one minute window let through exactly the plan's limit; the
    rest were 429 problems with Retry-After."""
    allowed = [item for item in sent if item.status == 201]
    limited = [item for item in sent if item.status == 429]
    assert len(allowed) + len(limited) == len(sent), {item.status for item in sent}
    assert window_counts(kit, "free") == [len(sent)]
    assert len(allowed) == FREE_RATE_LIMIT_PER_MINUTE
    assert len(limited) == len(sent) - FREE_RATE_LIMIT_PER_MINUTE
    for item in limited:
        assert item.headers["content-type"] == PROBLEM_CONTENT_TYPE
        assert item.body["code"] == "rate_limited"
        assert item.body["limit_per_minute"] == FREE_RATE_LIMIT_PER_MINUTE
        assert 1 <= int(item.headers["retry-after"]) <= 60
    assert kit.balance("free").available == FREE_ALLOWANCE - len(allowed)
