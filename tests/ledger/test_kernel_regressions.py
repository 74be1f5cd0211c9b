"""The kernel's regressions: each case was reproduced on main at d2d6a5d (the issue "One ledger
kernel"), and each fails there. Due work is a timeline, applied in the order of its due instants
and each as of its own instant, so when someone looks never changes the answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from creditkit import (
    ChargeRequest,
    CreditKit,
    InsufficientCredits,
    InvalidAmount,
    InvalidRequest,
    ManualClock,
)
from creditkit.catalog import parse_catalog
from creditkit.store import tables

MakeKit = Callable[..., CreditKit]
START = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)

ROLLOVER_ALL = """
units: {credits: {scale: 0}}
plans:
  free: {name: Free, default: true, rank: 0, prices: {month: {amount: 0, currency: USD}},
         allowance: {amount: 100, unit: credits, rollover: all}}
"""

NEVER_EXPIRING = """
units: {credits: {scale: 0}}
plans:
  free: {name: Free, default: true, rank: 0, prices: {month: {amount: 0, currency: USD}},
         allowance: {amount: 50, unit: credits, expires: never}}
"""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def kit_on(make_kit: MakeKit, catalog: str, customer: str = "ada") -> CreditKit:
    kit = make_kit(catalog=parse_catalog(catalog))
    kit.create_customer(customer)
    return kit


def available(kit: CreditKit, customer: str = "ada") -> int:
    return int(kit.balance(customer).available)


# 1. A customer untouched across two rollover boundaries was bricked: the rolled grant was
#    posted as of the read, with an expiry already behind it (ck_grants_expires_after_start).


def test_a_customer_untouched_across_two_rollover_boundaries_reads_and_charges(
    make_kit: MakeKit, clock: ManualClock
) -> None:
    kit = kit_on(make_kit, ROLLOVER_ALL)
    clock.set(datetime(2026, 3, 15, tzinfo=UTC))  # past Feb 1 and Mar 1, nobody looked
    assert available(kit) == 300  # every month's 100, all rolled over
    kit.charge("ada", 10, idempotency_key="c1")
    kit.tick()
    assert available(kit) == 290
    assert kit.audit().ok


# 2. Missed cycles were lost: a period wholly in the past was skipped while catching up.


def test_a_never_expiring_allowance_read_late_holds_every_period(
    make_kit: MakeKit, clock: ManualClock
) -> None:
    late = kit_on(make_kit, NEVER_EXPIRING)
    clock.set(START + timedelta(days=75))  # two and a half months, first read now
    assert available(late) == 150


def test_fourteen_months_untouched_catch_up_exactly(make_kit: MakeKit, clock: ManualClock) -> None:
    kit = kit_on(make_kit, NEVER_EXPIRING)
    clock.set(datetime(2027, 3, 15, tzinfo=UTC))
    assert available(kit) == 50 * 15  # January 2026 to March 2027
    assert kit.audit().ok


# 3. Order of due work: the sweep ran the renewal and rollover before an earlier hold timeout.


@pytest.mark.parametrize("first_read_at", [timedelta(minutes=-5), timedelta(minutes=5)])
def test_a_hold_that_timed_out_before_a_boundary_is_rolled_over_whenever_read(
    make_kit: MakeKit, clock: ManualClock, first_read_at: timedelta
) -> None:
    kit = kit_on(make_kit, ROLLOVER_ALL)
    boundary = datetime(2026, 2, 1, tzinfo=UTC)
    clock.set(boundary - timedelta(minutes=10))
    kit.reserve("ada", 30, idempotency_key="h1", timeout_seconds=60)
    clock.set(boundary + first_read_at)
    kit.balance("ada")
    clock.set(boundary + timedelta(minutes=5))
    assert available(kit) == 200


# 5. Metadata nested 256 deep was written, then failed the answer and every history read.


def test_metadata_deeper_than_the_limit_is_refused_before_anything_is_written(
    ck: CreditKit,
) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    deep: dict[str, object] = {}
    for _level in range(256):
        deep = {"a": deep}
    with pytest.raises(InvalidRequest) as refused:
        ck.charge("u1", 1, idempotency_key="deep", metadata=deep)
    assert refused.value.field.startswith("metadata")
    assert available(ck, "u1") == 100
    with pytest.raises(InvalidRequest) as refused:
        ck.charge("u1", 1, idempotency_key="long-key", metadata={"k" * 129: 1})
    assert refused.value.field == "metadata"
    assert len(ck.history("u1").items) == 1


# 6. One unrepresentable amount (decimal.Overflow) failed every item of a batch.


def test_an_unrepresentable_amount_is_its_own_items_invalid_amount(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    with pytest.raises(InvalidAmount):
        ck.charge("u1", "1e1000000", idempotency_key="huge")
    outcomes = ck.charge_many(
        [
            ChargeRequest("u1", 1, idempotency_key="b1"),
            ChargeRequest("u1", "1e1000000", idempotency_key="b2"),
            ChargeRequest("u1", "1e-1000000", idempotency_key="b3"),
            ChargeRequest("u1", 2, idempotency_key="b4"),
        ]
    )
    assert [type(outcome).__name__ for outcome in outcomes] == [
        "Charge",
        "InvalidAmount",
        "InvalidAmount",
        "Charge",
    ]
    assert available(ck, "u1") == 97


# 7. A backlog of timed-out holds was swept in the request's one transaction, holding the
#    write lock throughout: now it is caught up in bounded transactions, and a charge takes
#    only its own share of it (catch_up.py).


def test_a_backlog_of_timed_out_holds_is_caught_up_in_bounded_transactions(
    ck: CreditKit, clock: ManualClock
) -> None:
    from creditkit.ledger.timeline import CHARGE_SWEEP_ITEMS_MAX, SWEEP_ITEMS_PER_TRANSACTION_MAX

    holds = SWEEP_ITEMS_PER_TRANSACTION_MAX * 2 + 7
    ck.grant("u1", holds + 10, idempotency_key="g1")
    for index in range(holds):
        ck.reserve("u1", 1, idempotency_key=f"h{index}", timeout_seconds=60)
    commits: list[int] = []

    def count(_connection: object) -> None:
        commits.append(1)

    engine = ck._database.engine
    sa.event.listen(engine, "commit", count)
    clock.advance(minutes=5)
    charge = ck.charge("u1", 10, idempotency_key="after")
    # The charge swept its share and counted the rest as given back, in one transaction.
    assert (len(commits), charge.available_after) == (1, holds)
    commits.clear()
    assert available(ck, "u1") == holds
    sa.event.remove(engine, "commit", count)
    # The read caught the rest up in transactions of SWEEP_ITEMS_PER_TRANSACTION_MAX timeouts
    # (and committed its own two reads: the one that found the backlog, the balance).
    rest = holds - CHARGE_SWEEP_ITEMS_MAX
    assert len(commits) == -(-rest // SWEEP_ITEMS_PER_TRANSACTION_MAX) + 2
    assert ck.balance("u1").held == 0
    assert ck.audit().ok


# 9. A history page read its commits' holds one by one (204 statements for 200 rows).


def test_a_history_page_costs_the_same_statements_whatever_it_holds(ck: CreditKit) -> None:
    ck.grant("u1", 10_000, idempotency_key="g1")

    def statements_for_page(commits: int) -> int:
        for index in range(commits):
            hold = ck.reserve("u1", 2, idempotency_key=f"r{commits}-{index}")
            ck.commit(hold.id, 1, idempotency_key=f"c{commits}-{index}")
        counted: list[str] = []

        def count(*arguments: object) -> None:
            counted.append(str(arguments[2]))

        sa.event.listen(ck._database.engine, "before_cursor_execute", count)
        try:
            page = ck.history("u1", limit=200)
        finally:
            sa.event.remove(ck._database.engine, "before_cursor_execute", count)
        assert len(page.items) >= commits
        return len(counted)

    assert statements_for_page(5) == statements_for_page(60)


# 10. Replays rested on constructor keyword arguments: a renamed field made the stored refusal
#     a TypeError forever.


def test_a_stored_refusal_replays_even_when_its_fields_no_longer_match(ck: CreditKit) -> None:
    with pytest.raises(InsufficientCredits) as first:
        ck.charge("u1", 5, idempotency_key="short")
    with ck._database.engine.begin() as connection:
        row = connection.execute(
            sa.select(tables.transactions.c.id, tables.transactions.c.outcome).where(
                tables.transactions.c.idempotency_key == "short"
            )
        ).one()
        outcome = json.loads(row.outcome)
        assert outcome["version"] >= 2 and outcome["code"] == "insufficient_credits"
        # What a later release that renamed a field would find: an unknown field, a missing one.
        outcome["fields"]["renamed_field"] = outcome["fields"].pop("required")
        # Rows are immutable (the database refuses updates): the test lifts that to stand in
        # for a row written by an older release.
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("DROP TRIGGER transactions_no_update")
        else:
            connection.exec_driver_sql(
                "ALTER TABLE transactions DISABLE TRIGGER transactions_immutable"
            )
        connection.execute(
            tables.transactions.update()
            .where(tables.transactions.c.id == row.id)
            .values(outcome=json.dumps(outcome))
        )
    with pytest.raises(InsufficientCredits) as again:
        ck.charge("u1", 5, idempotency_key="short")
    assert again.value.customer == first.value.customer


def test_unique_violations_are_told_by_code_not_by_message() -> None:
    import sqlite3

    from creditkit.store.database import is_unique_violation

    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE transactions (idempotency_key TEXT UNIQUE, note TEXT)")
    connection.execute("INSERT INTO transactions VALUES ('k', 'idempotency_key')")
    with pytest.raises(sqlite3.IntegrityError) as duplicate:
        connection.execute("INSERT INTO transactions VALUES ('k', 'x')")
    assert is_unique_violation(duplicate.value, "transactions", "idempotency_key")
    connection.execute("CREATE TABLE other (note TEXT NOT NULL CHECK (note != 'idempotency_key'))")
    with pytest.raises(sqlite3.IntegrityError) as not_unique:
        connection.execute("INSERT INTO other VALUES ('idempotency_key')")
    assert not is_unique_violation(not_unique.value, "transactions", "idempotency_key")


# 11. A plan paid with credits raised KeyError at the boundary after a cancel.

PAID_IN_CREDITS = """
units: {credits: {scale: 0}}
plans:
  free: {name: Free, default: true, rank: 0, prices: {month: {amount: 0, currency: USD}},
         allowance: {amount: 10, unit: credits}}
  premium: {name: Premium, rank: 2, prices: {month: {amount: 1200, currency: USD}},
            prices_in_credits: {month: {amount: 100, unit: credits}},
            allowance: {amount: 500, unit: credits}}
  cash: {name: Cash only, rank: 1, prices: {month: {amount: 2000, currency: USD}},
         allowance: {amount: 900, unit: credits}}
"""


@pytest.mark.parametrize("leave", ["cancel", "change"])
def test_a_plan_paid_in_credits_left_at_its_boundary_moves_on(
    make_kit: MakeKit, clock: ManualClock, leave: str
) -> None:
    kit = kit_on(make_kit, PAID_IN_CREDITS)
    kit.grant("ada", 1000, idempotency_key="g1", source="purchase")
    kit.subscribe("ada", "premium", pay_with="credits")
    if leave == "cancel":
        kit.cancel("ada")
    else:
        kit.change_plan("ada", "cash")  # a downgrade: at the period's end
    clock.set(datetime(2026, 2, 15, tzinfo=UTC))
    subscription = kit.subscription("ada")
    assert subscription is not None
    assert subscription.plan == ("free" if leave == "cancel" else "cash")
    assert subscription.pay_with == "money"
    assert kit.audit().ok


# The one posting primitive checks every transaction right before writing, with raising checks
# that ``python -O`` keeps.

POSTING_CHECKS = """
import sys
from creditkit import CreditKit, InvariantViolation
kit = CreditKit(sys.argv[1], units={"credits": 0})
kit.create_customer("u1")
kit.grant("u1", 10, idempotency_key="g1")
grant = kit.balance("u1").grants[0].grant_id
ledger = kit._ledger
issuance = ledger.system_account("issuance", "credits")
refused = []
for legs in ([], [(grant, -1), (issuance, 2)], [(grant, 0), (issuance, 0)],
             [(grant, -1), (grant, 1)], [(grant, -10**16), (issuance, 10**16)]):
    try:
        with kit._database.engine.begin() as connection:
            ledger.post_many(connection, [(1, "credits", legs)])
    except InvariantViolation as error:
        refused.append(error.rule)
print(",".join(refused))
"""


def test_the_posting_primitive_refuses_what_breaks_a_rule_even_under_python_o(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-O", "-c", POSTING_CHECKS, f"sqlite:///{tmp_path}/post.db"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip().split(",") == [
        "legs",
        "balanced",
        "no zero leg",
        "one leg per account",
        "amount within limits",
    ]


def test_timed_out_holds_are_closed_in_statements_that_do_not_grow_with_them(
    ck: CreditKit, clock: ManualClock
) -> None:
    """Set-based: closing 10 or 200 timed-out holds takes the same statements."""

    def statements_to_close(holds: int) -> int:
        customer = f"c{holds}"
        ck.create_customer(customer)
        ck.grant(customer, holds, idempotency_key=f"g-{customer}")
        for index in range(holds):
            ck.reserve(customer, 1, idempotency_key=f"h-{customer}-{index}", timeout_seconds=60)
        clock.advance(minutes=5)
        counted: list[object] = []

        def count(*_arguments: object) -> None:
            counted.append(1)

        sa.event.listen(ck._database.engine, "before_cursor_execute", count)
        try:
            assert ck.tick().holds_expired == holds
        finally:
            sa.event.remove(ck._database.engine, "before_cursor_execute", count)
        assert available(ck, customer) == holds
        return len(counted)

    assert statements_to_close(10) == statements_to_close(200)
    assert ck.audit().ok


def test_a_conflict_names_the_field_the_caller_changed(ck: CreditKit) -> None:
    from creditkit import IdempotencyConflict

    ck.grant("u1", 100, idempotency_key="g1")
    ck.charge("u1", 10, idempotency_key="c1", action="generate")
    with pytest.raises(IdempotencyConflict) as conflict:
        ck.charge("u1", 1, idempotency_key="c1", action="chat")
    assert conflict.value.field == "action"
    with pytest.raises(IdempotencyConflict) as conflict:
        ck.create_customer("u1", kind="workspace")
    assert (conflict.value.field, conflict.value.idempotency_key) == ("kind", "u1")
