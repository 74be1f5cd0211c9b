"""The write path.

Every write follows one path (``write_once``): lock the customers it touches, sweep what fell
due for them, run the operation, record it under its idempotency key, commit. A refusal (not enough
credits, a hold in the wrong state) is recorded too, so a replay of the key gives the same
refusal; input errors (unknown unit, bad amount) are raised before anything is written.

Idempotency is optimistic: the key is not looked up first, because replays are rare and a
lookup would cost every write a round trip. The key's unique index refuses a second use at
insert; the write is then rolled back and run again in *replay mode*, which looks the key up,
checks that the request is the same, and rebuilds the first outcome from the rows it wrote.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy.engine import Connection

from creditkit.errors import (
    RECORDED_ERRORS,
    CreditKitError,
    InvalidRequest,
    RateLimited,
    RecordedRefusal,
    UnknownCustomer,
)
from creditkit.ledger import repository
from creditkit.ledger.checks import (
    IDEMPOTENCY_KEY_LENGTH_MAX,
    check_text,
)
from creditkit.ledger.kernel import T
from creditkit.ledger.late_usage import LATE_USAGE_WINDOW_DEFAULT
from creditkit.ledger.repository import GrantRow, TransactionRow
from creditkit.ledger.timeline import (
    LedgerTimeline,
)
from creditkit.ledger.values import (
    CATCHING_UP,
    REFUSAL_FORMAT_VERSION,
    CatchingUp,
    Refused,
    Request,
    burn_down_key,
)
from creditkit.store.database import DATABASE_ERRORS, is_unique_violation
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork


class LedgerWrites(LedgerTimeline):
    """The timeline, plus the write path: locking, catching up, idempotency."""

    #: How far back a charge's ``occurred_at`` may be (the kit's ``late_usage_window``).
    late_usage_window: timedelta = LATE_USAGE_WINDOW_DEFAULT

    @staticmethod
    def live_in_order(
        grants: Sequence[GrantRow], now: datetime, transferable_only: bool = False
    ) -> list[GrantRow]:
        """The grants live at ``now`` (only the transferable ones with ``transferable_only``), in
        burn-down order: the order every spend draws them in."""
        live = [
            grant
            for grant in grants
            if grant.is_live(now) and (grant.transferable or not transferable_only)
        ]
        live.sort(key=burn_down_key)
        return live

    def locked_write(
        self,
        customers: Sequence[str],
        work: Callable[[UnitOfWork], T],
    ) -> T:
        """Runs ``work`` in one transaction, with the customers locked and swept, as every write
        that changes what a customer holds must. It gets the same unit of work as the ledger's
        own write bodies; it is never a replay, since it records no idempotency key here."""

        def attempt(connection: Connection) -> T | CatchingUp:
            now = self.now()
            locked = self._lock(connection, customers, now)
            if locked is None:
                return CATCHING_UP
            return work(UnitOfWork(connection, now, locked, replay=False))

        return self.write_caught_up(attempt)

    def write_once(
        self,
        request: Request,
        customers: Callable[[Connection], Sequence[str]],
        body: Callable[[UnitOfWork], T],
        rebuild: Callable[[Connection, TransactionRow], T],
    ) -> T:
        """Runs ``body`` once per idempotency key (see the module's docstring)."""
        check_text(request.key, "idempotency_key", IDEMPOTENCY_KEY_LENGTH_MAX)

        def attempt(connection: Connection, replay: bool) -> T | Refused | CatchingUp:
            return self._attempt(connection, request, customers, body, rebuild, replay)

        customer = request.fields.get("customer")
        outcome = self.run_write(attempt, customer if isinstance(customer, str) else None)
        if isinstance(outcome, Refused):
            raise outcome.error
        # Not a refusal, so the body's own outcome (mypy cannot narrow a TypeVar's union).
        return cast(T, outcome)

    def run_write(
        self, attempt: Callable[[Connection, bool], Any], customer: str | None = None
    ) -> Any:
        """Runs a write's ``attempt`` (for ``customer``, when the write names one) in a
        transaction of its own; the ledger service sends it through its coalescing writer
        instead, when group commit is on."""
        return self.write_alone(attempt)

    def write_alone(self, attempt: Callable[[Connection, bool], Any]) -> Any:
        """``attempt`` in a transaction of its own, run again in replay mode when its key turns
        out to be recorded already."""
        for replay in (False, True):

            def run(connection: Connection, replay: bool = replay) -> Any:
                return attempt(connection, replay)

            try:
                return self.write_caught_up(run)
            except DATABASE_ERRORS as error:
                if replay or not is_unique_violation(error, "transactions", "idempotency_key"):
                    raise
        raise AssertionError("unreachable: the replay run returns or raises")

    def _attempt(
        self,
        connection: Connection,
        request: Request,
        customers: Callable[[Connection], Sequence[str]],
        body: Callable[[UnitOfWork], T],
        rebuild: Callable[[Connection, TransactionRow], T],
        replay: bool,
    ) -> T | Refused | CatchingUp:
        """One run of a write inside its transaction. A refusal is *returned*, not raised, so
        that the transaction commits the row that records it."""
        now = self.now()
        try:
            if replay:
                recorded = repository.find_transaction(connection, request.key)
                if recorded is not None:
                    return self._replay(connection, request, recorded, rebuild)
            locked = self._lock(connection, customers(connection), now)
            if locked is None:
                return CATCHING_UP
            return body(UnitOfWork(connection, now, locked, replay))
        except Refused as refused:
            return refused
        except InvalidRequest:
            # Some checks depend on now (a grant's expiry must be in its future), so a request
            # that was valid when first made may fail them when retried later: a recorded key
            # is a replay, answered with its first outcome instead.
            recorded = None if replay else repository.find_transaction(connection, request.key)
            if recorded is None:
                raise
            try:
                return self._replay(connection, request, recorded, rebuild)
            except Refused as refused:
                return refused

    def _lock(
        self, connection: Connection, external_ids: Sequence[str], now: datetime
    ) -> dict[str, CustomerRow] | None:
        """Locks the customers and sweeps whatever has fallen due for them, so that the write
        sees expired holds already returned and expired grants already gone. None when the
        sweep stopped at its budget: the caller commits it and runs again."""
        locked = repository.lock_customers(connection, external_ids)
        for external_id in external_ids:
            if external_id not in locked:
                raise UnknownCustomer(external_id)
        _swept, complete = self.sweep_due(connection, locked.values(), now)
        return locked if complete else None

    def _replay(
        self,
        connection: Connection,
        request: Request,
        recorded: TransactionRow,
        rebuild: Callable[[Connection, TransactionRow], T],
    ) -> T:
        conflict = request.conflict_with(recorded.request)
        if conflict is not None:
            raise conflict
        if recorded.outcome is not None:
            raise Refused(self.recorded_refusal(recorded))
        return rebuild(connection, recorded)

    def count_request(
        self,
        context: UnitOfWork,
        request: Request,
        customer: CustomerRow,
        rebuild: Callable[[Connection, TransactionRow], T],
    ) -> T | None:
        """Counts the write's request against the customer's plan rate limit in the write's own
        transaction, so that a request costs one commit. Within the limit: None. Past it, the
        write's first outcome when its key is recorded already (a retry of a write that went
        through), else ``RateLimited``, raised as a refusal that records nothing under the key
        (the same request may be made again once the window has moved) while the count commits."""
        window = self.count_requests(context.connection, customer, 1, context.now)
        if window is None or window.allows(1, 0):
            return None
        recorded = repository.find_transaction(context.connection, request.key)
        if recorded is not None:
            return self._replay(context.connection, request, recorded, rebuild)
        raise Refused(
            RateLimited(customer.external_id, window.limit_per_minute, window.retry_after_seconds)
        )

    def refuse(
        self,
        context: UnitOfWork,
        request: Request,
        customer: CustomerRow,
        unit: str,
        steps: int,
        error: CreditKitError,
        hold_id: int | None = None,
    ) -> Refused:
        """Records ``error`` as the outcome of ``request``; raise what it returns."""
        repository.insert_transaction(
            context.connection,
            self.transaction_values(
                request, customer, unit, steps, context.now, status="refused", hold_id=hold_id
            )
            | {"outcome": self.refusal_outcome(error)},
        )
        return Refused(error)

    def refusal_outcome(self, error: CreditKitError) -> str:
        """A refusal as data: its code and its facts as JSON, with the format's version, so that
        a replay rebuilds it whatever the error classes look like by then."""
        if error.code not in RECORDED_ERRORS:
            raise InvalidRequest("outcome", f"{error.code} is not a recorded outcome")
        return repository.encode_json(
            {
                "version": REFUSAL_FORMAT_VERSION,
                "code": error.code,
                "message": str(error),
                "fields": self._encode_fields(error.to_fields()),
            }
        )

    def recorded_refusal(self, recorded: TransactionRow) -> CreditKitError:
        """The refusal recorded under a key. Rows written before the format had a version are
        version 1 without the field; an unknown code (an error class since removed) comes back
        as a generic refusal with the recorded message, never as a failure of the replay."""
        if recorded.outcome is None:
            raise InvalidRequest("outcome", f"transaction {recorded.id} recorded no refusal")
        outcome = json.loads(recorded.outcome)
        version = outcome.get("version", 1)
        if version > REFUSAL_FORMAT_VERSION:
            raise InvalidRequest(
                "outcome", f"recorded by a newer creditkit (refusal format {version})"
            )
        fields = self._decode_fields(outcome.get("fields", {}))
        error_type = RECORDED_ERRORS.get(outcome.get("code", ""))
        if error_type is None:
            return RecordedRefusal(outcome.get("code", "refused"), outcome.get("message", ""))
        return error_type.from_fields(fields)

    @staticmethod
    def _encode_fields(fields: dict[str, Any]) -> dict[str, Any]:
        encoded: dict[str, Any] = {}
        for name, value in fields.items():
            if isinstance(value, datetime):
                encoded[name] = {"datetime": value.isoformat()}
            elif isinstance(value, list) and all(
                isinstance(item, int) and not isinstance(item, bool) for item in value
            ):
                # Ids (the open children a refused commit names): JSON keeps them as they are.
                encoded[name] = list(value)
            elif not isinstance(value, int | str | None) or isinstance(value, bool):
                encoded[name] = {"decimal": str(value)}
            else:
                encoded[name] = value
        return encoded

    @staticmethod
    def _decode_fields(fields: dict[str, Any]) -> dict[str, Any]:
        decoded: dict[str, Any] = {}
        for name, value in fields.items():
            if isinstance(value, dict) and "datetime" in value:
                decoded[name] = datetime.fromisoformat(value["datetime"])
            elif isinstance(value, dict) and "decimal" in value:
                decoded[name] = Decimal(value["decimal"])
            else:
                decoded[name] = value
        return decoded
