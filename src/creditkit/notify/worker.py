"""The background worker: ``creditkit worker`` runs ``Worker.run_once`` in a loop (cli.py).

Each round: the ledger's due work (renewals, grant expiry, hold timeouts: ``CreditKit.tick``),
the payments due (renewals creditkit bills itself, auto top-ups: ``collections``), the scan for
grants about to expire, the fan-out of new outbox events into webhook deliveries, and the
delivery of what is due. Every step is bounded per round and safe with any number of workers at
once (leases and ``SKIP LOCKED`` on PostgreSQL; SQLite has one writer), so a round never needs
to know about the others.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import httpx

from creditkit.ledger.schemas import SweepReport
from creditkit.notify.alerts import AlertService
from creditkit.notify.schemas import DeliveryStatus, WorkerReport
from creditkit.notify.webhooks import (
    CONNECT_TIMEOUT_SECONDS,
    DELIVERIES_CLAIMED_MAX,
    TIMEOUT_SECONDS,
    WebhookService,
)
from creditkit.payments.schemas import ChargeRunReport

#: Fan-out transactions per round: a burst of events is worked off over several rounds, with
#: deliveries in between.
FAN_OUT_BATCHES_PER_ROUND_MAX = 10
#: Leases of deliveries per round.
DELIVERY_BATCHES_PER_ROUND_MAX = 10
#: The CLI's pause after a round that left nothing to do (the only place anything sleeps).
POLL_SECONDS_DEFAULT = 5.0
POLL_SECONDS_MAX = 3600.0


class Worker:
    """Runs due work and delivers webhooks; made by ``CreditKit.worker()``. ``http_client``
    defaults to one with bounded timeouts; ``rng`` draws the retry jitter (seeded in tests)."""

    def __init__(
        self,
        tick: Callable[[], SweepReport],
        alerts: AlertService,
        webhooks: WebhookService,
        *,
        collections: Callable[[], ChargeRunReport] | None = None,
        http_client: httpx.Client | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._tick = tick
        self._alerts = alerts
        self._webhooks = webhooks
        self._collections = collections
        self._owns_client = http_client is None
        self._client = http_client or httpx.Client(
            timeout=httpx.Timeout(TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
            follow_redirects=False,
        )
        self._rng = rng or random.Random()

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def run_once(self) -> WorkerReport:
        """One round of everything due; returns what it did."""
        sweep = self._tick()
        collected = ChargeRunReport(0, 0, 0) if self._collections is None else self._collections()
        announced, announce_full = self._alerts.announce_expiring_grants()
        fanned_out, fan_out_full = 0, False
        for _batch in range(FAN_OUT_BATCHES_PER_ROUND_MAX):
            count, fan_out_full = self._webhooks.fan_out()
            fanned_out += count
            if not fan_out_full:
                break
        outcomes = {status: 0 for status in DeliveryStatus}
        claimed_full = False
        for _batch in range(DELIVERY_BATCHES_PER_ROUND_MAX):
            claimed = self._webhooks.claim()
            for delivery in claimed:
                status = self._webhooks.attempt(self._client, delivery, self._rng)
                if status is not None:
                    outcomes[status] += 1
            claimed_full = len(claimed) == DELIVERIES_CLAIMED_MAX
            if not claimed_full:
                break
        return WorkerReport(
            grants_expired=sweep.grants_expired,
            holds_expired=sweep.holds_expired,
            grants_expiring_announced=announced,
            events_fanned_out=fanned_out,
            deliveries_delivered=outcomes[DeliveryStatus.DELIVERED],
            deliveries_retried=outcomes[DeliveryStatus.PENDING],
            deliveries_failed=outcomes[DeliveryStatus.FAILED],
            payments_succeeded=collected.succeeded,
            payments_failed=collected.failed,
            work_left=announce_full or fan_out_full or claimed_full,
        )
