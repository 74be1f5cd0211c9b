"""The ``creditkit`` command."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from creditkit.api.serve import DEFAULT_DATABASE_URL, PAYMENT_PROVIDERS, Settings, serve
from creditkit.clock import ManualClock
from creditkit.errors import CreditKitError, InsufficientCredits
from creditkit.importer import COLUMNS, import_file, progress_bar
from creditkit.keys.schemas import Scope
from creditkit.keys.service import SESSION_TTL_SECONDS_MAX
from creditkit.kit import CreditKit
from creditkit.ledger.schemas import Balance
from creditkit.notify.schemas import WorkerReport
from creditkit.notify.sealing import new_secret_key
from creditkit.notify.worker import POLL_SECONDS_DEFAULT, POLL_SECONDS_MAX
from creditkit.payments import PaymentSettings

DEMO_DATABASE = "creditkit-demo.db"
#: The demo's story starts at a fixed moment so that every run prints the same ledger.
DEMO_START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def _show(balance: Balance) -> str:
    grants = ", ".join(f"#{g.grant_id} {g.source} {g.remaining}" for g in balance.grants)
    expiry = ""
    if balance.next_expiry is not None:
        expiry = f"; {balance.next_expiry.amount} expire {balance.next_expiry.expires_at:%b %d}"
    return (
        f"{balance.customer}: {balance.available} available, {balance.held} held"
        f" [{grants or 'no grants'}]{expiry}"
    )


def demo(database_url: str) -> None:
    """A month of one AI app's credits, told through the ledger."""
    clock = ManualClock(DEMO_START)
    with CreditKit(database_url, clock=clock) as ck:
        say = print
        say(f"ledger: {database_url}\n")
        ck.create_customer("alice")
        ck.create_customer("bob")
        ck.create_customer("acme", kind="workspace")

        say("1. Alice gets her monthly allowance (expires in 30 days) and buys a pack (never).")
        ck.grant(
            "alice",
            50,
            source="allowance",
            expires_at=clock() + timedelta(days=30),
            idempotency_key="alice-allowance-jan",
        )
        ck.grant("alice", 1000, source="purchase", idempotency_key="alice-pack-1")
        say("   " + _show(ck.balance("alice")))

        say("2. She asks 20 questions at 3 credits: the allowance burns first, then the pack.")
        for question in range(20):
            ck.charge("alice", 3, action="ask_anything", idempotency_key=f"alice-ask-{question}")
        say("   " + _show(ck.balance("alice")))

        say("3. A retried request with the same idempotency key is not charged twice.")
        again = ck.charge("alice", 3, action="ask_anything", idempotency_key="alice-ask-19")
        say(f"   replay returned charge #{again.id}; " + _show(ck.balance("alice")))

        say("4. An LLM call reserves 50 credits, then commits the 37 it really cost.")
        hold = ck.reserve("alice", 50, action="agent_message", idempotency_key="alice-agent-1")
        say(f"   hold #{hold.id}: " + _show(ck.balance("alice")))
        ck.commit(hold.id, 37, idempotency_key="alice-agent-1-commit")
        say("   committed 37: " + _show(ck.balance("alice")))

        say("5. Another hold is forgotten; five minutes later it releases itself.")
        ck.reserve("alice", 200, timeout_seconds=300, idempotency_key="alice-agent-2")
        say("   " + _show(ck.balance("alice")))
        clock.advance(minutes=5)
        say("   +5 min: " + _show(ck.balance("alice")))

        say("6. Alice gifts 100 purchased credits to Bob and moves 200 to her team's workspace.")
        ck.transfer("alice", "bob", 100, idempotency_key="alice-gift-bob")
        ck.transfer("alice", "acme", 200, idempotency_key="alice-to-acme")
        for customer in ("alice", "bob", "acme"):
            say("   " + _show(ck.balance(customer)))

        say("7. Bob tries to spend more than he has: refused, and no credit moves.")
        try:
            ck.charge("bob", 500, action="generate_image", idempotency_key="bob-image-1")
        except InsufficientCredits as refusal:
            say(f"   refused: {refusal}")

        say("8. Alice gets 30 promo credits for 30 days, never uses them: they expire (breakage).")
        ck.grant(
            "alice",
            30,
            source="promo",
            expires_at=clock() + timedelta(days=30),
            idempotency_key="alice-promo",
        )
        clock.advance(days=30)
        swept = ck.expire()
        say(f"   sweep: {swept.grants_expired} grant(s) expired; " + _show(ck.balance("alice")))

        say("\nAlice's history, newest first:")
        for item in ck.history("alice", limit=8).items:
            paid = ", ".join(f"#{draw.grant_id}:{draw.amount}" for draw in item.draws)
            say(
                f"   {item.created_at:%b %d %H:%M}  {item.kind:<11} {item.available_change:>+6}"
                f"  {item.action or '':<14} grants {paid}"
            )
        report = ck.audit()
        say(
            f"\naudit: {'ok' if report.ok else 'FAILED'} ({report.transactions_checked}"
            f" transactions, {report.entries_checked} entries, {report.accounts_checked} accounts)"
        )
        for problem in report.problems:
            say(f"   {problem.rule}: {problem.detail}")


def keys(arguments: argparse.Namespace) -> int:
    with CreditKit(arguments.database_url) as ck:
        if arguments.keys_command == "create":
            created = ck.keys.create_key(arguments.name, arguments.scope)
            print(f"{created.key.key_id} ({created.key.scope}): {created.secret}")
            print("the secret is shown this once; creditkit stores only its hash")
        elif arguments.keys_command == "list":
            for key in ck.keys.list_keys():
                state = "active" if key.revoked_at is None else f"revoked {key.revoked_at:%F}"
                print(f"{key.key_id}  {key.scope:<6} {state:<18} {key.name}")
        elif not ck.keys.revoke(arguments.key_id):
            print(f"creditkit: no key {arguments.key_id}", file=sys.stderr)
            return 1
    return 0


def webhooks(arguments: argparse.Namespace) -> int:
    """``creditkit webhooks rotate ENDPOINT_ID``: a new signing secret, printed once; the old one
    keeps signing beside it for 24 hours."""
    settings = Settings.resolve(
        {"database_url": arguments.database_url}, os.environ, arguments.config
    )
    with CreditKit(settings.database_url, secret_key=settings.secret_key) as ck:
        rotated = ck.rotate_webhook_secret(
            arguments.endpoint_id,
            idempotency_key=arguments.idempotency_key or f"cli-rotate-{uuid.uuid4()}",
        )
    expires_at = rotated.endpoint.previous_secret_expires_at
    print(f"endpoint {rotated.endpoint.id} ({rotated.endpoint.url}): {rotated.secret}")
    print(
        "the secret is shown this once; the previous one also signs until"
        f" {expires_at:%F %H:%M} UTC",
        file=sys.stderr,
    )
    return 0


def session_link(arguments: argparse.Namespace) -> int:
    """``creditkit link CUSTOMER``: the address that opens a customer's pages for an hour, as
    an app's backend makes with ``POST /v1/customers/{customer}/session-tokens``."""
    with CreditKit(arguments.database_url) as ck:
        ck.customer(arguments.customer)  # raises CustomerNotFound: no link to nobody's pages
        token = ck.keys.issue_session(
            arguments.customer, user=arguments.user, ttl_seconds=SESSION_TTL_SECONDS_MAX
        )
    print(f"{arguments.base_url.rstrip('/')}/app/session?token={token.token}")
    print(f"valid until {token.expires_at:%F %H:%M} UTC", file=sys.stderr)
    return 0


def work(
    settings: Settings, payments: PaymentSettings | None, once: bool, poll_seconds: float
) -> int:
    """``creditkit worker``: rounds until interrupted (Ctrl-C or SIGTERM), or one with
    ``--once``; each round's report is printed when it did something."""
    if not 0 < poll_seconds <= POLL_SECONDS_MAX:
        print(f"creditkit: --poll-seconds must be above 0 and at most {POLL_SECONDS_MAX}",
              file=sys.stderr)  # fmt: skip
        return 2
    settings.require_secret_key()
    stop = threading.Event()
    if not once:
        # SIGTERM (a container stopping) ends the loop between rounds, as Ctrl-C does.
        signal.signal(signal.SIGTERM, lambda _signal, _frame: stop.set())
    with (
        CreditKit(
            settings.database_url,
            catalog=settings.catalog_path(),
            payments=payments,
            secret_key=settings.secret_key,
        ) as ck,
        ck.worker() as worker,
    ):
        while not stop.is_set():
            try:
                report = worker.run_once()
            except KeyboardInterrupt:
                break
            if once or report != IDLE:
                print(_report_line(report), flush=True)
            if once:
                break
            if not report.work_left:
                try:
                    stop.wait(poll_seconds)
                except KeyboardInterrupt:
                    break
    return 0


IDLE = WorkerReport(0, 0, 0, 0, 0, 0, 0, 0, 0, work_left=False)


def _report_line(report: WorkerReport) -> str:
    return (
        f"{report.grants_expired} grants and {report.holds_expired} holds expired,"
        f" {report.grants_expiring_announced} expiring grants announced,"
        f" {report.events_fanned_out} events fanned out; deliveries:"
        f" {report.deliveries_delivered} delivered, {report.deliveries_retried} to retry,"
        f" {report.deliveries_failed} failed; payments: {report.payments_succeeded} succeeded,"
        f" {report.payments_failed} failed"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="creditkit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser(
        "demo", help="run a scripted month of credits on a fresh embedded (SQLite) ledger"
    )
    demo_parser.add_argument(
        "--database-url",
        default=None,
        help=f"where to write the ledger (default: a new sqlite:///{DEMO_DATABASE})",
    )
    migrate_parser = commands.add_parser("migrate", help="create or upgrade a ledger's schema")
    migrate_parser.add_argument("database_url")
    import_parser = commands.add_parser(
        "import", help="put existing users on plans or credit amounts from a CSV (rerunnable)"
    )
    import_parser.add_argument("csv_file", help="columns: " + ", ".join(COLUMNS))
    import_parser.add_argument(
        "--database-url",
        default=os.environ.get("CREDITKIT_DATABASE_URL", "sqlite:///credits.db"),
        help="the ledger (default: $CREDITKIT_DATABASE_URL, else sqlite:///credits.db)",
    )
    import_parser.add_argument("--catalog", default=None, help="the catalog YAML (for plans)")
    serve_parser = commands.add_parser(
        "serve",
        help="run the HTTP API (default: SQLite creditkit.db here, the bundled example catalog)",
    )
    serve_parser.add_argument("--host", default=None)
    serve_parser.add_argument("--port", type=int, default=None)
    serve_parser.add_argument("--workers", type=int, default=None, help="processes (default 1)")
    serve_parser.add_argument(
        "--database-url", default=None, help="default: $CREDITKIT_DATABASE_URL, else SQLite"
    )
    serve_parser.add_argument("--catalog", default=None, help="the catalog YAML")
    serve_parser.add_argument(
        "--public-url",
        default=None,
        help="where browsers reach the service (default http://HOST:PORT): the sandbox's"
        " checkout pages are served there",
    )
    serve_parser.add_argument(
        "--payments",
        default=None,
        choices=PAYMENT_PROVIDERS,
        help="who takes payments (required: here, $CREDITKIT_PAYMENTS or the config file):"
        " sandbox simulates them, stripe charges through Stripe",
    )
    serve_parser.add_argument("--config", default=None, help="a TOML file of these settings")
    keys_parser = commands.add_parser("keys", help="create, list and revoke secret API keys")
    keys_commands = keys_parser.add_subparsers(dest="keys_command", required=True)
    create_parser = keys_commands.add_parser("create", help="a new key; its secret is shown once")
    create_parser.add_argument("--name", required=True)
    create_parser.add_argument(
        "--scope", default=Scope.WRITE.value, choices=[scope.value for scope in Scope]
    )
    keys_commands.add_parser("list", help="every key, revoked ones too (never the secrets)")
    revoke_parser = keys_commands.add_parser("revoke", help="stop accepting a key")
    revoke_parser.add_argument("key_id")
    for keys_subparser in (create_parser, revoke_parser, keys_commands.choices["list"]):
        keys_subparser.add_argument(
            "--database-url",
            default=os.environ.get("CREDITKIT_DATABASE_URL", DEFAULT_DATABASE_URL),
            help="default: $CREDITKIT_DATABASE_URL, else the SQLite file serve uses",
        )
    webhooks_parser = commands.add_parser("webhooks", help="manage outbound webhook endpoints")
    webhooks_commands = webhooks_parser.add_subparsers(dest="webhooks_command", required=True)
    rotate_parser = webhooks_commands.add_parser(
        "rotate", help="a new signing secret (shown once); the old one signs for 24 hours more"
    )
    rotate_parser.add_argument("endpoint_id", type=int)
    rotate_parser.add_argument(
        "--idempotency-key", default=None, help="replays this rotation (default: a new one)"
    )
    rotate_parser.add_argument(
        "--database-url", default=None, help="as serve: $CREDITKIT_DATABASE_URL, else SQLite"
    )
    rotate_parser.add_argument("--config", default=None, help="serve's TOML settings file")
    commands.add_parser(
        "secret-key", help="print a new secret key for CREDITKIT_SECRET_KEY (encrypts secrets)"
    )
    link_parser = commands.add_parser(
        "link", help="print a link that opens a customer's usage, billing and credits pages"
    )
    link_parser.add_argument("customer")
    link_parser.add_argument("--user", default=None, help="the member acting, in a workspace")
    link_parser.add_argument(
        "--base-url", default="http://127.0.0.1:8000", help="where creditkit serve answers"
    )
    link_parser.add_argument(
        "--database-url",
        default=os.environ.get("CREDITKIT_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="default: $CREDITKIT_DATABASE_URL, else the SQLite file serve uses",
    )
    worker_parser = commands.add_parser(
        "worker",
        help="run due work (renewals, expiries, hold timeouts), announce expiring grants and"
        " deliver webhooks, in a loop",
    )
    worker_parser.add_argument(
        "--database-url", default=None, help="as serve: $CREDITKIT_DATABASE_URL, else SQLite"
    )
    worker_parser.add_argument("--catalog", default=None, help="as serve: the catalog YAML")
    worker_parser.add_argument("--config", default=None, help="serve's TOML settings file")
    worker_parser.add_argument("--once", action="store_true", help="run one round, then exit")
    worker_parser.add_argument(
        "--poll-seconds",
        type=float,
        default=POLL_SECONDS_DEFAULT,
        help=f"the pause after a round that left nothing to do (default {POLL_SECONDS_DEFAULT})",
    )
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "demo":
            url = arguments.database_url
            if url is None:
                for suffix in ("", "-wal", "-shm"):
                    Path(DEMO_DATABASE + suffix).unlink(missing_ok=True)
                url = f"sqlite:///{DEMO_DATABASE}"
            demo(url)
        elif arguments.command == "import":
            with CreditKit(arguments.database_url, catalog=arguments.catalog) as ck:
                summary = import_file(ck, arguments.csv_file, progress_bar())
            print("\n".join(summary.lines()))
            return 1 if summary.failures else 0
        elif arguments.command == "serve":
            flags = {
                name: getattr(arguments, name)
                for name in (
                    "host",
                    "port",
                    "workers",
                    "database_url",
                    "catalog",
                    "public_url",
                    "payments",
                )
            }
            serve(Settings.resolve(flags, os.environ, arguments.config))
        elif arguments.command == "keys":
            return keys(arguments)
        elif arguments.command == "link":
            return session_link(arguments)
        elif arguments.command == "webhooks":
            return webhooks(arguments)
        elif arguments.command == "secret-key":
            print(new_secret_key())
        elif arguments.command == "worker":
            # The same settings as serve, so that a worker started beside it works its ledger.
            settings = Settings.resolve(
                {"database_url": arguments.database_url, "catalog": arguments.catalog},
                os.environ,
                arguments.config,
            )
            return work(
                settings,
                # serve's provider, so that renewals and top-ups are charged where it takes
                # payments (unset: the embedded kit's default, the sandbox).
                None if settings.payments is None else settings.payment_settings(),
                arguments.once,
                arguments.poll_seconds,
            )
        else:
            CreditKit(arguments.database_url).close()
            print(f"{arguments.database_url}: schema is up to date")
    except CreditKitError as error:
        print(f"creditkit: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
