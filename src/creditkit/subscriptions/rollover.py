"""What an allowance period's end carries into the next: the rollover's arithmetic, and the
ledger postings of a carried overage and of a period reset. Pure steps in, postings out; the
subscription service decides when (at a boundary, at a reset) under the customer's lock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.engine import Connection

from creditkit.catalog import Rollover, RolloverKind
from creditkit.ledger import repository as ledger_repository
from creditkit.ledger import spender_repository
from creditkit.ledger.schemas import TransactionKind, Unit
from creditkit.ledger.service import LedgerService
from creditkit.ledger.values import EXPIRY, ISSUANCE, Request
from creditkit.store.unit_of_work import CustomerRow


@dataclass(frozen=True, slots=True)
class EndingGrant:
    """An allowance grant ending at a boundary: its account, what is left, and whether its
    credits were rolled over already (a rollover's grant or top-up)."""

    account_id: int
    remaining: int
    rolled: bool


@dataclass(frozen=True, slots=True)
class Carried:
    """(grant id, steps) moved into the next period, and new steps topped up beside them."""

    moves: tuple[tuple[int, int], ...]
    top_up: int


def carried(rollover: Rollover, unit: Unit, ending: list[EndingGrant]) -> Carried:
    """Per grant, in account order: ``fraction`` of what is left (rounded down to the unit's
    step), at most ``max_per_grant``; a grant of the period's own allowance carries at least
    ``min_per_grant`` (the difference topped up). ``cap`` bounds the total. With
    ``expires_after_periods``, credits rolled over once are never rolled again."""
    if rollover.kind is RolloverKind.NONE:
        return Carried((), 0)
    room = None if rollover.cap is None else unit.to_steps(rollover.cap)
    high = None if rollover.max_per_grant is None else unit.to_steps(rollover.max_per_grant)
    low = None if rollover.min_per_grant is None else unit.to_steps(rollover.min_per_grant)
    moves: list[tuple[int, int]] = []
    top_up = 0
    for grant in sorted(ending, key=lambda grant: grant.account_id):
        if grant.rolled and rollover.expires_after_periods is not None:
            continue
        part = grant.remaining
        if rollover.fraction is not None:
            part = int(Decimal(part) * rollover.fraction)  # positive: int() rounds down
        if high is not None:
            part = min(part, high)
        extra = 0 if low is None or grant.rolled else max(0, low - part)
        if room is not None:
            part = min(part, room)
            extra = min(extra, room - part)
            room -= part + extra
        if part > 0:
            moves.append((grant.account_id, part))
        top_up += extra
    return Carried(tuple(moves), top_up)


def post_overage_carry(
    ledger: LedgerService,
    connection: Connection,
    holder: CustomerRow,
    key: str,
    steps: int,
    unit: str,
    now: datetime,
    metadata: dict[str, str],
) -> None:
    """Inside a write holding the customer's lock: ``steps`` issued on demand in the period
    become debt (from the debt account back to issuance), once under ``key``. The next grant
    in the unit repays it first, as any debt."""
    if ledger_repository.find_transaction(connection, key) is not None:
        return
    account = spender_repository.debt_account(connection, holder.id, unit)
    debt = (
        ledger_repository.insert_account(connection, "debt", unit, holder.id, now)
        if account is None
        else account[0]
    )
    request = Request(
        key, TransactionKind.OVERAGE_CARRY, {"customer": holder.external_id, "unit": unit}
    )
    transaction_id = ledger_repository.insert_transaction(
        connection, ledger.transaction_values(request, holder, unit, steps, now, metadata=metadata)
    )
    ledger.post_many(
        connection,
        [(transaction_id, unit, [(debt, -steps), (ledger.system_account(ISSUANCE, unit), steps)])],
    )


def post_period_reset(
    ledger: LedgerService,
    connection: Connection,
    holder: CustomerRow,
    key: str,
    expiring: list[tuple[int, int]],
    unit: str,
    now: datetime,
    metadata: dict[str, str],
) -> None:
    """Inside a write holding the customer's lock: the ``period_reset`` transaction under
    ``key``, with its reason, expiring what is left of the ended period's allowance grants
    (grant id, steps) now. Written even with nothing to expire: the history shows the reset."""
    steps = sum(part for _grant, part in expiring)
    request = Request(
        key, TransactionKind.PERIOD_RESET, {"customer": holder.external_id, "unit": unit}
    )
    transaction_id = ledger_repository.insert_transaction(
        connection, ledger.transaction_values(request, holder, unit, steps, now, metadata=metadata)
    )
    if steps:
        legs = [(grant, -part) for grant, part in expiring]
        legs.append((ledger.system_account(EXPIRY, unit), steps))
        ledger.post_many(connection, [(transaction_id, unit, legs)])
