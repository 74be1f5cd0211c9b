"""Usage: the numbers behind usage dashboards, and batch ingestion of usage events.

Every figure is a sum over the ledger's own rows (transactions, entries, grants, holds) and the
usage rollups written in the same transactions as the spending they count (rollups.py), read in
one snapshot, so a dashboard can never disagree with the ledger. Spending is read from the
rollups' hourly buckets plus the rows of the partial hours at a period's edges (repository.py),
so its cost does not grow with the charges a period holds.

Ingestion prices each event by the catalog and charges the whole batch through the ledger's
``charge_many``: one database transaction, one outcome per event, each exactly once per
idempotency key (a replay gets the first outcome).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy.engine import Connection

from creditkit.catalog import Catalog, UnknownAction
from creditkit.clock import Clock
from creditkit.errors import CreditKitError, InvalidRequest, InvariantViolation, Quantity
from creditkit.ledger import hold_repository
from creditkit.ledger import repository as ledger_repository
from creditkit.ledger.checks import (
    BATCH_SIZE_MAX,
    EXTERNAL_ID_LENGTH_MAX,
    IDEMPOTENCY_KEY_LENGTH_MAX,
    NAME_LENGTH_MAX,
    check_metadata,
    check_range,
    check_text,
    check_time,
)
from creditkit.ledger.outcomes import ChargeOutcomes
from creditkit.ledger.schemas import Charge, ChargeRequest, GrantSource, TransactionKind, Unit
from creditkit.ledger.service import LedgerService
from creditkit.ledger.spending import check_spender
from creditkit.ledger.values import EXPIRY, ISSUANCE
from creditkit.store.database import Database
from creditkit.store.tables import from_epoch_microseconds, to_epoch_microseconds
from creditkit.store.unit_of_work import CustomerRow
from creditkit.subscriptions.service import SubscriptionService
from creditkit.usage import breakdown_repository, repository
from creditkit.usage.allowance import allowance_left
from creditkit.usage.allowance import allowance_spent as used_of_allowance
from creditkit.usage.checks import (
    INGEST_EVENTS_MAX,
    check_dimension,
)
from creditkit.usage.schemas import (
    BreakdownBy,
    Granularity,
    UsageBreakdown,
    UsageGroup,
    UsagePoint,
    UsageSeries,
    UsageSummary,
    share,
)

#: The fields an event may have (``customer``, ``action`` and ``idempotency_key`` are required).
EVENT_FIELDS: Final = (
    "customer",
    "action",
    "quantity",
    "idempotency_key",
    "metadata",
    "member",
    "occurred_at",
)
#: A series is a chart: a year of days at most.
SERIES_POINTS_MAX: Final = 366
BREAKDOWN_GROUPS_MAX: Final = 500
#: A quantity times its action's price must stay within the ledger's amounts anyway; this
#: bounds the product before it is computed.
EVENT_QUANTITY_MAX: Final = 10**9
#: Two reads at most: a sweep may fall due between the sweep and the read that follows it.
SUMMARY_READ_ATTEMPTS_MAX: Final = 2

# One ingest call is one ``charge_many`` batch: it may not take more than the ledger does.
if INGEST_EVENTS_MAX > BATCH_SIZE_MAX:
    raise InvariantViolation(
        "an ingest call fits in one charge_many batch", f"{INGEST_EVENTS_MAX} > {BATCH_SIZE_MAX}"
    )

SECONDS_PER_GRANULARITY: Final = {Granularity.HOUR: 3_600, Granularity.DAY: 86_400}


def _check_period(period: object) -> tuple[datetime, datetime]:
    if not isinstance(period, tuple | list) or len(period) != 2:
        raise InvalidRequest("period", "must be (start, end): two timezone-aware datetimes")
    start, end = period
    if not all(isinstance(moment, datetime) and moment.tzinfo is not None for moment in period):
        raise InvalidRequest("period", "must be (start, end): two timezone-aware datetimes")
    if end <= start:
        raise InvalidRequest("period", "its end must be after its start")
    return start.astimezone(UTC), end.astimezone(UTC)


def _calendar_month(now: datetime) -> tuple[datetime, datetime]:
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    next_month = (start + timedelta(days=32)).replace(day=1)
    return start, next_month


def _floor(moment: datetime, width_seconds: int) -> datetime:
    """The start of the UTC bucket of ``width_seconds`` that contains ``moment``."""
    microseconds = to_epoch_microseconds(moment)
    return from_epoch_microseconds(microseconds - microseconds % (width_seconds * 1_000_000))


def _check_spender_filter(spender: object, subtree: object) -> str | None:
    """A read's spender filter: the spender (None: everyone's spending), ``subtree`` a bool
    that only means something with a spender."""
    if not isinstance(subtree, bool):
        raise InvalidRequest("subtree", "must be true or false")
    if spender is None:
        if subtree:
            raise InvalidRequest("subtree", "only with spender: the subtree of which spender")
        return None
    return check_spender(spender)


def _indexed(outcome: Charge | CreditKitError, index: int) -> Charge | CreditKitError:
    """A plain InvalidRequest the ledger raised for an event (a member that is not one), with
    the event's position in its field."""
    return outcome if isinstance(outcome, Charge) else _indexed_error(outcome, index)


def _indexed_error(error: CreditKitError, index: int) -> CreditKitError:
    if type(error) is InvalidRequest and not error.field.startswith("events["):
        return InvalidRequest(f"events[{index}].{error.field}", error.reason)
    return error


class UsageService:
    def __init__(
        self,
        ledger: LedgerService,
        database: Database,
        clock: Clock,
        catalog: Catalog | None,
        subscriptions: SubscriptionService | None,
    ) -> None:
        self._ledger = ledger
        self._database = database
        self._now = clock
        self._catalog = catalog
        self._subscriptions = subscriptions
        self._categories: dict[str, str] = {}
        if catalog is not None:
            self._categories = {
                action.id: action.category
                for action in catalog.actions.values()
                if action.category is not None
            }

    # -- summary --------------------------------------------------------------------------------

    def _current_period(self, customer: str) -> tuple[datetime, datetime]:
        """The subscription's current allowance period (what its allowance, and any overage, are
        counted in), its billing period for a plan without an allowance; without a
        subscription, the calendar month (UTC)."""
        if self._subscriptions is not None:
            subscription = self._subscriptions.subscription(customer)
            if subscription is not None:
                if (
                    subscription.allowance_period_start is not None
                    and subscription.allowance_period_end is not None
                ):
                    return subscription.allowance_period_start, subscription.allowance_period_end
                return subscription.current_period_start, subscription.current_period_end
        return _calendar_month(self._now())

    def _spenders(
        self, connection: Connection, row: CustomerRow, spender: str | None, subtree: bool
    ) -> tuple[str, ...] | None:
        """The spenders a read counts (None: every spending); InvalidRequest naming ``spender``
        for one the customer does not have, ``subtree`` for one too large."""
        if spender is None:
            return None
        return self._ledger.spenders_of(connection, row, spender, subtree)

    def summary(
        self,
        customer: str,
        unit: str,
        period: tuple[datetime, datetime] | None,
        spender: str | None = None,
        subtree: bool = False,
    ) -> UsageSummary:
        check_text(customer, "customer", EXTERNAL_ID_LENGTH_MAX)
        spender = _check_spender_filter(spender, subtree)
        unit_ = self._ledger.unit(unit)
        start, end = self._current_period(customer) if period is None else _check_period(period)
        for _attempt in range(SUMMARY_READ_ATTEMPTS_MAX):
            self._ledger.sweep_if_due(customer)
            summary = self._read_summary(customer, unit_, start, end, spender, subtree)
            if summary is not None:
                return summary
        raise AssertionError("a sweep leaves nothing due at the moment it swept")

    def _read_summary(
        self,
        customer: str,
        unit: Unit,
        start: datetime,
        end: datetime,
        spender: str | None,
        subtree: bool,
    ) -> UsageSummary | None:
        """The summary in one snapshot; None when something fell due since the last sweep (the
        caller sweeps and reads again)."""
        ledger = self._ledger
        now = self._now()
        with self._database.read() as connection:
            row = ledger_repository.read_customer(connection, customer)
            if row.next_due_at is not None and row.next_due_at <= now:
                return None
            issuance = ledger.system_account(ISSUANCE, unit.name)
            expiry = ledger.system_account(EXPIRY, unit.name)
            spending = repository.spend_totals(
                connection, row.id, unit.name, start, end, issuance, expiry
            )
            spenders = self._spenders(connection, row, spender, subtree)
            # A spender's spending: what it spent, and what its spending and holds issued.
            spent_by = spending
            if spenders is not None:
                spent_by = repository.spend_totals(
                    connection, row.id, unit.name, start, end, issuance, expiry, spenders
                )
            transfers = repository.totals_by_kind(
                connection, row.id, unit.name, (TransactionKind.TRANSFER.value,), start, end
            )
            held_issued, held_expired = repository.hold_issued_and_expired(
                connection, row.id, unit.name, start, end, issuance, expiry
            )
            held_issued_by = held_issued
            if spenders is not None:
                held_issued_by, _expired = repository.hold_issued_and_expired(
                    connection, row.id, unit.name, start, end, issuance, expiry, spenders
                )
            expired = (
                spending.expired
                + held_expired
                + repository.grants_expired(connection, row.id, unit.name, start, end)
            )
            granted = repository.granted_by_source(connection, row.id, unit.name, start, end)
            live = ledger.live_in_order(
                ledger_repository.grants_with_credits(connection, row.id, unit.name), now
            )
            held = hold_repository.held_total(connection, row.id, unit.name)
            headroom = ledger.headroom(connection, row, unit.name, now)
        spent, charges = spent_by.steps, spent_by.charges
        allowance = granted.get(GrantSource.ALLOWANCE.value, 0)
        allowance_spent = used_of_allowance(allowance, allowance_left(live, start, end))
        return UsageSummary(
            customer=customer,
            unit=unit.name,
            period_start=start,
            period_end=end,
            spent=unit.to_quantity(spent),
            charges=charges,
            granted=unit.to_quantity(sum(granted.values())),
            granted_by_source={
                source: unit.to_quantity(granted.get(source.value, 0)) for source in GrantSource
            },
            expired=unit.to_quantity(expired),
            transferred_out=unit.to_quantity(
                transfers.get(TransactionKind.TRANSFER.value, (0, 0))[0]
            ),
            overage=self._signed(unit, spent_by.issued + held_issued_by),
            allowance=unit.to_quantity(allowance),
            allowance_spent=unit.to_quantity(allowance_spent),
            # Unlimited has no share used: a meter of it would show a full (red) bar.
            allowance_used=None if headroom is None else share(allowance_spent, allowance),
            available=unit.to_quantity(sum(grant.remaining for grant in live)),
            held=unit.to_quantity(held),
            unlimited=headroom is None,
            overage_available=unit.to_quantity(headroom or 0),
            as_of=now,
            spender=spender,
            subtree=subtree,
        )

    @staticmethod
    def _signed(unit: Unit, steps: int) -> Quantity:
        """Net issuance of a period is negative when holds reserved beyond the grants in an
        earlier period gave their credits back in this one."""
        return unit.to_quantity(steps) if steps >= 0 else -unit.to_quantity(-steps)

    # -- breakdown ------------------------------------------------------------------------------

    def _check_by(self, by: object) -> BreakdownBy:
        if not isinstance(by, str) or by not in {known.value for known in BreakdownBy}:
            names = ", ".join(known.value for known in BreakdownBy)
            raise InvalidRequest("by", f"must be one of {names}")
        by_ = BreakdownBy(by)
        if by_ is BreakdownBy.CATEGORY and self._catalog is None:
            raise InvalidRequest("by", "categories come from the catalog: this kit has none")
        return by_

    def _group_key(self, by: BreakdownBy) -> breakdown_repository.SpendKey:
        """What ``by`` groups spending by, over its action and member (not a dimension)."""
        if by is BreakdownBy.ACTION:
            return lambda action, _member, _spender: action
        if by is BreakdownBy.MEMBER:
            return lambda _action, member, _spender: member
        if by is BreakdownBy.SPENDER:
            return lambda _action, _member, spender: spender
        categories = self._categories
        return lambda action, _member, _spender: breakdown_repository.category_of_action(
            categories, action
        )

    def _label(self, by: BreakdownBy, key: str | None) -> str | None:
        if by is not BreakdownBy.ACTION or key is None or self._catalog is None:
            return None
        action = self._catalog.actions.get(key)
        return None if action is None else action.label

    def breakdown(
        self,
        customer: str,
        by: str,
        start: datetime,
        end: datetime,
        unit: str,
        limit: int,
        dimension: str | None = None,
        spender: str | None = None,
        subtree: bool = False,
    ) -> UsageBreakdown:
        check_text(customer, "customer", EXTERNAL_ID_LENGTH_MAX)
        spender = _check_spender_filter(spender, subtree)
        by_ = self._check_by(by)
        dimension = check_dimension(by_, dimension)
        start, end = check_range(start, end)
        unit_ = self._ledger.unit(unit)
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise InvalidRequest("limit", "must be an int")
        if not 1 <= limit <= BREAKDOWN_GROUPS_MAX:
            raise InvalidRequest("limit", f"must be from 1 to {BREAKDOWN_GROUPS_MAX}")
        # Due work may spend (a renewal paid in credits): it is done before the read.
        self._ledger.sweep_if_due(customer)
        with self._database.read() as connection:
            row = ledger_repository.read_customer(connection, customer)
            spenders = self._spenders(connection, row, spender, subtree)
            if dimension is None:
                top = breakdown_repository.spend_by_key(
                    connection,
                    row.id,
                    unit_.name,
                    start,
                    end,
                    self._group_key(by_),
                    limit,
                    spenders,
                )
            else:
                top = breakdown_repository.spend_by_dimension(
                    connection, row.id, unit_.name, start, end, dimension, limit, spenders
                )
            kinds: dict[str, str] = {}
            if by_ is BreakdownBy.SPENDER:
                named = [key for key, _steps, _count in top if key is not None]
                kinds = breakdown_repository.spender_kinds(connection, row.id, named)
            totals = repository.spend_totals(
                connection,
                row.id,
                unit_.name,
                start,
                end,
                self._ledger.system_account(ISSUANCE, unit_.name),
                self._ledger.system_account(EXPIRY, unit_.name),
                spenders,
            )
        spent, charges = totals.steps, totals.charges
        groups = tuple(
            UsageGroup(
                key=group_key,
                label=self._label(by_, group_key),
                spent=unit_.to_quantity(steps),
                charges=count,
                share=share(steps, spent),
                kind=None if group_key is None else kinds.get(group_key),
            )
            for group_key, steps, count in top
        )
        others_spent = spent - sum(steps for _key, steps, _count in top)
        others_charges = charges - sum(count for _key, _steps, count in top)
        if not (others_spent >= 0 and others_charges >= 0):
            raise InvariantViolation("the groups are part of the total", "")
        return UsageBreakdown(
            customer=customer,
            unit=unit_.name,
            by=by_,
            start=start,
            end=end,
            groups=groups,
            others_spent=unit_.to_quantity(others_spent),
            others_charges=others_charges,
            spent=unit_.to_quantity(spent),
            charges=charges,
            dimension=dimension,
            spender=spender,
            subtree=subtree,
        )

    # -- series ---------------------------------------------------------------------------------

    def series(
        self, customer: str, start: datetime, end: datetime, unit: str, granularity: str
    ) -> UsageSeries:
        check_text(customer, "customer", EXTERNAL_ID_LENGTH_MAX)
        start, end = check_range(start, end)
        if not isinstance(granularity, str) or granularity not in SECONDS_PER_GRANULARITY:
            names = ", ".join(known.value for known in Granularity)
            raise InvalidRequest("granularity", f"must be one of {names}")
        granularity_ = Granularity(granularity)
        unit_ = self._ledger.unit(unit)
        width_seconds = SECONDS_PER_GRANULARITY[granularity_]
        width = timedelta(seconds=width_seconds)
        origin = _floor(start, width_seconds)
        points_count = -(-(end - origin) // width)
        if points_count > SERIES_POINTS_MAX:
            raise InvalidRequest(
                "end",
                f"the range spans {points_count} {granularity_.value}s: a series has at most"
                f" {SERIES_POINTS_MAX} points",
            )
        self._ledger.sweep_if_due(customer)
        with self._database.read() as connection:
            row = ledger_repository.read_customer(connection, customer)
            buckets = breakdown_repository.spend_by_bucket(
                connection, row.id, unit_.name, start, end, origin, width_seconds
            )
        if not (all(0 <= bucket < points_count for bucket in buckets)):
            raise InvariantViolation("a bucket outside the range", "")
        points = tuple(
            UsagePoint(
                start=max(start, origin + index * width),
                end=min(end, origin + (index + 1) * width),
                spent=unit_.to_quantity(buckets.get(index, (0, 0))[0]),
                charges=buckets.get(index, (0, 0))[1],
            )
            for index in range(points_count)
        )
        return UsageSeries(
            customer=customer,
            unit=unit_.name,
            granularity=granularity_,
            start=start,
            end=end,
            points=points,
            spent=unit_.to_quantity(sum(steps for steps, _count in buckets.values())),
            charges=sum(count for _steps, count in buckets.values()),
        )

    # -- ingestion ------------------------------------------------------------------------------

    def ingest(self, events: Sequence[Mapping[str, Any]]) -> list[Charge | CreditKitError]:
        refused, positions, charged = self._ingested(events)
        outcomes: dict[int, Charge | CreditKitError] = dict(refused)
        for index, outcome in zip(positions, charged, strict=True):
            outcomes[index] = _indexed(outcome, index)
        if not (len(outcomes) == len(events)):
            raise InvariantViolation("one outcome per event", "")
        return [outcomes[index] for index in range(len(events))]

    def ingest_refusals(self, events: Sequence[Mapping[str, Any]]) -> dict[int, CreditKitError]:
        """Charges as ``ingest`` does and returns only the events refused, by position, building
        no ``Charge`` (what a caller that reads none pays for: about an eighth of a batch)."""
        refused, positions, charged = self._ingested(events)
        if len(positions) != len(charged):
            raise InvariantViolation("one outcome per charge", f"{len(charged)}, {len(positions)}")
        found = dict(refused)
        for at, error in charged.errors().items():
            found[positions[at]] = _indexed_error(error, positions[at])
        return dict(sorted(found.items()))

    def _ingested(
        self, events: Sequence[Mapping[str, Any]]
    ) -> tuple[dict[int, CreditKitError], list[int], ChargeOutcomes]:
        """Prices and charges ``events`` in one ``charge_many``: the events refused before the
        ledger (by position), the positions of those charged, and their outcomes in order."""
        if self._catalog is None:
            raise InvalidRequest(
                "catalog", "ingest prices events by the catalog: this kit has none"
            )
        if not isinstance(events, Sequence) or isinstance(events, str | bytes):
            raise InvalidRequest("events", "must be a list of events")
        if len(events) > INGEST_EVENTS_MAX:
            raise InvalidRequest("events", f"at most {INGEST_EVENTS_MAX} events per call")
        refused: dict[int, CreditKitError] = {}
        requests: list[ChargeRequest] = []
        positions: list[int] = []
        for index, event in enumerate(events):
            try:
                requests.append(self._priced(self._catalog, index, event))
            except InvalidRequest as error:
                refused[index] = error
                continue
            positions.append(index)
        charged = self._ledger.charge_many(requests) if requests else ChargeOutcomes({}, {}, 0)
        return refused, positions, charged

    def _priced(self, catalog: Catalog, index: int, event: object) -> ChargeRequest:
        """The charge an event asks for, priced by its action; refuses what is malformed with
        the field's place in the batch (``events[3].action``)."""

        def field(name: str) -> str:
            return f"events[{index}].{name}"

        if not isinstance(event, Mapping):
            raise InvalidRequest(f"events[{index}]", "must be a mapping")
        for name in event:
            if name not in EVENT_FIELDS:
                raise InvalidRequest(
                    field(str(name)), f"unknown field: an event has {', '.join(EVENT_FIELDS)}"
                )
        customer = check_text(event.get("customer"), field("customer"), EXTERNAL_ID_LENGTH_MAX)
        key = check_text(
            event.get("idempotency_key"), field("idempotency_key"), IDEMPOTENCY_KEY_LENGTH_MAX
        )
        action_id = check_text(event.get("action"), field("action"), NAME_LENGTH_MAX)
        action = catalog.actions.get(action_id)
        if action is None:
            raise UnknownAction(action_id, field("action"))
        quantity = event.get("quantity", 1)
        if (
            isinstance(quantity, bool)
            or not isinstance(quantity, int)
            or not 1 <= quantity <= EVENT_QUANTITY_MAX
        ):
            raise InvalidRequest(
                field("quantity"), f"must be an int from 1 to {EVENT_QUANTITY_MAX}"
            )
        amount = action.price * quantity
        unit = self._ledger.unit(action.unit)
        unit.to_steps(amount, field("quantity"))  # refuses a total beyond the ledger's amounts
        try:
            metadata = check_metadata(event.get("metadata"))
        except InvalidRequest as error:
            raise InvalidRequest(field("metadata"), error.reason) from None
        member = event.get("member")
        if member is not None:
            check_text(member, field("member"), EXTERNAL_ID_LENGTH_MAX)
        occurred_at = event.get("occurred_at")
        if isinstance(occurred_at, str):
            # As JSON brings it: an ISO 8601 moment with its offset.
            try:
                occurred_at = datetime.fromisoformat(occurred_at)
            except ValueError:
                raise InvalidRequest(field("occurred_at"), "must be an ISO 8601 moment") from None
        if occurred_at is not None:
            occurred_at = check_time(occurred_at, field("occurred_at"))
        return ChargeRequest(
            customer, amount, key, unit.name, action.id, metadata, member,
            occurred_at=occurred_at,
        )  # fmt: skip
