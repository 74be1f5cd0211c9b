"""``creditkit worker``: the rounds of due work, webhooks and payments, until stopped."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from creditkit.cli.options import catalog_of, settings_of
from creditkit.kit import CreditKit
from creditkit.notify.schemas import WorkerReport
from creditkit.notify.worker import POLL_SECONDS_MAX
from creditkit.payments import PaymentSettings
from creditkit.server.serve import Settings


def run_worker(arguments: argparse.Namespace) -> int:
    # The same settings as serve, so that a worker started beside it works its ledger.
    settings = settings_of(arguments)
    catalog_of(settings)
    return work(
        settings,
        # serve's provider, so that renewals and top-ups are charged where it takes payments
        # (unset: the embedded kit's default, the sandbox).
        None if settings.payments is None else settings.payment_settings(),
        arguments.once,
        arguments.poll_seconds,
    )


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
                print(report_line(report), flush=True)
            if once:
                break
            if not report.work_left:
                try:
                    stop.wait(poll_seconds)
                except KeyboardInterrupt:
                    break
    return 0


IDLE = WorkerReport(0, 0, 0, 0, 0, 0, 0, 0, 0, work_left=False)


def report_line(report: WorkerReport) -> str:
    return (
        f"{report.grants_expired} grants and {report.holds_expired} holds expired,"
        f" {report.grants_expiring_announced} expiring grants announced,"
        f" {report.events_fanned_out} events fanned out; deliveries:"
        f" {report.deliveries_delivered} delivered, {report.deliveries_retried} to retry,"
        f" {report.deliveries_failed} failed; payments: {report.payments_succeeded} succeeded,"
        f" {report.payments_failed} failed"
    )
