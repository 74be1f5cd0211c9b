"""Nested holds under concurrency on PostgreSQL: 16 real threads sharing one CreditKit take child
and grandchild holds under shared parents, extend them (and the parents), commit them in parts
and in full, and release them, each call once and some again under the same key.

What must hold however they interleave: no child ever draws past its parent (every credit a
root took is, at the end, exactly in its tree's accounts or spent by one of its holds), nothing
overshoots the customer's credits, each key applies exactly once (its replay returns the first
outcome), and ``audit()`` finds nothing wrong. No test sleeps: threads start at a barrier and
every loop is bounded.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from creditkit import (
    CreditKit,
    HoldAmountExceeded,
    HoldParentExceeded,
    HoldStatus,
    InsufficientCredits,
    ManualClock,
)

pytestmark = pytest.mark.postgres

WAIT_TIMEOUT_SECONDS = 120
THREADS = 16
OPERATIONS_PER_THREAD = 20
SEED = 20_261_207
GRANTED = 3_000
PARENTS = 3
PARENT_AMOUNT = 300


def _work(ck: CreditKit, worker: int, start: threading.Barrier, parents: list[int]) -> Counter[str]:
    """One thread's bounded run; only the refusals a tree may give are expected."""
    rng = random.Random(SEED + worker)
    mine: list[int] = []  # this thread's open holds (children and grandchildren)
    tally: Counter[str] = Counter()
    start.wait(timeout=WAIT_TIMEOUT_SECONDS)
    for step in range(OPERATIONS_PER_THREAD):
        key = f"w{worker}-{step}"
        choice = rng.random()
        try:
            if choice < 0.35 or not mine:
                above = rng.choice(parents + mine[-1:])
                hold = ck.reserve("u1", rng.randint(1, 40), parent=above, idempotency_key=key)
                again = ck.reserve("u1", 1, parent=above, idempotency_key=f"{key}-other")
                assert again.parent_id == above
                mine.extend([hold.id, again.id])
                tally["reserve"] += 2
            elif choice < 0.5:
                target = rng.choice([*mine, rng.choice(parents)])
                amount = rng.randint(1, 15)
                extended = ck.extend(target, amount, idempotency_key=key)
                # Replayed: the hold as it stands, raised once (counted below).
                assert ck.extend(target, amount, idempotency_key=key).id == extended.id
                tally["extend"] += 1
            elif choice < 0.7:
                target = rng.choice(mine)
                charge = ck.commit(target, rng.randint(1, 5), final=False, idempotency_key=key)
                replay = ck.commit(target, charge.amount, final=False, idempotency_key=key)
                assert (replay.id, replay.replayed) == (charge.id, True)
                tally["spent"] += int(charge.amount)
                tally["commit"] += 1
            elif choice < 0.85:
                target = mine.pop(rng.randrange(len(mine)))
                left = ck.hold(target).remaining
                if left is None:
                    continue  # released with its parent by another of this thread's writes
                charge = ck.commit(target, rng.randint(0, int(left)), idempotency_key=key)
                tally["spent"] += int(charge.amount)
                tally["commit"] += 1
            else:
                target = mine.pop(rng.randrange(len(mine)))
                ck.release(target, idempotency_key=key)
                tally["release"] += 1
        except HoldParentExceeded:
            tally["refused_parent"] += 1
        except InsufficientCredits:
            tally["refused_credits"] += 1
        except HoldAmountExceeded:
            tally["refused_amount"] += 1
        except Exception as error:
            if getattr(error, "code", "") not in (
                "hold_already_released",
                "hold_has_open_children",
            ):
                raise
            tally[getattr(error, "code", "")] += 1
    return tally


def _rows(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(query)
        return cursor.fetchall()


def test_threads_nesting_extending_and_committing_keep_every_tree_exact(postgres_url: str) -> None:
    ck = CreditKit(postgres_url, clock=ManualClock())
    try:
        ck.create_customer("u1")
        ck.grant("u1", GRANTED, idempotency_key="grant")
        parents = [
            ck.reserve("u1", PARENT_AMOUNT, timeout_seconds=3600, idempotency_key=f"parent-{i}").id
            for i in range(PARENTS)
        ]
        start = threading.Barrier(THREADS)
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            futures = [pool.submit(_work, ck, w, start, parents) for w in range(THREADS)]
            tallies = [future.result(timeout=WAIT_TIMEOUT_SECONDS) for future in futures]
        tally: Counter[str] = Counter()
        for one in tallies:
            tally.update(one)
        assert tally["reserve"] > 0 and tally["commit"] > 0 and tally["extend"] > 0
        assert tally["refused_parent"] > 0  # the parents were contended to their limit

        # No child past its parent: every hold account is at or above zero, and what each root
        # took is exactly what its tree's open holds keep plus what its holds spent.
        assert (
            _rows(postgres_url, "SELECT id FROM accounts WHERE kind = 'hold' AND balance < 0") == []
        )
        trees = _rows(
            postgres_url,
            """SELECT r.account_id, r.amount_held,
                      (SELECT COALESCE(SUM(a.balance), 0) FROM holds h
                         JOIN accounts a ON a.id = h.account_id
                        WHERE h.account_id = r.account_id OR h.root_id = r.account_id),
                      (SELECT COALESCE(SUM(t.amount), 0) FROM transactions t
                         JOIN holds h ON h.account_id = t.hold_id
                        WHERE t.kind = 'commit' AND t.status = 'applied'
                          AND (h.account_id = r.account_id OR h.root_id = r.account_id))
                 FROM holds r WHERE r.parent_id IS NULL""",
        )
        assert len(trees) == PARENTS
        for root, held, kept, spent in trees:
            assert held == kept + spent, f"root {root}: {held} != {kept} + {spent}"

        # Exactly once per key: one applied commit per counted commit, none twice.
        commits = _rows(
            postgres_url,
            "SELECT COUNT(*) FROM transactions WHERE kind = 'commit' AND status = 'applied'",
        )[0][0]
        assert commits == tally["commit"]
        extends = _rows(
            postgres_url,
            "SELECT COUNT(*) FROM transactions WHERE kind = 'extend' AND status = 'applied'",
        )[0][0]
        assert extends == tally["extend"]

        # Nothing overshoots: spent + available + held is what was granted.
        for parent in parents:
            ck.release(parent, idempotency_key=f"release-{parent}")
        balance = ck.balance("u1")
        assert balance.held == 0
        assert int(balance.available) + tally["spent"] == GRANTED
        assert all(ck.hold(parent).status is HoldStatus.RELEASED for parent in parents)
        assert _rows(postgres_url, "SELECT COUNT(*) FROM holds WHERE status = 'active'")[0][0] == 0
        report = ck.audit()
        assert report.ok, report.problems
    finally:
        ck.close()
