"""Due work as a timeline: a customer's hold timeouts, grant expiries and other domains' due
work (renewals, grace periods) applied in the order of their due instants, each as of its own
instant, so that applying them late writes exactly the ledger of applying them on time (no
answer depends on when someone looks). Bounded: a backlog is caught up in transactions of at
most ``SWEEP_ITEMS_PER_TRANSACTION_MAX`` items.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from creditkit.amounts import wire_amount
from creditkit.derived_keys import grant_expiry_key, hold_expiry_key
from creditkit.errors import LedgerBusy, require
from creditkit.ledger import hold_repository, repository
from creditkit.ledger.catch_up import Backlog, Demand, pending_returns
from creditkit.ledger.hold_budgets import give_back_holds
from creditkit.ledger.hold_repository import HoldRow
from creditkit.ledger.kernel import LedgerKernel, T
from creditkit.ledger.schemas import (
    HoldStatus,
    SweepReport,
    TransactionKind,
)
from creditkit.ledger.values import (
    CATCHING_UP,
    CONSUMPTION,
    EXPIRY,
    CatchingUp,
    Request,
    SweepTally,
)
from creditkit.outbox.types import EventType
from creditkit.outbox.writer import emit_many
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork

SWEEP_CUSTOMERS_MAX = 10_000

#: Due items (a hold timed out, a grant expired, a renewal) applied in one transaction: a
#: backlog is caught up in transactions of this size, the lock released between them.
SWEEP_ITEMS_PER_TRANSACTION_MAX = 256

#: Due items a charge sweeps in its own transaction before it runs ahead of a backlog of
#: timed-out holds (catch_up.py): its bounded share of the catching up.
CHARGE_SWEEP_ITEMS_MAX = 64

#: Instants of due work (boundaries) walked in one transaction, whatever their items.
TIMELINE_STEPS_MAX = 64

#: Transactions the worker's run spends on one customer's backlog (2,048 due items) before it
#: moves on to the next customer; the rest is the next run's (see ``expire``).
WORKER_TRANSACTIONS_PER_CUSTOMER_MAX = 8

#: Transactions a write spends catching a customer's backlog up before it gives up (LedgerBusy):
#: 14 months of daily boundaries and thousands of timed-out holds fit well within it.
CATCH_UP_TRANSACTIONS_MAX = 1_000


class LedgerTimeline(LedgerKernel):
    """The kernel, plus the due timeline."""

    def write_caught_up(self, attempt: Callable[[Connection], T | CatchingUp]) -> T:
        """Runs ``attempt`` in a transaction until it does its work: each run that instead spent
        its budget on a customer's backlog of due work commits that part, and frees the lock,
        before the next (bounded work under a lock)."""
        for _transaction in range(CATCH_UP_TRANSACTIONS_MAX):
            outcome = self.database.write(attempt)
            if not isinstance(outcome, CatchingUp):
                return outcome
        raise LedgerBusy(CATCH_UP_TRANSACTIONS_MAX, "a backlog of due work")

    def funding_draws(
        self,
        connection: Connection,
        found: Sequence[HoldRow],
        grants_only: bool = True,
        before: int | None = None,
    ) -> dict[int, list[tuple[int, int]]]:
        """For each hold, (account id, steps) its reserve and its extends took, in the order
        first drawn (each in burn-down order): its grants, then (with ``grants_only`` false) what an
        unlimited plan issued for it, or for a child the steps it took from its parent; with
        ``before``, only what it drew before that transaction. Two statements for all of them."""
        hold_of: dict[int, int] = {hold.reserve_transaction_id: hold.account_id for hold in found}
        for transaction_id, hold_id in hold_repository.extension_transactions(
            connection, [hold.account_id for hold in found], before
        ):
            hold_of[transaction_id] = hold_id
        # Per hold, per account, in the order first drawn: an extend drawing from a grant the
        # reserve drew from adds to that draw (each account is one leg when the hold closes).
        drawn: dict[int, dict[int, int]] = {hold.account_id: {} for hold in found}
        for entry in repository.entries_of(connection, list(hold_of)):
            if entry.amount < 0 and (entry.kind == "grant" or not grants_only):
                parts = drawn[hold_of[entry.transaction_id]]
                parts[entry.account_id] = parts.get(entry.account_id, 0) - entry.amount
        return {hold_id: list(parts.items()) for hold_id, parts in drawn.items()}

    def reserve_draws(
        self, connection: Connection, hold: HoldRow, grants_only: bool = True
    ) -> list[tuple[int, int]]:
        """(account id, steps) the hold took (see ``funding_draws``)."""
        return self.funding_draws(connection, [hold], grants_only)[hold.account_id]

    def settle_legs(
        self, context: UnitOfWork, hold: HoldRow, steps_committed: int
    ) -> tuple[int, list[tuple[int, int]]]:
        """The entries that close ``hold``, and the transaction's headline amount."""
        draws = self.reserve_draws(context.connection, hold, grants_only=False)
        expiries = repository.expiries_of(context.connection, [grant_id for grant_id, _ in draws])
        headline, legs, refilled = self.closing_legs(
            hold, draws, expiries, steps_committed, context.now, hold.balance
        )
        for expires_at in refilled:
            # The grant has credits again: its expiry is due work once more.
            repository.lower_next_due_at(context.connection, hold.customer_id, expires_at)
        return headline, legs

    def closing_legs(
        self,
        hold: HoldRow,
        draws: list[tuple[int, int]],
        expiries: dict[int, datetime | None],
        steps_committed: int,
        moment: datetime,
        balance: int,
    ) -> tuple[int, list[tuple[int, int]], list[datetime]]:
        """The legs that close ``hold`` at ``moment``, its account holding ``balance``:
        ``steps_committed`` to consumption, and the rest back where it came from: a child's to
        its parent; a root's to its grants, or to expiry for grants expired by then. What the
        tree consumed before (partial commits, children's commits) is taken from the root's
        draws first, in their order, so only what no one consumed goes back. Also the expiries
        of the grants that got credits back. No legs when the account is empty (a hold fully
        committed in parts)."""
        require(
            0 <= steps_committed <= balance,
            "a hold closes with at most what its account holds",
            f"hold {hold.account_id}: {steps_committed} of {balance}",
        )
        legs: list[tuple[int, int]] = [(hold.account_id, -balance)] if balance else []
        if steps_committed > 0:
            legs.append((self.system_account(CONSUMPTION, hold.unit), steps_committed))
        headline = steps_committed if steps_committed else balance
        returned_total = balance - steps_committed
        if hold.parent_id is not None:
            if returned_total:
                legs.append((hold.parent_id, returned_total))
            return headline, legs, []
        drawn_total = sum(part for _account, part in draws)
        require(
            drawn_total >= balance,
            "a root hold holds at most what it drew",
            f"hold {hold.account_id}: {balance} of {drawn_total}",
        )
        to_consume = drawn_total - returned_total
        expired_total = 0
        refilled: list[datetime] = []
        for grant_id, part in draws:
            consumed = min(part, to_consume)
            to_consume -= consumed
            returned = part - consumed
            if returned == 0:
                continue
            expires_at = expiries.get(grant_id)  # none for issuance: it never expires
            if expires_at is not None and expires_at <= moment:
                expired_total += returned
            else:
                legs.append((grant_id, returned))
                if expires_at is not None:
                    refilled.append(expires_at)
        if expired_total:
            legs.append((self.system_account(EXPIRY, hold.unit), expired_total))
        return headline, legs, refilled

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

    def sweep_for_charges(
        self,
        connection: Connection,
        locked: dict[str, CustomerRow],
        now: datetime,
        demand_of_batch: Callable[[], dict[str, Demand]],
    ) -> tuple[set[int], dict[int, Backlog]] | CatchingUp:
        """``sweep_due`` for a batch of charges that take ``demand_of_batch()`` (asked only when
        a customer has a backlog: the common charge pays nothing for it). A customer whose sweep
        stops at ``CHARGE_SWEEP_ITEMS_MAX`` items with only timed-out holds (and expired
        grants) left does not hold the charges back when the backlog allows them
        (catch_up.py): its ``Backlog`` is returned for the charges' read. Otherwise the
        customer gets a whole chunk more, and ``CatchingUp``: the caller commits the sweep and
        runs again."""
        swept: set[int] = set()
        backlogs: dict[int, Backlog] = {}
        demand: dict[str, Demand] | None = None
        for external_id, customer in locked.items():
            if customer.next_due_at is None or customer.next_due_at > now:
                continue
            swept.add(customer.id)
            report, timeouts_only = self._sweep_customer_steps(
                connection, customer, now, CHARGE_SWEEP_ITEMS_MAX
            )
            if report.complete:
                continue
            backlog = None
            if demand is None:
                demand = demand_of_batch()
            if external_id in demand and (
                timeouts_only or self._hooks_idle(connection, customer, now)
            ):
                backlog = pending_returns(connection, customer.id, now)
            if backlog is None or not backlog.allows(customer, demand[external_id]):
                # The charges wait for the backlog: this transaction sweeps a whole chunk more.
                self._sweep_customer(connection, customer, now)
                return CATCHING_UP
            backlogs[customer.id] = backlog
        return swept, backlogs

    def _hooks_idle(self, connection: Connection, customer: CustomerRow, now: datetime) -> bool:
        """No other domain's work of the customer falls due at or before ``now``. Each is asked
        when it falls due, at a moment just before the customer's first due instant as the
        sweep found it: nothing of theirs was due before that instant (it is the earliest of
        every due instant, theirs included), and asking at a moment before its own due changes
        nothing but answers it."""
        first_due_at = now if customer.next_due_at is None else min(customer.next_due_at, now)
        moment = first_due_at - timedelta(microseconds=1)
        for hook in self._hooks.due:
            next_due = hook(
                UnitOfWork(connection, moment, {customer.external_id: customer}, replay=False),
                customer,
            )
            if next_due is not None and next_due <= now:
                return False
        return True

    def _sweep_customer(
        self, connection: Connection, customer: CustomerRow, now: datetime
    ) -> SweepReport:
        return self._sweep_customer_steps(connection, customer, now)[0]

    def _sweep_customer_steps(
        self,
        connection: Connection,
        customer: CustomerRow,
        now: datetime,
        budget: int = SWEEP_ITEMS_PER_TRANSACTION_MAX,
    ) -> tuple[SweepReport, bool]:
        """Under the customer's lock: applies the due work up to ``now`` as a timeline, in the
        order of the due instants, each item as of its own instant (no answer depends on when
        someone looks): held credits come back when their hold timed out, a renewal runs at its
        boundary, and a grant expires when it expired. So applying them late writes exactly the
        ledger of applying them on time. Each item is a transaction under a key derived from
        what fell due, exactly-once like any other write. At most
        ``budget`` items per call; the report says when more is due, and the flag whether
        what is left is timed-out holds and expired grants alone."""
        # When each other domain's due work (a renewal, a grace period's end) falls due next. Not
        # known until it is asked; asking at a moment before its own due changes nothing, so it
        # is first asked at the earliest instant anything of this customer fell due.
        first_due_at = now if customer.next_due_at is None else min(customer.next_due_at, now)
        hook_dues: list[datetime | None] = [first_due_at] * len(self._hooks.due)
        report = SweepTally()
        complete = False
        # True once the walk is in its last step: no other domain's work is due before now,
        # so what is left (when the budget runs out) is timed-out holds and expired grants.
        timeouts_only = False
        for _step in range(TIMELINE_STEPS_MAX):
            hook_at = min((due for due in hook_dues if due is not None), default=None)
            hook_is_due = hook_at is not None and hook_at <= now
            until = hook_at if hook_at is not None and hook_is_due else now
            timeouts_only = not hook_is_due
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
            for index, hook in enumerate(self._hooks.due):
                hook_due = hook_dues[index]
                if hook_due is not None and hook_due <= hook_at:
                    next_due = hook(
                        UnitOfWork(
                            connection, hook_at, {customer.external_id: customer}, replay=False
                        ),
                        customer,
                    )
                    if next_due is not None and next_due <= hook_at:
                        # A hook that is due again at once would never let the timeline move.
                        raise AssertionError(f"due work at {hook_at} is due again at {next_due}")
                    hook_dues[index] = next_due
            budget -= 1
        due = [moment for moment in hook_dues if moment is not None]
        for moment in (
            hold_repository.earliest_hold_expiry(connection, customer.id),
            repository.earliest_grant_expiry(connection, customer.id),
        ):
            if moment is not None:
                due.append(moment)
        repository.set_next_due_at(connection, customer.id, min(due) if due else None)
        return SweepReport(report.grants_expired, report.holds_expired, complete), timeouts_only

    def _expire_holds(
        self,
        connection: Connection,
        customer: CustomerRow,
        until: datetime,
        budget: int,
        report: SweepTally,
    ) -> int:
        """Closes the customer's holds that timed out at or before ``until`` (at most
        ``budget``), each as of its own timeout; returns how many."""
        due = hold_repository.due_holds(connection, customer.id, until, budget)
        if not due:
            return 0
        # Set-based: the holds' draws, their grants' expiries, their transactions, entries,
        # settlements and events each in one statement for the whole chunk. The sweep sets the
        # customer's next due instant afterwards, so refilled grants need no lowering here.
        draws = self.funding_draws(connection, due, grants_only=False)
        expiries = repository.expiries_of(
            connection, [account for parts in draws.values() for account, _part in parts]
        )
        # A child times out no later than its parent, and before it at the same instant: what
        # it gives back is in the parent's account when the parent closes, in this chunk too.
        balances = {hold.account_id: hold.balance for hold in due}
        closings: list[tuple[int, list[tuple[int, int]], list[datetime]]] = []
        for hold in due:
            closing = self.closing_legs(
                hold,
                draws[hold.account_id],
                expiries,
                0,
                hold.expires_at,
                balances[hold.account_id],
            )
            closings.append(closing)
            if hold.parent_id in balances:
                balances[hold.parent_id] += balances[hold.account_id]
        transaction_ids = repository.insert_transactions(
            connection,
            [
                self.transaction_values(
                    Request(
                        hold_expiry_key(hold.account_id),
                        TransactionKind.HOLD_EXPIRY,
                        {"hold_id": hold.account_id},
                    ),
                    customer,
                    hold.unit,
                    headline,
                    hold.expires_at,
                    hold_id=hold.account_id,
                )
                for hold, (headline, _legs, _refilled) in zip(due, closings, strict=True)
            ],
        )
        self.post_many(
            connection,
            [
                (transaction_id, hold.unit, legs)
                for hold, transaction_id, (_headline, legs, _refilled) in zip(
                    due, transaction_ids, closings, strict=True
                )
                if legs
            ],
        )
        hold_repository.settle_holds_closed(
            connection,
            HoldStatus.EXPIRED,
            [
                (hold.account_id, transaction_id)
                for hold, transaction_id in zip(due, transaction_ids, strict=True)
            ],
        )
        emit_many(
            connection,
            EventType.HOLD_EXPIRED,
            customer.id,
            [
                (
                    {
                        "hold_id": hold.account_id,
                        "unit": hold.unit,
                        "amount": wire_amount(self.unit(hold.unit).to_quantity(hold.amount_held)),
                        "action": hold.action,
                        "expired_at": hold.expires_at.isoformat(),
                    },
                    hold.expires_at,
                )
                for hold in due
            ],
        )
        # What an expired hold had left (its expired children's included) was not spent: the
        # budgets it counted it against get it back.
        give_back_holds(connection, customer, [(hold, balances[hold.account_id]) for hold in due])
        report.holds_expired += len(due)
        return len(due)

    def _expire_grants(
        self,
        connection: Connection,
        customer: CustomerRow,
        before: datetime,
        budget: int,
        report: SweepTally,
    ) -> int:
        """Moves what is left of the customer's grants that expired before ``before`` (at most
        ``budget``) to the expiry account, each as of its expiry; returns how many."""
        expired = repository.expired_grants_with_credits(connection, customer.id, before, budget)
        for grant in expired:
            request = Request(
                grant_expiry_key(grant.id),
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
        emit_many(
            connection,
            EventType.CREDITS_EXPIRED,
            customer.id,
            [
                (
                    {
                        "grant_id": grant.id,
                        "unit": grant.unit,
                        "amount": wire_amount(self._units[grant.unit].to_quantity(grant.balance)),
                        "expired_at": grant.expires_at.isoformat(),
                    },
                    grant.expires_at,
                )
                for grant in expired
            ],
        )
        report.grants_expired += len(expired)
        return len(expired)

    def tick(
        self,
        customers_max: int = SWEEP_CUSTOMERS_MAX,
        transactions_per_customer_max: int = CATCH_UP_TRANSACTIONS_MAX,
    ) -> SweepReport:
        """Sweeps every customer that has something due (at most ``customers_max``, the
        longest due first), in transactions of at most ``SWEEP_ITEMS_PER_TRANSACTION_MAX``
        items (so that a sweep holds no customer's lock for longer than its own work), at most
        ``transactions_per_customer_max`` per customer: a customer with more stays due, first
        in line for the next run, and one large backlog does not hold up everyone else's. Reads
        and writes also sweep the customers they touch; this records breakage on time for
        customers nobody touches, and catches customers up before their next charge does."""
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

            for _transaction in range(
                min(transactions_per_customer_max, CATCH_UP_TRANSACTIONS_MAX)
            ):
                report = self.database.write(sweep)
                grants_expired += report.grants_expired
                holds_expired += report.holds_expired
                if report.complete:
                    break
        return SweepReport(grants_expired, holds_expired)

    def sweep_now(self, customer: str) -> None:
        now = self.now()

        def sweep(connection: Connection) -> CatchingUp | None:
            locked = repository.lock_customers(connection, [customer])
            row = locked[customer]
            due = row.next_due_at is not None and row.next_due_at <= now
            if due and not self._sweep_customer(connection, row, now).complete:
                return CATCHING_UP
            return None

        self.write_caught_up(sweep)

    def sweep_if_due(self, customer: str) -> None:
        now = self.now()
        with self.database.read() as connection:
            row = repository.read_customer(connection, customer)
        if row.next_due_at is not None and row.next_due_at <= now:
            self.sweep_now(customer)
