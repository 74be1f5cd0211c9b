"""An AI assistant's FastAPI app whose routes cost credits: one line per route.

Run (an embedded CreditKit on a SQLite file, the bundled example catalog):
    python examples/integrations/fastapi_app.py
    curl -X POST localhost:8001/signup -H 'X-User: alice'
    curl -X POST localhost:8001/chat -H 'X-User: alice' -H 'Content-Type: application/json' \
        -d '{"message": "hi"}'
    curl localhost:8001/balance -H 'X-User: alice'

``build_app`` takes a ``CreditKit`` or a ``Client`` of ``creditkit serve``: the routes are the
same.
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time,
# and ``SummaryMeter`` is made inside ``build_app``.

from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Header

from creditkit import CreditKit, example_catalog
from creditkit.client import Client
from creditkit.integrations import Meter
from creditkit.integrations.fastapi import credits_required, install

#: A summary costs the catalog's ``document_summary`` price (5 credits) per started 1,000
#: characters, for at most 4,000 characters: 20 credits are held, what it cost is committed.
SUMMARY_CREDITS_PER_STEP = 5
SUMMARY_CHARACTERS_PER_STEP = 1_000
SUMMARY_STEPS_MAX = 4


def current_user(x_user: Annotated[str, Header(min_length=1, max_length=255)]) -> str:
    """Who is calling. A real app reads its session or token here."""
    return x_user


User = Annotated[str, Depends(current_user)]


def build_app(ck: CreditKit | Client) -> FastAPI:
    app = FastAPI(title="An AI assistant")
    install(app)  # a 402 is the whole problem+json: available, required, packs, upgrade_to
    SummaryMeter = Annotated[
        Meter,
        credits_required(
            ck,
            action="document_summary",
            customer=current_user,
            estimate=SUMMARY_CREDITS_PER_STEP * SUMMARY_STEPS_MAX,
        ),
    ]

    @app.post("/signup")
    def signup(user: User) -> dict[str, Any]:
        ck.create_customer(user)  # on the free plan, with its 100 credits
        return {"user": user, "credits": ck.balance(user).available}

    @app.post(
        "/chat",
        dependencies=[credits_required(ck, action="chat_message", customer=current_user)],
    )
    def chat(message: Annotated[str, Body(embed=True)]) -> dict[str, str]:
        return {"answer": f"You said {message!r}."}  # the model call goes here

    @app.post("/summarize")
    def summarize(meter: SummaryMeter, text: Annotated[str, Body(embed=True)]) -> dict[str, Any]:
        if len(text) > SUMMARY_CHARACTERS_PER_STEP * SUMMARY_STEPS_MAX:
            raise ValueError("too long")  # raising releases the hold: nothing is charged
        steps = max(1, -(-len(text) // SUMMARY_CHARACTERS_PER_STEP))
        meter.actual = SUMMARY_CREDITS_PER_STEP * steps  # the rest of the hold goes back
        return {"summary": text[:80], "credits": meter.actual}

    @app.get("/balance")
    def balance(user: User) -> dict[str, Any]:
        return {"user": user, "credits": ck.balance(user).available}

    return app


if __name__ == "__main__":
    import uvicorn

    kit = CreditKit("sqlite:///assistant.db", catalog=example_catalog())
    uvicorn.run(build_app(kit), port=8001)
