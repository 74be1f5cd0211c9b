"""The commands but ``worker`` (``cli/worker.py``): each reads its settings, does its one thing,
and returns its exit status.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from creditkit.cli.options import catalog_of, existing_file, given, settings_of
from creditkit.demo import DEMO_DATABASE, demo
from creditkit.errors import InvalidRequest, present
from creditkit.events.command import run_ingest_worker as ingest_worker
from creditkit.events.command import run_parked_events
from creditkit.importer import COLUMNS, import_file, progress_bar
from creditkit.keys.service import SESSION_CODE_TTL_SECONDS_MAX, SESSION_TTL_SECONDS_MAX
from creditkit.kit import CreditKit
from creditkit.notify.sealing import new_secret_key
from creditkit.payments.errors import ProviderError
from creditkit.payments.schemas import PlanPrice
from creditkit.payments.stripe_prices import plan_prices
from creditkit.server.serve import Settings, serve
from creditkit.store.database import display_url

if TYPE_CHECKING:
    from creditkit.payments.stripe_provider import StripeProvider


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
    url = settings_of(arguments).database_url
    CreditKit(url).close()
    print(f"{display_url(url)}: schema is up to date")
    return 0


def run_import(arguments: argparse.Namespace) -> int:
    settings = settings_of(arguments)
    csv_file = existing_file(
        arguments.csv_file, "csv_file", "give the CSV's path (columns: " + ", ".join(COLUMNS) + ")"
    )
    with CreditKit(settings.database_url, catalog=catalog_of(settings)) as ck:
        summary = import_file(ck, csv_file, progress_bar())
    print("\n".join(summary.lines()))
    return 1 if summary.failures else 0


def run_serve(arguments: argparse.Namespace) -> int:
    settings = settings_of(arguments)
    catalog_of(settings)
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
    with CreditKit(settings.database_url, catalog=catalog_of(settings)) as ck:
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
    settings = settings_of(arguments)
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


def run_ingest_worker(arguments: argparse.Namespace) -> int:
    settings = settings_of(arguments)
    catalog_of(settings)
    return ingest_worker(
        settings, arguments.lag, arguments.batch_max, arguments.start_seconds, arguments.partitions
    )


def parked_events(arguments: argparse.Namespace) -> int:
    return run_parked_events(settings_of(arguments), arguments.limit, arguments.before_id)


def keys(arguments: argparse.Namespace) -> int:
    settings = settings_of(arguments)
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
    settings = settings_of(arguments)
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
    settings = settings_of(arguments)
    with CreditKit(settings.database_url, secret_key=settings.secret_key) as ck:
        ck.customer(arguments.customer)  # raises UnknownCustomer
        revoked_at = ck.keys.revoke_sessions(arguments.customer, user=arguments.user)
    print(f"{arguments.customer}: sessions issued until {revoked_at:%F %H:%M:%S} UTC revoked")
    return 0


def rotate_signing_secret(arguments: argparse.Namespace) -> int:
    """``creditkit rotate-signing-secret``: a new secret signs session tokens and console
    cookies; what the old one signed stays valid through the overlap."""
    settings = settings_of(arguments)
    with CreditKit(settings.database_url, secret_key=settings.secret_key) as ck:
        ends_at = ck.keys.rotate_signing_secret()
    print(f"rotated; tokens signed before now stay valid until {ends_at:%F %H:%M} UTC")
    return 0


def reset_period(arguments: argparse.Namespace) -> int:
    """``creditkit reset-period CUSTOMER --reason TEXT --idempotency-key KEY``: ends the
    customer's allowance period now and starts a new one; the same key again changes nothing."""
    settings = settings_of(arguments)
    with CreditKit(
        settings.database_url, catalog=catalog_of(settings), secret_key=settings.secret_key
    ) as ck:
        subscription = ck.reset_period(
            arguments.customer, reason=arguments.reason, idempotency_key=arguments.idempotency_key
        )
    start, end = subscription.allowance_period_start, subscription.allowance_period_end
    print(f"{arguments.customer}: allowance period {start:%F %H:%M:%S} to {end:%F %H:%M:%S} UTC")
    return 0


def run_audit(arguments: argparse.Namespace) -> int:
    """``creditkit audit``: one line per problem and exit status 1, else a summary and 0."""
    settings = settings_of(arguments)
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
    settings = settings_of(arguments)
    base_url = arguments.base_url or settings.public_address()
    with CreditKit(settings.database_url, secret_key=settings.secret_key) as ck:
        ck.customer(arguments.customer)  # raises UnknownCustomer: no link to nobody's pages
        if arguments.base_url is None and not given(arguments, "host", "port", "public_url"):
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
