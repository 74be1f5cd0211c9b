"""The customer's history as lines to read: a hold is ONE line, the action with its final
amount (what the commit took, nothing when released), its reserve and its commit or release
shown in a detail below it, rather than "Reserve: Account Dossier -8" then "Commit: Account
Dossier 0". Other transactions are a line each."""

from __future__ import annotations

from dataclasses import dataclass

from creditkit.errors import Quantity
from creditkit.ledger.schemas import HistoryItem, TransactionKind

#: How a hold's line is named by how it ended (its newest transaction on the page).
_HOLD_ENDINGS = {
    TransactionKind.COMMIT: "Charge",
    TransactionKind.RELEASE: "Released",
    TransactionKind.HOLD_EXPIRY: "Expired hold",
    TransactionKind.RESERVE: "Reserved",
}


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One line: ``item`` is the newest transaction it stands for; ``change`` what they did to
    the balance together; ``parts`` a hold's transactions (oldest first), empty otherwise."""

    item: HistoryItem
    change: Quantity
    parts: tuple[HistoryItem, ...] = ()

    @property
    def title(self) -> str | None:
        """A hold's name by how it ended; None for a transaction shown as it is."""
        if self.item.hold_id is None:
            return None
        return _HOLD_ENDINGS.get(self.item.kind)

    @property
    def pending(self) -> bool:
        """A hold still reserved (its commit or release is yet to come)."""
        return self.item.hold_id is not None and self.item.kind is TransactionKind.RESERVE


def history_rows(items: tuple[HistoryItem, ...]) -> tuple[HistoryRow, ...]:
    """``items`` (newest first, one page: bounded) with each hold's transactions on the page
    gathered into the line of its newest."""
    by_hold: dict[int, list[HistoryItem]] = {}
    for item in items:
        if item.hold_id is not None and item.kind in _HOLD_ENDINGS:
            by_hold.setdefault(item.hold_id, []).append(item)
    rows: list[HistoryRow] = []
    for item in items:
        hold = by_hold.get(item.hold_id) if item.hold_id is not None else None
        if hold is None:
            rows.append(HistoryRow(item, item.available_change))
        elif hold[0] is item:  # the hold's newest transaction: its line
            change: Quantity = sum(part.available_change for part in hold)
            rows.append(HistoryRow(item, change, tuple(reversed(hold))))
    return tuple(rows)
