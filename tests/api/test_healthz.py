"""/healthz while the database is gone: 503 problem+json with Retry-After, so a load balancer
asks again while a standby takes over instead of giving up."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient

from creditkit import CreditKit, ManualClock
from creditkit.server import create_app

pytestmark = pytest.mark.postgres


def test_healthz_answers_503_with_retry_after_when_the_database_is_gone(postgres_url: str) -> None:
    kit = CreditKit(postgres_url, clock=ManualClock())
    try:
        with TestClient(create_app(kit)) as http:
            assert http.get("/healthz").status_code == 200
            admin_url, _, name = postgres_url.rpartition("/")
            with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            answer = http.get("/healthz")
        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["retry-after"] == "1"
        assert answer.json()["code"] == "database_unavailable"
    finally:
        kit.close()
