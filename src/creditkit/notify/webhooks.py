"""Outbound webhooks: endpoints, the fan-out of outbox events into deliveries, and delivery.

An event becomes one delivery per endpoint that receives its type (fan-out, in the worker). A
delivery is tried until an endpoint answers 2xx, with exponential backoff and jitter between
attempts, at most ``ATTEMPTS_MAX`` times (about three days), then marked failed. A worker leases
the deliveries it tries (``next_attempt_at`` moves past the attempt), so several workers never
try one delivery at once, and one that dies mid-attempt leaves it due again. Delivery is
therefore at least once: a worker that dies after the endpoint answered but before recording
it sends the event again, which is why each carries ``webhook-id`` for receivers to dedupe on.

Deliveries are signed as Standard Webhooks (signing.py). An endpoint's secret is stored
encrypted (sealing.py); rotating it keeps the previous secret signing beside the new one for
``ROTATION_OVERLAP_SECONDS``, so a receiver updates its secret without refusing a delivery.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.engine import Connection

from creditkit.clock import Clock
from creditkit.errors import (
    IdempotencyConflict,
    InvalidRequest,
    InvariantViolation,
    present,
    require,
)
from creditkit.ledger import repository as ledger_repository
from creditkit.ledger.checks import IDEMPOTENCY_KEY_LENGTH_MAX, check_text
from creditkit.notify import repository
from creditkit.notify.errors import WebhookEndpointNotFound
from creditkit.notify.outbound import AddressRefused, OutboundPolicy, error_category
from creditkit.notify.repository import ClaimedDelivery
from creditkit.notify.schemas import (
    Delivery,
    DeliveryStatus,
    Event,
    EventType,
    RegisteredWebhookEndpoint,
    WebhookEndpoint,
)
from creditkit.notify.sealing import Sealer
from creditkit.notify.signing import new_secret, signed_headers
from creditkit.outbox.writer import EVENTS_PAGE_MAX, events_after
from creditkit.store.database import Database
from creditkit.store.unit_of_work import UnitOfWork

URL_LENGTH_MAX = 2048
#: Endpoints registered at once: each event is one delivery per endpoint.
ENDPOINTS_MAX = 100
#: Events fanned out per transaction.
FAN_OUT_EVENTS_MAX = 500
#: Deliveries a worker leases and tries at once, one after another.
DELIVERIES_CLAIMED_MAX = 20
ATTEMPTS_MAX = 12
#: The wait after the first failed attempt; it doubles with each attempt after that, so the
#: twelve attempts span 2 * (2**11 - 1) minutes, about 2.8 days.
RETRY_DELAY_SECONDS_FIRST = 120
#: Each wait is moved by up to this share either way, so that deliveries that failed together
#: (an endpoint down) do not all come back at the same moment.
RETRY_JITTER_PERCENT = 10
TIMEOUT_SECONDS = 10
CONNECT_TIMEOUT_SECONDS = 5
#: How long a worker owns the deliveries it leased: longer than trying all of them can take.
LEASE_SECONDS = DELIVERIES_CLAIMED_MAX * TIMEOUT_SECONDS + 60
LAST_ERROR_LENGTH_MAX = 1024
DELIVERIES_PAGE_MAX = 500
USER_AGENT = "creditkit-webhooks/1"
#: How long the secret a rotation replaced keeps signing deliveries beside the new one: a day
#: for the receiver to deploy the new secret.
ROTATION_OVERLAP_SECONDS = 24 * 60 * 60

if not LEASE_SECONDS > DELIVERIES_CLAIMED_MAX * TIMEOUT_SECONDS:
    # Checked at import: a lease shorter than its deliveries can take lets a second worker
    # claim deliveries the first is still sending.
    raise InvariantViolation(
        "a delivery lease outlasts trying every delivery it claims",
        f"LEASE_SECONDS {LEASE_SECONDS}, deliveries take up to"
        f" {DELIVERIES_CLAIMED_MAX * TIMEOUT_SECONDS}",
    )


def retry_delay_seconds(attempt: int, rng: random.Random) -> int:
    """The wait after failed attempt number ``attempt`` (1-based), with jitter."""
    require(
        1 <= attempt < ATTEMPTS_MAX,
        "only a failed attempt before the last is retried",
        f"attempt {attempt} of {ATTEMPTS_MAX}",
    )
    delay = RETRY_DELAY_SECONDS_FIRST << (attempt - 1)
    jitter = delay * RETRY_JITTER_PERCENT // 100
    return delay + rng.randint(-jitter, jitter)


def event_body(delivery: ClaimedDelivery) -> bytes:
    """The JSON posted for an event: the same bytes for every attempt and endpoint."""
    body = {
        "id": delivery.event_id,
        "type": delivery.event_type,
        "created_at": delivery.created_at.isoformat(),
        "customer": delivery.customer,
        "data": delivery.data,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _check_event_types(event_types: Sequence[str] | None) -> list[str] | None:
    if event_types is None:
        return None
    if isinstance(event_types, str) or not isinstance(event_types, Sequence) or not event_types:
        raise InvalidRequest("event_types", "must be a non-empty list of event types, or None")
    checked: list[str] = []
    for name in event_types:
        try:
            checked.append(EventType(name).value)
        except ValueError:
            known = ", ".join(event.value for event in EventType)
            raise InvalidRequest("event_types", f"unknown {name!r} (known: {known})") from None
    return sorted(set(checked))


def _endpoint(row: Any) -> WebhookEndpoint:
    types = None if row.event_types is None else tuple(EventType(t) for t in row.event_types)
    return WebhookEndpoint(
        row.id, row.url, types, row.enabled, row.created_at, row.previous_secret_expires_at
    )


class WebhookService:
    def __init__(
        self, database: Database, clock: Clock, sealer: Sealer, policy: OutboundPolicy
    ) -> None:
        self._database = database
        self._now = clock
        self._sealer = sealer
        self._policy = policy

    # -- endpoints --------------------------------------------------------------------------------

    def register(
        self, url: str, event_types: Sequence[str] | None, idempotency_key: str
    ) -> RegisteredWebhookEndpoint:
        checked_url = check_text(url, "url", URL_LENGTH_MAX)
        self._policy.check_url(checked_url)
        types = _check_event_types(event_types)
        check_text(idempotency_key, "idempotency_key", IDEMPOTENCY_KEY_LENGTH_MAX)

        def write(context: UnitOfWork) -> RegisteredWebhookEndpoint:
            recorded = repository.endpoint_by_key(context.connection, idempotency_key)
            if recorded is None:
                if repository.count_endpoints(context.connection) >= ENDPOINTS_MAX:
                    raise InvalidRequest("url", f"at most {ENDPOINTS_MAX} endpoints: delete one")
                endpoint_id = repository.insert_endpoint(
                    context.connection,
                    {
                        "idempotency_key": idempotency_key,
                        "url": checked_url,
                        "secret_sealed": self._sealer.seal(new_secret()),
                        "event_types": types,
                        "enabled": True,
                        "created_at": context.now,
                    },
                )
                recorded = present(
                    repository.endpoint_by_key(context.connection, idempotency_key),
                    "an endpoint just inserted is found by its idempotency key",
                )
                require(
                    recorded.id == endpoint_id,
                    "an idempotency key finds the endpoint inserted under it",
                    f"inserted {endpoint_id}, found {recorded.id}",
                )
            for name, first, second in (
                ("url", recorded.url, checked_url),
                ("event_types", recorded.event_types, types),
            ):
                if first != second:
                    raise IdempotencyConflict(idempotency_key, name, first, second)
            return RegisteredWebhookEndpoint(
                _endpoint(recorded), self._sealer.unseal(recorded.secret_sealed)
            )

        return self._database.unit_of_work(self._now, write)

    def rotate_secret(self, endpoint_id: int, idempotency_key: str) -> RegisteredWebhookEndpoint:
        """Gives the endpoint a new secret, returned here only. The one it replaces keeps
        signing beside it for ``ROTATION_OVERLAP_SECONDS`` (a secret replaced before that by a
        second rotation stops at once). A replay of the newest rotation returns its secret
        again; a replay of an older one is refused, as its secret no longer signs alone."""
        check_text(idempotency_key, "idempotency_key", IDEMPOTENCY_KEY_LENGTH_MAX)

        def write(context: UnitOfWork) -> RegisteredWebhookEndpoint:
            row = self._read(context.connection, endpoint_id, lock=True)
            recorded = repository.rotation_by_key(context.connection, idempotency_key)
            if recorded is not None:
                if recorded.endpoint_id != endpoint_id:
                    raise IdempotencyConflict(
                        idempotency_key, "endpoint_id", recorded.endpoint_id, endpoint_id
                    )
                if repository.latest_rotation_id(context.connection, endpoint_id) != recorded.id:
                    raise InvalidRequest(
                        "idempotency_key",
                        "names an earlier rotation of this endpoint's secret; a later one"
                        " replaced it: rotate with a new key",
                    )
                return RegisteredWebhookEndpoint(
                    _endpoint(row), self._sealer.unseal(row.secret_sealed)
                )
            now = context.now
            secret = new_secret()
            repository.set_endpoint_secrets(
                context.connection,
                endpoint_id,
                {
                    "secret_sealed": self._sealer.seal(secret),
                    "previous_secret_sealed": row.secret_sealed,
                    "previous_secret_expires_at": now + timedelta(seconds=ROTATION_OVERLAP_SECONDS),
                },
            )
            repository.insert_rotation(
                context.connection,
                {"endpoint_id": endpoint_id, "idempotency_key": idempotency_key, "created_at": now},
            )
            return RegisteredWebhookEndpoint(
                _endpoint(self._read(context.connection, endpoint_id)), secret
            )

        return self._database.unit_of_work(self._now, write)

    def endpoints(self) -> list[WebhookEndpoint]:
        with self._database.read() as connection:
            return [_endpoint(row) for row in repository.endpoints(connection, ENDPOINTS_MAX)]

    def endpoint(self, endpoint_id: int) -> WebhookEndpoint:
        with self._database.read() as connection:
            return _endpoint(self._read(connection, endpoint_id))

    def set_enabled(self, endpoint_id: int, enabled: bool) -> WebhookEndpoint:
        """A disabled endpoint is owed nothing of the events while it is disabled; what it was
        owed before waits until it is enabled again."""
        if not isinstance(enabled, bool):
            raise InvalidRequest("enabled", "must be true or false")

        def write(context: UnitOfWork) -> WebhookEndpoint:
            self._read(context.connection, endpoint_id)
            repository.set_endpoint_enabled(context.connection, endpoint_id, enabled)
            return _endpoint(self._read(context.connection, endpoint_id))

        return self._database.unit_of_work(self._now, write)

    def delete(self, endpoint_id: int) -> None:
        """Deletes the endpoint; the deliveries it was still owed are marked failed."""

        def write(context: UnitOfWork) -> None:
            self._read(context.connection, endpoint_id)
            repository.delete_endpoint(context.connection, endpoint_id, context.now)

        self._database.unit_of_work(self._now, write)

    @staticmethod
    def _read(connection: Connection, endpoint_id: object, *, lock: bool = False) -> Any:
        if isinstance(endpoint_id, bool) or not isinstance(endpoint_id, int):
            raise InvalidRequest("endpoint_id", "must be an int")
        row = repository.read_endpoint(connection, endpoint_id, lock=lock)
        if row is None:
            raise WebhookEndpointNotFound(endpoint_id)
        return row

    def deliveries(
        self,
        after_id: int,
        limit: int,
        endpoint_id: int | None,
        status: str | None,
    ) -> list[Delivery]:
        """Deliveries with an id above ``after_id``, oldest first."""
        if isinstance(after_id, bool) or not isinstance(after_id, int) or after_id < 0:
            raise InvalidRequest("after_id", "must be an int ≥ 0")
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise InvalidRequest("limit", "must be an int")
        if not 1 <= limit <= DELIVERIES_PAGE_MAX:
            raise InvalidRequest("limit", f"must be from 1 to {DELIVERIES_PAGE_MAX}")
        try:
            status_value = None if status is None else DeliveryStatus(status).value
        except ValueError:
            raise InvalidRequest("status", "must be pending, delivered or failed") from None
        with self._database.read() as connection:
            rows = repository.deliveries(connection, after_id, limit, endpoint_id, status_value)
        return [
            Delivery(
                id=row.id,
                event_id=row.event_key,
                endpoint_id=row.endpoint_id,
                status=DeliveryStatus(row.status),
                attempts=row.attempts,
                next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
                last_error=row.last_error,
                last_status_code=row.last_status_code,
                delivered_at=row.delivered_at,
                created_at=row.created_at,
            )
            for row in rows
        ]

    # -- events -------------------------------------------------------------------------------

    def events(
        self, after_id: int, limit: int, customer: str | None, type: str | None
    ) -> list[Event]:
        """Outbox events with an id above ``after_id``, oldest first: what webhooks deliver,
        for an app that polls instead."""
        if isinstance(after_id, bool) or not isinstance(after_id, int) or after_id < 0:
            raise InvalidRequest("after_id", "must be an int ≥ 0")
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise InvalidRequest("limit", "must be an int")
        if not 1 <= limit <= EVENTS_PAGE_MAX:
            raise InvalidRequest("limit", f"must be from 1 to {EVENTS_PAGE_MAX}")
        event_type = None
        if type is not None:
            try:
                event_type = EventType(type)
            except ValueError:
                raise InvalidRequest("type", f"unknown event type {type!r}") from None
        with self._database.read() as connection:
            customer_id = None
            if customer is not None:
                customer_id = ledger_repository.read_customer(connection, customer).id
            return events_after(
                connection, after_id, limit, customer_id=customer_id, type=event_type
            )

    # -- fan-out ----------------------------------------------------------------------------------

    def fan_out(self) -> tuple[int, bool]:
        """Turns up to ``FAN_OUT_EVENTS_MAX`` new outbox events into one delivery per endpoint
        receiving each, in one transaction. Returns how many events, and whether it stopped at
        the batch size."""

        def write(context: UnitOfWork) -> tuple[int, bool]:
            now = context.now
            events = repository.events_to_fan_out(context.connection, FAN_OUT_EVENTS_MAX)
            if not events:
                return 0, False
            receiving = repository.endpoints_receiving(context.connection, ENDPOINTS_MAX)
            rows = [
                {
                    "event_id": event_id,
                    "endpoint_id": endpoint_id,
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for event_id, event_type in events
                for endpoint_id, types in receiving
                if types is None or event_type in types
            ]
            repository.insert_deliveries(context.connection, rows)
            repository.mark_fanned_out(
                context.connection, [event_id for event_id, _type in events], now
            )
            return len(events), len(events) == FAN_OUT_EVENTS_MAX

        return self._database.unit_of_work(self._now, write)

    # -- delivery ---------------------------------------------------------------------------------

    def claim(self) -> list[ClaimedDelivery]:
        """Leases up to ``DELIVERIES_CLAIMED_MAX`` due deliveries for this worker."""

        def write(context: UnitOfWork) -> list[ClaimedDelivery]:
            now = context.now
            lease_until = now + timedelta(seconds=LEASE_SECONDS)
            return repository.claim_due_deliveries(
                context.connection, now, lease_until, DELIVERIES_CLAIMED_MAX
            )

        return self._database.unit_of_work(self._now, write)

    def attempt(
        self, client: httpx.Client, delivery: ClaimedDelivery, rng: random.Random
    ) -> DeliveryStatus | None:
        """Posts the delivery's event once and records the outcome: the delivery's status
        after it, or None when the lease ran out and another worker owns it now."""
        body = event_body(delivery)
        now = self._now()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signed_headers(
                delivery.event_id, int(now.timestamp()), body, self._signing_secrets(delivery, now)
            ),
        }
        status_code: int | None = None
        error: str | None = None
        try:
            # Checked again now: the name may resolve elsewhere than at registration, and the
            # connection goes to the address checked here, not to a second lookup's answer.
            target = self._policy.target(delivery.url)
            headers["Host"] = target.host_header
            # Streamed and closed unread: a receiver's answer body is of no use, and reading it
            # would let a large one cost the worker memory. Never redirected: a redirect would
            # lead the worker past the policy.
            with client.stream(
                "POST",
                target.url,
                content=body,
                headers=headers,
                extensions={"sni_hostname": target.server_name},
                follow_redirects=False,
            ) as response:
                status_code = response.status_code
        except AddressRefused as refused:
            error = f"{refused.category}: {refused.reason}"
        except httpx.HTTPError as failure:
            error = error_category(failure)
        if status_code is not None and not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
        return self._record(delivery, status_code, error, rng)

    def _signing_secrets(self, delivery: ClaimedDelivery, now: datetime) -> list[str]:
        """The endpoint's secret, and the one it replaced while that still signs."""
        signing = [self._sealer.unseal(delivery.secret_sealed)]
        expires_at = delivery.previous_secret_expires_at
        previous = delivery.previous_secret_sealed
        if previous is not None and expires_at is not None and now < expires_at:
            signing.append(self._sealer.unseal(previous))
        return signing

    def _record(
        self,
        delivery: ClaimedDelivery,
        status_code: int | None,
        error: str | None,
        rng: random.Random,
    ) -> DeliveryStatus | None:
        now = self._now()
        values: dict[str, Any] = {"last_status_code": status_code}
        if error is None:
            status = DeliveryStatus.DELIVERED
            values |= {"status": status.value, "delivered_at": now, "last_error": None}
        elif delivery.attempt >= ATTEMPTS_MAX:
            status = DeliveryStatus.FAILED
            values |= {"status": status.value, "last_error": error[:LAST_ERROR_LENGTH_MAX]}
        else:
            status = DeliveryStatus.PENDING
            next_attempt_at = now + timedelta(seconds=retry_delay_seconds(delivery.attempt, rng))
            values |= {
                "next_attempt_at": next_attempt_at,
                "last_error": error[:LAST_ERROR_LENGTH_MAX],
            }

        def write(context: UnitOfWork) -> bool:
            return repository.record_attempt(
                context.connection, delivery.id, delivery.attempt, values
            )

        return status if self._database.unit_of_work(self._now, write) else None
