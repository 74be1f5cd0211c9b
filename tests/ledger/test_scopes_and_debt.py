"""Scoped credits (``applies_to``) and debt taken on purpose (``allow_debt``), repaid first by
the next grant."""

import pytest

from creditkit import (
    CreditKit,
    HoldAmountExceeded,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidRequest,
)


def test_burn_down_skips_grants_that_do_not_apply(ck: CreditKit) -> None:
    images = ck.grant("u1", 50, idempotency_key="g1", applies_to=["generate_image"], priority=0)
    assert images.applies_to == ("generate_image",)
    ck.grant("u1", 30, idempotency_key="g2")
    text = ck.charge("u1", 20, action="ask_anything", idempotency_key="c1")
    assert [draw.grant_id for draw in text.draws] != [images.id]
    image = ck.charge("u1", 20, action="generate_image", idempotency_key="c2")
    assert [draw.grant_id for draw in image.draws] == [images.id]  # priority 0 goes first
    assert ck.balance("u1").available == 40
    assert ck.balance("u1", action="ask_anything").available == 10
    assert ck.balance("u1", action="generate_image").available == 40
    with pytest.raises(InsufficientCredits) as short:
        ck.charge("u1", 11, action="ask_anything", idempotency_key="c3")
    assert (short.value.available, short.value.not_applicable) == (10, 30)
    assert "do not apply" in str(short.value)
    # A charge naming no action may use only credits that apply to any spending.
    assert ck.balance("u1", action=None).available == 40
    with pytest.raises(InsufficientCredits):
        ck.charge("u1", 11, idempotency_key="c4")
    assert ck.audit().ok


def test_a_hold_draws_only_what_applies(ck: CreditKit) -> None:
    ck.grant("u1", 50, idempotency_key="g1", applies_to=["generate_image"])
    with pytest.raises(InsufficientCredits):
        ck.reserve("u1", 10, action="ask_anything", idempotency_key="r1")
    hold = ck.reserve("u1", 10, action="generate_image", idempotency_key="r2")
    assert hold.draws[0].amount == 10


def test_scoped_credits_are_not_transferred(ck: CreditKit) -> None:
    ck.grant("u1", 50, idempotency_key="g1", applies_to=["generate_image"], transferable=True)
    with pytest.raises(InsufficientCredits):
        ck.transfer("u1", "u2", 10, idempotency_key="t1")


def test_applies_to_is_checked_and_part_of_the_request(ck: CreditKit) -> None:
    with pytest.raises(InvalidRequest) as bad:
        ck.grant("u1", 5, idempotency_key="g1", applies_to="generate_image")  # type: ignore[arg-type]
    assert bad.value.field == "applies_to"
    with pytest.raises(InvalidRequest):
        ck.grant("u1", 5, idempotency_key="g1", applies_to=[])
    ck.grant("u1", 5, idempotency_key="g2", applies_to=["a"])
    with pytest.raises(IdempotencyConflict) as conflict:
        ck.grant("u1", 5, idempotency_key="g2", applies_to=["b"])
    assert conflict.value.field == "applies_to"


def test_no_debt_without_a_limit(ck: CreditKit) -> None:
    ck.grant("u1", 5, idempotency_key="g1")
    with pytest.raises(InsufficientCredits):
        ck.charge("u1", 8, idempotency_key="c1", allow_debt=True)
    assert ck.balance("u1").debt == 0


def test_debt_within_the_limit_then_repaid_by_the_next_grant(ck: CreditKit) -> None:
    ck.grant("u1", 5, idempotency_key="g1")
    ck.set_debt_limit("u1", 10, idempotency_key="d1")
    with pytest.raises(InsufficientCredits):  # only on purpose
        ck.charge("u1", 8, idempotency_key="c1")
    charge = ck.charge("u1", 8, idempotency_key="c2", allow_debt=True)
    assert (charge.amount, charge.debt) == (8, 3)
    balance = ck.balance("u1")
    assert (balance.available, balance.debt) == (0, 3)
    with pytest.raises(InsufficientCredits) as short:  # 7 of the limit left
        ck.charge("u1", 8, idempotency_key="c3", allow_debt=True)
    assert short.value.available == 7
    ck.charge("u1", 7, idempotency_key="c4", allow_debt=True)
    assert ck.balance("u1").debt == 10
    grant = ck.grant("u1", 4, idempotency_key="g2")
    assert grant.debt_repaid == 4
    assert (ck.balance("u1").available, ck.balance("u1").debt) == (0, 6)
    ck.grant("u1", 20, idempotency_key="g3")
    assert (ck.balance("u1").available, ck.balance("u1").debt) == (14, 0)
    kinds = [item.kind.value for item in ck.history("u1").items[:4]]
    assert kinds == ["debt_repayment", "grant", "debt_repayment", "grant"]
    assert ck.audit().ok


def test_a_replayed_debt_charge_answers_its_first_outcome(ck: CreditKit) -> None:
    ck.set_debt_limit("u1", 10, idempotency_key="d1")
    first = ck.charge("u1", 4, idempotency_key="c1", allow_debt=True)
    again = ck.charge("u1", 4, idempotency_key="c1", allow_debt=True)
    assert (again.id, again.replayed) == (first.id, True)
    assert ck.balance("u1").debt == 4
    with pytest.raises(IdempotencyConflict) as conflict:
        ck.charge("u1", 4, idempotency_key="c1")
    assert conflict.value.field == "allow_debt"


def test_commit_above_the_hold(ck: CreditKit) -> None:
    ck.grant("u1", 10, idempotency_key="g1")
    hold = ck.reserve("u1", 8, idempotency_key="r1")
    with pytest.raises(HoldAmountExceeded):
        ck.commit(hold.id, 11, idempotency_key="k0")
    other = ck.reserve("u1", 2, idempotency_key="r2")
    ck.set_debt_limit("u1", 5, idempotency_key="d1")
    committed = ck.commit(hold.id, 11, idempotency_key="k1", allow_debt=True)
    assert (committed.amount, committed.debt) == (11, 3)
    assert ck.balance("u1").debt == 3
    replay = ck.commit(hold.id, 11, idempotency_key="k1", allow_debt=True)
    assert (replay.debt, replay.replayed) == (3, True)
    ck.release(other.id, idempotency_key="x2")
    assert ck.audit().ok


def test_nothing_else_goes_below_zero(ck: CreditKit) -> None:
    ck.set_debt_limit("u1", 10, idempotency_key="d1")
    with pytest.raises(InsufficientCredits):
        ck.reserve("u1", 5, idempotency_key="r1")
    with pytest.raises(InsufficientCredits):
        ck.transfer("u1", "u2", 5, idempotency_key="t1")
    with pytest.raises(InsufficientCredits):
        ck.remove_credits("u1", 5, idempotency_key="a1")
    assert ck.balance("u1").debt == 0


def test_the_database_lets_only_the_debt_account_below_zero(ck: CreditKit) -> None:
    """What the posting primitive checks, the database enforces too: a debt account never
    above zero, a grant never below it (an entry breaking either fails its statement)."""
    import sqlalchemy as sa

    from creditkit.store import tables
    from creditkit.store.flavor import ENTRY_IDS_PER_TRANSACTION

    ck.set_debt_limit("u1", 10, idempotency_key="d1")
    ck.charge("u1", 4, idempotency_key="c1", allow_debt=True)
    with ck.database.read() as connection:
        debt_id, issuance_id = (
            connection.execute(
                sa.select(tables.accounts.c.id).where(
                    tables.accounts.c.kind == kind, tables.accounts.c.unit == "credits"
                )
            ).scalar_one()
            for kind in ("debt", "issuance")
        )
    for account, amount in ((debt_id, 5), (debt_id, 4)):
        with ck.database.engine.connect() as connection, connection.begin():
            transaction_id = connection.execute(
                tables.transactions.insert()
                .values(
                    idempotency_key=f"raw-{amount}",
                    kind="adjustment",
                    status="applied",
                    customer_id=1,
                    unit="credits",
                    amount=amount,
                    request="{}",
                    metadata={},
                    created_at=ck.now(),
                )
                .returning(tables.transactions.c.id)
            ).scalar_one()
            insert = tables.entries.insert()
            rows = [
                {"transaction_id": transaction_id, "account_id": account, "unit": "credits",
                 "amount": amount},
                {"transaction_id": transaction_id, "account_id": issuance_id, "unit": "credits",
                 "amount": -amount},
            ]  # fmt: skip
            if connection.dialect.name == "sqlite":
                # SQLite's entries are clustered by transaction and give no id of their own.
                first = transaction_id * ENTRY_IDS_PER_TRANSACTION
                rows = [{**row, "id": first + leg} for leg, row in enumerate(rows)]
            if amount == 5:
                with pytest.raises(sa.exc.IntegrityError):
                    connection.execute(insert, rows)
                connection.rollback()
            else:
                connection.execute(insert, rows)  # repaying exactly what is owed is fine
    assert ck.balance("u1").debt == 0
