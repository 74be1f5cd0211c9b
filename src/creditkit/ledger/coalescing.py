"""Group commit: the ledger writes that threads of one process ask for while a write transaction
is in flight go together into the next transaction.

Why: a commit is the expensive part of a write (an fsync on SQLite, a round trip and a WAL flush
on PostgreSQL), and on a hot customer every write waits for the row lock of the one before. One
transaction for many writes pays both once. This is TigerBeetle's batching (many operations,
one commit, each with its own result) in a leader/follower form:

- A caller puts its operation on the queue. If no transaction is in flight, it becomes the
  leader at once: it takes what is queued (its own operation, and any that arrived with it) and
  runs them in one transaction, so an idle writer adds no wait. Otherwise it waits; when the
  transaction in flight commits, one waiting caller leads the next one with everything queued.
- A caller returns only after the transaction holding its write has committed (durability as a
  transaction of its own: SQLite synchronous=FULL, PostgreSQL synchronous_commit on).
- Operations run in arrival order, so a customer's writes apply in the order they were asked.
  Neighbouring charges run as one ``ChargeBatch`` (one multi-row statement per table); any other
  write runs in a savepoint of its own, so that what it wrote before failing is undone without
  undoing the others.
- Each operation has its own outcome and its own idempotency: a refusal is recorded and answered
  to its caller alone; a key already recorded is replayed inside the shared transaction.
- A database error that a savepoint cannot contain (a failed commit, an error in a batch of
  charges) rolls the shared transaction back, and the operations are then run one at a time, each
  in a transaction of its own, so every caller gets the outcome it would have had alone; nothing
  is lost or applied twice, because nothing of the failed transaction was kept. Lock conflicts
  and lost connections rerun the shared transaction from the start (``Database.write``).

Several processes on one database keep working as before: each has its own writer, and their
transactions meet at the database's locks.
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.errors import InvariantViolation, LedgerBusy, require
from creditkit.ledger import pg_charge
from creditkit.ledger.batch import ChargeBatch, Outcome
from creditkit.ledger.values import CatchingUp
from creditkit.ledger.writes import LedgerWrites
from creditkit.store.database import (
    DATABASE_ERRORS,
    Database,
    HeldConnection,
    is_connection_lost,
    is_retryable,
    is_unique_violation,
)

#: Operations one shared transaction takes, and charges (a ``charge_many`` counts each): a
#: bound on the work one transaction does while it holds the locks it took.
OPERATIONS_PER_TRANSACTION_MAX = 256
CHARGES_PER_TRANSACTION_MAX = 10_000
# On PostgreSQL a shared transaction's charges go to the database function in one call when
# they are within its bound; the bound is a batch the writer can gather.
if not 1 <= pg_charge.CHARGES_MAX <= OPERATIONS_PER_TRANSACTION_MAX:
    raise InvariantViolation(
        "the charge function's batch bound is one the writer can gather",
        f"1 <= {pg_charge.CHARGES_MAX} <= {OPERATIONS_PER_TRANSACTION_MAX}",
    )
#: Lanes one writer may have (see ``CoalescingWriter``).
LANES_MAX = 16
#: Callers waiting at once in a lane; past it a write is refused with LedgerBusy rather than
#: queued.
QUEUE_LENGTH_MAX = 10_000
#: How long a caller waits for its operation to be taken into a transaction before it gives up
#: (LedgerBusy): a writer that stalls for this long has a database that does not answer.
QUEUED_SECONDS_MAX = 60.0
#: Times a caller waits (each up to QUEUED_SECONDS_MAX) for its operation, leading included.
WAITS_MAX = 10
#: Shared transactions one leader runs for a catching-up backlog before giving the rest up.
CATCH_UP_TRANSACTIONS_MAX = 1_000

#: One write's work inside a transaction: run again with ``replay`` True after its key turned
#: out to be recorded already.
Attempt = Callable[[Connection, bool], Any]


class _Wake:
    """One caller's wake-up: set by whoever finishes its operation or hands it the lead, taken
    by its caller's wait. A lock held while unset, so that a write costs one C lock instead of
    a ``threading.Event`` (a Condition over a lock, and a waiter lock per wait); set twice
    before a wait is set once, and a wait that returns True has taken it."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()

    def set(self) -> None:
        # Set already and not taken yet (a release of an unheld lock): once is enough. Not
        # suppress(): a context manager per write costs more than the lock.
        try:
            self._lock.release()
        except RuntimeError:
            return

    def wait(self, timeout_seconds: float) -> bool:
        return self._lock.acquire(timeout=timeout_seconds)

    def clear(self) -> None:
        self._lock.acquire(blocking=False)


@dataclass(eq=False, slots=True)
class Operation:
    """One caller's write on its way through the writer: charges, or another write's attempt."""

    charges: ChargeBatch | None = None
    attempt: Attempt | None = None
    #: Runs the operation in a transaction of its own (when the shared one failed).
    alone: Callable[[], Any] | None = None
    result: Any = None
    error: BaseException | None = None
    done: bool = False
    taken: bool = False
    #: Told to lead the lane's next transaction.
    lead: bool = False
    #: Set when the operation is done, or when its caller is to lead.
    wake: _Wake = field(default_factory=_Wake)
    #: The charges this operation counts against ``CHARGES_PER_TRANSACTION_MAX``.
    weight: int = field(default=1)

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result

    def run(self, connection: Connection, replay: bool) -> Any:
        """The operation's work inside ``connection``'s transaction: its outcome (for charges,
        each one's in order), or ``CatchingUp``."""
        if self.charges is not None:
            outcomes = self.charges.attempt(connection, replay)
            return outcomes if isinstance(outcomes, CatchingUp) else self.charges.ordered(outcomes)
        if self.attempt is None:
            raise InvariantViolation("an operation has charges or an attempt", "neither")
        return self.attempt(connection, replay)


class _Step(enum.Enum):
    """How a segment of a shared transaction went."""

    DONE = "done"
    #: A customer's backlog of due work stopped it at its budget; the rest waits for the next
    #: transaction.
    CATCHING_UP = "catching_up"
    #: Several operations failed together: each is to be tried on its own.
    SPLIT = "split"


@dataclass(slots=True)
class _Settled:
    """What one run of a shared transaction decided, published only once it has committed."""

    results: dict[int, tuple[Any, BaseException | None]] = field(default_factory=dict)
    #: Operations left for the next transaction: a customer's backlog of due work stopped this
    #: one at its budget (their order is kept: nothing after them ran).
    deferred: list[Operation] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class GroupCommitStats:
    """What the writer has done since it started: shared transactions committed, the operations
    they held, and the most one held (operations per transaction is the batching achieved)."""

    transactions: int
    operations: int
    operations_in_one_transaction_max: int


@dataclass(eq=False, slots=True)
class _Lane:
    """One queue, its leader's flag and the leader's connection, kept between transactions."""

    held: HeldConnection
    queue: deque[Operation] = field(default_factory=deque)
    leading: bool = False


class CoalescingWriter:
    """The queues and their leaders. Thread-safe; one per ``LedgerService``.

    On PostgreSQL, where writers of different customers do not wait for each other, the writes
    go into ``lanes`` queues by customer, so that several shared transactions can be in flight
    at once (the database overlaps their commits); a customer's writes always take the same
    lane, so they keep their order. On SQLite, which has one writer at a time, there is one."""

    def __init__(self, database: Database, ledger: LedgerWrites, lanes: int) -> None:
        require(1 <= lanes <= LANES_MAX, "lanes within bounds", str(lanes))
        self._ledger = ledger
        self._lanes = [_Lane(database.held()) for _lane in range(lanes)]
        self._lock = threading.Lock()
        self._local = threading.local()
        self._transactions = 0
        self._operations = 0
        self._operations_in_one_max = 0

    def close(self) -> None:
        with self._lock:
            for lane in self._lanes:
                lane.held.close()

    def stats(self) -> GroupCommitStats:
        with self._lock:
            return GroupCommitStats(
                self._transactions, self._operations, self._operations_in_one_max
            )

    def queued(self) -> int:
        """Operations waiting to be taken into a transaction, in every lane."""
        with self._lock:
            return sum(len(lane.queue) for lane in self._lanes)

    def submit(self, operation: Operation, lane_key: str | None = None) -> Any:
        """Runs ``operation`` in the next shared transaction of its lane (``lane_key``: the
        customer it writes for, when it is known) and returns its outcome (or raises its error)
        once that transaction has committed."""
        if getattr(self._local, "leading", False):
            # A write asked from inside a write's transaction would wait for itself.
            raise InvariantViolation("no write inside a write", "the writer's own thread asked")
        lane = self._lanes[0 if lane_key is None else hash(lane_key) % len(self._lanes)]
        with self._lock:
            if len(lane.queue) >= QUEUE_LENGTH_MAX:
                raise LedgerBusy(len(lane.queue), "a full write queue")
            lane.queue.append(operation)
            if not lane.leading:
                # An idle lane: this caller leads at once, so an idle writer adds no wait.
                lane.leading = True
                operation.lead = True
        for _wait in range(WAITS_MAX):
            if not operation.lead and not operation.done:
                self._wait(lane, operation)
                continue
            if operation.done:
                return operation.outcome()
            with self._lock:
                operation.lead = False
                operation.wake.clear()
                batch = self._take(lane)
            try:
                self._local.leading = True
                self._lead(lane, batch)
            finally:
                self._local.leading = False
                self._hand_over(lane)
        raise LedgerBusy(WAITS_MAX, "a write that did not finish")

    def _wait(self, lane: _Lane, operation: Operation) -> None:
        """Waits to be told that the operation is done or that its caller leads next. One that
        was not taken into a transaction in time is withdrawn (LedgerBusy): nothing of it ran."""
        if operation.wake.wait(QUEUED_SECONDS_MAX):
            return
        with self._lock:
            if not (operation.taken or operation.lead or operation.done):
                lane.queue.remove(operation)
                raise LedgerBusy(1, "a write queue that did not move")

    def _hand_over(self, lane: _Lane) -> None:
        """The lane to the caller at the head of its queue, or idle when nobody waits."""
        with self._lock:
            if lane.queue:
                head = lane.queue[0]
                head.lead = True
                head.wake.set()
            else:
                lane.leading = False

    @staticmethod
    def _take(lane: _Lane) -> list[Operation]:
        """The lane's head, up to the bounds (always at least one operation)."""
        batch: list[Operation] = []
        charges = 0
        while lane.queue and len(batch) < OPERATIONS_PER_TRANSACTION_MAX:
            head = lane.queue[0]
            if batch and charges + head.weight > CHARGES_PER_TRANSACTION_MAX:
                break
            lane.queue.popleft()
            head.taken = True
            batch.append(head)
            charges += head.weight
        return batch

    def _lead(self, lane: _Lane, batch: list[Operation]) -> None:
        """Runs ``batch`` in shared transactions until every operation has its outcome."""
        pending = batch
        try:
            for _transaction in range(CATCH_UP_TRANSACTIONS_MAX):
                alone = len(pending) == 1
                apply = self._apply_one if alone else self._apply
                try:
                    settled = lane.held.write(partial(apply, operations=pending))
                except LedgerBusy as busy:
                    self._publish_error(pending, busy)
                    return
                except Exception as error:
                    if alone and not is_unique_violation(error, "transactions", "idempotency_key"):
                        # A transaction of its own: its error is its outcome, as without a writer.
                        self._publish_error(pending, error)
                        return
                    # Nothing of the shared transaction was kept: each operation is run alone,
                    # in order, and gets the outcome it would have had alone (a key found
                    # recorded is replayed there).
                    self._run_alone(pending)
                    return
                self._publish(pending, settled)
                if not settled.deferred:
                    return
                pending = settled.deferred
            self._publish_error(pending, LedgerBusy(CATCH_UP_TRANSACTIONS_MAX, "a backlog"))
        except BaseException as error:
            # The leader's own failure (an interrupt) must not leave followers waiting.
            self._publish_error([o for o in batch if not o.done], error)
            raise

    def _apply_one(self, connection: Connection, operations: list[Operation]) -> _Settled:
        """A lone operation, as it would run without a writer: no savepoint, since there are no
        neighbours to protect; whatever it raises rolls its transaction back."""
        (operation,) = operations
        settled = _Settled()
        outcome = operation.run(connection, False)
        if isinstance(outcome, CatchingUp):
            settled.deferred = [operation]
        else:
            settled.results[id(operation)] = (outcome, None)
        return settled

    def _apply(self, connection: Connection, operations: list[Operation]) -> _Settled:
        """Every operation in order, inside ``connection``'s transaction: neighbouring charges
        as one segment, any other write as a segment of its own."""
        settled = _Settled()
        segments: deque[list[Operation]] = deque()
        for operation in operations:
            if operation.charges is not None and segments and segments[-1][0].charges is not None:
                segments[-1].append(operation)
            else:
                segments.append([operation])
        if len(segments) == 1 and operations[0].charges is not None:
            # Charges alone: there is no neighbour to protect, so no savepoint (two round
            # trips fewer). Should they fail, the transaction rolls back and each caller is run
            # alone (``_lead``), with the outcome it would have had alone.
            step = self._apply_charges(connection, operations, settled, savepointed=False)
            if step is _Step.CATCHING_UP:
                settled.deferred = operations  # nothing of them ran: all wait, in order
            return settled
        done = 0
        while segments:
            segment = segments.popleft()
            if segment[0].charges is not None:
                step = self._apply_charges(connection, segment, settled)
            else:
                step = self._apply_write(connection, segment[0], settled)
            if step is _Step.SPLIT:
                # One bad operation must not fail its neighbours: each is tried on its own.
                segments.extendleft([operation] for operation in reversed(segment))
                continue
            if step is _Step.CATCHING_UP:
                # Nothing after it ran, so the order holds in the next transaction.
                settled.deferred = operations[done:]
                return settled
            done += len(segment)
        return settled

    def _apply_charges(
        self,
        connection: Connection,
        segment: list[Operation],
        settled: _Settled,
        *,
        savepointed: bool = True,
    ) -> _Step:
        """Neighbouring charge operations as one batch, in a savepoint unless they are the
        whole transaction (then whatever they raise fails it)."""
        batches = [operation.charges for operation in segment if operation.charges is not None]
        combined = ChargeBatch.combined(self._ledger, batches)
        if savepointed:
            outcomes, error = _savepointed(connection, combined.attempt)
        else:
            outcomes, error = combined.attempt(connection, False), None
        if error is not None:
            if len(segment) > 1:
                return _Step.SPLIT
            settled.results[id(segment[0])] = (None, error)
            return _Step.DONE
        if isinstance(outcomes, CatchingUp):
            return _Step.CATCHING_UP
        parts = ChargeBatch.split(combined.ordered(outcomes), batches)
        for operation, part in zip(segment, parts, strict=True):
            settled.results[id(operation)] = (part, None)
        return _Step.DONE

    def _apply_write(
        self, connection: Connection, operation: Operation, settled: _Settled
    ) -> _Step:
        """Another write, in a savepoint of its own. When it stops at a customer's backlog of
        due work, what the catching up wrote is kept."""
        outcome, error = _savepointed(connection, operation.run)
        if error is None and isinstance(outcome, CatchingUp):
            return _Step.CATCHING_UP
        settled.results[id(operation)] = (outcome, error)
        return _Step.DONE

    def _run_alone(self, operations: Sequence[Operation]) -> None:
        for operation in operations:
            if operation.alone is None:
                raise InvariantViolation("every operation can run alone", "no alone")
            try:
                result = operation.alone()
            except Exception as error:
                self._finish(operation, None, error)
            else:
                self._finish(operation, result, None)

    def _publish(self, operations: Sequence[Operation], settled: _Settled) -> None:
        deferred = {id(operation) for operation in settled.deferred}
        with self._lock:
            committed = len(operations) - len(deferred)
            self._transactions += 1
            self._operations += committed
            self._operations_in_one_max = max(self._operations_in_one_max, committed)
        for operation in operations:
            if id(operation) in deferred:
                continue
            result, error = settled.results[id(operation)]
            self._finish(operation, result, error)

    def _publish_error(self, operations: Sequence[Operation], error: BaseException) -> None:
        for operation in operations:
            self._finish(operation, None, error)

    @staticmethod
    def _finish(operation: Operation, result: Any, error: BaseException | None) -> None:
        operation.result = result
        operation.error = error
        operation.done = True
        # The caller's own wake-up, so that a batch's end wakes its callers, not every waiter.
        operation.wake.set()


def _savepointed(
    connection: Connection, attempt: Callable[[Connection, bool], Any]
) -> tuple[Any, Exception | None]:
    """``attempt`` in a savepoint of its own: (its outcome, None), or (None, the error it met),
    with what it wrote rolled back to the savepoint. A key found recorded runs it again in
    replay mode; an error the whole transaction must answer is raised."""
    for replay in (False, True):
        savepoint = connection.begin_nested()
        try:
            outcome = attempt(connection, replay)
        except Exception as error:
            if _is_whole_transaction_error(error):
                raise
            savepoint.rollback()
            if not replay and is_unique_violation(error, "transactions", "idempotency_key"):
                continue
            return None, error
        savepoint.commit()
        return outcome, None
    raise AssertionError("unreachable: the replay run returns or raises")


def _is_whole_transaction_error(error: BaseException) -> bool:
    """Errors that the shared transaction as a whole must answer: rerun it (a lock conflict, a
    lost connection) or give it up, never contained in one operation's savepoint."""
    return isinstance(error, DATABASE_ERRORS) and (is_retryable(error) or is_connection_lost(error))


__all__ = ["CoalescingWriter", "GroupCommitStats", "Operation", "Outcome"]
