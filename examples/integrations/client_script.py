"""Your backend calling ``creditkit serve`` with ``Client``: the same calls as an embedded
``CreditKit``, over HTTP. Every write has a fixed idempotency key, so running the script
again changes nothing.

Run:
    creditkit serve --payments sandbox   # prints an admin key the first time: ck_secret_…
    CREDITKIT_API_KEY=ck_secret_… python examples/integrations/client_script.py
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from creditkit import InsufficientCredits
from creditkit.client import Client, PaymentRequired


def run(base_url: str, api_key: str, say: Callable[[str], object] = print) -> None:
    with Client(base_url, api_key) as ck:
        ck.create_customer("alice", idempotency_key="signup-alice")
        say(f"1. alice signed up: {ck.balance('alice').available} credits (the free plan)")

        ck.charge("alice", action="image_generation", idempotency_key="alice-image-1")
        say(f"2. an image (10 credits): {ck.balance('alice').available} left")

        with ck.metered("alice", "document_summary", 20, idempotency_key="alice-doc-1") as meter:
            meter.actual = 7  # held 20 while the model ran; it cost 7
        say(f"3. a summary held 20, cost {meter.actual}: {ck.balance('alice').available} left")

        try:
            ck.charge("alice", 500, idempotency_key="alice-batch-1")
        except InsufficientCredits as short:
            offer = short if isinstance(short, PaymentRequired) else None
            packs = ", ".join(pack.id for pack in offer.packs) if offer else "-"
            upgrade = offer.upgrade_to if offer else None
            say(f"4. 500 refused, {short.available} available: buy {packs}, or plan {upgrade}")
            if offer and offer.packs:
                ck.grant_pack("alice", offer.packs[0].id, idempotency_key="alice-pack-1")
        say(f"5. after buying a pack: {ck.balance('alice').available} credits")

        for item in ck.history("alice", limit=5).items:
            say(f"   {item.kind:<8} {item.available_change:+6} {item.action or ''}")


if __name__ == "__main__":
    if not os.environ.get("CREDITKIT_API_KEY"):
        sys.exit(
            "creditkit: CREDITKIT_API_KEY is not set; export the key creditkit serve printed"
            " (or make one: creditkit keys create --name script)"
        )
    run(
        os.environ.get("CREDITKIT_URL", "http://127.0.0.1:8000"),
        os.environ["CREDITKIT_API_KEY"],
    )
