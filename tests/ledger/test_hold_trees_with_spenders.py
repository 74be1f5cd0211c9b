"""Hold trees, extends and partial commits under spenders' budgets: a root hold counts against
its spender's path; a child only against the levels of its own spender's path its parent's path
lacks; an extend gets a reserve's checks; what a hold did not spend goes back exactly, whatever
its partial commits, cascades, expiries and periods."""

from datetime import UTC, datetime

import pytest

from creditkit import (
    BudgetExceeded,
    CreditKit,
    HoldAmountExceeded,
    InsufficientCredits,
    ManualClock,
)


def _used(ck: CreditKit, spender: str | None = None) -> dict[str, int]:
    return {budget.period: int(budget.used) for budget in ck.budgets("u1", spender=spender)}


def _agents(ck: CreditKit) -> None:
    """An orchestrator with a sub-agent under it, and an API key beside them."""
    ck.grant("u1", 1_000, idempotency_key="g1")
    ck.create_spender("u1", "orch", kind="agent")
    ck.create_spender("u1", "sub", kind="sub_agent", parent="orch")
    ck.create_spender("u1", "key", kind="api_key")
    ck.set_budget("u1", 500, idempotency_key="b-u1", period="month")
    ck.set_budget("u1", 300, idempotency_key="b-orch", spender="orch", period="day")
    ck.set_budget("u1", 50, idempotency_key="b-sub", spender="sub", period="day")


def test_a_child_counts_only_its_own_spenders_levels(ck: CreditKit) -> None:
    _agents(ck)
    parent = ck.reserve("u1", 200, spender="orch", idempotency_key="r-orch")
    assert (_used(ck), _used(ck, "orch")) == ({"month": 200}, {"day": 200})
    child = ck.reserve("u1", 40, spender="sub", parent=parent.id, idempotency_key="r-sub")
    assert child.spender == "sub"
    # The parent's levels counted the child's credits when the parent reserved them.
    assert (_used(ck), _used(ck, "orch"), _used(ck, "sub")) == (
        {"month": 200},
        {"day": 200},
        {"day": 40},
    )
    with pytest.raises(BudgetExceeded) as refused:
        ck.reserve("u1", 20, spender="sub", parent=parent.id, idempotency_key="r-sub-2")
    assert (refused.value.spender, refused.value.cap, refused.value.used) == ("sub", 50, 40)
    # A child naming no spender holds as its parent's, and counts against nothing more.
    plain = ck.reserve("u1", 30, parent=parent.id, idempotency_key="r-plain")
    assert plain.spender == "orch"
    assert _used(ck, "sub") == {"day": 40}
    ck.commit(child.id, 25, idempotency_key="c-sub")
    assert _used(ck, "sub") == {"day": 25}
    ck.release(parent.id, idempotency_key="rel-orch")
    # What the tree spent stays counted at every level; the rest is back.
    assert (_used(ck), _used(ck, "orch"), _used(ck, "sub")) == (
        {"month": 25},
        {"day": 25},
        {"day": 25},
    )
    assert ck.audit().ok


def test_a_childs_extend_counts_its_own_levels(ck: CreditKit) -> None:
    _agents(ck)
    parent = ck.reserve("u1", 200, spender="orch", idempotency_key="r-orch")
    child = ck.reserve("u1", 40, spender="sub", parent=parent.id, idempotency_key="r-sub")
    ck.extend(child.id, 10, idempotency_key="x-sub")
    assert _used(ck, "sub") == {"day": 50}
    with pytest.raises(BudgetExceeded) as refused:
        ck.extend(child.id, 1, idempotency_key="x-sub-2")
    assert refused.value.spender == "sub"
    assert _used(ck, "orch") == {"day": 200}
    # The cascade gives each child's levels back what it gave its parent.
    ck.release(parent.id, idempotency_key="rel-orch")
    assert (_used(ck), _used(ck, "orch"), _used(ck, "sub")) == (
        {"month": 0},
        {"day": 0},
        {"day": 0},
    )


def test_a_roots_extend_gets_a_reserves_checks(ck: CreditKit) -> None:
    _agents(ck)
    ck.grant("u1", 100, idempotency_key="g-images", applies_to=["images"])
    hold = ck.reserve("u1", 250, spender="orch", action="text", idempotency_key="r")
    with pytest.raises(BudgetExceeded) as refused:
        ck.extend(hold.id, 60, idempotency_key="x-budget")
    assert (refused.value.spender, refused.value.used) == ("orch", 250)
    ck.set_budget("u1", 5_000, idempotency_key="b-orch-2", spender="orch", period="day")
    ck.set_budget("u1", 5_000, idempotency_key="b-u1-2", period="month")
    # 750 unscoped credits are left for text; the images grant does not apply to the hold.
    with pytest.raises(InsufficientCredits) as short:
        ck.extend(hold.id, 751, idempotency_key="x-scope")
    assert short.value.not_applicable == 100
    ck.extend(hold.id, 740, idempotency_key="x-ok")
    assert (_used(ck), _used(ck, "orch")) == ({"month": 990}, {"day": 990})
    assert ck.balance("u1", action="images").available == 100 + 10
    assert ck.audit().ok


def test_partial_commits_leave_budget_use_exact(ck: CreditKit) -> None:
    _agents(ck)
    hold = ck.reserve("u1", 100, spender="orch", idempotency_key="r")
    ck.commit(hold.id, 30, final=False, idempotency_key="p1")
    ck.commit(hold.id, 20, final=False, idempotency_key="p2")
    assert _used(ck, "orch") == {"day": 100}
    ck.extend(hold.id, 50, idempotency_key="x")
    ck.commit(hold.id, 40, idempotency_key="final")
    assert (_used(ck), _used(ck, "orch")) == ({"month": 90}, {"day": 90})
    assert ck.balance("u1").available == 910
    assert ck.audit().ok


def test_a_tree_that_expires_gives_everything_back(ck: CreditKit, clock: ManualClock) -> None:
    _agents(ck)
    parent = ck.reserve("u1", 200, spender="orch", timeout_seconds=60, idempotency_key="r")
    child = ck.reserve("u1", 40, spender="sub", parent=parent.id, idempotency_key="r-sub")
    ck.commit(child.id, 10, final=False, idempotency_key="p-sub")
    clock.advance(seconds=61)
    assert (_used(ck), _used(ck, "orch"), _used(ck, "sub")) == (
        {"month": 10},
        {"day": 10},
        {"day": 10},
    )
    assert ck.hold(child.id).status.value == "expired"
    assert ck.audit().ok


def test_what_is_given_back_goes_to_the_periods_it_was_counted_in(
    ck: CreditKit, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 6, 1, 10, 50, tzinfo=UTC))
    ck.grant("u1", 1_000, idempotency_key="g1")
    ck.create_spender("u1", "agent", kind="agent")
    ck.set_budget("u1", 100, idempotency_key="b-hour", spender="agent", period="hour")
    hold = ck.reserve("u1", 60, spender="agent", timeout_seconds=3_600, idempotency_key="r")
    clock.set(datetime(2026, 6, 1, 11, 10, tzinfo=UTC))
    ck.extend(hold.id, 70, idempotency_key="x")
    assert _used(ck, "agent") == {"hour": 70}
    # 80 spent: the oldest of what it counted (the 10:00 hour's 60, then 20 of 11:00's 70).
    ck.commit(hold.id, 80, idempotency_key="c")
    assert _used(ck, "agent") == {"hour": 20}


def test_a_partial_commit_above_the_hold_takes_debt_only_when_asked(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    ck.create_spender("u1", "agent", kind="agent")
    ck.set_budget("u1", 1_000, idempotency_key="b", spender="agent", period="day")
    ck.set_debt_limit("u1", 50, idempotency_key="d")
    hold = ck.reserve("u1", 80, spender="agent", idempotency_key="r")
    ck.commit(hold.id, 50, final=False, idempotency_key="p1")
    with pytest.raises(HoldAmountExceeded):
        ck.commit(hold.id, 60, final=False, idempotency_key="p2")
    # 30 left in the hold, 20 unheld credits, then 10 of debt.
    charged = ck.commit(hold.id, 60, final=False, allow_debt=True, idempotency_key="p3")
    assert (charged.amount, charged.debt) == (60, 10)
    assert ck.commit(hold.id, 60, final=False, allow_debt=True, idempotency_key="p3") == charged
    held = ck.hold(hold.id)
    assert (held.status.value, held.remaining, held.amount_committed) == ("active", 0, 80)
    ck.commit(hold.id, 0, idempotency_key="final")
    balance = ck.balance("u1")
    assert (balance.available, balance.debt) == (0, 10)
    assert _used(ck, "agent") == {"day": 110}
    assert ck.audit().ok


def test_a_commit_answers_with_its_holds_spender(ck: CreditKit) -> None:
    """A commit's answer names the hold's spender (a child's: its own, or its parent's when it
    named none), as its history line and usage do; a replay answers the same."""
    _agents(ck)
    parent = ck.reserve("u1", 100, spender="orch", idempotency_key="r-orch")
    child = ck.reserve("u1", 20, spender="sub", parent=parent.id, idempotency_key="r-sub")
    plain = ck.reserve("u1", 10, parent=parent.id, idempotency_key="r-plain")
    assert ck.commit(child.id, 5, final=False, idempotency_key="c1").spender == "sub"
    assert ck.commit(child.id, 5, idempotency_key="c2").spender == "sub"
    assert ck.commit(plain.id, 10, idempotency_key="c3").spender == "orch"
    assert ck.commit(parent.id, 30, idempotency_key="c4").spender == "orch"
    assert ck.commit(child.id, 5, idempotency_key="c2").spender == "sub"
    assert ck.commit(parent.id, 30, idempotency_key="c4").spender == "orch"
    solo = ck.reserve("u1", 10, spender="key", idempotency_key="r-key")
    assert ck.commit(solo.id, 7, idempotency_key="c5").spender == "key"
    assert ck.commit(solo.id, 7, idempotency_key="c5").spender == "key"
    above = ck.reserve("u1", 5, spender="key", idempotency_key="r-above")
    assert ck.commit(above.id, 8, idempotency_key="c6", allow_debt=True).spender == "key"
