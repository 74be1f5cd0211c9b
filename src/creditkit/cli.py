"""creditkit: credits, subscriptions and entitlements for AI products.

Every user mistake ends in one line on stderr, ``creditkit: …``, naming what is wrong and what to
do, and a non-zero exit; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from creditkit.cli_errors import defect, explain
from creditkit.demo import DEMO_DATABASE, demo
from creditkit.errors import InvalidRequest, present
from creditkit.events.command import run_ingest_worker as ingest_worker
from creditkit.events.command import run_parked_events
from creditkit.events.worker import BATCH_DEFAULT, BATCH_MAX, START_SECONDS_DEFAULT
from creditkit.importer import COLUMNS, import_file, progress_bar
from creditkit.keys.schemas import Scope
from creditkit.keys.service import SESSION_CODE_TTL_SECONDS_MAX, SESSION_TTL_SECONDS_MAX
from creditkit.kit import CreditKit
from creditkit.notify.schemas import WorkerReport
from creditkit.notify.sealing import new_secret_key
from creditkit.notify.worker import POLL_SECONDS_DEFAULT, POLL_SECONDS_MAX
from creditkit.payments import PaymentSettings
from creditkit.payments.errors import ProviderError
from creditkit.payments.schemas import PlanPrice
from creditkit.payments.stripe_prices import plan_prices
from creditkit.server.serve import PAYMENT_PROVIDERS, Settings, serve
from creditkit.store.database import display_url

if TYPE_CHECKING:
    from creditkit.payments.stripe_provider import StripeProvider


class _Parser(argparse.ArgumentParser):
    """argparse, with its mistakes in the one-line form of every other mistake."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"creditkit: {message} (see {self.prog} --help)\n")


def _settings(arguments: argparse.Namespace) -> Settings:
    """The settings of the running command, read as serve reads them (a flag, then
    $CREDITKIT_…, then --config, then the defaults): every command finds the ledger, catalog and
    port serve uses. The flags read are those ``_add_settings`` gave the command's parser."""
    return Settings.resolve(_flags(arguments), os.environ, getattr(arguments, "config", None))


def _flags(arguments: argparse.Namespace) -> dict[str, Any]:
    names: tuple[str, ...] = getattr(arguments, "settings_names", ())
    return {name: getattr(arguments, name, None) for name in names if name != "config"}


def _given(arguments: argparse.Namespace, *names: str) -> bool:
    """Whether any of these settings was given (by a flag, the environment or --config), not
    left to its default."""
    layers = Settings.layers(_flags(arguments), os.environ, getattr(arguments, "config", None))
    return any(name in layer for layer in layers for name in names)


def _existing_file(path: str, field: str, hint: str) -> str:
    if not Path(path).is_file():
        raise InvalidRequest(field, f"no file {path}; {hint}")
    return path


def _catalog(settings: Settings) -> str:
    return _existing_file(
        settings.catalog_path(),
        "--catalog",
        "give a catalog YAML's path (docs/catalog.md), or leave --catalog and $CREDITKIT_CATALOG"
        " out for the bundled example",
    )


def run_demo(arguments: argparse.Namespace) -> int:
    url = arguments.database_url
    if url is None:
        for suffix in ("", "-wal", "-shm"):
            Path(DEMO_DATABASE + suffix).unlink(missing_ok=True)
        url = f"sqlite:///{DEMO_DATABASE}"
    demo(url)
    return 0


def migrate(arguments: argparse.Namespace) -> int:
    if arguments.database_url and arguments.url and arguments.database_url != arguments.url:
        raise InvalidRequest("--database-url", "given twice, with two different URLs")
    arguments.database_url = arguments.database_url or arguments.url
    url = _settings(arguments).database_url
    CreditKit(url).close()
    print(f"{display_url(url)}: schema is up to date")
    return 0


def run_import(arguments: argparse.Namespace) -> int:
    settings = _settings(arguments)
    csv_file = _existing_file(
        arguments.csv_file, "csv_file", "give the CSV's path (columns: " + ", ".join(COLUMNS) + ")"
    )
    with CreditKit(settings.database_url, catalog=_catalog(settings)) as ck:
        summary = import_file(ck, csv_file, progress_bar())
    print("\n".join(summary.lines()))
    return 1 if summary.failures else 0


def run_serve(arguments: argparse.Namespace) -> int:
    settings = _settings(arguments)
    _catalog(settings)
    if settings.payments == "stripe":
        _warn_of_missing_prices(settings)
    serve(settings)
    return 0


def _stripe_prices(settings: Settings) -> tuple[StripeProvider, tuple[PlanPrice, ...]]:
    """Stripe (from the settings' keys) and the catalog's plan prices at their versions."""
    # Imported here, as serve does: the SDK loads only for the commands that talk to Stripe.
    from creditkit.payments.stripe_provider import StripeProvider

    provider = dataclasses.replace(settings, payments="stripe").payment_settings().provider
    if not isinstance(provider, StripeProvider):
        raise InvalidRequest("payments", "the Stripe commands take Stripe's keys")
    with CreditKit(settings.database_url, catalog=_catalog(settings)) as ck:
        catalog = present(ck.catalog, "a kit opened with a catalog has it")
        return provider, plan_prices(ck.database, catalog)


def _warn_of_missing_prices(settings: Settings) -> None:
    """Serve starts without them (packs, portals and webhooks work), but says which plans
    cannot be checked out until ``creditkit stripe sync`` makes their Prices."""
    try:
        provider, prices = _stripe_prices(settings)
        missing = provider.missing_prices(prices)
    except ProviderError as error:
        print(f"creditkit: WARNING: cannot check Stripe's Prices: {error}", file=sys.stderr)
        return
    if missing:
        print(
            f"creditkit: WARNING: Stripe has no Price with lookup key {', '.join(missing)}:"
            " checkouts of those plans fail until you run `creditkit stripe sync`",
            file=sys.stderr,
        )


def stripe_command(arguments: argparse.Namespace) -> int:
    settings = _settings(arguments)
    provider, prices = _stripe_prices(settings)
    if arguments.stripe_command == "check":
        missing = provider.missing_prices(prices)
        for lookup_key in missing:
            print(f"{lookup_key}: missing")
        print(f"{len(prices) - len(missing)} of {len(prices)} plan prices are in Stripe")
        return 1 if missing else 0
    for line in provider.sync_prices(prices):
        print(line)
    return 0


def run_worker(arguments: argparse.Namespace) -> int:
    # The same settings as serve, so that a worker started beside it works its ledger.
    settings = _settings(arguments)
    _catalog(settings)
    return work(
        settings,
        # serve's provider, so that renewals and top-ups are charged where it takes payments
        # (unset: the embedded kit's default, the sandbox).
        None if settings.payments is None else settings.payment_settings(),
        arguments.once,
        arguments.poll_seconds,
    )


def run_ingest_worker(arguments: argparse.Namespace) -> int:
    settings = _settings(arguments)
    _catalog(settings)
    return ingest_worker(
        settings, arguments.lag, arguments.batch_max, arguments.start_seconds, arguments.partitions
    )


def parked_events(arguments: argparse.Namespace) -> int:
    return run_parked_events(_settings(arguments), arguments.limit, arguments.before_id)


def keys(arguments: argparse.Namespace) -> int:
    settings = _settings(arguments)
    with CreditKit(settings.database_url, secret_key=settings.secret_key) as ck:
        if arguments.keys_command == "create":
            created = ck.keys.create_key(arguments.name, arguments.scope)
            print(f"{created.key.key_id} ({created.key.scope}): {created.secret}")
            print("the secret is shown this once; creditkit stores only its hash")
        elif arguments.keys_command == "list":
            for key in ck.keys.list_keys():
                state = "active" if key.revoked_at is None else f"revoked {key.revoked_at:%F}"
                print(f"{key.key_id}  {key.scope:<6} {state:<18} {key.name}")
        elif not ck.keys.revoke(arguments.key_id):
            raise InvalidRequest("key_id", f"no key {arguments.key_id} (see creditkit keys list)")
    return 0


def webhooks(arguments: argparse.Namespace) -> int:
    """``creditkit webhooks rotate ENDPOINT_ID``: a new signing secret, printed once; the old one
    keeps signing beside it for 24 hours."""
    settings = _settings(arguments)
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


def revoke_sessions(arguments: argparse.Namespace) -> int:
    """``creditkit revoke-sessions CUSTOMER [--user USER]``: signs the customer (or one member)
    out everywhere; tokens issued until now stop working."""
    settings = _settings(arguments)
    with CreditKit(settings.database_url, secret_key=settings.secret_key) as ck:
        ck.customer(arguments.customer)  # raises UnknownCustomer
        revoked_at = ck.keys.revoke_sessions(arguments.customer, user=arguments.user)
    print(f"{arguments.customer}: sessions issued until {revoked_at:%F %H:%M:%S} UTC revoked")
    return 0


def rotate_signing_secret(arguments: argparse.Namespace) -> int:
    """``creditkit rotate-signing-secret``: a new secret signs session tokens and console
    cookies; what the old one signed stays valid through the overlap."""
    settings = _settings(arguments)
    with CreditKit(settings.database_url, secret_key=settings.secret_key) as ck:
        ends_at = ck.keys.rotate_signing_secret()
    print(f"rotated; tokens signed before now stay valid until {ends_at:%F %H:%M} UTC")
    return 0


def reset_period(arguments: argparse.Namespace) -> int:
    """``creditkit reset-period CUSTOMER --reason TEXT --idempotency-key KEY``: ends the
    customer's allowance period now and starts a new one; the same key again changes nothing."""
    settings = _settings(arguments)
    with CreditKit(
        settings.database_url, catalog=_catalog(settings), secret_key=settings.secret_key
    ) as ck:
        subscription = ck.reset_period(
            arguments.customer, reason=arguments.reason, idempotency_key=arguments.idempotency_key
        )
    start, end = subscription.allowance_period_start, subscription.allowance_period_end
    print(f"{arguments.customer}: allowance period {start:%F %H:%M:%S} to {end:%F %H:%M:%S} UTC")
    return 0


def run_audit(arguments: argparse.Namespace) -> int:
    """``creditkit audit``: one line per problem and exit status 1, else a summary and 0."""
    settings = _settings(arguments)
    with CreditKit(settings.database_url, secret_key=settings.secret_key) as ck:
        report = ck.audit()
    for problem in report.problems:
        print(f"creditkit: audit: {problem.rule}: {problem.detail}")
    print(
        f"{'ok' if report.ok else f'{len(report.problems)} problems'}:"
        f" {report.transactions_checked} transactions, {report.entries_checked} entries,"
        f" {report.accounts_checked} accounts checked",
        file=sys.stderr,
    )
    return 0 if report.ok else 1


def secret_key(_arguments: argparse.Namespace) -> int:
    print(new_secret_key())
    return 0


def session_link(arguments: argparse.Namespace) -> int:
    """``creditkit link CUSTOMER``: a single-use address that opens a customer's pages (for an
    hour once opened), as an app's backend makes with
    ``POST /v1/customers/{customer}/session-codes``."""
    settings = _settings(arguments)
    base_url = arguments.base_url or settings.public_address()
    with CreditKit(settings.database_url, secret_key=settings.secret_key) as ck:
        ck.customer(arguments.customer)  # raises UnknownCustomer: no link to nobody's pages
        if arguments.base_url is None and not _given(arguments, "host", "port", "public_url"):
            # Left to its defaults: where serve said it answers on this ledger, on whatever
            # port it was given (`make serve PORT=…`), else those defaults.
            base_url = ck.keys.served_at() or base_url
        code = ck.keys.issue_session_code(
            arguments.customer,
            user=arguments.user,
            ttl_seconds=SESSION_TTL_SECONDS_MAX,
            code_ttl_seconds=SESSION_CODE_TTL_SECONDS_MAX,
        )
    print(f"{base_url.rstrip('/')}/app/session?code={code.code}")
    print(f"opens once, until {code.expires_at:%F %H:%M} UTC", file=sys.stderr)
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
    settings.announce_webhook_policy()
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
            clock=settings.clock(),
            webhook_policy=settings.webhook_policy(),
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


@dataclass(frozen=True, slots=True)
class _SettingFlag:
    """One setting's flag: every command that takes it spells, types and explains it alike."""

    help: str
    type: Callable[[str], Any] = str
    choices: tuple[str, ...] | None = None


_DEFAULTS = Settings()
#: Every setting a command can take as a flag (the names of ``Settings``' fields, and
#: ``config``). A new setting is one line here, and its name in the commands that take it.
_SETTING_FLAGS = {
    "database_url": _SettingFlag(
        "the ledger (default: $CREDITKIT_DATABASE_URL, else sqlite:///creditkit.db)"
    ),
    "catalog": _SettingFlag(
        "the catalog YAML (default: $CREDITKIT_CATALOG, else the bundled example)"
    ),
    "host": _SettingFlag(
        f"the address to listen on (default: $CREDITKIT_HOST, else {_DEFAULTS.host})"
    ),
    "port": _SettingFlag(f"the port (default: $CREDITKIT_PORT, else {_DEFAULTS.port})", int),
    "workers": _SettingFlag("processes (default: $CREDITKIT_WORKERS, else 1)", int),
    "public_url": _SettingFlag(
        "where browsers reach the service (default: $CREDITKIT_PUBLIC_URL, else"
        " http://HOST:PORT): the sandbox's checkout pages are served there"
    ),
    "payments": _SettingFlag(
        "who takes payments (required: here, $CREDITKIT_PAYMENTS or the config file):"
        " sandbox simulates them, stripe charges through Stripe",
        choices=PAYMENT_PROVIDERS,
    ),
    "events": _SettingFlag(
        "the events stream's NATS servers, nats://h1:4222[,nats://…] (default:"
        " $CREDITKIT_EVENTS_URL; none: POST /v1/events charges at once)"
    ),
    "events_partitions": _SettingFlag(
        "partitions of the events by customer, 1 to 64, the same for serve and every"
        " ingest-worker (default: $CREDITKIT_EVENTS_PARTITIONS, else 1)",
        int,
    ),
    "config": _SettingFlag("serve's TOML settings file (the settings' names in lower case)"),
}


def _add_settings(parser: argparse.ArgumentParser, *names: str) -> None:
    """Gives a command the flags of these settings, and ``--config``; ``_settings`` then
    reads exactly these, with the environment and the config file, for every command alike."""
    names = (*names, "config")
    for name in names:
        flag = _SETTING_FLAGS[name]
        parser.add_argument("--" + name.replace("_", "-"), default=None, type=flag.type,
                            choices=flag.choices, help=flag.help)  # fmt: skip
    parser.set_defaults(settings_names=names)


def _parser() -> argparse.ArgumentParser:
    # The first line of the module's docstring: the rest is for readers of this file.
    parser = _Parser(prog="creditkit", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--version", action="version", version=f"creditkit {version('creditkit')}")
    parser.add_argument(
        "--debug", action="store_true", help="show a traceback instead of the one-line error"
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo_parser = commands.add_parser(
        "demo", help="run a scripted month of credits on a fresh embedded (SQLite) ledger"
    )
    demo_parser.add_argument(
        "--database-url",
        default=None,
        help=f"an empty ledger to write to (default: a new sqlite:///{DEMO_DATABASE})",
    )
    migrate_parser = commands.add_parser("migrate", help="create or upgrade a ledger's schema")
    _add_settings(migrate_parser, "database_url")
    # The URL as a positional argument still works, as it did before --database-url.
    migrate_parser.add_argument("url", nargs="?", default=None, help=argparse.SUPPRESS)
    import_parser = commands.add_parser(
        "import", help="put existing users on plans or credit amounts from a CSV (rerunnable)"
    )
    import_parser.add_argument("csv_file", help="columns: " + ", ".join(COLUMNS))
    _add_settings(import_parser, "database_url", "catalog")
    serve_parser = commands.add_parser(
        "serve",
        help="run the HTTP API (default: SQLite creditkit.db here, the bundled example catalog)",
    )
    _add_settings(
        serve_parser,
        "host",
        "port",
        "database_url",
        "catalog",
        "workers",
        "public_url",
        "payments",
        "events",
        "events_partitions",
    )
    serve_parser.add_argument(
        "--cors-origin",
        dest="cors_origins",
        action="append",
        default=None,
        metavar="ORIGIN",
        help="a web origin whose pages may call the API with a customer's session token"
        " (https://app.example; repeatable; also $CREDITKIT_CORS_ORIGINS, comma-separated, or"
        " cors_origins in the config file); no others are allowed",
    )
    # A repeatable flag, so not one of _add_settings's: read with the others all the same.
    serve_parser.set_defaults(
        settings_names=(*serve_parser.get_default("settings_names"), "cors_origins")
    )
    keys_parser = commands.add_parser("keys", help="create, list and revoke secret API keys")
    keys_commands = keys_parser.add_subparsers(
        dest="keys_command", required=True, parser_class=_Parser
    )
    create_parser = keys_commands.add_parser("create", help="a new key; its secret is shown once")
    create_parser.add_argument("--name", required=True)
    create_parser.add_argument(
        "--scope", default=Scope.WRITE.value, choices=[scope.value for scope in Scope]
    )
    list_parser = keys_commands.add_parser(
        "list", help="every key, revoked ones too (never the secrets)"
    )
    revoke_parser = keys_commands.add_parser("revoke", help="stop accepting a key")
    revoke_parser.add_argument("key_id")
    for keys_subparser in (create_parser, revoke_parser, list_parser):
        _add_settings(keys_subparser, "database_url")
    webhooks_parser = commands.add_parser("webhooks", help="manage outbound webhook endpoints")
    webhooks_commands = webhooks_parser.add_subparsers(
        dest="webhooks_command", required=True, parser_class=_Parser
    )
    rotate_parser = webhooks_commands.add_parser(
        "rotate", help="a new signing secret (shown once); the old one signs for 24 hours more"
    )
    rotate_parser.add_argument("endpoint_id", type=int)
    rotate_parser.add_argument(
        "--idempotency-key", default=None, help="replays this rotation (default: a new one)"
    )
    _add_settings(rotate_parser, "database_url")
    commands.add_parser(
        "secret-key", help="print a new secret key for CREDITKIT_SECRET_KEY (encrypts secrets)"
    )
    link_parser = commands.add_parser(
        "link", help="print a link that opens a customer's usage, billing and credits pages"
    )
    link_parser.add_argument("customer")
    link_parser.add_argument("--user", default=None, help="the member acting, in a workspace")
    _add_settings(link_parser, "host", "port", "database_url")
    link_parser.add_argument(
        "--base-url",
        default=None,
        help="where creditkit serve answers (default: $CREDITKIT_PUBLIC_URL or http://HOST:PORT"
        " as serve reads them; when neither is set, where serve last started on this ledger)",
    )
    revoke_parser = commands.add_parser(
        "revoke-sessions", help="sign a customer (or one member) out everywhere"
    )
    revoke_parser.add_argument("customer", help="the customer's id")
    revoke_parser.add_argument("--user", default=None, help="only this member's sessions")
    _add_settings(revoke_parser, "database_url")
    rotate_signing_parser = commands.add_parser(
        "rotate-signing-secret", help="a new secret for session tokens and console cookies"
    )
    _add_settings(rotate_signing_parser, "database_url")
    reset_parser = commands.add_parser(
        "reset-period", help="end a customer's allowance period now and start a new one"
    )
    reset_parser.add_argument("customer", help="the customer's id")
    reset_parser.add_argument("--reason", required=True, help="why (kept in the history)")
    reset_parser.add_argument(
        "--idempotency-key", required=True, help="the same key again changes nothing"
    )
    _add_settings(reset_parser, "database_url", "catalog")
    audit_parser = commands.add_parser(
        "audit", help="check the ledger's double entry; one line per problem, exit 1 if any"
    )
    _add_settings(audit_parser, "database_url")
    stripe_parser = commands.add_parser(
        "stripe", help="the catalog's plans as Stripe Products and Prices (by lookup key)"
    )
    stripe_commands = stripe_parser.add_subparsers(
        dest="stripe_command", required=True, parser_class=_Parser
    )
    for name, helped in (
        ("sync", "create the Products and Prices Stripe lacks; check the others"),
        ("check", "list the plan prices Stripe lacks (exit 1 if any)"),
    ):
        _add_settings(stripe_commands.add_parser(name, help=helped), "database_url", "catalog")
    worker_parser = commands.add_parser(
        "worker",
        help="run due work (renewals, expiries, hold timeouts), announce expiring grants and"
        " deliver webhooks, in a loop",
    )
    _add_settings(worker_parser, "database_url", "catalog")
    worker_parser.add_argument("--once", action="store_true", help="run one round, then exit")
    worker_parser.add_argument(
        "--poll-seconds",
        type=float,
        default=POLL_SECONDS_DEFAULT,
        help=f"the pause after a round that left nothing to do (default {POLL_SECONDS_DEFAULT})",
    )
    ingest_parser = commands.add_parser(
        "ingest-worker",
        help="charge the usage events serve --events published to JetStream, until stopped",
    )
    _add_settings(ingest_parser, "database_url", "catalog", "events", "events_partitions")
    ingest_parser.add_argument(
        "--lag", action="store_true", help="print each consumer's lag and the parked, then exit"
    )
    ingest_parser.add_argument(
        "--batch-max",
        type=int,
        default=BATCH_DEFAULT,
        help=f"events a batch, 1 to {BATCH_MAX:,} (default {BATCH_DEFAULT:,})",
    )
    ingest_parser.add_argument(
        "--start-seconds",
        type=float,
        default=START_SECONDS_DEFAULT,
        help="give up (exit 1) if the events stream is not reached within this many seconds"
        f" at start (default {START_SECONDS_DEFAULT:g})",
    )
    ingest_parser.add_argument(
        "--partitions",
        default=None,
        metavar="P[,P…]",
        help="the partitions this worker charges, comma-separated (0,2), of --events-partitions;"
        " default all. Workers owning different ones never charge the same customers",
    )
    parked_parser = commands.add_parser(
        "parked-events", help="list the events the ingest workers parked, newest first, and why"
    )
    _add_settings(parked_parser, "database_url")
    parked_parser.add_argument("--limit", type=int, default=20, help="events (default 20)")
    parked_parser.add_argument("--before-id", type=int, default=None, help="only older ones")
    return parser


_COMMANDS: dict[str, Any] = {
    "demo": run_demo,
    "migrate": migrate,
    "import": run_import,
    "serve": run_serve,
    "keys": keys,
    "link": session_link,
    "webhooks": webhooks,
    "secret-key": secret_key,
    "worker": run_worker,
    "ingest-worker": run_ingest_worker,
    "parked-events": parked_events,
    "audit": run_audit,
    "reset-period": reset_period,
    "revoke-sessions": revoke_sessions,
    "rotate-signing-secret": rotate_signing_secret,
    "stripe": stripe_command,
}


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        return int(_COMMANDS[arguments.command](arguments))
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        line = explain(error, arguments)
        if arguments.debug or line is None:
            if (said := defect(error)) is not None:
                print(f"creditkit: {said}", file=sys.stderr)
            raise
        print(f"creditkit: {line}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
