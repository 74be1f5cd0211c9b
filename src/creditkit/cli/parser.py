"""The ``creditkit`` command's arguments: every command's flags, the settings' flags spelled
alike in each.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, NoReturn

from creditkit.demo import DEMO_DATABASE
from creditkit.events.worker import BATCH_DEFAULT, BATCH_MAX, START_SECONDS_DEFAULT
from creditkit.importer import COLUMNS
from creditkit.keys.schemas import Scope
from creditkit.notify.worker import POLL_SECONDS_DEFAULT
from creditkit.server.serve import PAYMENT_PROVIDERS, Settings

#: What ``creditkit --help`` says first: the first line of the package's docstring.
DESCRIPTION = "creditkit: credits, subscriptions and entitlements for AI products."


class _Parser(argparse.ArgumentParser):
    """argparse, with its mistakes in the one-line form of every other mistake."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"creditkit: {message} (see {self.prog} --help)\n")


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
    """Gives a command the flags of these settings, and ``--config``; ``settings_of`` then
    reads exactly these, with the environment and the config file, for every command alike."""
    names = (*names, "config")
    for name in names:
        flag = _SETTING_FLAGS[name]
        parser.add_argument("--" + name.replace("_", "-"), default=None, type=flag.type,
                            choices=flag.choices, help=flag.help)  # fmt: skip
    parser.set_defaults(settings_names=names)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="creditkit", description=DESCRIPTION)
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
