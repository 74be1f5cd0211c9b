"""A batch's charges whose keys were recorded before it: each answered with its first outcome
(a conflict when it asks for something else, the recorded refusal, or the charge rebuilt from
its rows), without deciding it again."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from creditkit.errors import CreditKitError
from creditkit.ledger import repository
from creditkit.ledger.prepared import Prepared
from creditkit.ledger.repository import GrantRow, TransactionRow
from creditkit.ledger.schemas import Charge, Draw
from creditkit.store.unit_of_work import CustomerRow

if TYPE_CHECKING:
    from creditkit.ledger.writes import LedgerWrites

Outcome = Charge | CreditKitError


def replay_outcome(
    ledger: LedgerWrites, item: Prepared, recorded: TransactionRow
) -> CreditKitError | None:
    """The outcome of a key recorded before this batch: a conflict, the recorded refusal, or
    None when the charge it recorded is to be rebuilt."""
    conflict = item.request.conflict_with(recorded.request)
    if conflict is not None:
        return conflict
    if recorded.outcome is not None:
        return ledger.recorded_refusal(recorded)
    return None


def rebuild(
    connection: Connection,
    replayed: dict[int, tuple[Prepared, TransactionRow]],
    locked: dict[str, CustomerRow],
    grants: dict[tuple[int, str], list[GrantRow]],
) -> dict[int, Outcome]:
    """The recorded charges' first outcomes, rebuilt from their rows; what they say is left
    is what is left now (later writes have moved the balance since)."""
    by_index = {index: item for index, (item, _row) in replayed.items()}
    unit_of = {row.id: by_index[index].unit for index, (_item, row) in replayed.items()}
    legs: dict[int, list[Draw]] = {}
    for leg in repository.entries_of(connection, list(unit_of)):
        if leg.kind == "grant":
            legs.setdefault(leg.transaction_id, []).append(
                Draw(leg.account_id, unit_of[leg.transaction_id].to_quantity(-leg.amount))
            )
    rebuilt: dict[int, Outcome] = {}
    for index, (_item, row) in replayed.items():
        unit = by_index[index].unit
        row_customer = by_index[index].charge.customer
        rebuilt[index] = Charge(
            id=row.id,
            customer=by_index[index].charge.customer,
            unit=row.unit,
            amount=unit.to_quantity(row.amount),
            action=row.action,
            draws=tuple(legs.get(row.id, [])),
            created_at=row.created_at,
            metadata=row.metadata,
            member=row.member,
            spender=row.spender,
            available_after=unit.to_quantity(
                sum(g.remaining for g in grants[(locked[row_customer].id, row.unit)])
            ),
            replayed=True,
        )
    return rebuilt
