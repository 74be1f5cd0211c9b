"""A charge's answer over HTTP says whether it crossed an alert threshold (``alert_crossed``),
beside the balance it left (``available_after``): an app warns at a low balance without a
second request. Each charge that crosses one says so (the credits.low event fires once a
period); a retry's answer says what is left now, and crosses nothing."""

from __future__ import annotations

from creditkit import CreditKit
from creditkit.client import Client


def test_a_charge_says_when_it_crosses_the_customers_threshold(
    kit: CreditKit, client: Client
) -> None:
    client.create_customer("ada", subscribe=False)
    client.grant("ada", 10, idempotency_key="g1")
    kit.set_alerts("ada", credits_left=5)
    answers = [
        client.charge("ada", 4, idempotency_key="c1"),  # 10 -> 6: above the threshold
        client.charge("ada", 1, idempotency_key="c2"),  # 6 -> 5: crosses it
        client.charge("ada", 1, idempotency_key="c3"),  # 5 -> 4: already below
    ]
    assert [(answer.available_after, answer.alert_crossed) for answer in answers] == [
        (6, False),
        (5, True),
        (4, False),
    ]
    committed = client.commit(client.reserve("ada", 3, idempotency_key="h1").id, 3)
    assert (committed.available_after, committed.alert_crossed) == (1, False)
    replayed = client.charge("ada", 1, idempotency_key="c2")
    # A retry says what is left now, and not whether it crossed (its first answer said it).
    assert (replayed.available_after, replayed.alert_crossed) == (1, None)


def test_without_thresholds_no_charge_crosses_one(kit: CreditKit, client: Client) -> None:
    client.create_customer("bob", subscribe=False)
    client.grant("bob", 3, idempotency_key="g1")
    kit.set_alerts("bob")  # neither threshold: no alerts for bob, whatever his plan
    answer = client.charge("bob", 3, idempotency_key="c1")
    assert (answer.available_after, answer.alert_crossed) == (0, False)
