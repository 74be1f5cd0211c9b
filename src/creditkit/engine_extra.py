"""What ``pip install creditkit`` leaves out, and the one error that says so.

The base distribution is the HTTP client (``creditkit.client``, on httpx alone). The engine (the
embedded ``CreditKit``, ``creditkit serve``, payments, the pages, the worker and the
``creditkit`` command) needs the ``engine`` extra's libraries. Using the engine without them
ends in one error naming the extra, not in a bare ``No module named 'sqlalchemy'``.
"""

from __future__ import annotations

#: The install extra that brings the engine's libraries (pyproject.toml).
ENGINE_EXTRA = "engine"
INSTALL_ENGINE = f"pip install 'creditkit[{ENGINE_EXTRA}]'"

#: The top-level modules creditkit imports from the engine extra's libraries (and from
#: FastAPI's own, pydantic and starlette). tests/client/test_client_install.py checks that this
#: is every library ``src/`` imports beside httpx (the base) and flask (the app's own, for
#: ``creditkit.integrations.flask``).
ENGINE_MODULES = frozenset(
    {
        "alembic",
        "cryptography",
        "fastapi",
        "fastapi_offline",
        "genai_prices",
        "jinja2",
        "nats",
        "prometheus_client",
        "psycopg",
        "pydantic",
        "sqlalchemy",
        "starlette",
        "stripe",
        "uvicorn",
        "yaml",
    }
)


def engine_missing(error: ModuleNotFoundError, what: str) -> str | None:
    """The line that tells a user ``what`` needs the engine extra, when ``error`` is one of its
    libraries missing; ``None`` for any other missing module (a bug, that keeps its own
    error)."""
    missing = (error.name or "").partition(".")[0]
    if missing not in ENGINE_MODULES:
        return None
    return (
        f"{what} needs creditkit's engine, which is not installed (no module named"
        f" {missing!r}): {INSTALL_ENGINE}"
    )
