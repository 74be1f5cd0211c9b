"""Creates or upgrades the ledger's schema to the newest migration."""

from __future__ import annotations

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


def upgrade_to_head(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(
                f"SELECT pg_advisory_xact_lock({_MIGRATION_ADVISORY_LOCK_ID})"
            )
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
