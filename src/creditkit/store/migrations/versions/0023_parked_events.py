"""Usage events parked by the ingest worker: events that came through JetStream and could not be
charged, each with its reason (``creditkit ingest-worker``, docs/events.md).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from creditkit.store.tables import UtcDateTime

revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "parked_events",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("customer", sa.String(255), nullable=True),
        sa.Column("event", _JSON, nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("parked_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("idempotency_key", name="uq_parked_events_idempotency_key"),
    )


def downgrade() -> None:
    op.drop_table("parked_events")
