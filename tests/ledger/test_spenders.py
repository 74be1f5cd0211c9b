"""Spenders and budgets: a tree under each customer; every budget on the path from a spender up
to the customer is checked and counted in the spend's own transaction."""

from datetime import UTC, datetime

import pytest

from creditkit import (
    BudgetExceeded,
    ChargeRequest,
    CreditKit,
    IdempotencyConflict,
    InvalidRequest,
    ManualClock,
)
from creditkit.ledger.spending import SPENDER_DEPTH_MAX, period_bounds


def _tree(ck: CreditKit) -> None:
    ck.grant("u1", 1_000, idempotency_key="g1")
    ck.create_spender("u1", "team", kind="project")
    ck.create_spender("u1", "agent", kind="agent", parent="team")
    ck.create_spender("u1", "sub", kind="sub_agent", parent="agent")
    ck.create_spender("u1", "sibling", kind="agent", parent="team")


def test_a_spender_is_its_own_idempotency_key(ck: CreditKit) -> None:
    _tree(ck)
    again = ck.create_spender("u1", "agent", kind="agent", parent="team")
    assert (again.parent, again.depth) == ("team", 2)
    with pytest.raises(IdempotencyConflict) as conflict:
        ck.create_spender("u1", "agent", kind="api_key", parent="team")
    assert conflict.value.field == "kind"
    with pytest.raises(IdempotencyConflict) as conflict:
        ck.create_spender("u1", "agent", kind="agent")
    assert conflict.value.field == "parent"
    with pytest.raises(InvalidRequest) as unknown:
        ck.create_spender("u1", "x", kind="agent", parent="ghost")
    assert unknown.value.field == "parent"
    assert [s.id for s in ck.spenders("u1")] == ["team", "agent", "sub", "sibling"]


def test_the_tree_has_a_depth_limit(ck: CreditKit) -> None:
    parent = None
    for depth in range(1, SPENDER_DEPTH_MAX + 1):
        ck.create_spender("u1", f"s{depth}", kind="agent", parent=parent)
        parent = f"s{depth}"
    with pytest.raises(InvalidRequest) as deep:
        ck.create_spender("u1", "too_deep", kind="agent", parent=parent)
    assert deep.value.field == "parent"


def test_every_level_on_the_path_is_checked_and_counted(ck: CreditKit) -> None:
    _tree(ck)
    ck.set_budget("u1", 100, idempotency_key="b-team", spender="team", period="day")
    ck.set_budget("u1", 60, idempotency_key="b-agent", spender="agent", period="day")
    ck.set_budget("u1", 500, idempotency_key="b-u1", period="month")
    charge = ck.charge("u1", 50, spender="sub", idempotency_key="c1")
    assert charge.spender == "sub"
    with pytest.raises(BudgetExceeded) as refused:
        ck.charge("u1", 20, spender="sub", idempotency_key="c2")
    error = refused.value
    assert (error.spender, error.cap, error.used, error.required) == ("agent", 60, 50, 20)
    assert error.resets_at == period_bounds("day", ck.now())[1]
    # The sibling shares the team's budget: 50 of 100 are used.
    ck.charge("u1", 50, spender="sibling", idempotency_key="c3")
    with pytest.raises(BudgetExceeded) as refused:
        ck.charge("u1", 1, spender="sibling", idempotency_key="c4")
    assert refused.value.spender == "team"
    # The customer's own budget counts spending with no spender too.
    assert [b.used for b in ck.budgets("u1")] == [100]
    ck.charge("u1", 400, idempotency_key="c5")
    with pytest.raises(BudgetExceeded) as refused:
        ck.charge("u1", 1, idempotency_key="c6")
    assert refused.value.spender is None
    # A refusal is recorded under its key.
    with pytest.raises(BudgetExceeded):
        ck.charge("u1", 20, spender="sub", idempotency_key="c2")
    assert ck.balance("u1", spender="sub").available == 0
    assert ck.audit().ok


def test_a_batch_counts_its_own_spends(ck: CreditKit) -> None:
    _tree(ck)
    ck.set_budget("u1", 30, idempotency_key="b1", spender="team")
    outcomes = ck.charge_many(
        [ChargeRequest("u1", 12, f"k{n}", spender=("sub", "sibling")[n % 2]) for n in range(3)]
    )
    assert [type(o).__name__ for o in outcomes] == ["Charge", "Charge", "BudgetExceeded"]


def test_budgets_reset_on_their_own_period(ck: CreditKit, clock: ManualClock) -> None:
    _tree(ck)
    clock.set(datetime(2026, 5, 31, 23, 30, tzinfo=UTC))
    ck.set_budget("u1", 10, idempotency_key="h", spender="agent", period="hour")
    ck.set_budget("u1", 25, idempotency_key="m", spender="agent", period="month")
    ck.set_budget("u1", 40, idempotency_key="l", spender="agent", period="lifetime")
    ck.charge("u1", 10, spender="agent", idempotency_key="c1")
    with pytest.raises(BudgetExceeded) as refused:
        ck.charge("u1", 1, spender="agent", idempotency_key="c2")
    assert refused.value.period == "hour"
    assert refused.value.resets_at == datetime(2026, 6, 1, tzinfo=UTC)
    clock.set(datetime(2026, 5, 31, 23, 59, 59, tzinfo=UTC))
    with pytest.raises(BudgetExceeded):
        ck.charge("u1", 1, spender="agent", idempotency_key="c3")
    clock.set(datetime(2026, 6, 1, tzinfo=UTC))  # a new hour and a new month
    ck.charge("u1", 10, spender="agent", idempotency_key="c4")
    clock.advance(hours=1)
    ck.charge("u1", 10, spender="agent", idempotency_key="c5")
    clock.advance(hours=1)
    ck.charge("u1", 5, spender="agent", idempotency_key="c6")
    clock.advance(hours=1)
    with pytest.raises(BudgetExceeded) as refused:  # the month's 25 are used
        ck.charge("u1", 1, spender="agent", idempotency_key="c7")
    assert refused.value.period == "month"
    clock.set(datetime(2026, 7, 1, tzinfo=UTC))
    with pytest.raises(BudgetExceeded) as refused:  # 35 of a lifetime's 40
        ck.charge("u1", 6, spender="agent", idempotency_key="c8")
    assert (refused.value.period, refused.value.resets_at) == ("lifetime", None)


def test_period_boundaries_are_fixed_utc_instants() -> None:
    moment = datetime(2026, 12, 31, 23, 15, tzinfo=UTC)
    assert period_bounds("week", moment) == (
        datetime(2026, 12, 28, tzinfo=UTC),
        datetime(2027, 1, 4, tzinfo=UTC),
    )
    assert period_bounds("month", moment)[1] == datetime(2027, 1, 1, tzinfo=UTC)
    assert period_bounds("day", moment)[0] == datetime(2026, 12, 31, tzinfo=UTC)


def test_an_open_hold_counts_and_its_commit_settles(ck: CreditKit, clock: ManualClock) -> None:
    _tree(ck)
    ck.set_budget("u1", 50, idempotency_key="b1", spender="agent")
    hold = ck.reserve("u1", 40, spender="sub", idempotency_key="r1")
    assert hold.spender == "sub"
    with pytest.raises(BudgetExceeded):
        ck.charge("u1", 20, spender="agent", idempotency_key="c1")
    ck.commit(hold.id, 15, idempotency_key="k1")
    assert [b.used for b in ck.budgets("u1", spender="agent")] == [15]
    second = ck.reserve("u1", 30, spender="sub", idempotency_key="r2")
    ck.release(second.id, idempotency_key="x2")
    third = ck.reserve("u1", 30, spender="sub", idempotency_key="r3", timeout_seconds=60)
    clock.advance(seconds=61)
    assert ck.hold(third.id).status.value == "expired"
    assert [b.used for b in ck.budgets("u1", spender="agent")] == [15]
    ck.charge("u1", 35, spender="agent", idempotency_key="c2")
    assert ck.audit().ok


def test_set_budget_is_idempotent_and_removable(ck: CreditKit) -> None:
    _tree(ck)
    first = ck.set_budget("u1", 5, idempotency_key="b1", spender="agent", period="week")
    assert first is not None and first.cap == 5
    assert ck.set_budget("u1", 5, idempotency_key="b1", spender="agent", period="week") == first
    with pytest.raises(IdempotencyConflict) as conflict:
        ck.set_budget("u1", 6, idempotency_key="b1", spender="agent", period="week")
    assert conflict.value.field == "amount"
    with pytest.raises(InvalidRequest) as bad:
        ck.set_budget("u1", 5, idempotency_key="b2", spender="agent", period="fortnight")
    assert bad.value.field == "period"
    with pytest.raises(InvalidRequest) as unknown:
        ck.set_budget("u1", 5, idempotency_key="b3", spender="ghost")
    assert unknown.value.field == "spender"
    assert ck.set_budget("u1", None, idempotency_key="b4", spender="agent", period="week") is None
    ck.charge("u1", 100, spender="agent", idempotency_key="c1")


def test_history_filters_by_spender_and_subtree(ck: CreditKit) -> None:
    _tree(ck)
    ck.charge("u1", 1, spender="sub", idempotency_key="c1")
    ck.charge("u1", 2, spender="sibling", idempotency_key="c2")
    ck.charge("u1", 4, idempotency_key="c3")
    own = ck.history("u1", spender="agent")
    assert [item.amount for item in own.items] == []
    subtree = ck.history("u1", spender="agent", subtree=True)
    assert [item.amount for item in subtree.items] == [1]
    team = ck.history("u1", spender="team", subtree=True)
    assert [(item.amount, item.spender) for item in team.items] == [(2, "sibling"), (1, "sub")]
