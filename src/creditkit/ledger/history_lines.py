"""The history's lines: a hold is ONE line, at the place of its newest transaction the history
shows, with its final amount, and its transactions (reserve, extends, partial commits, final
commit, release or expiry) in a detail. Every surface (the kit, the HTTP API and both clients,
the pages, the console, the React components) reads these lines, so none groups on its own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from creditkit.errors import Quantity
from creditkit.ledger.hold_repository import HoldRow
from creditkit.ledger.repository import TransactionRow
from creditkit.ledger.schemas import (
    Draw,
    HistoryHold,
    HistoryPart,
    HoldOutcome,
    HoldStatus,
    TransactionKind,
    Unit,
)
from creditkit.pricing.schemas import PRICE_METADATA_KEY, TokenPrice

#: A hold's transactions listed in its line, at most (the oldest: its reserve first); a hold
#: with more (many partial commits) says so with ``parts_complete`` false.
HISTORY_HOLD_PARTS_MAX = 50


@dataclass(frozen=True, slots=True)
class Movement:
    """What one transaction did to the customer's grants: the sum, and (grant, steps) touched."""

    change: int
    draws: list[tuple[int, int]]


def movement(legs: Sequence[Any], customer_id: int) -> Movement:
    """The transaction's legs on the customer's grants."""
    own = [leg for leg in legs if leg.customer_id == customer_id and leg.kind == "grant"]
    return Movement(
        sum(leg.amount for leg in own), [(leg.account_id, abs(leg.amount)) for leg in own]
    )


def signed(unit: Unit, steps: int) -> Quantity:
    return unit.to_quantity(steps) if steps >= 0 else -unit.to_quantity(-steps)


def hold_detail(
    unit: Unit,
    hold: HoldRow,
    parts: Sequence[TransactionRow],
    legs: Mapping[int, Sequence[Any]],
    commit_draws: Mapping[int, Sequence[tuple[int, int]]],
    customer_id: int,
    complete: bool,
    now: datetime,
) -> tuple[HistoryHold, int, list[tuple[int, int]]]:
    """The hold's detail, what its transactions did to the grants together, and the grants its
    commits took. A commit's draws are ``commit_draws``' (the ledger's ``commit_draws``): a
    child's too, though its tree's credits were drawn by its root."""
    change = 0
    line_draws: dict[int, int] = {}
    built: list[HistoryPart] = []
    for part in parts:
        moved = movement(legs.get(part.id, ()), customer_id)
        change += moved.change
        draws = moved.draws
        if part.kind is TransactionKind.COMMIT:
            draws = list(commit_draws.get(part.id, ()))
            for grant_id, steps in draws:
                line_draws[grant_id] = line_draws.get(grant_id, 0) + steps
        built.append(
            HistoryPart(
                transaction_id=part.id,
                kind=part.kind,
                amount=unit.to_quantity(part.amount),
                available_change=signed(unit, moved.change),
                created_at=part.created_at,
                draws=tuple(Draw(grant_id, unit.to_quantity(steps)) for grant_id, steps in draws),
                token_price=token_price(part.metadata),
            )
        )
    outcome = _outcome(hold, now)
    # Open: what it holds for the work; closed: what its commits spent (0 when released).
    held = hold.amount_held - hold.committed
    amount = held if outcome is HoldOutcome.OPEN else hold.committed
    detail = HistoryHold(
        hold_id=hold.account_id,
        outcome=outcome,
        amount=unit.to_quantity(amount),
        parts=tuple(built),
        parts_complete=complete,
    )
    return detail, change, list(line_draws.items())


def token_price(metadata: Mapping[str, Any]) -> TokenPrice | None:
    """The price a charge or commit priced from usage recorded in its metadata (None for
    others)."""
    recorded = metadata.get(PRICE_METADATA_KEY)
    return TokenPrice.from_json(recorded) if isinstance(recorded, dict) else None


def _outcome(hold: HoldRow, now: datetime) -> HoldOutcome:
    if hold.status is HoldStatus.ACTIVE:
        # Past its timeout it is expired, swept or not (as the hold's own read says).
        return HoldOutcome.EXPIRED if hold.expires_at <= now else HoldOutcome.OPEN
    return {
        HoldStatus.COMMITTED: HoldOutcome.COMMITTED,
        HoldStatus.RELEASED: HoldOutcome.RELEASED,
        HoldStatus.EXPIRED: HoldOutcome.EXPIRED,
    }[hold.status]
