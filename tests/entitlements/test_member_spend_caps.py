"""Per-member spend caps (DESIGN's workspace members): a charge of a workspace may name the
member who spent, and the workspace may cap what each member spends per month."""

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from creditkit import (
    BudgetExceeded,
    ChargeRequest,
    CreditKit,
    InvalidRequest,
    ManualClock,
)

SEED_004 = Path(__file__).parents[2] / "examples" / "seed_004_orbit_workspaces" / "catalog.yaml"
THREADS = 16


def _team(kit: CreditKit) -> CreditKit:
    for user in ("owner", "editor", "outsider"):
        kit.create_customer(user, subscribe=False)
    kit.create_customer("studio", kind="workspace")
    kit.subscribe("studio", "pro", collected_elsewhere=True)  # 1,000 AI credits a month, 3 seats
    kit.add_member("studio", "owner", "owner")
    kit.add_member("studio", "editor", "editor")
    kit.set_member_spend_cap("studio", "editor", 30)
    return kit


@pytest.fixture
def studio(make_kit: Callable[..., CreditKit]) -> CreditKit:
    return _team(make_kit(catalog=SEED_004))


def test_a_capped_member_is_refused_past_the_cap(studio: CreditKit) -> None:
    assert studio.charge("studio", 20, member="editor", idempotency_key="e1").member == "editor"
    with pytest.raises(BudgetExceeded) as refused:
        studio.charge("studio", 15, member="editor", idempotency_key="e2")
    assert (refused.value.spender, refused.value.cap, refused.value.used) == ("editor", 30, 20)
    assert refused.value.required == 15
    studio.charge("studio", 10, member="editor", idempotency_key="e3")
    studio.charge("studio", 500, member="owner", idempotency_key="o1")  # not capped
    studio.charge("studio", 5, idempotency_key="anon")  # no member named: no member cap
    with pytest.raises(BudgetExceeded):  # the refusal is recorded under its key
        studio.charge("studio", 15, member="editor", idempotency_key="e2")
    assert studio.audit().ok


def test_the_cap_counts_per_month(studio: CreditKit, clock: ManualClock) -> None:
    studio.charge("studio", 30, member="editor", idempotency_key="e1")
    subscription = studio.subscription("studio")
    assert subscription is not None
    clock.set(subscription.current_period_end)
    studio.charge("studio", 30, member="editor", idempotency_key="e2")


def test_a_batch_shares_the_members_room(studio: CreditKit) -> None:
    outcomes = studio.charge_many(
        [ChargeRequest("studio", 12, f"b{n}", member="editor") for n in range(3)]
    )
    assert [type(outcome).__name__ for outcome in outcomes] == [
        "Charge",
        "Charge",
        "BudgetExceeded",
    ]


def test_only_members_of_a_workspace_can_be_named(studio: CreditKit) -> None:
    with pytest.raises(InvalidRequest) as refused:
        studio.charge("studio", 1, member="outsider", idempotency_key="x1")
    assert refused.value.field == "member"
    with pytest.raises(InvalidRequest) as refused:
        studio.charge("owner", 1, member="editor", idempotency_key="x2")
    assert refused.value.field == "workspace"
    with pytest.raises(InvalidRequest) as refused:
        studio.set_member_spend_cap("studio", "outsider", 5)
    assert refused.value.field == "user"


def test_removing_the_cap(studio: CreditKit) -> None:
    studio.set_member_spend_cap("studio", "editor", None)
    studio.charge("studio", 300, member="editor", idempotency_key="e1")


@pytest.mark.postgres
def test_sixteen_threads_never_pass_the_cap(postgres_url: str, clock: ManualClock) -> None:
    kit = _team(CreditKit(postgres_url, catalog=SEED_004, clock=clock))
    errors: list[BaseException] = []
    applied: list[int] = []

    def spend(worker: int) -> None:
        try:
            for attempt in range(4):
                try:
                    kit.charge("studio", 1, member="editor", idempotency_key=f"t{worker}-{attempt}")
                    applied.append(1)
                except BudgetExceeded:
                    pass
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=spend, args=(worker,)) for worker in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert not errors, errors
        assert len(applied) == 30  # 64 attempts of 1 credit against a cap of 30
        assert kit.audit().ok
    finally:
        kit.close()
