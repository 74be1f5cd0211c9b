"""Helpers for the API tests: a client with keys, and problem+json checks."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from creditkit import CreditKit
from creditkit.keys.schemas import Scope


class Api:
    """A test client with helpers for the headers every call needs."""

    def __init__(self, kit: CreditKit, client: TestClient) -> None:
        self.kit = kit
        self.client = client
        self.admin = self.key(Scope.ADMIN)

    def key(self, scope: Scope) -> dict[str, str]:
        secret = self.kit.keys.create_key(f"test {scope}", scope).secret
        return {"Authorization": f"Bearer {secret}"}

    def token(self, customer: str, **options: Any) -> dict[str, str]:
        issued = self.kit.keys.issue_session(customer, **options)
        return {"Authorization": f"Bearer {issued.token}"}


def write(headers: dict[str, str], key: str) -> dict[str, str]:
    """``headers`` with an Idempotency-Key."""
    return {**headers, "Idempotency-Key": key}


def assert_problem(response: Response, status: int, code: str) -> dict[str, Any]:
    """The response is problem+json with this status and code; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["type"] == f"https://creditkit.dev/problems/{code}"
    assert body["title"] and body["detail"]
    return body
