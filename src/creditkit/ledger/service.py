"""The ledger's logic: grants, charges, holds, transfers, expiry, balances, history.

Every write follows one path (``_write``): lock the customers it touches, sweep what fell due for
them, run the operation, record it under its idempotency key, commit. A refusal (not enough
credits, a hold in the wrong state) is recorded too, so a replay of the key gives the same
refusal; input errors (unknown unit, bad amount) are raised before anything is written.

Idempotency is optimistic: the key is not looked up first, because replays are rare and a
lookup would cost every write a round trip. The key's unique index refuses a second use at
insert; the write is then rolled back and run again in *replay mode*, which looks the key up,
checks that the request is the same, and rebuilds the first outcome from the rows it wrote.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar, cast

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from creditkit.errors import (
    RECORDED_ERRORS,
    CreditKitError,
    HoldAlreadyCommitted,
    HoldAlreadyReleased,
    HoldAmountExceeded,
    HoldExpired,
    HoldNotFound,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidAmount,
    InvalidRequest,
    LedgerBusy,
    Quantity,
    RecordedRefusal,
    UnitScaleConflict,
    UnknownCustomer,
    UnknownUnit,
)
from creditkit.ledger import repository
from creditkit.ledger.repository import CustomerRow, GrantRow, HoldRow, TransactionRow
from creditkit.ledger.schemas import (
    AMOUNT_DIGITS_MAX,
    PRIORITY_DEFAULT_BY_SOURCE,
    SCALE_MAX,
    TRANSFERABLE_DEFAULT_SOURCES,
    Adjustment,
    Balance,
    Charge,
    ChargeRequest,
    Customer,
    CustomerKind,
    Draw,
    Expiry,
    Grant,
    GrantBalance,
    GrantSource,
    HistoryItem,
    HistoryPage,
    Hold,
    HoldStatus,
    Money,
    SweepReport,
    TransactionKind,
    Transfer,
    Unit,
)
from creditkit.notify.outbox import emit
from creditkit.notify.schemas import EventType
from creditkit.store.database import DATABASE_ERRORS, Database, is_unique_violation

T = TypeVar("T")
Clock = Callable[[], datetime]
#: Due work of another domain, run inside a customer's sweep under its lock: does what has
#: fallen due at ``now`` and returns when it next falls due (None: never).
DueHook = Callable[[Connection, CustomerRow, datetime], datetime | None]
#: How many steps of a unit the customer's plan lets it spend beyond its grants at ``now``:
#: None for no cap (an unlimited plan), else what overage allows (0: none).
HeadroomCheck = Callable[[Connection, CustomerRow, str, datetime], int | None]
#: How many steps of a unit a workspace member may still spend this period (None: no cap);
#: raises InvalidRequest when the member is not one.
MemberRoom = Callable[[Connection, CustomerRow, str, str, datetime], int | None]
#: Told, inside the spending transaction, that a customer's available steps of a unit went from
#: ``before`` to ``after`` (after < before): alerts and auto top-up watch thresholds with it.
SpendHook = Callable[[Connection, CustomerRow, str, int, int, datetime], None]

IDEMPOTENCY_KEY_LENGTH_MAX = 255
EXTERNAL_ID_LENGTH_MAX = 255
NAME_LENGTH_MAX = 128
HOLD_TIMEOUT_SECONDS_MAX = 7 * 24 * 3600
HISTORY_PAGE_SIZE_MAX = 500
HOLDS_PAGE_SIZE_MAX = 500
BATCH_SIZE_MAX = 10_000
SWEEP_CUSTOMERS_MAX = 10_000
#: Due items (a hold timed out, a grant expired, a renewal) applied in one transaction: a
#: backlog is caught up in transactions of this size, the lock released between them.
SWEEP_ITEMS_PER_TRANSACTION_MAX = 256
#: Instants of due work (boundaries) walked in one transaction, whatever their items.
TIMELINE_STEPS_MAX = 64
#: Transactions a write spends catching a customer's backlog up before it gives up (LedgerBusy):
#: 14 months of daily boundaries and thousands of timed-out holds fit well within it.
CATCH_UP_TRANSACTIONS_MAX = 1_000
PRIORITY_MAX = 1_000_000
METADATA_BYTES_MAX = 16_384
METADATA_DEPTH_MAX = 8
METADATA_KEY_LENGTH_MAX = 128
METADATA_NODES_MAX = 4_096
#: The format of a refusal stored as a write's outcome (code, message, fields).
REFUSAL_FORMAT_VERSION = 2

#: System accounts that every unit has, one each: where granted credits come from, where spent
#: credits go, and where expired credits go (breakage).
ISSUANCE, CONSUMPTION, EXPIRY = "issuance", "consumption", "expiry"
SYSTEM_ACCOUNT_KINDS = (ISSUANCE, CONSUMPTION, EXPIRY)


def burn_down_key(grant: GrantRow) -> tuple[int, bool, datetime, datetime, int]:
    """DESIGN.md rule 4: lowest priority number first, then soonest expiry (never-expiring
    last), then oldest, then the grant's id so that the order is total."""
    never = grant.expires_at is None
    expires_at = grant.effective_at if grant.expires_at is None else grant.expires_at
    return (grant.priority, never, expires_at, grant.effective_at, grant.account_id)


def take(grants: Sequence[GrantRow], steps: int) -> list[tuple[GrantRow, int]]:
    """Draws ``steps`` from ``grants`` (already in burn-down order), spending their in-memory
    ``remaining``. The caller has checked that they hold enough."""
    draws: list[tuple[GrantRow, int]] = []
    left = steps
    for grant in grants:
        if left == 0:
            break
        part = min(grant.remaining, left)
        if part > 0:
            grant.remaining -= part
            left -= part
            draws.append((grant, part))
    assert left == 0, "take() was asked for more than the grants hold"
    return draws


@dataclass(frozen=True, slots=True)
class Request:
    """A write as recorded under its idempotency key."""

    key: str
    operation: TransactionKind
    fields: dict[str, Any]

    def encode(self) -> str:
        return repository.encode_json({"operation": self.operation.value, **self.fields})

    def conflict_with(self, recorded: str) -> IdempotencyConflict | None:
        """The first field in which ``recorded`` differs from this request, if any."""
        first = json.loads(recorded)
        second = json.loads(self.encode())
        for name in dict.fromkeys([*second, *first]):
            if first.get(name) != second.get(name):
                return IdempotencyConflict(self.key, name, first.get(name), second.get(name))
        return None


@dataclass(slots=True)
class _Context:
    connection: Connection
    now: datetime
    customers: dict[str, CustomerRow]
    #: True on the second run of a write whose key was already taken.
    replay: bool


@dataclass(slots=True)
class _SweepTally:
    grants_expired: int = 0
    holds_expired: int = 0


class _CatchingUp:
    """The outcome of a transaction that spent its budget catching a customer's due work up and
    did not run the write: it commits what it did, and the write is run again."""


CATCHING_UP = _CatchingUp()


class _Refused(Exception):
    """A recorded refusal on its way out of the write that recorded it: raised from deep in an
    operation, caught and returned by ``_attempt`` so that its transaction still commits."""

    def __init__(self, error: CreditKitError) -> None:
        super().__init__(str(error))
        self.error = error


def check_text(value: object, field_name: str, length_max: int) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidRequest(field_name, "must be a non-empty string")
    if len(value) > length_max:
        raise InvalidRequest(field_name, f"must be at most {length_max} characters")
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL: refused here, by name, not as a database error.
        raise InvalidRequest(field_name, "must not contain NUL (U+0000)")
    return value


def check_metadata(metadata: object) -> dict[str, Any]:
    """Metadata within its limits (nesting depth, key length, encoded size), refused naming the
    field before anything is written: what is stored must also be readable back, and a value
    nested deeper than a JSON encoder's recursion limit would be written and then fail every
    read of the customer's history."""
    if metadata is None or metadata == {}:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidRequest("metadata", "must be a mapping with string keys")
    _check_metadata_shape(metadata)
    try:
        encoded = repository.encode_json(metadata)
    except (TypeError, ValueError) as error:
        raise InvalidRequest("metadata", f"must be JSON-serializable: {error}") from None
    if len(encoded.encode()) > METADATA_BYTES_MAX:
        raise InvalidRequest("metadata", f"must encode to at most {METADATA_BYTES_MAX} bytes")
    return metadata


def _check_metadata_shape(metadata: dict[Any, Any]) -> None:
    """Walks the value without recursion (so a hostile depth cannot overflow the stack), at most
    ``METADATA_NODES_MAX`` nodes."""
    pending: list[tuple[object, int, str]] = [(metadata, 1, "metadata")]
    for _node in range(METADATA_NODES_MAX):
        if not pending:
            return
        value, depth, path = pending.pop()
        if isinstance(value, dict | list) and depth > METADATA_DEPTH_MAX:
            raise InvalidRequest(path, f"nests deeper than {METADATA_DEPTH_MAX} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise InvalidRequest(path, "must be a mapping with string keys")
                if len(key) > METADATA_KEY_LENGTH_MAX:
                    raise InvalidRequest(
                        path, f"has a key longer than {METADATA_KEY_LENGTH_MAX} characters"
                    )
                pending.append((item, depth + 1, f"{path}.{key}"))
        elif isinstance(value, list):
            pending.extend(
                (item, depth + 1, f"{path}[{index}]") for index, item in enumerate(value)
            )
    if pending:
        raise InvalidRequest("metadata", f"must hold at most {METADATA_NODES_MAX} values")


def check_time(value: object, field_name: str) -> datetime:
    """``value`` in UTC; refuses anything but an aware datetime, naming ``field_name``."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidRequest(field_name, "must be a timezone-aware datetime")
    return value.astimezone(UTC)


def check_range(
    start: object, end: object, days_max: int | None = None
) -> tuple[datetime, datetime]:
    """A time range ``[start, end)`` in UTC: aware datetimes, ``end`` after ``start``, and at
    most ``days_max`` days long when given."""
    start_ = check_time(start, "start")
    end_ = check_time(end, "end")
    if end_ <= start_:
        raise InvalidRequest("end", "must be after start")
    if days_max is not None and end_ - start_ > timedelta(days=days_max):
        raise InvalidRequest("end", f"the range spans at most {days_max} days from start")
    return start_, end_


def check_history_filters(
    kinds: object, action: object, start: object, end: object
) -> repository.HistoryFilters:
    """The filters of a history read, checked: ``kinds`` a list of ``TransactionKind`` values
    (None: every kind), ``action`` an action name, [start, end) timezone-aware (either None)."""
    kinds_ = None if kinds is None else check_kinds(kinds)
    action_ = None if action is None else check_text(action, "action", NAME_LENGTH_MAX)
    start_ = None if start is None else check_time(start, "start")
    end_ = None if end is None else check_time(end, "end")
    if start_ is not None and end_ is not None and end_ <= start_:
        raise InvalidRequest("end", "must be after start")
    return repository.HistoryFilters(kinds_, action_, start_, end_)


def check_kinds(kinds: object) -> frozenset[TransactionKind]:
    """``kinds`` as a set of ``TransactionKind``: a non-empty list of their values, at most
    one entry per kind (the client checks with it too, before sending)."""
    known = ", ".join(kind.value for kind in TransactionKind)
    if isinstance(kinds, str | bytes) or not isinstance(kinds, Sequence):
        raise InvalidRequest("kinds", f"must be a list of transaction kinds ({known})")
    if not 1 <= len(kinds) <= len(TransactionKind):
        raise InvalidRequest(
            "kinds", f"must name 1 to {len(TransactionKind)} kinds (None: every kind)"
        )
    values = {kind.value for kind in TransactionKind}
    for kind in kinds:
        if not isinstance(kind, str) or kind not in values:
            raise InvalidRequest("kinds", f"{kind!r} is not a transaction kind ({known})")
    return frozenset(TransactionKind(kind) for kind in kinds)


def _canonical_quantity(amount: object) -> str:
    """The amount as recorded in a request, so that ``37``, ``"37"`` and ``Decimal("37.0")``
    are one request; refuses what is not exact."""
    if isinstance(amount, bool) or not isinstance(amount, int | Decimal | str):
        raise InvalidAmount(
            "amount", "must be an int, Decimal or decimal string (floats are not exact)"
        )
    try:
        exact = Decimal(amount)
    except ArithmeticError:
        raise InvalidAmount("amount", f"{amount!r} is not a number") from None
    if not exact.is_finite():
        raise InvalidAmount("amount", "must be finite")
    if exact and abs(exact.adjusted()) > AMOUNT_DIGITS_MAX:
        # Before normalize(), which would overflow the decimal context on 1e1000000.
        raise InvalidAmount("amount", f"{amount!r} is out of range")
    return format(exact.normalize(), "f")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


class LedgerService:
    """The credit ledger over one database. Safe to share between threads; several processes may
    use one database at once."""

    def __init__(self, database: Database, clock: Clock, units: Mapping[str, int]) -> None:
        self.database = database
        self._clock = clock
        self._units: dict[str, Unit] = {}
        self._system_accounts: dict[tuple[str, str], int] = {}
        self._due_hooks: list[DueHook] = []
        self._headroom_check: HeadroomCheck | None = None
        self._member_room: MemberRoom | None = None
        self._spend_hooks: list[SpendHook] = []
        self._declare_units(units)

    def add_due_hook(self, hook: DueHook) -> None:
        self._due_hooks.append(hook)

    def add_spend_hook(self, hook: SpendHook) -> None:
        self._spend_hooks.append(hook)

    def spent(
        self,
        connection: Connection,
        customer: CustomerRow,
        unit: str,
        available_before: int,
        available_after: int,
        now: datetime,
    ) -> None:
        """Tells the spend hooks that the customer's available steps of ``unit`` fell, in the
        transaction that made them fall (so what a hook writes commits or rolls back with it)."""
        assert available_after < available_before, (available_before, available_after)
        for hook in self._spend_hooks:
            hook(connection, customer, unit, available_before, available_after, now)

    def set_member_room(self, room: MemberRoom) -> None:
        self._member_room = room

    def member_room(
        self, connection: Connection, customer: CustomerRow, member: str, unit: str, now: datetime
    ) -> int | None:
        """What the member may still spend of ``unit`` this period (None: uncapped)."""
        if self._member_room is None:
            raise InvalidRequest("member", "naming a member needs workspaces (a catalog)")
        return self._member_room(connection, customer, member, unit, now)

    def set_headroom_check(self, check: HeadroomCheck) -> None:
        self._headroom_check = check

    def headroom(
        self, connection: Connection, customer: CustomerRow, unit: str, now: datetime
    ) -> int | None:
        """Steps the customer may spend beyond its grants (None: no cap). What is spent beyond
        them is issued as it is spent (an unlimited plan, or pay-as-you-go overage billed at
        the period's close). Asked only when grants fall short, off the hot path."""
        if self._headroom_check is None:
            return 0
        return self._headroom_check(connection, customer, unit, now)

    def locked_write(
        self,
        customers: Sequence[str],
        work: Callable[[Connection, dict[str, CustomerRow], datetime], T],
    ) -> T:
        """Runs ``work`` in one transaction, with the customers locked and swept, as every write
        that changes what a customer holds must."""

        def attempt(connection: Connection) -> T | _CatchingUp:
            now = self.now()
            locked = self._lock(connection, customers, now)
            if locked is None:
                return CATCHING_UP
            return work(connection, locked, now)

        return self.write_caught_up(attempt)

    def write_caught_up(self, attempt: Callable[[Connection], T | _CatchingUp]) -> T:
        """Runs ``attempt`` in a transaction until it does its work: each run that instead spent
        its budget on a customer's backlog of due work commits that part, and frees the lock,
        before the next (bounded work under a lock)."""
        for _transaction in range(CATCH_UP_TRANSACTIONS_MAX):
            outcome = self.database.write(attempt)
            if not isinstance(outcome, _CatchingUp):
                return outcome
        raise LedgerBusy(CATCH_UP_TRANSACTIONS_MAX, "a backlog of due work")

    def post_grant(
        self,
        connection: Connection,
        customer: CustomerRow,
        key: str,
        steps: int,
        unit: str,
        source: GrantSource,
        expires_at: datetime | None,
        now: datetime,
        metadata: dict[str, Any],
        *,
        cost_basis: Money | None = None,
        action: str | None = None,
    ) -> int | None:
        """Inside a write that holds the customer's lock: grants under ``key`` unless the key is
        taken already (the work was done before). Returns the new grant's id, or None.
        ``cost_basis`` is the money paid for it; ``action`` names what it is for
        (``pack:<id>``, counted against the pack's purchase limit)."""
        assert steps > 0, "a grant of nothing"
        if repository.find_transaction(connection, key) is not None:
            return None
        request = Request(
            key,
            TransactionKind.GRANT,
            {
                "customer": customer.external_id,
                "unit": unit,
                "amount": steps,
                "source": source.value,
            },
        )
        context = _Context(connection, now, {customer.external_id: customer}, replay=False)
        _transaction_id, grant_id = self._issue(
            context, request, customer, unit, steps, source, PRIORITY_DEFAULT_BY_SOURCE[source],
            now, expires_at, source in TRANSFERABLE_DEFAULT_SOURCES, cost_basis, metadata, action,
        )  # fmt: skip
        return grant_id

    def post_charge(
        self,
        connection: Connection,
        customer: CustomerRow,
        key: str,
        steps: int,
        unit: str,
        action: str,
        now: datetime,
    ) -> bool:
        """Inside a write that holds the customer's lock: spends ``steps`` from its live grants,
        in burn-down order, under ``key`` unless the key is taken (then it was paid before).
        Never from headroom: what pays for a plan must be credits the customer holds. False,
        with nothing written, when the grants hold less."""
        assert steps > 0, "a charge of nothing"
        if repository.find_transaction(connection, key) is not None:
            return True
        grants = self.live_in_order(
            repository.grants_with_credits(connection, customer.id, unit), now
        )
        if sum(grant.remaining for grant in grants) < steps:
            return False
        draws = take(grants, steps)
        request = Request(
            key,
            TransactionKind.CHARGE,
            {"customer": customer.external_id, "unit": unit, "amount": steps, "action": action},
        )
        transaction_id = repository.insert_transaction(
            connection, self.transaction_values(request, customer, unit, steps, now, action=action)
        )
        self._post(
            connection,
            transaction_id,
            unit,
            [(grant.account_id, -part) for grant, part in draws]
            + [(self.system_account(CONSUMPTION, unit), steps)],
        )
        return True

    def post_rollover(
        self,
        connection: Connection,
        customer: CustomerRow,
        key: str,
        moves: Sequence[tuple[int, int]],
        unit: str,
        expires_at: datetime | None,
        now: datetime,
    ) -> int | None:
        """Inside a write that holds the customer's lock: moves (grant id, steps) into one new
        allowance grant expiring at ``expires_at``, under ``key`` unless it is taken."""
        steps = sum(part for _grant, part in moves)
        assert steps > 0 and all(part > 0 for _grant, part in moves), f"bad rollover {moves}"
        if repository.find_transaction(connection, key) is not None:
            return None
        request = Request(
            key, TransactionKind.ROLLOVER, {"customer": customer.external_id, "unit": unit}
        )
        transaction_id = repository.insert_transaction(
            connection, self.transaction_values(request, customer, unit, steps, now)
        )
        context = _Context(connection, now, {customer.external_id: customer}, replay=False)
        grant_id = self._insert_grant(
            context,
            customer,
            unit,
            steps,
            GrantSource.ALLOWANCE,
            PRIORITY_DEFAULT_BY_SOURCE[GrantSource.ALLOWANCE],
            now,
            expires_at,
            False,
            None,
            transaction_id,
            {"rollover": True},
        )
        legs = [(grant_id_from, -part) for grant_id_from, part in moves] + [(grant_id, steps)]
        self._post(connection, transaction_id, unit, legs)
        return grant_id

    def post_refund(
        self,
        connection: Connection,
        customer: CustomerRow,
        key: str,
        grant_id: int,
        now: datetime,
        metadata: dict[str, Any],
    ) -> int:
        """Inside a write that holds the customer's lock: takes what is left of the grant back
        to its unit's issuance account under ``key`` (a purchase refunded: its unused credits
        are un-issued; what was spent stays spent). Returns the steps taken back; when the key
        is taken already, the steps its transaction took then. 0, with nothing written, when the
        grant holds nothing (credits out in a hold are in use, not left)."""
        check_text(key, "idempotency_key", IDEMPOTENCY_KEY_LENGTH_MAX)
        request = Request(
            key, TransactionKind.REFUND, {"customer": customer.external_id, "grant_id": grant_id}
        )
        recorded = repository.find_transaction(connection, key)
        if recorded is not None:
            conflict = request.conflict_with(recorded.request)
            if conflict is not None:
                raise conflict
            return recorded.amount
        holding = repository.grant_holding(connection, grant_id)
        if holding is None or holding.customer_id != customer.id:
            raise InvalidRequest(
                "grant_id", f"no grant {grant_id} of customer {customer.external_id!r}"
            )
        if holding.remaining == 0:
            return 0
        assert 0 < holding.remaining <= holding.amount_granted, holding
        transaction_id = repository.insert_transaction(
            connection,
            self.transaction_values(
                request, customer, holding.unit, holding.remaining, now, metadata=metadata
            ),
        )
        self._post(
            connection,
            transaction_id,
            holding.unit,
            [
                (grant_id, -holding.remaining),
                (self.system_account(ISSUANCE, holding.unit), holding.remaining),
            ],
        )
        return holding.remaining

    # -- time and units -------------------------------------------------------------------------

    def now(self) -> datetime:
        now = self._clock()
        if not isinstance(now, datetime) or now.tzinfo is None:
            raise InvalidRequest("clock", "must return a timezone-aware datetime")
        return now.astimezone(UTC)

    def _declare_units(self, declared: Mapping[str, int]) -> None:
        for name, scale in declared.items():
            check_text(name, "unit", 64)
            if isinstance(scale, bool) or not isinstance(scale, int) or not 0 <= scale <= SCALE_MAX:
                raise InvalidRequest(
                    "scale", f"unit {name!r}: must be an int from 0 to {SCALE_MAX}"
                )

        def declare(connection: Connection) -> None:
            now = self.now()
            recorded = repository.read_units(connection)
            for name, scale in declared.items():
                if name not in recorded:
                    repository.insert_unit(connection, name, scale, now)
                elif recorded[name] != scale:
                    raise UnitScaleConflict(name, recorded[name], scale)
            system = repository.read_system_accounts(connection)
            for name in {*recorded, *declared}:
                for kind in SYSTEM_ACCOUNT_KINDS:
                    if (kind, name) not in system:
                        repository.insert_system_account(connection, kind, name, now)

        self.database.write(declare)
        self._refresh_units()

    def _refresh_units(self) -> None:
        with self.database.read() as connection:
            self._units = {
                name: Unit(name, scale) for name, scale in repository.read_units(connection).items()
            }
            self._system_accounts = repository.read_system_accounts(connection)

    def unit(self, name: object, field_name: str = "unit") -> Unit:
        if not isinstance(name, str):
            raise InvalidRequest(field_name, "must be a unit name")
        unit = self._units.get(name)
        if unit is None:
            # Another process may have declared it since this one started.
            self._refresh_units()
            unit = self._units.get(name)
            if unit is None:
                raise UnknownUnit(name, field_name)
        return unit

    def units(self) -> tuple[Unit, ...]:
        return tuple(self._units.values())

    def system_account(self, kind: str, unit: str) -> int:
        return self._system_accounts[(kind, unit)]

    # -- the write path -------------------------------------------------------------------------

    def _write(
        self,
        request: Request,
        customers: Callable[[Connection], Sequence[str]],
        body: Callable[[_Context], T],
        rebuild: Callable[[Connection, TransactionRow], T],
    ) -> T:
        """Runs ``body`` once per idempotency key (see the module's docstring)."""
        check_text(request.key, "idempotency_key", IDEMPOTENCY_KEY_LENGTH_MAX)
        for replay in (False, True):

            def attempt(
                connection: Connection, replay: bool = replay
            ) -> T | _Refused | _CatchingUp:
                return self._attempt(connection, request, customers, body, rebuild, replay)

            try:
                outcome = self.write_caught_up(attempt)
            except DATABASE_ERRORS as error:
                if replay or not is_unique_violation(error, "transactions", "idempotency_key"):
                    raise
                continue
            if isinstance(outcome, _Refused):
                raise outcome.error
            # Not a refusal, so the body's own outcome (mypy cannot narrow a TypeVar's union).
            return cast(T, outcome)
        raise AssertionError("unreachable: the replay run returns or raises")

    def _attempt(
        self,
        connection: Connection,
        request: Request,
        customers: Callable[[Connection], Sequence[str]],
        body: Callable[[_Context], T],
        rebuild: Callable[[Connection, TransactionRow], T],
        replay: bool,
    ) -> T | _Refused | _CatchingUp:
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
            return body(_Context(connection, now, locked, replay))
        except _Refused as refused:
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
            except _Refused as refused:
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

    def sweep_due(
        self, connection: Connection, locked: Iterable[CustomerRow], now: datetime
    ) -> tuple[set[int], bool]:
        """Sweeps the locked customers that have something due; returns their ids, and False
        when a sweep stopped at its budget with more due (the caller commits and sweeps again
        before it writes)."""
        swept: set[int] = set()
        for customer in locked:
            if customer.next_due_at is not None and customer.next_due_at <= now:
                swept.add(customer.id)
                if not self._sweep_customer(connection, customer, now).complete:
                    return swept, False
        return swept, True

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
            raise _Refused(self.recorded_refusal(recorded))
        return rebuild(connection, recorded)

    def _refuse(
        self,
        context: _Context,
        request: Request,
        customer: CustomerRow,
        unit: str,
        steps: int,
        error: CreditKitError,
        hold_id: int | None = None,
    ) -> _Refused:
        """Records ``error`` as the outcome of ``request``; raise what it returns."""
        repository.insert_transaction(
            context.connection,
            self.transaction_values(
                request, customer, unit, steps, context.now, status="refused", hold_id=hold_id
            )
            | {"outcome": self.refusal_outcome(error)},
        )
        return _Refused(error)

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

    def transaction_values(
        self,
        request: Request,
        customer: CustomerRow,
        unit: str,
        steps: int,
        now: datetime,
        *,
        status: str = "applied",
        counterparty: CustomerRow | None = None,
        action: str | None = None,
        hold_id: int | None = None,
        metadata: dict[str, Any] | None = None,
        member: str | None = None,
    ) -> dict[str, Any]:
        return {
            "idempotency_key": request.key,
            "kind": request.operation.value,
            "status": status,
            "customer_id": customer.id,
            "counterparty_id": None if counterparty is None else counterparty.id,
            "unit": unit,
            "amount": steps,
            "action": action,
            "hold_id": hold_id,
            "member": member,
            "request": request.encode(),
            "outcome": None,
            "metadata": metadata or {},
            "created_at": now,
        }

    def _post(
        self, connection: Connection, transaction_id: int, unit: str, legs: list[tuple[int, int]]
    ) -> None:
        """Writes one transaction's entries. Asserted here, enforced again by PostgreSQL: they
        sum to zero, and none is zero."""
        assert legs, "a transaction with no entries"
        assert sum(amount for _account, amount in legs) == 0, f"unbalanced legs {legs}"
        assert all(amount != 0 for _account, amount in legs), f"zero leg in {legs}"
        repository.insert_entries(
            connection,
            [
                {
                    "transaction_id": transaction_id,
                    "account_id": account,
                    "unit": unit,
                    "amount": amount,
                }
                for account, amount in legs
            ],
        )

    # -- customers ------------------------------------------------------------------------------

    def create_customer(
        self, customer: str, kind: str = "user", metadata: dict[str, Any] | None = None
    ) -> Customer:
        """Creates the customer, or returns it if it exists with the same kind (the customer id
        is its own idempotency key)."""
        check_text(customer, "customer", EXTERNAL_ID_LENGTH_MAX)
        try:
            customer_kind = CustomerKind(kind)
        except ValueError:
            raise InvalidRequest("kind", "must be 'user' or 'workspace'") from None
        metadata = check_metadata(metadata)

        def create(connection: Connection) -> Customer:
            row = repository.read_customer_full(connection, customer)
            if row is None:
                repository.insert_customer(
                    connection, customer, customer_kind, metadata, self.now()
                )
                row = repository.read_customer_full(connection, customer)
                assert row is not None
            elif row.kind != customer_kind:
                raise IdempotencyConflict(f"customer:{customer}", "kind", row.kind, kind)
            return Customer(row.external_id, CustomerKind(row.kind), row.created_at, row.metadata)

        for attempt in (1, 2):
            try:
                return self.database.write(create)
            except IntegrityError:
                # Created by a concurrent call between our read and insert: read it again.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def customer(self, customer: str) -> Customer:
        with self.database.read() as connection:
            row = repository.read_customer_full(connection, customer)
        if row is None:
            raise UnknownCustomer(customer)
        return Customer(row.external_id, CustomerKind(row.kind), row.created_at, row.metadata)

    # -- grants ---------------------------------------------------------------------------------

    def grant(
        self,
        customer: str,
        amount: object,
        *,
        unit: str,
        source: str,
        idempotency_key: str,
        priority: int | None,
        effective_at: datetime | None,
        expires_at: datetime | None,
        transferable: bool | None,
        cost_basis: Money | None,
        metadata: dict[str, Any] | None,
        action: str | None = None,
        guard: Callable[[Connection, CustomerRow], CreditKitError | None] | None = None,
    ) -> Grant:
        """``action`` names what the grant is for (``pack:<id>``); ``guard``, run under the
        customer's lock before anything is written, may refuse the grant with a recorded
        error (a pack bought more often than its purchase limit allows)."""
        unit_ = self.unit(unit)
        steps = unit_.to_steps(amount)
        try:
            grant_source = GrantSource(source)
        except ValueError:
            raise InvalidRequest(
                "source", f"must be one of {', '.join(s.value for s in GrantSource)}"
            ) from None
        if priority is None:
            priority = PRIORITY_DEFAULT_BY_SOURCE[grant_source]
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise InvalidRequest("priority", "must be an int")
        if not -PRIORITY_MAX <= priority <= PRIORITY_MAX:
            raise InvalidRequest("priority", f"must be within ±{PRIORITY_MAX}")
        if transferable is None:
            transferable = grant_source in TRANSFERABLE_DEFAULT_SOURCES
        effective = None if effective_at is None else check_time(effective_at, "effective_at")
        expires = None if expires_at is None else check_time(expires_at, "expires_at")
        if cost_basis is not None and (
            not isinstance(cost_basis, Money)
            or isinstance(cost_basis.amount_minor, bool)
            or not isinstance(cost_basis.amount_minor, int)
            or cost_basis.amount_minor < 0
            or len(cost_basis.currency) != 3
        ):
            raise InvalidRequest(
                "cost_basis", "must be Money with a non-negative int and a 3-letter currency"
            )
        metadata = check_metadata(metadata)
        request = Request(
            idempotency_key,
            TransactionKind.GRANT,
            {
                "customer": customer,
                "unit": unit,
                "amount": steps,
                "source": grant_source.value,
                "priority": priority,
                "effective_at": _iso(effective),
                "expires_at": _iso(expires),
                "transferable": bool(transferable),
                "cost_basis": None
                if cost_basis is None
                else [cost_basis.amount_minor, cost_basis.currency.upper()],
                "metadata": metadata,
            },
        )

        def body(context: _Context) -> Grant:
            holder = context.customers[customer]
            starts_at = effective or context.now
            if expires is not None and expires <= starts_at:
                raise InvalidRequest("expires_at", "must be after the grant starts counting")
            refusal = None if guard is None else guard(context.connection, holder)
            if refusal is not None:
                raise self._refuse(context, request, holder, unit, steps, refusal)
            transaction_id, _grant_id = self._issue(
                context, request, holder, unit, steps, grant_source, priority, starts_at,
                expires, bool(transferable), cost_basis, metadata, action,
            )  # fmt: skip
            return self._grant_from_row(
                repository.read_grant_by_transaction(context.connection, transaction_id)
            )

        return self._write(
            request,
            lambda _connection: [customer],
            body,
            lambda connection, recorded: self._grant_from_row(
                repository.read_grant_by_transaction(connection, recorded.id)
            ),
        )

    def _issue(
        self,
        context: _Context,
        request: Request,
        holder: CustomerRow,
        unit: str,
        steps: int,
        source: GrantSource,
        priority: int,
        effective_at: datetime,
        expires_at: datetime | None,
        transferable: bool,
        cost_basis: Money | None,
        metadata: dict[str, Any],
        action: str | None,
    ) -> tuple[int, int]:
        """A grant's transaction: the grant account, credited from the unit's issuance account.
        Returns the transaction's id and the grant's."""
        transaction_id = repository.insert_transaction(
            context.connection,
            self.transaction_values(
                request, holder, unit, steps, context.now, action=action, metadata=metadata
            ),
        )
        grant_id = self._insert_grant(
            context, holder, unit, steps, source, priority, effective_at, expires_at,
            transferable, cost_basis, transaction_id, metadata,
        )  # fmt: skip
        self._post(
            context.connection,
            transaction_id,
            unit,
            [(self.system_account(ISSUANCE, unit), -steps), (grant_id, steps)],
        )
        return transaction_id, grant_id

    def _insert_grant(
        self,
        context: _Context,
        holder: CustomerRow,
        unit: str,
        steps: int,
        source: GrantSource,
        priority: int,
        effective_at: datetime,
        expires_at: datetime | None,
        transferable: bool,
        cost_basis: Money | None,
        transaction_id: int,
        metadata: dict[str, Any],
    ) -> int:
        grant_id = repository.insert_account(
            context.connection, "grant", unit, holder.id, context.now
        )
        repository.insert_grant(
            context.connection,
            {
                "account_id": grant_id,
                "source": source.value,
                "priority": priority,
                "effective_at": effective_at,
                "expires_at": expires_at,
                "transferable": transferable,
                "amount_granted": steps,
                "cost_basis_minor": None if cost_basis is None else cost_basis.amount_minor,
                "currency": None if cost_basis is None else cost_basis.currency.upper(),
                "transaction_id": transaction_id,
                "metadata": metadata,
            },
        )
        if expires_at is not None:
            repository.lower_next_due_at(context.connection, holder.id, expires_at)
        return grant_id

    def _grant_from_row(self, row: Any) -> Grant:
        unit = self._units[row.unit]
        return Grant(
            id=row.account_id,
            customer=row.external_id,
            unit=row.unit,
            amount=unit.to_quantity(row.amount_granted),
            source=GrantSource(row.source),
            priority=row.priority,
            effective_at=row.effective_at,
            expires_at=row.expires_at,
            transferable=row.transferable,
            cost_basis=None
            if row.cost_basis_minor is None
            else Money(row.cost_basis_minor, row.currency),
            transaction_id=row.transaction_id,
            metadata=row.metadata,
        )

    # -- spending: burn-down over live grants -----------------------------------------------------

    @staticmethod
    def live_in_order(
        grants: Sequence[GrantRow], now: datetime, transferable_only: bool = False
    ) -> list[GrantRow]:
        live = [
            grant
            for grant in grants
            if grant.is_live(now) and (grant.transferable or not transferable_only)
        ]
        live.sort(key=burn_down_key)
        return live

    def _draw(
        self,
        context: _Context,
        request: Request,
        customer: CustomerRow,
        unit: Unit,
        steps: int,
        transferable_only: bool,
    ) -> tuple[list[tuple[GrantRow, int]], int]:
        """Takes ``steps`` from the customer's live grants in burn-down order, or refuses (and
        records) the request with InsufficientCredits when they hold less. Returns the draws
        and the steps issued on demand beyond them (an unlimited plan; never for a transfer,
        which moves only credits the customer holds). Tells the spend hooks what it took."""
        rows = repository.grants_with_credits(context.connection, customer.id, unit.name)
        grants = self.live_in_order(rows, context.now, transferable_only)
        available = sum(grant.remaining for grant in grants)
        drawn = min(steps, available)
        headroom: int | None = 0
        if steps > available and not transferable_only:
            headroom = self.headroom(context.connection, customer, unit.name, context.now)
        if steps <= available or headroom is None or steps - available <= headroom:
            if drawn > 0:
                # Of all live grants, not only the transferable ones a transfer draws from.
                before = sum(grant.remaining for grant in rows if grant.is_live(context.now))
                self.spent(
                    context.connection, customer, unit.name, before, before - drawn, context.now
                )
            return take(grants, drawn), steps - drawn
        raise self._refuse(
            context,
            request,
            customer,
            unit.name,
            steps,
            InsufficientCredits(
                customer.external_id,
                unit.name,
                unit.to_quantity(available + headroom),
                unit.to_quantity(steps),
            ),
        )

    def charge_many(self, requests: Sequence[ChargeRequest]) -> list[Charge | CreditKitError]:
        """Charges in one database transaction, in order; each has its own outcome (a Charge or
        the error it met), and one refusal does not fail the others."""
        from creditkit.ledger.batch import ChargeBatch

        if len(requests) > BATCH_SIZE_MAX:
            raise InvalidRequest("requests", f"at most {BATCH_SIZE_MAX} charges per batch")
        return ChargeBatch(self, requests).run()

    # -- holds ----------------------------------------------------------------------------------

    def reserve(
        self,
        customer: str,
        amount: object,
        *,
        unit: str,
        timeout_seconds: int,
        idempotency_key: str,
        action: str | None,
        metadata: dict[str, Any] | None,
    ) -> Hold:
        unit_ = self.unit(unit)
        steps = unit_.to_steps(amount)
        if (
            isinstance(timeout_seconds, bool)
            or not isinstance(timeout_seconds, int)
            or not 1 <= timeout_seconds <= HOLD_TIMEOUT_SECONDS_MAX
        ):
            raise InvalidRequest(
                "timeout_seconds", f"must be an int from 1 to {HOLD_TIMEOUT_SECONDS_MAX}"
            )
        if action is not None:
            check_text(action, "action", NAME_LENGTH_MAX)
        metadata = check_metadata(metadata)
        request = Request(
            idempotency_key,
            TransactionKind.RESERVE,
            {
                "customer": customer,
                "unit": unit,
                "amount": steps,
                "timeout_seconds": timeout_seconds,
                "action": action,
                "metadata": metadata,
            },
        )

        def body(context: _Context) -> Hold:
            holder = context.customers[customer]
            draws, issued = self._draw(
                context, request, holder, unit_, steps, transferable_only=False
            )
            expires_at = context.now + timedelta(seconds=timeout_seconds)
            hold_id = repository.insert_account(
                context.connection, "hold", unit, holder.id, context.now
            )
            transaction_id = repository.insert_transaction(
                context.connection,
                self.transaction_values(
                    request,
                    holder,
                    unit,
                    steps,
                    context.now,
                    action=action,
                    hold_id=hold_id,
                    metadata=metadata,
                ),
            )
            repository.insert_hold(
                context.connection,
                {
                    "account_id": hold_id,
                    "customer_id": holder.id,
                    "unit": unit,
                    "amount_held": steps,
                    "status": HoldStatus.ACTIVE.value,
                    "action": action,
                    "expires_at": expires_at,
                    "created_at": context.now,
                    "amount_committed": None,
                    "reserve_transaction_id": transaction_id,
                    "settle_transaction_id": None,
                    "metadata": metadata,
                },
            )
            self._post(
                context.connection,
                transaction_id,
                unit,
                [(grant.account_id, -part) for grant, part in draws]
                + ([(self.system_account(ISSUANCE, unit), -issued)] if issued else [])
                + [(hold_id, steps)],
            )
            repository.lower_next_due_at(context.connection, holder.id, expires_at)
            return Hold(
                id=hold_id,
                customer=customer,
                unit=unit,
                amount=unit_.to_quantity(steps),
                status=HoldStatus.ACTIVE,
                expires_at=expires_at,
                created_at=context.now,
                draws=tuple(
                    Draw(grant.account_id, unit_.to_quantity(part)) for grant, part in draws
                ),
                action=action,
                metadata=metadata,
            )

        def rebuild(connection: Connection, recorded: TransactionRow) -> Hold:
            assert recorded.hold_id is not None
            hold = repository.read_hold(connection, recorded.hold_id)
            assert hold is not None
            return self._hold_as_reserved(connection, hold)

        return self._write(request, lambda _connection: [customer], body, rebuild)

    def _reserve_draws(
        self, connection: Connection, hold: HoldRow, grants_only: bool = True
    ) -> list[tuple[int, int]]:
        """(account id, steps) the hold took, in burn-down order: its grants, then (with
        ``grants_only`` false) what an unlimited plan issued for it."""
        return [
            (entry.account_id, -entry.amount)
            for entry in repository.entries_of(connection, [hold.reserve_transaction_id])
            if entry.amount < 0 and (entry.kind == "grant" or not grants_only)
        ]

    @staticmethod
    def _commit_draws(
        connection: Connection, page: Sequence[TransactionRow]
    ) -> dict[int, list[tuple[int, int]]]:
        """For each commit on a history page, the grants its hold drew from, in burn-down order:
        two statements for the whole page, whatever it holds."""
        hold_ids = [
            t.hold_id for t in page if t.kind is TransactionKind.COMMIT and t.hold_id is not None
        ]
        holds = repository.read_holds(connection, hold_ids)
        entries = repository.entries_of(
            connection, [hold.reserve_transaction_id for hold in holds.values()]
        )
        by_reserve: dict[int, list[tuple[int, int]]] = {}
        for entry in entries:
            if entry.amount < 0 and entry.kind == "grant":
                by_reserve.setdefault(entry.transaction_id, []).append(
                    (entry.account_id, -entry.amount)
                )
        return {
            hold_id: by_reserve.get(hold.reserve_transaction_id, [])
            for hold_id, hold in holds.items()
        }

    def _hold_as_reserved(self, connection: Connection, hold: HoldRow) -> Hold:
        unit = self._units[hold.unit]
        return Hold(
            id=hold.account_id,
            customer=hold.external_id,
            unit=hold.unit,
            amount=unit.to_quantity(hold.amount_held),
            status=HoldStatus.ACTIVE,
            expires_at=hold.expires_at,
            created_at=hold.created_at,
            draws=tuple(
                Draw(grant_id, unit.to_quantity(part))
                for grant_id, part in self._reserve_draws(connection, hold)
            ),
            action=hold.action,
            metadata=hold.metadata,
        )

    def recorded(self, idempotency_key: str) -> bool:
        check_text(idempotency_key, "idempotency_key", IDEMPOTENCY_KEY_LENGTH_MAX)
        with self.database.read() as connection:
            return repository.find_transaction(connection, idempotency_key) is not None

    def hold(self, hold_id: int) -> Hold:
        """The hold as it stands now (its status after any commit, release or expiry)."""
        with self.database.read() as connection:
            hold = repository.read_hold(connection, hold_id)
            if hold is None:
                raise HoldNotFound(hold_id)
            draws = self._reserve_draws(connection, hold)
        return self._hold_now(hold, draws, self.now())

    def holds(self, customer: str, status: str, limit: int) -> tuple[Hold, ...]:
        """The customer's holds in ``status``, newest first, at most ``limit``."""
        try:
            wanted = HoldStatus(status)
        except ValueError:
            raise InvalidRequest(
                "status", f"must be one of {', '.join(s.value for s in HoldStatus)}"
            ) from None
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not 1 <= limit <= HOLDS_PAGE_SIZE_MAX
        ):
            raise InvalidRequest("limit", f"must be an int from 1 to {HOLDS_PAGE_SIZE_MAX}")
        # Holds past their timeout are swept first, so that a hold listed as active is one.
        self.sweep_if_due(customer)
        with self.database.read() as connection:
            row = repository.read_customer(connection, customer)
            found = repository.customer_holds(connection, row.id, wanted, limit)
            legs = repository.entries_of(
                connection, [hold.reserve_transaction_id for hold in found]
            )
        draws: dict[int, list[tuple[int, int]]] = {}
        for leg in legs:
            if leg.amount < 0 and leg.kind == "grant":
                draws.setdefault(leg.transaction_id, []).append((leg.account_id, -leg.amount))
        now = self.now()
        return tuple(
            self._hold_now(hold, draws.get(hold.reserve_transaction_id, []), now) for hold in found
        )

    def _hold_now(self, hold: HoldRow, draws: Sequence[tuple[int, int]], now: datetime) -> Hold:
        """The hold as it stands at ``now``: one whose timeout has passed is expired, swept or
        not. ``draws`` are (grant id, steps) its reserve took."""
        unit = self._units[hold.unit]
        status = hold.status
        if status is HoldStatus.ACTIVE and hold.expires_at <= now:
            status = HoldStatus.EXPIRED
        committed = (
            None if hold.amount_committed is None else unit.to_quantity(hold.amount_committed)
        )
        return Hold(
            id=hold.account_id,
            customer=hold.external_id,
            unit=hold.unit,
            amount=unit.to_quantity(hold.amount_held),
            status=status,
            expires_at=hold.expires_at,
            created_at=hold.created_at,
            draws=tuple(Draw(grant_id, unit.to_quantity(part)) for grant_id, part in draws),
            action=hold.action,
            amount_committed=committed,
            metadata=hold.metadata,
        )

    def _hold_customer(self, hold_id: object) -> Callable[[Connection], Sequence[str]]:
        if isinstance(hold_id, bool) or not isinstance(hold_id, int):
            raise InvalidRequest("hold_id", "must be an int")

        def customers(connection: Connection) -> Sequence[str]:
            hold = repository.read_hold(connection, hold_id)
            if hold is None:
                raise HoldNotFound(hold_id)
            return [hold.external_id]

        return customers

    def _settle(
        self,
        context: _Context,
        request: Request,
        hold_id: int,
        steps_committed: int,
    ) -> tuple[HoldRow, int, list[tuple[int, int]]]:
        """Closes an active hold: ``steps_committed`` go to consumption, taken from the hold's
        draws in burn-down order, and the rest returns to the grants it came from (to expiry
        where a grant has expired since). Refuses a hold that is not active."""
        hold = repository.read_hold(context.connection, hold_id)
        assert hold is not None, "the hold's customer is locked; the hold cannot vanish"
        holder = context.customers[hold.external_id]
        unit = self._units[hold.unit]
        refusal: CreditKitError | None = None
        if hold.status is HoldStatus.COMMITTED:
            refusal = HoldAlreadyCommitted(hold_id)
        elif hold.status is HoldStatus.RELEASED:
            refusal = HoldAlreadyReleased(hold_id)
        elif hold.status is HoldStatus.EXPIRED:
            refusal = HoldExpired(hold_id, hold.expires_at)
        elif steps_committed > hold.amount_held:
            refusal = HoldAmountExceeded(
                hold_id, unit.to_quantity(hold.amount_held), unit.to_quantity(steps_committed)
            )
        if refusal is not None:
            raise self._refuse(
                context, request, holder, hold.unit, steps_committed, refusal, hold_id=hold_id
            )
        assert hold.expires_at > context.now, "the lock's sweep expires due holds first"
        return hold, *self._settle_legs(context, hold, steps_committed)

    def _settle_legs(
        self, context: _Context, hold: HoldRow, steps_committed: int
    ) -> tuple[int, list[tuple[int, int]]]:
        """The entries that close ``hold``, and the transaction's headline amount."""
        draws = self._reserve_draws(context.connection, hold, grants_only=False)
        expiries = repository.expiries_of(context.connection, [grant_id for grant_id, _ in draws])
        legs: list[tuple[int, int]] = [(hold.account_id, -hold.amount_held)]
        if steps_committed > 0:
            legs.append((self.system_account(CONSUMPTION, hold.unit), steps_committed))
        to_consume = steps_committed
        expired_total = 0
        for grant_id, part in draws:
            consumed = min(part, to_consume)
            to_consume -= consumed
            returned = part - consumed
            if returned == 0:
                continue
            expires_at = expiries.get(grant_id)  # none for issuance: it never expires
            if expires_at is not None and expires_at <= context.now:
                expired_total += returned
            else:
                legs.append((grant_id, returned))
                if expires_at is not None:
                    # The grant has credits again: its expiry is due work once more.
                    repository.lower_next_due_at(context.connection, hold.customer_id, expires_at)
        if expired_total:
            legs.append((self.system_account(EXPIRY, hold.unit), expired_total))
        return steps_committed if steps_committed else hold.amount_held, legs

    def commit(
        self, hold_id: int, amount: object, *, idempotency_key: str, metadata: dict[str, Any] | None
    ) -> Charge:
        customers = self._hold_customer(hold_id)
        metadata = check_metadata(metadata)
        request = Request(
            idempotency_key,
            TransactionKind.COMMIT,
            {"hold_id": hold_id, "amount": _canonical_quantity(amount), "metadata": metadata},
        )

        def body(context: _Context) -> Charge:
            hold = repository.read_hold(context.connection, hold_id)
            assert hold is not None
            # The unit is the hold's, so the amount is checked once the hold is read. Zero is a
            # valid commit: the work was done and cost nothing.
            steps = 0 if amount == 0 else self._units[hold.unit].to_steps(amount)
            hold, _headline, legs = self._settle(context, request, hold_id, steps)
            holder = context.customers[hold.external_id]
            transaction_id = repository.insert_transaction(
                context.connection,
                self.transaction_values(
                    request,
                    holder,
                    hold.unit,
                    steps,
                    context.now,
                    action=hold.action,
                    hold_id=hold_id,
                    metadata=metadata,
                ),
            )
            self._post(context.connection, transaction_id, hold.unit, legs)
            repository.settle_hold(
                context.connection, hold_id, HoldStatus.COMMITTED, steps, transaction_id
            )
            return self._charge_from_commit(
                context.connection, hold, steps, transaction_id, context.now, metadata
            )

        def rebuild(connection: Connection, recorded: TransactionRow) -> Charge:
            hold = repository.read_hold(connection, hold_id)
            assert hold is not None
            return self._charge_from_commit(
                connection,
                hold,
                recorded.amount,
                recorded.id,
                recorded.created_at,
                recorded.metadata,
            )

        return self._write(request, customers, body, rebuild)

    def _charge_from_commit(
        self,
        connection: Connection,
        hold: HoldRow,
        steps: int,
        transaction_id: int,
        created_at: datetime,
        metadata: dict[str, Any],
    ) -> Charge:
        unit = self._units[hold.unit]
        draws: list[Draw] = []
        left = steps
        for grant_id, part in self._reserve_draws(connection, hold):
            consumed = min(part, left)
            left -= consumed
            if consumed:
                draws.append(Draw(grant_id, unit.to_quantity(consumed)))
        return Charge(
            id=transaction_id,
            customer=hold.external_id,
            unit=hold.unit,
            amount=unit.to_quantity(steps),
            action=hold.action,
            draws=tuple(draws),
            created_at=created_at,
            hold_id=hold.account_id,
            metadata=metadata,
        )

    def release(self, hold_id: int, *, idempotency_key: str) -> Hold:
        customers = self._hold_customer(hold_id)
        request = Request(idempotency_key, TransactionKind.RELEASE, {"hold_id": hold_id})

        def body(context: _Context) -> Hold:
            hold, headline, legs = self._settle(context, request, hold_id, 0)
            holder = context.customers[hold.external_id]
            transaction_id = repository.insert_transaction(
                context.connection,
                self.transaction_values(
                    request, holder, hold.unit, headline, context.now, hold_id=hold_id
                ),
            )
            self._post(context.connection, transaction_id, hold.unit, legs)
            repository.settle_hold(
                context.connection, hold_id, HoldStatus.RELEASED, None, transaction_id
            )
            return self._released(context.connection, hold)

        def rebuild(connection: Connection, recorded: TransactionRow) -> Hold:
            hold = repository.read_hold(connection, hold_id)
            assert hold is not None
            return self._released(connection, hold)

        return self._write(request, customers, body, rebuild)

    def _released(self, connection: Connection, hold: HoldRow) -> Hold:
        reserved = self._hold_as_reserved(connection, hold)
        return Hold(
            id=reserved.id,
            customer=reserved.customer,
            unit=reserved.unit,
            amount=reserved.amount,
            status=HoldStatus.RELEASED,
            expires_at=reserved.expires_at,
            created_at=reserved.created_at,
            draws=reserved.draws,
            action=reserved.action,
            metadata=reserved.metadata,
        )

    # -- transfers ------------------------------------------------------------------------------

    def transfer(
        self,
        from_customer: str,
        to_customer: str,
        amount: object,
        *,
        unit: str,
        idempotency_key: str,
        metadata: dict[str, Any] | None,
    ) -> Transfer:
        unit_ = self.unit(unit)
        steps = unit_.to_steps(amount)
        check_text(from_customer, "from_customer", EXTERNAL_ID_LENGTH_MAX)
        check_text(to_customer, "to_customer", EXTERNAL_ID_LENGTH_MAX)
        if from_customer == to_customer:
            raise InvalidRequest("to_customer", "must differ from from_customer")
        metadata = check_metadata(metadata)
        request = Request(
            idempotency_key,
            TransactionKind.TRANSFER,
            {
                "from_customer": from_customer,
                "to_customer": to_customer,
                "unit": unit,
                "amount": steps,
                "metadata": metadata,
            },
        )

        def body(context: _Context) -> Transfer:
            sender = context.customers[from_customer]
            recipient = context.customers[to_customer]
            draws, _issued = self._draw(
                context, request, sender, unit_, steps, transferable_only=True
            )
            # Gifting never extends a credit's life: the new grant expires with the soonest of
            # the credits it is made of.
            expiries = [grant.expires_at for grant, _part in draws if grant.expires_at is not None]
            expires_at = min(expiries) if expiries else None
            transaction_id = repository.insert_transaction(
                context.connection,
                self.transaction_values(
                    request,
                    sender,
                    unit,
                    steps,
                    context.now,
                    counterparty=recipient,
                    metadata=metadata,
                ),
            )
            grant_id = self._insert_grant(
                context,
                recipient,
                unit,
                steps,
                GrantSource.GIFT,
                PRIORITY_DEFAULT_BY_SOURCE[GrantSource.GIFT],
                context.now,
                expires_at,
                True,
                None,
                transaction_id,
                {"from_customer": from_customer},
            )
            self._post(
                context.connection,
                transaction_id,
                unit,
                [(grant.account_id, -part) for grant, part in draws] + [(grant_id, steps)],
            )
            return Transfer(
                id=transaction_id,
                from_customer=from_customer,
                to_customer=to_customer,
                unit=unit,
                amount=unit_.to_quantity(steps),
                draws=tuple(
                    Draw(grant.account_id, unit_.to_quantity(part)) for grant, part in draws
                ),
                grant_id=grant_id,
                expires_at=expires_at,
                created_at=context.now,
                metadata=metadata,
            )

        def rebuild(connection: Connection, recorded: TransactionRow) -> Transfer:
            grant = repository.read_grant_by_transaction(connection, recorded.id)
            draws = [
                Draw(entry.account_id, unit_.to_quantity(-entry.amount))
                for entry in repository.entries_of(connection, [recorded.id])
                if entry.amount < 0
            ]
            return Transfer(
                id=recorded.id,
                from_customer=from_customer,
                to_customer=to_customer,
                unit=unit,
                amount=unit_.to_quantity(recorded.amount),
                draws=tuple(draws),
                grant_id=grant.account_id,
                expires_at=grant.expires_at,
                created_at=recorded.created_at,
                metadata=recorded.metadata,
            )

        return self._write(request, lambda _connection: [from_customer, to_customer], body, rebuild)

    # -- adjustments ----------------------------------------------------------------------------

    def remove(
        self,
        customer: str,
        amount: object,
        *,
        unit: str,
        idempotency_key: str,
        metadata: dict[str, Any] | None,
    ) -> Adjustment:
        """Takes ``amount`` of the customer's live credits back to issuance, in burn-down order
        (see ``CreditKit.remove_credits``). Refused, and recorded, with InsufficientCredits when
        its grants hold less: credits in holds are in use, and overage or an unlimited plan
        give nothing to take back."""
        unit_ = self.unit(unit)
        steps = unit_.to_steps(amount)
        metadata = check_metadata(metadata)
        request = Request(
            idempotency_key,
            TransactionKind.ADJUSTMENT,
            {"customer": customer, "unit": unit, "amount": steps, "metadata": metadata},
        )

        def body(context: _Context) -> Adjustment:
            holder = context.customers[customer]
            rows = repository.grants_with_credits(context.connection, holder.id, unit)
            grants = self.live_in_order(rows, context.now)
            available = sum(grant.remaining for grant in grants)
            if available < steps:
                raise self._refuse(
                    context,
                    request,
                    holder,
                    unit,
                    steps,
                    InsufficientCredits(
                        customer, unit, unit_.to_quantity(available), unit_.to_quantity(steps)
                    ),
                )
            # No spend hooks: a correction is not spending, and must not set off an automatic
            # top-up (a payment) or a low-balance alert the customer did not cause.
            draws = take(grants, steps)
            transaction_id = repository.insert_transaction(
                context.connection,
                self.transaction_values(
                    request, holder, unit, steps, context.now, metadata=metadata
                ),
            )
            self._post(
                context.connection,
                transaction_id,
                unit,
                [(grant.account_id, -part) for grant, part in draws]
                + [(self.system_account(ISSUANCE, unit), steps)],
            )
            return Adjustment(
                id=transaction_id,
                customer=customer,
                unit=unit,
                amount=unit_.to_quantity(steps),
                draws=tuple(
                    Draw(grant.account_id, unit_.to_quantity(part)) for grant, part in draws
                ),
                created_at=context.now,
                metadata=metadata,
            )

        def rebuild(connection: Connection, recorded: TransactionRow) -> Adjustment:
            draws = [
                Draw(entry.account_id, unit_.to_quantity(-entry.amount))
                for entry in repository.entries_of(connection, [recorded.id])
                if entry.amount < 0
            ]
            return Adjustment(
                id=recorded.id,
                customer=customer,
                unit=unit,
                amount=unit_.to_quantity(recorded.amount),
                draws=tuple(draws),
                created_at=recorded.created_at,
                metadata=recorded.metadata,
            )

        return self._write(request, lambda _connection: [customer], body, rebuild)

    # -- expiry ---------------------------------------------------------------------------------

    def _sweep_customer(
        self, connection: Connection, customer: CustomerRow, now: datetime
    ) -> SweepReport:
        """Under the customer's lock: applies the due work up to ``now`` as a timeline, in the
        order of the due instants, each item as of its own instant (no answer depends on when
        someone looks): held credits come back when their hold timed out, a renewal runs at its
        boundary, and a grant expires when it expired. So applying them late writes exactly the
        ledger of applying them on time. Each item is a transaction under a key derived from
        what fell due, exactly-once like any other write. At most
        ``SWEEP_ITEMS_PER_TRANSACTION_MAX`` items per call; the report says when more is due."""
        budget = SWEEP_ITEMS_PER_TRANSACTION_MAX
        # When each other domain's due work (a renewal, a grace period's end) falls due next. Not
        # known until it is asked; asking at a moment before its own due changes nothing, so it
        # is first asked at the earliest instant anything of this customer fell due.
        first_due_at = now if customer.next_due_at is None else min(customer.next_due_at, now)
        hook_dues: list[datetime | None] = [first_due_at] * len(self._due_hooks)
        report = _SweepTally()
        complete = False
        for _step in range(TIMELINE_STEPS_MAX):
            hook_at = min((due for due in hook_dues if due is not None), default=None)
            hook_is_due = hook_at is not None and hook_at <= now
            until = hook_at if hook_at is not None and hook_is_due else now
            # Holds that timed out at or before the next instant, before anything else due
            # then: a hold that timed out at 23:51 gives its credits back before the renewal at
            # midnight rolls the allowance over.
            budget -= self._expire_holds(connection, customer, until, budget, report)
            if budget <= 0:
                break
            # Grants that expired before the next renewal (strictly: a grant that ends at a
            # boundary is first rolled over there); with no renewal due, up to now.
            expired_before = until if hook_is_due else now + timedelta(microseconds=1)
            budget -= self._expire_grants(connection, customer, expired_before, budget, report)
            if budget <= 0:
                break
            if hook_at is None or not hook_is_due:
                complete = True
                break
            for index, hook in enumerate(self._due_hooks):
                hook_due = hook_dues[index]
                if hook_due is not None and hook_due <= hook_at:
                    next_due = hook(connection, customer, hook_at)
                    if next_due is not None and next_due <= hook_at:
                        # A hook that is due again at once would never let the timeline move.
                        raise AssertionError(f"due work at {hook_at} is due again at {next_due}")
                    hook_dues[index] = next_due
            budget -= 1
        due = [moment for moment in hook_dues if moment is not None]
        for moment in (
            repository.earliest_hold_expiry(connection, customer.id),
            repository.earliest_grant_expiry(connection, customer.id),
        ):
            if moment is not None:
                due.append(moment)
        repository.set_next_due_at(connection, customer.id, min(due) if due else None)
        return SweepReport(report.grants_expired, report.holds_expired, complete)

    def _expire_holds(
        self,
        connection: Connection,
        customer: CustomerRow,
        until: datetime,
        budget: int,
        report: _SweepTally,
    ) -> int:
        """Closes the customer's holds that timed out at or before ``until`` (at most
        ``budget``), each as of its own timeout; returns how many."""
        due = repository.due_holds(connection, customer.id, until, budget)
        for hold in due:
            context = _Context(
                connection, hold.expires_at, {customer.external_id: customer}, replay=False
            )
            request = Request(
                f"creditkit:hold-expiry:{hold.account_id}",
                TransactionKind.HOLD_EXPIRY,
                {"hold_id": hold.account_id},
            )
            headline, legs = self._settle_legs(context, hold, 0)
            transaction_id = repository.insert_transaction(
                connection,
                self.transaction_values(
                    request, customer, hold.unit, headline, hold.expires_at,
                    hold_id=hold.account_id,
                ),
            )  # fmt: skip
            self._post(connection, transaction_id, hold.unit, legs)
            repository.settle_hold(
                connection, hold.account_id, HoldStatus.EXPIRED, None, transaction_id
            )
            unit = self.unit(hold.unit)
            emit(
                connection,
                EventType.HOLD_EXPIRED,
                customer.id,
                {
                    "hold_id": hold.account_id,
                    "unit": hold.unit,
                    "amount": str(unit.to_quantity(hold.amount_held)),
                    "action": hold.action,
                    "expired_at": hold.expires_at.isoformat(),
                },
                hold.expires_at,
            )
        report.holds_expired += len(due)
        return len(due)

    def _expire_grants(
        self,
        connection: Connection,
        customer: CustomerRow,
        before: datetime,
        budget: int,
        report: _SweepTally,
    ) -> int:
        """Moves what is left of the customer's grants that expired before ``before`` (at most
        ``budget``) to the expiry account, each as of its expiry; returns how many."""
        expired = repository.expired_grants_with_credits(connection, customer.id, before, budget)
        for grant in expired:
            request = Request(
                f"creditkit:grant-expiry:{grant.id}",
                TransactionKind.EXPIRY,
                {"grant_id": grant.id},
            )
            transaction_id = repository.insert_transaction(
                connection,
                self.transaction_values(
                    request,
                    customer,
                    grant.unit,
                    grant.balance,
                    grant.expires_at,
                    metadata={"expired_at": grant.expires_at.isoformat()},
                ),
            )
            self._post(
                connection,
                transaction_id,
                grant.unit,
                [
                    (grant.id, -grant.balance),
                    (self.system_account(EXPIRY, grant.unit), grant.balance),
                ],
            )
        report.grants_expired += len(expired)
        return len(expired)

    def expire(self, customers_max: int = SWEEP_CUSTOMERS_MAX) -> SweepReport:
        """Sweeps every customer that has something due, one transaction each (so that a sweep
        holds no customer's lock for longer than its own work). Reads and writes also sweep the
        customers they touch, so this is only needed to record breakage on time for customers
        nobody touches."""
        now = self.now()
        with self.database.read() as connection:
            due = repository.customers_due(connection, now, customers_max)
        grants_expired = holds_expired = 0
        for external_id in due:

            def sweep(connection: Connection, external_id: str = external_id) -> SweepReport:
                locked = repository.lock_customers(connection, [external_id])
                customer = locked[external_id]
                if customer.next_due_at is None or customer.next_due_at > now:
                    return SweepReport(0, 0)
                return self._sweep_customer(connection, customer, now)

            for _transaction in range(CATCH_UP_TRANSACTIONS_MAX):
                report = self.database.write(sweep)
                grants_expired += report.grants_expired
                holds_expired += report.holds_expired
                if report.complete:
                    break
        return SweepReport(grants_expired, holds_expired)

    # -- reads ----------------------------------------------------------------------------------

    def _sweep_if_due(self, customer: str) -> None:
        now = self.now()

        def sweep(connection: Connection) -> _CatchingUp | None:
            locked = repository.lock_customers(connection, [customer])
            row = locked[customer]
            due = row.next_due_at is not None and row.next_due_at <= now
            if due and not self._sweep_customer(connection, row, now).complete:
                return CATCHING_UP
            return None

        self.write_caught_up(sweep)

    def balance(self, customer: str, unit: str) -> Balance:
        unit_ = self.unit(unit)
        now = self.now()
        for _attempt in range(2):
            with self.database.read() as connection:
                row = repository.read_customer(connection, customer)
                if row.next_due_at is not None and row.next_due_at <= now:
                    due = True
                else:
                    due = False
                    grants = repository.grants_with_credits(connection, row.id, unit)
                    held = repository.held_total(connection, row.id, unit)
                    headroom = self.headroom(connection, row, unit, now)
            if not due:
                break
            # Holds that timed out give their credits back at once, not at the next write;
            # then the read is made again on the swept ledger.
            self._sweep_if_due(customer)
        else:
            raise AssertionError("a sweep leaves nothing due at the moment it swept")
        live = self.live_in_order(grants, now)
        upcoming = sorted((g for g in grants if g.effective_at > now), key=burn_down_key)
        expiring = [g for g in live if g.expires_at is not None]
        next_expiry = None
        if expiring:
            soonest = min(g.expires_at for g in expiring if g.expires_at is not None)
            next_expiry = Expiry(
                soonest,
                unit_.to_quantity(sum(g.remaining for g in expiring if g.expires_at == soonest)),
            )

        def view(grant: GrantRow) -> GrantBalance:
            return GrantBalance(
                grant_id=grant.account_id,
                source=grant.source,
                priority=grant.priority,
                remaining=unit_.to_quantity(grant.remaining),
                effective_at=grant.effective_at,
                expires_at=grant.expires_at,
                transferable=grant.transferable,
            )

        return Balance(
            customer=customer,
            unit=unit,
            available=unit_.to_quantity(sum(g.remaining for g in live)),
            held=unit_.to_quantity(held),
            grants=tuple(view(g) for g in live),
            upcoming=tuple(view(g) for g in upcoming),
            next_expiry=next_expiry,
            as_of=now,
            unlimited=headroom is None,
            overage_available=unit_.to_quantity(headroom or 0),
        )

    def history(
        self,
        customer: str,
        unit: str,
        limit: int,
        cursor: str | None,
        filters: repository.HistoryFilters = repository.NO_HISTORY_FILTERS,
    ) -> HistoryPage:
        unit_ = self.unit(unit)
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not 1 <= limit <= HISTORY_PAGE_SIZE_MAX
        ):
            raise InvalidRequest("limit", f"must be an int from 1 to {HISTORY_PAGE_SIZE_MAX}")
        before_id = None
        if cursor is not None:
            if (
                not isinstance(cursor, str)
                or not cursor.startswith("t")
                or not cursor[1:].isdigit()
            ):
                raise InvalidRequest("cursor", "is not a cursor this ledger returned")
            before_id = int(cursor[1:])
        self.sweep_if_due(customer)
        with self.database.read() as connection:
            row = repository.read_customer(connection, customer)
            recorded = repository.history_transactions(
                connection, row.id, unit, before_id, limit + 1, filters
            )
            page = recorded[:limit]
            legs = repository.entries_of(connection, [t.id for t in page])
            names = self._counterparty_names(connection, page, row.id)
            commit_draws = self._commit_draws(connection, page)
        by_transaction: dict[int, list[Any]] = {}
        for leg in legs:
            by_transaction.setdefault(leg.transaction_id, []).append(leg)
        items = []
        for recorded_transaction in page:
            own = [
                leg
                for leg in by_transaction.get(recorded_transaction.id, [])
                if leg.customer_id == row.id and leg.kind == "grant"
            ]
            change = sum(leg.amount for leg in own)
            hold_id = recorded_transaction.hold_id
            if recorded_transaction.kind is TransactionKind.COMMIT and hold_id is not None:
                draws = self._consumed(commit_draws.get(hold_id, []), recorded_transaction.amount)
            else:
                draws = [(leg.account_id, abs(leg.amount)) for leg in own]
            items.append(
                HistoryItem(
                    transaction_id=recorded_transaction.id,
                    kind=recorded_transaction.kind,
                    amount=unit_.to_quantity(recorded_transaction.amount),
                    available_change=self._signed_quantity(unit_, change),
                    created_at=recorded_transaction.created_at,
                    action=recorded_transaction.action,
                    draws=tuple(
                        Draw(grant_id, unit_.to_quantity(part)) for grant_id, part in draws
                    ),
                    counterparty=names.get(recorded_transaction.id),
                    hold_id=recorded_transaction.hold_id,
                    metadata=recorded_transaction.metadata,
                )
            )
        next_cursor = f"t{page[-1].id}" if len(recorded) > limit else None
        return HistoryPage(tuple(items), next_cursor)

    def sweep_if_due(self, customer: str) -> None:
        now = self.now()
        with self.database.read() as connection:
            row = repository.read_customer(connection, customer)
        if row.next_due_at is not None and row.next_due_at <= now:
            self._sweep_if_due(customer)

    @staticmethod
    def _signed_quantity(unit: Unit, steps: int) -> Quantity:
        if steps >= 0:
            return unit.to_quantity(steps)
        return -unit.to_quantity(-steps)

    @staticmethod
    def _consumed(draws: list[tuple[int, int]], steps: int) -> list[tuple[int, int]]:
        consumed: list[tuple[int, int]] = []
        for grant_id, part in draws:
            used = min(part, steps)
            steps -= used
            if used:
                consumed.append((grant_id, used))
        return consumed

    @staticmethod
    def _counterparty_names(
        connection: Connection, page: Sequence[TransactionRow], customer_id: int
    ) -> dict[int, str]:
        names: dict[int, str] = {}
        ids = {
            t.id: (t.counterparty_id if t.customer_id == customer_id else t.customer_id)
            for t in page
            if t.counterparty_id is not None
        }
        if not ids:
            return names
        external = repository.external_ids(connection, list(set(ids.values())))
        for transaction_id, other in ids.items():
            assert other is not None
            names[transaction_id] = external[other]
        return names
