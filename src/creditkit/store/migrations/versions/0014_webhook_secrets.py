"""Standard Webhooks: endpoint secrets encrypted at rest, and secret rotation (the previous
secret, which keeps signing until its expiry, and the rotations' idempotency keys).

The secrets stored in clear until now are encrypted here with the ledger's secret key (the
``seal_secret`` the kit hands the migration; notify/sealing.py). They are ``whsec_`` and 64 hex
digits, which is base64 too, so they stay valid Standard Webhooks secrets: receivers change
how they verify, not the secret.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import context, op

from creditkit.notify.errors import SecretKeyMissing
from creditkit.store.tables import UtcDateTime

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _move(source: str, target: str, attribute: str) -> None:
    """Writes every endpoint's ``source`` column through the kit's ``attribute`` function (seal
    or unseal) into ``target``. Deleted endpoints too: their rows keep a secret. Endpoints are
    at most a few hundred rows (100 live at once), so one read holds them all."""
    connection = op.get_bind()
    rows = connection.execute(sa.text(f"SELECT id, {source} FROM webhook_endpoints")).all()
    if not rows:
        return
    transform: Callable[[str], str] | None = context.config.attributes.get(attribute)
    if transform is None:
        raise SecretKeyMissing(
            f"{len(rows)} webhook endpoint secrets need the ledger's secret key to be migrated"
        )
    for endpoint_id, value in rows:
        connection.execute(
            sa.text(f"UPDATE webhook_endpoints SET {target} = :value WHERE id = :id"),
            {"value": transform(value), "id": endpoint_id},
        )


def upgrade() -> None:
    # Columns added and dropped in place on both databases (SQLite 3.35+), no table rebuild: a
    # rebuild would drop the table that deliveries reference. The empty default only fills
    # the rows that are sealed next.
    op.add_column(
        "webhook_endpoints",
        sa.Column("secret_sealed", sa.Text(), nullable=False, server_default=""),
    )
    _move("secret", "secret_sealed", "seal_secret")
    op.execute("ALTER TABLE webhook_endpoints DROP COLUMN secret")
    op.add_column(
        "webhook_endpoints", sa.Column("previous_secret_sealed", sa.Text(), nullable=True)
    )
    op.add_column(
        "webhook_endpoints", sa.Column("previous_secret_expires_at", UtcDateTime(), nullable=True)
    )
    op.create_table(
        "webhook_secret_rotations",
        sa.Column("id", _ID, nullable=False),
        sa.Column("endpoint_id", _ID, nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_secret_rotations_endpoint_id"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_secret_rotations")),
        sa.UniqueConstraint(
            "idempotency_key", name=op.f("uq_webhook_secret_rotations_idempotency_key")
        ),
    )


def downgrade() -> None:
    op.drop_table("webhook_secret_rotations")
    # Not a batch rebuild: on SQLite that would recreate the table without what it has.
    op.execute("ALTER TABLE webhook_endpoints DROP COLUMN previous_secret_expires_at")
    op.execute("ALTER TABLE webhook_endpoints DROP COLUMN previous_secret_sealed")
    op.add_column(
        "webhook_endpoints",
        sa.Column("secret", sa.String(length=80), nullable=False, server_default=""),
    )
    _move("secret_sealed", "secret", "unseal_secret")
    op.execute("ALTER TABLE webhook_endpoints DROP COLUMN secret_sealed")
