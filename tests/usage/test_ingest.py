"""ingest: usage events priced by the catalog and charged in one transaction, one outcome each,
exactly once per idempotency key."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from creditkit import (
    BudgetExceeded,
    Charge,
    CreditKit,
    CreditKitError,
    InsufficientCredits,
    InvalidRequest,
)
from creditkit.catalog import Catalog, UnknownAction
from creditkit.usage.service import INGEST_EVENTS_MAX

THREADS = 8


def _event(key: str, action: str = "ask_anything", **fields: Any) -> dict[str, Any]:
    return {"customer": "u1", "action": action, "idempotency_key": key, **fields}


def test_events_are_priced_by_the_catalog(kit: CreditKit) -> None:
    kit.grant("u1", 5, unit="tokens", idempotency_key="tokens")
    outcomes = kit.ingest(
        [
            _event("e1", "generate_image", quantity=3, metadata={"model": "flux"}),
            _event("e2"),
            _event("e3", "embed", quantity=2),
        ]
    )
    charges = [outcome for outcome in outcomes if isinstance(outcome, Charge)]
    assert [(c.action, c.amount, c.unit) for c in charges] == [
        ("generate_image", 15, "credits"),
        ("ask_anything", 1, "credits"),
        ("embed", Decimal("0.50"), "tokens"),
    ]
    assert charges[0].metadata == {"model": "flux"}


def test_each_event_gets_its_own_outcome(kit: CreditKit) -> None:
    kit.grant("u1", "1.00", unit="tokens", idempotency_key="tokens")
    outcomes = kit.ingest(
        [
            _event("ok-1", "run_task", quantity=10),
            _event("unknown", "teleport"),
            _event("too-much", "generate_image", quantity=1_000),
            _event("bad-quantity", quantity=0),
            _event("ok-2", "embed", quantity=4),
        ]
    )
    assert isinstance(outcomes[0], Charge) and outcomes[0].amount == 30
    assert isinstance(outcomes[1], UnknownAction)
    assert outcomes[1].field == "events[1].action"
    assert isinstance(outcomes[2], InsufficientCredits)
    assert isinstance(outcomes[3], InvalidRequest) and outcomes[3].field == "events[3].quantity"
    assert isinstance(outcomes[4], Charge) and str(outcomes[4].amount) == "1.00"
    assert kit.balance("u1").available == 70


def test_a_replay_returns_the_first_outcomes(kit: CreditKit) -> None:
    events = [_event("r1", "run_task", quantity=30), _event("r2", "run_task", quantity=30)]
    first = kit.ingest(events)
    assert isinstance(first[0], Charge) and isinstance(first[1], InsufficientCredits)
    kit.grant("u1", 1_000, idempotency_key="top-up")
    again = kit.ingest(events)
    assert isinstance(again[0], Charge) and again[0].id == first[0].id
    assert isinstance(again[1], InsufficientCredits)  # the refusal is the recorded outcome
    assert kit.balance("u1").available == 1_000 + 10


def test_malformed_events_name_their_place(kit: CreditKit) -> None:
    outcomes = kit.ingest(
        [
            "not an event",
            {"customer": "u1", "action": "ask_anything"},
            _event("extra", colour="blue"),
            _event("meta", metadata={1: "x"}),
            _event("bool", quantity=True),
            _event("", "ask_anything"),
        ]
    )
    fields = [outcome.field for outcome in outcomes if isinstance(outcome, InvalidRequest)]
    assert fields == [
        "events[0]",
        "events[1].idempotency_key",
        "events[2].colour",
        "events[3].metadata",
        "events[4].quantity",
        "events[5].idempotency_key",
    ]


def test_a_member_is_checked_like_a_charge_naming_one(kit: CreditKit) -> None:
    kit.add_member("w1", "u1", "owner")
    kit.set_member_spend_cap("w1", "u1", 3)
    outcomes = kit.ingest(
        [
            {"customer": "w1", "action": "ask_anything", "idempotency_key": "m1", "member": "u1"},
            {"customer": "w1", "action": "run_task", "idempotency_key": "m2", "member": "u1"},
            {"customer": "w1", "action": "ask_anything", "idempotency_key": "m3", "member": "u2"},
        ]
    )
    assert isinstance(outcomes[0], Charge) and outcomes[0].member == "u1"
    assert isinstance(outcomes[1], BudgetExceeded)
    assert isinstance(outcomes[2], InvalidRequest) and outcomes[2].field == "events[2].member"


def test_refusals_alone_are_ingest_s_errors_by_position(kit: CreditKit) -> None:
    """``ingest_refusals`` charges as ``ingest`` does and names the same refusals, in place."""
    kit.add_member("w1", "u1", "owner")
    kit.set_member_spend_cap("w1", "u1", 3)

    def events(run: str) -> list[dict[str, Any]]:
        return [
            _event(f"{run}-ok", "run_task", quantity=2),
            _event(f"{run}-unknown", "teleport"),
            _event(f"{run}-too-much", "generate_image", quantity=1_000),
            {"customer": "w1", "action": "ask_anything", "idempotency_key": f"{run}-m",
             "member": "u2"},
            _event(f"{run}-bad-quantity", quantity=0),
            _event(f"{run}-ok-2"),
        ]  # fmt: skip

    outcomes = kit.ingest(events("full"))
    refused = kit.ingest_refusals(events("refusals"))
    assert sorted(refused) == [1, 2, 3, 4]
    for at, error in refused.items():
        expected = outcomes[at]
        assert isinstance(expected, CreditKitError)
        assert type(error) is type(expected) and error.code == expected.code
        assert getattr(error, "field", None) == getattr(expected, "field", None)
    assert isinstance(refused[3], InvalidRequest) and refused[3].field == "events[3].member"
    assert kit.balance("u1").available == 100 - 2 * (6 + 1)
    # A replay charges nothing again and names the same refusals.
    assert sorted(kit.ingest_refusals(events("refusals"))) == [1, 2, 3, 4]
    assert kit.ingest_refusals([]) == {}
    assert kit.balance("u1").available == 100 - 2 * (6 + 1)


def test_the_batch_is_bounded(kit: CreditKit) -> None:
    assert kit.ingest([]) == []
    with pytest.raises(InvalidRequest) as refused:
        kit.ingest([_event(f"k{n}") for n in range(INGEST_EVENTS_MAX + 1)])
    assert refused.value.field == "events"
    assert kit.balance("u1").available == 100  # nothing was charged


def test_ingest_needs_a_catalog(make_kit: Callable[..., CreditKit]) -> None:
    bare = make_kit()
    with pytest.raises(InvalidRequest) as refused:
        bare.ingest([_event("k")])
    assert refused.value.field == "catalog"


def test_concurrent_ingests_of_one_batch_charge_it_once(
    postgres_url: str, usage_catalog: Catalog
) -> None:
    """Workers retrying one batch at once (a queue redelivering it): every key charges once,
    and every worker gets the same outcomes."""
    kits = [CreditKit(postgres_url, catalog=usage_catalog) for _ in range(THREADS)]
    kits[0].create_customer("u1")
    events = [_event(f"k{n}", quantity=1) for n in range(90)]
    results: list[list[Any]] = [[] for _ in kits]
    start = threading.Barrier(THREADS)

    def work(index: int) -> None:
        start.wait()
        results[index] = kits[index].ingest(events)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [[outcome.id for outcome in outcomes] for outcomes in results]
    assert all(worker == ids[0] for worker in ids)
    assert kits[0].balance("u1").available == 10
    assert kits[0].usage_summary("u1").charges == 90
    for kit in kits:
        kit.close()
