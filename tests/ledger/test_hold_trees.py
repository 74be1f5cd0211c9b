"""Holds that nest (a hold taken under a parent), stretch (extend) and settle in parts
(``commit(final=False)``)."""

from datetime import timedelta

import pytest

from creditkit import (
    CreditKit,
    HoldAmountExceeded,
    HoldExpired,
    HoldHasOpenChildren,
    HoldNotFound,
    HoldParentExceeded,
    HoldStatus,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidRequest,
    ManualClock,
)
from creditkit.ledger.checks import HOLD_LIFETIME_SECONDS_MAX, HOLD_TREE_LEVELS_MAX


def _held(ck: CreditKit, customer: str = "u1") -> tuple[int, int]:
    balance = ck.balance(customer)
    return int(balance.available), int(balance.held)


# --- nesting -------------------------------------------------------------------------------


def test_a_child_draws_from_its_parent_not_from_the_grants(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    parent = ck.reserve("u1", 60, idempotency_key="p")
    child = ck.reserve("u1", 25, parent=parent.id, idempotency_key="c")
    assert (child.parent_id, child.remaining, child.draws) == (parent.id, 25, ())
    assert ck.hold(parent.id).remaining == 35
    assert _held(ck) == (40, 60)  # the child's credits are still the parent's held credits
    ck.commit(child.id, 10, idempotency_key="c-commit")
    assert ck.hold(parent.id).remaining == 50  # 15 came back to the parent, 10 were spent
    assert _held(ck) == (40, 50)
    ck.commit(parent.id, 20, idempotency_key="p-commit")
    assert _held(ck) == (70, 0)  # 100 - 10 - 20
    assert ck.audit().ok


def test_a_child_never_draws_past_its_parent(ck: CreditKit) -> None:
    ck.grant("u1", 1000, idempotency_key="g1")
    parent = ck.reserve("u1", 30, idempotency_key="p")
    ck.reserve("u1", 20, parent=parent.id, idempotency_key="c1")
    with pytest.raises(HoldParentExceeded) as refused:
        ck.reserve("u1", 11, parent=parent.id, idempotency_key="c2")
    assert (refused.value.parent_id, refused.value.available, refused.value.requested) == (
        parent.id,
        10,
        11,
    )
    # The refusal is the key's outcome: the same request is refused again, even with room.
    ck.extend(parent.id, 50, idempotency_key="p-more")
    with pytest.raises(HoldParentExceeded):
        ck.reserve("u1", 11, parent=parent.id, idempotency_key="c2")
    assert ck.reserve("u1", 11, parent=parent.id, idempotency_key="c3").amount == 11
    assert ck.audit().ok


def test_holds_nest_down_to_the_depth_limit(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    hold = ck.reserve("u1", 50, idempotency_key="level-0")
    for level in range(1, HOLD_TREE_LEVELS_MAX):
        hold = ck.reserve("u1", 50 - level, parent=hold.id, idempotency_key=f"level-{level}")
    with pytest.raises(InvalidRequest) as refused:
        ck.reserve("u1", 1, parent=hold.id, idempotency_key="too-deep")
    assert refused.value.field == "parent"
    assert f"{HOLD_TREE_LEVELS_MAX} levels" in str(refused.value)


def test_a_parent_must_be_the_customers_open_hold_in_the_same_unit(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    ck.grant("u2", 100, idempotency_key="g2")
    ck.grant("u1", 100, unit="usd", idempotency_key="g3")
    others = ck.reserve("u2", 10, idempotency_key="others")
    with pytest.raises(InvalidRequest) as refused:
        ck.reserve("u1", 1, parent=others.id, idempotency_key="c1")
    assert refused.value.field == "parent"
    mine = ck.reserve("u1", 10, idempotency_key="mine")
    with pytest.raises(InvalidRequest) as refused:
        ck.reserve("u1", 1, unit="usd", parent=mine.id, idempotency_key="c2")
    assert refused.value.field == "unit"
    with pytest.raises(InvalidRequest):
        ck.reserve("u1", 1, parent=True, idempotency_key="c3")  # type: ignore[arg-type]
    ck.release(mine.id, idempotency_key="mine-release")
    with pytest.raises(Exception) as closed:
        ck.reserve("u1", 1, parent=mine.id, idempotency_key="c4")
    assert closed.value.code == "hold_already_released"


def test_releasing_a_parent_releases_its_open_children_first(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    root = ck.reserve("u1", 80, idempotency_key="root")
    child = ck.reserve("u1", 40, parent=root.id, idempotency_key="child")
    grandchild = ck.reserve("u1", 15, parent=child.id, idempotency_key="grandchild")
    done = ck.reserve("u1", 10, parent=root.id, idempotency_key="done")
    ck.commit(done.id, 4, idempotency_key="done-commit")
    ck.commit(grandchild.id, 5, final=False, idempotency_key="grandchild-part")
    released = ck.release(root.id, idempotency_key="root-release")
    assert released.status is HoldStatus.RELEASED
    assert ck.hold(child.id).status is HoldStatus.RELEASED
    assert ck.hold(grandchild.id).status is HoldStatus.RELEASED
    assert ck.hold(done.id).status is HoldStatus.COMMITTED
    assert _held(ck) == (91, 0)  # spent: 4 by a child, 5 by a grandchild in part
    assert ck.audit().ok
    # Exactly once: the same release again returns the first outcome and moves nothing.
    assert ck.release(root.id, idempotency_key="root-release").status is HoldStatus.RELEASED
    assert _held(ck) == (91, 0)


def test_a_final_commit_of_a_parent_with_open_children_is_refused(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    parent = ck.reserve("u1", 50, idempotency_key="p")
    first = ck.reserve("u1", 10, parent=parent.id, idempotency_key="c1")
    second = ck.reserve("u1", 10, parent=parent.id, idempotency_key="c2")
    with pytest.raises(HoldHasOpenChildren) as refused:
        ck.commit(parent.id, 5, idempotency_key="p-commit")
    assert refused.value.children == [first.id, second.id]
    assert str(first.id) in str(refused.value) and str(second.id) in str(refused.value)
    # The refusal is the key's outcome: the same request gets it again.
    with pytest.raises(HoldHasOpenChildren) as again:
        ck.commit(parent.id, 5, idempotency_key="p-commit")
    assert again.value.children == [first.id, second.id]
    # A partial commit of the parent is allowed: it spends only what the parent has left.
    with pytest.raises(HoldAmountExceeded):
        ck.commit(parent.id, 31, final=False, idempotency_key="p-part-too-much")
    ck.commit(parent.id, 30, final=False, idempotency_key="p-part")
    ck.commit(first.id, 10, idempotency_key="c1-commit")
    ck.release(second.id, idempotency_key="c2-release")
    charge = ck.commit(parent.id, 10, idempotency_key="p-commit-2")
    assert charge.amount == 10
    assert ck.hold(parent.id).amount_committed == 40
    assert _held(ck) == (50, 0)
    assert ck.audit().ok


def test_a_child_never_outlives_its_parent(ck: CreditKit, clock: ManualClock) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    parent = ck.reserve("u1", 50, timeout_seconds=60, idempotency_key="p")
    child = ck.reserve("u1", 20, timeout_seconds=3600, parent=parent.id, idempotency_key="c")
    assert child.expires_at == parent.expires_at  # capped by the parent's
    extended = ck.extend(child.id, timeout_seconds=7200, idempotency_key="c-longer")
    assert extended.expires_at == parent.expires_at
    early = ck.reserve("u1", 5, timeout_seconds=30, parent=parent.id, idempotency_key="early")
    clock.advance(seconds=61)
    assert _held(ck) == (100, 0)
    for hold_id in (parent.id, child.id, early.id):
        assert ck.hold(hold_id).status is HoldStatus.EXPIRED
    history = ck.history("u1", limit=20).items
    expiries = [(item.hold_id, item.created_at) for item in history if item.kind == "hold_expiry"]
    # Each at its own instant; the child before its parent at the same instant.
    assert sorted(expiries, key=lambda e: (e[1], e[0] == parent.id)) == [
        (early.id, early.expires_at),
        (child.id, parent.expires_at),
        (parent.id, parent.expires_at),
    ]
    assert ck.audit().ok


# --- extend --------------------------------------------------------------------------------


def test_extend_raises_the_amount_from_the_grants(ck: CreditKit) -> None:
    first = ck.grant("u1", 30, source="allowance", idempotency_key="g1")
    second = ck.grant("u1", 100, idempotency_key="g2")
    hold = ck.reserve("u1", 20, idempotency_key="r")
    extended = ck.extend(hold.id, 25, idempotency_key="x")
    assert (extended.amount, extended.remaining) == (45, 45)
    assert [(d.grant_id, d.amount) for d in extended.draws] == [(first.id, 30), (second.id, 15)]
    assert _held(ck) == (85, 45)
    ck.commit(hold.id, 12, idempotency_key="c")
    # What was not spent went back where it came from: the allowance first spent.
    assert [(g.grant_id, g.remaining) for g in ck.balance("u1").grants] == [
        (first.id, 18),
        (second.id, 100),
    ]
    assert ck.audit().ok


def test_extend_is_refused_when_the_credits_are_not_there(ck: CreditKit) -> None:
    ck.grant("u1", 50, idempotency_key="g1")
    hold = ck.reserve("u1", 40, idempotency_key="r")
    with pytest.raises(InsufficientCredits):
        ck.extend(hold.id, 11, idempotency_key="x")
    assert ck.hold(hold.id).amount == 40
    parent = hold
    child = ck.reserve("u1", 30, parent=parent.id, idempotency_key="c")
    with pytest.raises(HoldParentExceeded):
        ck.extend(child.id, 11, idempotency_key="cx")
    assert ck.extend(child.id, 10, idempotency_key="cx2").amount == 40
    assert ck.hold(parent.id).remaining == 0
    assert ck.audit().ok


def test_extend_pushes_the_timeout_within_the_lifetime(ck: CreditKit, clock: ManualClock) -> None:
    ck.grant("u1", 50, idempotency_key="g1")
    hold = ck.reserve("u1", 10, timeout_seconds=60, idempotency_key="r")
    clock.advance(seconds=50)
    pushed = ck.extend(hold.id, timeout_seconds=600, idempotency_key="x1")
    assert pushed.expires_at == clock() + timedelta(seconds=600)
    # Never earlier than it was.
    assert ck.extend(hold.id, timeout_seconds=1, idempotency_key="x2").expires_at == (
        pushed.expires_at
    )
    clock.advance(seconds=500)
    assert ck.hold(hold.id).status is HoldStatus.ACTIVE
    # Kept alive by extends, a hold still ends at its maximum lifetime.
    week = 7 * 24 * 3600
    for index in range(HOLD_LIFETIME_SECONDS_MAX // week):
        ck.extend(hold.id, timeout_seconds=week, idempotency_key=f"week-{index}")
        clock.advance(seconds=week - 10)
    assert ck.hold(hold.id).status is HoldStatus.ACTIVE
    with pytest.raises(InvalidRequest) as refused:
        ck.extend(hold.id, timeout_seconds=week, idempotency_key="past-lifetime")
    assert refused.value.field == "timeout_seconds"
    assert "lives at most" in str(refused.value)


def test_extend_is_idempotent(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    hold = ck.reserve("u1", 10, idempotency_key="r")
    ck.extend(hold.id, 5, idempotency_key="x")
    again = ck.extend(hold.id, 5, idempotency_key="x")
    assert again.amount == 15
    assert _held(ck) == (85, 15)
    with pytest.raises(IdempotencyConflict) as conflict:
        ck.extend(hold.id, 6, idempotency_key="x")
    assert conflict.value.field == "amount"
    with pytest.raises(IdempotencyConflict) as conflict:
        ck.extend(hold.id, 5, timeout_seconds=60, idempotency_key="x")
    assert conflict.value.field == "timeout_seconds"
    with pytest.raises(InvalidRequest) as nothing:
        ck.extend(hold.id, idempotency_key="nothing")
    assert nothing.value.field == "amount"


def test_extend_of_a_closed_hold_is_refused(ck: CreditKit, clock: ManualClock) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    hold = ck.reserve("u1", 10, timeout_seconds=60, idempotency_key="r")
    clock.advance(seconds=61)
    with pytest.raises(HoldExpired):
        ck.extend(hold.id, 5, idempotency_key="x")
    with pytest.raises(HoldNotFound):
        ck.extend(10**9, 5, idempotency_key="y")


# --- partial commits -----------------------------------------------------------------------


def test_several_captures_then_a_final_commit(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    hold = ck.reserve("u1", 50, idempotency_key="r")
    for index, amount in enumerate((10, 7, 3)):
        charge = ck.commit(hold.id, amount, final=False, idempotency_key=f"part-{index}")
        assert charge.amount == amount
    assert ck.hold(hold.id).status is HoldStatus.ACTIVE
    assert (ck.hold(hold.id).remaining, ck.hold(hold.id).amount_committed) == (30, 20)
    assert _held(ck) == (50, 30)
    with pytest.raises(HoldAmountExceeded) as refused:
        ck.commit(hold.id, 31, idempotency_key="final-too-much")
    assert refused.value.held == 30
    final = ck.commit(hold.id, 5, idempotency_key="final")
    assert final.amount == 5
    assert ck.hold(hold.id).status is HoldStatus.COMMITTED
    assert ck.hold(hold.id).amount_committed == 25
    assert _held(ck) == (75, 0)
    assert ck.audit().ok


def test_a_release_after_captures_returns_only_the_rest(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    hold = ck.reserve("u1", 50, idempotency_key="r")
    ck.commit(hold.id, 20, final=False, idempotency_key="part")
    released = ck.release(hold.id, idempotency_key="release")
    assert released.status is HoldStatus.RELEASED
    assert _held(ck) == (80, 0)
    assert ck.usage_summary("u1").spent == 20
    assert ck.audit().ok


def test_a_hold_captured_in_full_in_parts_closes_with_nothing_to_return(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    hold = ck.reserve("u1", 20, idempotency_key="r")
    ck.commit(hold.id, 20, final=False, idempotency_key="part")
    assert ck.commit(hold.id, 0, idempotency_key="final").amount == 0
    assert _held(ck) == (80, 0)
    assert ck.audit().ok


def test_partial_commits_are_idempotent(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    hold = ck.reserve("u1", 50, idempotency_key="r")
    first = ck.commit(hold.id, 10, final=False, idempotency_key="part")
    again = ck.commit(hold.id, 10, final=False, idempotency_key="part")
    assert (again.id, again.replayed) == (first.id, True)
    assert ck.hold(hold.id).remaining == 40
    with pytest.raises(IdempotencyConflict) as conflict:
        ck.commit(hold.id, 10, final=True, idempotency_key="part")
    assert conflict.value.field == "final"
    with pytest.raises(InvalidRequest):
        ck.commit(hold.id, 0, final=False, idempotency_key="zero-part")


def test_a_partly_committed_hold_times_out_with_the_rest(ck: CreditKit, clock: ManualClock) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    hold = ck.reserve("u1", 50, timeout_seconds=60, idempotency_key="r")
    ck.commit(hold.id, 15, final=False, idempotency_key="part")
    clock.advance(seconds=61)
    assert _held(ck) == (85, 0)
    assert ck.hold(hold.id).status is HoldStatus.EXPIRED
    assert ck.audit().ok
