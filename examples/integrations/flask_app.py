"""Seed 002's Flask DevOps agent with creditkit: ``/api/chat`` costs 1 credit a message and 5 a
deploy, and answers 402 when the credits run out (at zero, for a message), with one decorator.

Run (an embedded CreditKit on a SQLite file, the seed's own catalog: 20 free credits):
    python examples/integrations/flask_app.py
    curl -X POST localhost:5000/api/signup -H 'X-User: dev@example.com'
    curl -X POST localhost:5000/api/chat -H 'X-User: dev@example.com' \
        -H 'Content-Type: application/json' -d '{"message": "deploy the api"}'
    curl localhost:5000/api/credits -H 'X-User: dev@example.com'

``build_app`` takes a ``CreditKit`` or a ``Client`` of ``creditkit serve``.
"""

from __future__ import annotations

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

from creditkit import CreditKit, example_catalog
from creditkit.client import Client
from creditkit.integrations.flask import credits_required

CATALOG = example_catalog("seed_002_devops_agent")


def current_user() -> str:
    """Who is calling. The seed uses flask-login's ``current_user.id``."""
    return request.headers["X-User"]


def build_app(ck: CreditKit | Client) -> Flask:
    app = Flask(__name__)

    @app.post("/api/signup")
    def signup() -> ResponseReturnValue:
        ck.create_customer(current_user())  # the Free tier and its 20 credits
        return jsonify(credits=ck.balance(current_user()).available)

    # What a message costs is known before the work: each kind reserves exactly its catalog
    # price (1 credit, or 5 for a deploy), so a customer is refused at zero, as the seed is,
    # and never by a larger estimate waiting in a hold.
    @credits_required(ck, action="chat_message", customer=current_user)
    def answer(message: str) -> ResponseReturnValue:
        return jsonify(response=f"On it: {message}")  # the agent's call to Claude goes here

    @credits_required(ck, action="deploy_message", customer=current_user)
    def deploy(message: str) -> ResponseReturnValue:
        return jsonify(response=f"Deploying: {message}")

    @app.post("/api/chat")
    def chat() -> ResponseReturnValue:
        message = str((request.get_json(silent=True) or {}).get("message", ""))
        if not message:
            return jsonify(error="message is required"), 400  # refused before any credit moves
        return deploy(message) if "deploy" in message.lower() else answer(message)

    @app.get("/api/credits")
    def credits() -> ResponseReturnValue:
        return jsonify(credits=ck.balance(current_user()).available)

    return app


if __name__ == "__main__":
    build_app(CreditKit("sqlite:///devops_agent.db", catalog=CATALOG)).run(port=5000)
