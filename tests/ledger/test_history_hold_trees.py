"""A hold tree's commits in the history: the tree's credits are drawn by its root, yet each
commit (the root's or any child's, partial or final) shows the grants that paid for it: the
root's draws in burn-down order, past what the tree's commits before it took. So the draws of
all commits add up to what was committed, and to what the grants lost when the tree closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from creditkit import CreditKit, ManualClock

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def test_each_commit_of_a_tree_shows_the_grants_that_paid_for_it(ck: CreditKit) -> None:
    """A grant of 10 expiring tomorrow (burnt first) and one of 100 that never expires. The
    root holds 30 (10 + 20), two children commit in parts, the root commits a part, extends by
    5 (from the second grant), funds a third child and closes with 4, giving 3 back."""
    soon = ck.grant("u1", 10, expires_at=START + timedelta(days=1), idempotency_key="g-soon")
    later = ck.grant("u1", 100, idempotency_key="g-later")
    root = ck.reserve("u1", 30, idempotency_key="root")
    first = ck.reserve("u1", 10, parent=root.id, idempotency_key="first")
    second = ck.reserve("u1", 12, parent=root.id, idempotency_key="second")
    answers = [
        ck.commit(first.id, 4, final=False, idempotency_key="first-1"),
        ck.commit(second.id, 5, final=False, idempotency_key="second-1"),
        ck.commit(first.id, 3, idempotency_key="first-final"),  # gives 3 back to the root
        ck.commit(root.id, 2, final=False, idempotency_key="root-1"),
        ck.commit(second.id, 6, idempotency_key="second-final"),  # gives 1 back
    ]
    ck.extend(root.id, 5, idempotency_key="root-more")
    third = ck.reserve("u1", 8, parent=root.id, idempotency_key="third")
    answers.append(ck.commit(third.id, 8, idempotency_key="third-final"))
    answers.append(ck.commit(root.id, 4, idempotency_key="root-final"))  # 3 back to `later`

    expected = [
        [(soon.id, 4)],
        [(soon.id, 5)],
        [(soon.id, 1), (later.id, 2)],
        [(later.id, 2)],
        [(later.id, 6)],
        [(later.id, 8)],
        [(later.id, 4)],
    ]
    assert [[(d.grant_id, d.amount) for d in a.draws] for a in answers] == expected

    # The history: one line per hold, each commit in its line's parts with the same draws.
    shown: dict[int, list[tuple[int, Decimal]]] = {}
    for item in ck.history("u1").items:
        if item.hold is None:
            continue
        for part in item.hold.parts:
            if part.kind.value == "commit":
                shown[part.transaction_id] = [(d.grant_id, Decimal(d.amount)) for d in part.draws]
        # A line's draws are its commits' together.
        line: dict[int, Decimal] = {}
        for part in item.hold.parts:
            if part.kind.value == "commit":
                for draw in part.draws:
                    line[draw.grant_id] = line.get(draw.grant_id, Decimal(0)) + draw.amount
        assert {d.grant_id: d.amount for d in item.draws} == line
    assert [shown[a.id] for a in answers] == expected

    # All draws add up to what was committed, and to what each grant lost at the close.
    committed = sum(Decimal(a.amount) for a in answers)
    assert committed == 32
    drawn: dict[int, Decimal] = {}
    for draws in shown.values():
        for grant_id, steps in draws:
            drawn[grant_id] = drawn.get(grant_id, Decimal(0)) + steps
    assert sum(drawn.values()) == committed
    left = {g.grant_id: Decimal(g.remaining) for g in ck.balance("u1").grants}
    assert drawn == {soon.id: 10 - left.get(soon.id, 0), later.id: 100 - left[later.id]}
    assert drawn == {soon.id: 10, later.id: 22}
    assert ck.audit().ok


def test_a_replayed_child_commit_answers_the_same_draws(ck: CreditKit) -> None:
    small = ck.grant("u1", 3, idempotency_key="g1")
    large = ck.grant("u1", 10, idempotency_key="g2")
    root = ck.reserve("u1", 8, idempotency_key="root")
    child = ck.reserve("u1", 6, parent=root.id, idempotency_key="child")
    ck.commit(root.id, 1, final=False, idempotency_key="root-1")
    first = ck.commit(child.id, 4, final=False, idempotency_key="child-1")
    ck.commit(child.id, 2, idempotency_key="child-final")
    assert [(d.grant_id, d.amount) for d in first.draws] == [(small.id, 2), (large.id, 2)]
    again = ck.commit(child.id, 4, final=False, idempotency_key="child-1")
    assert again.replayed and again.draws == first.draws


def test_a_tree_that_times_out_after_commits_shows_what_they_spent(
    ck: CreditKit, clock: ManualClock
) -> None:
    """The children's commits keep their draws when the tree expires (what no one spent goes
    back to the grants it came from, or to expiry for the grant expired by then)."""
    soon = ck.grant("u1", 5, expires_at=START + timedelta(minutes=30), idempotency_key="g-soon")
    later = ck.grant("u1", 50, idempotency_key="g-later")
    root = ck.reserve("u1", 12, timeout_seconds=3600, idempotency_key="root")
    child = ck.reserve("u1", 9, parent=root.id, idempotency_key="child")
    part = ck.commit(child.id, 7, final=False, idempotency_key="child-1")
    clock.advance(timedelta(hours=2))
    ck.tick()
    line = next(i for i in ck.history("u1").items if i.hold_id == child.id)
    assert line.hold is not None
    commits = [p for p in line.hold.parts if p.kind.value == "commit"]
    assert [(p.transaction_id, [(d.grant_id, d.amount) for d in p.draws]) for p in commits] == [
        (part.id, [(soon.id, 5), (later.id, 2)])
    ]
    assert ck.balance("u1").available == 50 - 2
    assert ck.audit().ok
