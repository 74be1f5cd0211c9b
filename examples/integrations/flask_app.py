"""Seed 002's Flask DevOps agent with creditkit: ``/api/chat`` costs 1 credit a message and 5 a
deploy, and answers 402 when the credits run out, with one decorator.

Run (an embedded CreditKit on a SQLite file, the seed's own catalog: 20 free credits):
    python examples/integrations/flask_app.py
    curl -X POST localhost:5000/api/signup -H 'X-User: dev@example.com'
    curl -X POST localhost:5000/api/chat -H 'X-User: dev@example.com' \
        -H 'Content-Type: application/json' -d '{"message": "deploy the api"}'
    curl localhost:5000/api/credits -H 'X-User: dev@example.com'

``build_app`` takes a ``CreditKit`` or a ``Client`` of ``creditkit serve``.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

from creditkit import CreditKit
from creditkit.client import Client
from creditkit.integrations.flask import credits_required, current_meter

CATALOG = Path(__file__).parents[1] / "seed_002_devops_agent" / "catalog.yaml"
#: What a message costs: the seed's "heavy operations cost more".
MESSAGE_CREDITS = 1
DEPLOY_CREDITS = 5


def current_user() -> str:
    """Who is calling. The seed uses flask-login's ``current_user.id``."""
    return request.headers["X-User"]


def build_app(ck: CreditKit | Client) -> Flask:
    app = Flask(__name__)

    @app.post("/api/signup")
    def signup() -> ResponseReturnValue:
        ck.create_customer(current_user())  # the Free tier and its 20 credits
        return jsonify(credits=ck.balance(current_user()).available)

    @app.post("/api/chat")
    @credits_required(ck, action="chat_message", customer=current_user, estimate=DEPLOY_CREDITS)
    def chat() -> ResponseReturnValue:
        message = str((request.get_json(silent=True) or {}).get("message", ""))
        if not message:
            return jsonify(error="message is required"), 400  # an error answer is not charged
        heavy = "deploy" in message.lower()
        current_meter().actual = DEPLOY_CREDITS if heavy else MESSAGE_CREDITS
        return jsonify(response=f"On it: {message}")  # the agent's call to Claude goes here

    @app.get("/api/credits")
    def credits() -> ResponseReturnValue:
        return jsonify(credits=ck.balance(current_user()).available)

    return app


if __name__ == "__main__":
    build_app(CreditKit("sqlite:///devops_agent.db", catalog=CATALOG)).run(port=5000)
