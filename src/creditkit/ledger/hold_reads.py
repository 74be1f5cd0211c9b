"""Holds as they are read and answered: a hold now, as its reserve or an extend answered,
its commits as charges, a customer's holds by status. Decides nothing (holds.py writes)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.errors import (
    HoldNotFound,
    InvalidRequest,
    present,
)
from creditkit.ledger import hold_repository, repository
from creditkit.ledger.checks import (
    HOLDS_PAGE_SIZE_MAX,
    IDEMPOTENCY_KEY_LENGTH_MAX,
    check_text,
)
from creditkit.ledger.hold_repository import HoldRow
from creditkit.ledger.ports import LedgerReads
from creditkit.ledger.repository import TransactionRow
from creditkit.ledger.schemas import (
    Charge,
    Draw,
    Hold,
    HoldStatus,
)
from creditkit.store.database import Database


def check_hold_id(hold_id: object, field_name: str) -> int:
    if isinstance(hold_id, bool) or not isinstance(hold_id, int):
        raise InvalidRequest(field_name, "must be an int (a hold's id)")
    return hold_id


class HoldReads:
    """The reads and answers of holds (a hold as it stands, as a write left it)."""

    def __init__(self, database: Database, reads: LedgerReads) -> None:
        self._database = database
        self._reads = reads

    def hold_extended(
        self, connection: Connection, hold: HoldRow, transaction_id: int, after: dict[str, Any]
    ) -> Hold:
        """The hold as the extend ``transaction_id`` left it (``after``, recorded with it)."""
        unit = self._reads.unit(hold.unit)
        draws = self._reads.funding_draws(connection, [hold], before=transaction_id + 1)
        return Hold(
            id=hold.account_id,
            customer=hold.external_id,
            unit=hold.unit,
            amount=unit.to_quantity(after["amount_held"]),
            status=HoldStatus.ACTIVE,
            expires_at=datetime.fromisoformat(after["expires_at"]),
            created_at=hold.created_at,
            draws=tuple(Draw(g, unit.to_quantity(part)) for g, part in draws[hold.account_id]),
            action=hold.action,
            amount_committed=(
                None
                if after["amount_committed"] is None
                else unit.to_quantity(after["amount_committed"])
            ),
            metadata=hold.metadata,
            parent_id=hold.parent_id,
            spender=hold.spender,
            remaining=unit.to_quantity(after["remaining"]),
        )

    def hold_as_reserved(
        self, connection: Connection, hold: HoldRow, recorded: TransactionRow
    ) -> Hold:
        """The hold as its reserve answered (a replay of the reserve): its reserve's amount,
        draws and timeout, not what extends and commits made of them since."""
        unit = self._reads.unit(hold.unit)
        expires_at = self._expiry_as_of(connection, hold, recorded.id + 1)
        draws = [
            (entry.account_id, -entry.amount)
            for entry in repository.entries_of(connection, [hold.reserve_transaction_id])
            if entry.amount < 0 and entry.kind == "grant"
        ]
        return Hold(
            id=hold.account_id,
            customer=hold.external_id,
            unit=hold.unit,
            amount=unit.to_quantity(recorded.amount),
            status=HoldStatus.ACTIVE,
            expires_at=expires_at,
            created_at=hold.created_at,
            draws=tuple(Draw(grant_id, unit.to_quantity(part)) for grant_id, part in draws),
            action=hold.action,
            metadata=hold.metadata,
            parent_id=hold.parent_id,
            spender=hold.spender,
            remaining=unit.to_quantity(recorded.amount),
        )

    def _expiry_as_of(self, connection: Connection, hold: HoldRow, before: int) -> datetime:
        """When ``hold`` timed out as of transaction ``before``: its reserve's timeout, pushed by
        its extends until then, each capped by its parent's timeout as of that write. Bounded:
        a tree is at most ``HOLD_TREE_LEVELS_MAX`` deep."""
        expires_at: datetime | None = None
        above = None
        if hold.parent_id is not None:
            above = present(
                hold_repository.read_hold(connection, hold.parent_id), "a hold's parent exists"
            )
        for transaction_id, created_at, request in hold_repository.timeout_changes(
            connection, hold.account_id, before
        ):
            timeout_seconds = json.loads(request)["timeout_seconds"]
            if timeout_seconds is None:
                continue
            pushed = created_at + timedelta(seconds=timeout_seconds)
            expires_at = pushed if expires_at is None else max(expires_at, pushed)
            if above is not None:
                expires_at = min(expires_at, self._expiry_as_of(connection, above, transaction_id))
        return present(expires_at, "a hold was reserved with a timeout")

    def recorded(self, idempotency_key: str) -> bool:
        check_text(idempotency_key, "idempotency_key", IDEMPOTENCY_KEY_LENGTH_MAX)
        with self._database.read() as connection:
            return repository.find_transaction(connection, idempotency_key) is not None

    def recorded_metadata(self, idempotency_key: str) -> dict[str, Any] | None:
        """The metadata recorded under the key (None: nothing recorded): a retry of a charge
        priced from usage prices at the moment its first attempt did."""
        check_text(idempotency_key, "idempotency_key", IDEMPOTENCY_KEY_LENGTH_MAX)
        with self._database.read() as connection:
            found = repository.find_transaction(connection, idempotency_key)
        return None if found is None else found.metadata

    def hold(self, hold_id: int) -> Hold:
        """The hold as it stands now (its status after any commit, release or expiry)."""
        with self._database.read() as connection:
            hold = hold_repository.read_hold(connection, hold_id)
            if hold is None:
                raise HoldNotFound(hold_id)
            draws = self._reads.reserve_draws(connection, hold)
        return self._hold_now(hold, draws, self._reads.now())

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
        self._reads.sweep_if_due(customer)
        with self._database.read() as connection:
            row = repository.read_customer(connection, customer)
            found = hold_repository.customer_holds(connection, row.id, wanted, limit)
            draws = self._reads.funding_draws(connection, found)
        now = self._reads.now()
        return tuple(self._hold_now(hold, draws[hold.account_id], now) for hold in found)

    def _hold_now(self, hold: HoldRow, draws: Sequence[tuple[int, int]], now: datetime) -> Hold:
        """The hold as it stands at ``now``: one whose timeout has passed is expired, swept or
        not. ``draws`` are (grant id, steps) its reserve and extends took."""
        unit = self._reads.unit(hold.unit)
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
            parent_id=hold.parent_id,
            spender=hold.spender,
            remaining=unit.to_quantity(hold.balance) if status is HoldStatus.ACTIVE else None,
        )

    def hold_customer(self, hold_id: object) -> Callable[[Connection], Sequence[str]]:
        checked = check_hold_id(hold_id, "hold_id")

        def customers(connection: Connection) -> Sequence[str]:
            hold = hold_repository.read_hold(connection, checked)
            if hold is None:
                raise HoldNotFound(checked)
            return [hold.external_id]

        return customers

    def with_available_after(
        self, connection: Connection, charge: Charge, customer_id: int, now: datetime
    ) -> Charge:
        left = self._reads.live_in_order(
            repository.grants_with_credits(connection, customer_id, charge.unit), now
        )
        available_after = self._reads.unit(charge.unit).to_quantity(sum(g.remaining for g in left))
        return dataclasses.replace(charge, available_after=available_after)

    def commit_draws(
        self, connection: Connection, commit_ids: Sequence[int]
    ) -> dict[int, list[tuple[int, int]]]:
        """For each of the commits ``commit_ids`` (a root's own or any child's): (grant id,
        steps) it spent. A tree's credits were all drawn by its root, so it is the rule
        ``closing_legs`` closes the tree by: the root's reserve and extends drew (before the
        commit, in the order first drawn), past what the tree's commits before it took. What it
        took is what it moved out of the tree's holds, at most its amount (a root's final commit
        moves the rest back too; an excess above the hold, taken with ``allow_debt``, is a spend
        of its own). Two statements, whatever the number of commits and trees."""
        commits = hold_repository.tree_commits(connection, commit_ids)
        funding = hold_repository.funding_entries(
            connection, sorted({root_id for root_id, *_rest in commits.values()})
        )
        grants = {account for *_r, account, _steps, kind in funding if kind == "grant"}
        found: dict[int, list[tuple[int, int]]] = {}
        for commit_id, (root_id, amount, moved, before) in commits.items():
            drawn: dict[int, int] = {}
            for funded_root, transaction_id, account, steps, _kind in funding:
                if funded_root == root_id and transaction_id < commit_id:
                    drawn[account] = drawn.get(account, 0) + steps
            taken = burn_down(drawn, before, min(amount, moved))
            found[commit_id] = [(account, steps) for account, steps in taken if account in grants]
        return found

    def charge_from_commit(
        self,
        connection: Connection,
        hold: HoldRow,
        steps: int,
        transaction_id: int,
        created_at: datetime,
        metadata: dict[str, Any],
    ) -> Charge:
        """The commit as a charge, with the grants it spent (``commit_draws``)."""
        unit = self._reads.unit(hold.unit)
        drawn = self.commit_draws(connection, [transaction_id])[transaction_id]
        return Charge(
            id=transaction_id,
            customer=hold.external_id,
            unit=hold.unit,
            amount=unit.to_quantity(steps),
            action=hold.action,
            draws=tuple(Draw(grant_id, unit.to_quantity(part)) for grant_id, part in drawn),
            created_at=created_at,
            hold_id=hold.account_id,
            metadata=metadata,
            spender=hold.spender,
        )

    def released(self, connection: Connection, hold: HoldRow) -> Hold:
        held = self._hold_now(hold, self._reads.reserve_draws(connection, hold), hold.created_at)
        return dataclasses.replace(held, status=HoldStatus.RELEASED, remaining=None)


def burn_down(drawn: Mapping[int, int], skip: int, steps: int) -> list[tuple[int, int]]:
    """The accounts ``steps`` took from what a hold drew (``drawn``, in the order first drawn),
    past the ``skip`` steps taken before."""
    taken: list[tuple[int, int]] = []
    for account, part in drawn.items():
        skipped = min(part, skip)
        skip -= skipped
        consumed = min(part - skipped, steps)
        steps -= consumed
        if consumed:
            taken.append((account, consumed))
    return taken
