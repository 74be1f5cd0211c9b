"""The HTTP layer's own SQL: first responses of the writes the ledger does not key itself."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from creditkit.store.database import insert_ignoring_duplicates
from creditkit.store.tables import api_responses


def recorded_response(connection: Connection, idempotency_key: str) -> Any | None:
    return connection.execute(
        sa.select(api_responses).where(api_responses.c.idempotency_key == idempotency_key)
    ).first()


def record_response(
    connection: Connection,
    idempotency_key: str,
    request_sha256: str,
    status_code: int,
    body: str,
    now: datetime,
) -> None:
    """Keeps the first response under the key; a concurrent twin's is dropped."""
    connection.execute(
        insert_ignoring_duplicates(connection, api_responses).values(
            idempotency_key=idempotency_key,
            request_sha256=request_sha256,
            status_code=status_code,
            body=body,
            created_at=now,
        )
    )
