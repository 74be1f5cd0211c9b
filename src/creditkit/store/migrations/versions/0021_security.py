"""Security: the service's shared secrets sealed at rest and rotatable, failed authentications
counted per client address, customers' session revocations, and session links' single-use
exchange codes.

The secrets in ``service_secrets`` (the key that signs session tokens and console cookies, the
sandbox's webhook secret) were stored in clear; they are sealed here with the ledger's secret
key (the ``seal_secret`` the kit hands the migration; notify/sealing.py), as webhook endpoints'
secrets are, and the clear column is dropped.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import context, op

from creditkit.notify.errors import SecretKeyMissing
from creditkit.store.tables import UtcDateTime

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _move(source: str, target: str, attribute: str) -> None:
    """Writes every secret's ``source`` column through the kit's seal or unseal into ``target``
    (a handful of rows)."""
    connection = op.get_bind()
    rows = connection.execute(sa.text(f"SELECT name, {source} FROM service_secrets")).all()
    if not rows:
        return
    transform: Callable[[str], str] | None = context.config.attributes.get(attribute)
    if transform is None:
        raise SecretKeyMissing(
            f"{len(rows)} service secrets need the ledger's secret key to be migrated"
        )
    for name, value in rows:
        connection.execute(
            sa.text(f"UPDATE service_secrets SET {target} = :value WHERE name = :name"),
            {"value": transform(value), "name": name},
        )


def upgrade() -> None:
    op.add_column(
        "service_secrets", sa.Column("secret_sealed", sa.Text(), nullable=False, server_default="")
    )
    _move("secret", "secret_sealed", "seal_secret")
    op.execute("ALTER TABLE service_secrets DROP COLUMN secret")
    op.add_column("service_secrets", sa.Column("previous_secret_sealed", sa.Text(), nullable=True))
    op.add_column("service_secrets", sa.Column("previous_expires_at", UtcDateTime(), nullable=True))
    op.create_table(
        "auth_failures",
        sa.Column("client_address", sa.String(length=64), nullable=False),
        sa.Column("window_start", UtcDateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("client_address", "window_start", name=op.f("pk_auth_failures")),
    )
    op.create_table(
        "session_revocations",
        sa.Column("customer", sa.String(length=255), nullable=False),
        sa.Column("user", sa.String(length=255), nullable=False),
        sa.Column("revoked_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("customer", "user", name=op.f("pk_session_revocations")),
    )
    op.create_table(
        "session_codes",
        sa.Column("code_sha256", sa.String(length=64), nullable=False),
        sa.Column("customer", sa.String(length=255), nullable=False),
        sa.Column("user", sa.String(length=255), nullable=True),
        sa.Column("permissions", sa.String(length=64), nullable=False),
        sa.Column("ttl_seconds", sa.Integer(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("used_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("code_sha256", name=op.f("pk_session_codes")),
    )


def downgrade() -> None:
    op.drop_table("session_codes")
    op.drop_table("session_revocations")
    op.drop_table("auth_failures")
    op.execute("ALTER TABLE service_secrets DROP COLUMN previous_expires_at")
    op.execute("ALTER TABLE service_secrets DROP COLUMN previous_secret_sealed")
    op.add_column(
        "service_secrets",
        sa.Column("secret", sa.String(length=128), nullable=False, server_default=""),
    )
    _move("secret_sealed", "secret", "unseal_secret")
    op.execute("ALTER TABLE service_secrets DROP COLUMN secret_sealed")
