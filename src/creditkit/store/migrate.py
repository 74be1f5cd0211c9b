"""Creates or upgrades the ledger's schema to the newest migration."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS_PATH = Path(__file__).parent / "migrations"

#: Any fixed number: processes starting at once against one PostgreSQL database take this lock so
#: that exactly one of them migrates and the others wait, then find nothing to do.
_MIGRATION_ADVISORY_LOCK_ID = 0x6372656469746B


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_PATH))
    return config


def upgrade_to_head(
    engine: Engine,
    *,
    seal_secret: Callable[[str], str] | None = None,
    unseal_secret: Callable[[str], str] | None = None,
) -> None:
    """Migrates ``engine``'s database. ``seal_secret`` encrypts a webhook secret with the
    ledger's secret key (and ``unseal_secret`` decrypts one): the migrations that move secrets
    in or out of encryption need them, and refuse without them when there are secrets to
    move."""
    config = alembic_config()
    if seal_secret is not None:
        config.attributes["seal_secret"] = seal_secret
    if unseal_secret is not None:
        config.attributes["unseal_secret"] = unseal_secret
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(
                f"SELECT pg_advisory_xact_lock({_MIGRATION_ADVISORY_LOCK_ID})"
            )
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
