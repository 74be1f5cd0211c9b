"""``creditkit serve``: settings from flags, environment and a config file, then uvicorn.

Precedence: a flag, then the environment (``CREDITKIT_DATABASE_URL``, ``CREDITKIT_CATALOG``,
``CREDITKIT_HOST``, ``CREDITKIT_PORT``, ``CREDITKIT_WORKERS``, ``CREDITKIT_PUBLIC_URL``), then the
config file (TOML, same names in lower case without the prefix), then the defaults: a SQLite file
``creditkit.db`` in the working directory and the bundled example catalog, on 127.0.0.1:8000.

``public_url`` is the address browsers reach the service at (default ``http://host:port``; set it
behind a proxy or when binding 0.0.0.0): the sandbox's checkout sessions link to the checkout
page served there (``/checkout/sandbox/<id>``), so a checkout made through the API opens in a
browser as a real provider's would.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from importlib.resources import files
from typing import Any

from fastapi import FastAPI

from creditkit.api.app import create_app
from creditkit.api.observability import JsonFormatter
from creditkit.errors import InvalidRequest
from creditkit.keys.schemas import Scope
from creditkit.kit import CreditKit
from creditkit.payments import PaymentSettings, SandboxProvider
from creditkit.web.checkout import SANDBOX_CHECKOUT_PATH

DEFAULT_DATABASE_URL = "sqlite:///creditkit.db"
#: Processes serving at once, at most: each holds a pool of database connections.
WORKERS_MAX = 32
_ENVIRONMENT_PREFIX = "CREDITKIT_"


def example_catalog() -> str:
    """The path of the catalog bundled with the package (an AI assistant's tiers and packs)."""
    return str(files("creditkit.catalog").joinpath("example.yaml"))


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    catalog: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    public_url: str | None = None

    def catalog_path(self) -> str:
        return self.catalog or example_catalog()

    def public_address(self) -> str:
        """Where browsers reach the service, without a trailing slash."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @classmethod
    def resolve(
        cls,
        flags: Mapping[str, Any],
        environment: Mapping[str, str],
        config_file: str | None,
    ) -> Settings:
        settings = cls()
        layers: list[Mapping[str, Any]] = []
        if config_file is not None:
            layers.append(_read_config(config_file))
        layers.append(
            {
                field.name: environment[_ENVIRONMENT_PREFIX + field.name.upper()]
                for field in fields(cls)
                if _ENVIRONMENT_PREFIX + field.name.upper() in environment
            }
        )
        layers.append({name: value for name, value in flags.items() if value is not None})
        for layer in layers:
            settings = replace(settings, **_typed(layer))
        if not 1 <= settings.port <= 65_535:
            raise InvalidRequest("port", "must be 1 to 65535")
        if not 1 <= settings.workers <= WORKERS_MAX:
            raise InvalidRequest("workers", f"must be 1 to {WORKERS_MAX}")
        if settings.public_url is not None and not settings.public_url.startswith(
            ("http://", "https://")
        ):
            raise InvalidRequest("public_url", "must start with http:// or https://")
        return settings

    def environment(self) -> dict[str, str]:
        """These settings as the environment that worker processes read them from."""
        return {
            _ENVIRONMENT_PREFIX + field.name.upper(): str(getattr(self, field.name))
            for field in fields(self)
            if getattr(self, field.name) is not None
        }


def _read_config(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except OSError as error:
        raise InvalidRequest("config", f"cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise InvalidRequest("config", f"{path}: {error}") from None


def _typed(layer: Mapping[str, Any]) -> dict[str, Any]:
    known = {field.name for field in fields(Settings)}
    typed: dict[str, Any] = {}
    for name, value in layer.items():
        if name not in known:
            raise InvalidRequest(name, f"unknown setting (known: {', '.join(sorted(known))})")
        if name in {"port", "workers"}:
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise InvalidRequest(name, f"must be an integer, not {value!r}") from None
        typed[name] = value
    return typed


def configure_logging() -> None:
    """JSON lines on stderr for creditkit's loggers (requests, errors)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("creditkit")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def open_kit(settings: Settings) -> CreditKit:
    """Opens (creating or migrating) the database, with the sandbox's checkouts served at
    ``public_url``; on a database with no key yet, creates an admin key and prints it once, so
    that a first start is usable at once."""
    checkout_pages = f"{settings.public_address()}{SANDBOX_CHECKOUT_PATH}"
    sandbox = SandboxProvider(checkout_base_url=checkout_pages)
    kit = CreditKit(
        settings.database_url,
        catalog=settings.catalog_path(),
        payments=PaymentSettings(provider=sandbox),
    )
    if not kit.keys.has_active_keys():
        created = kit.keys.create_key("bootstrap", Scope.ADMIN)
        print(
            f"creditkit: created an admin API key (shown once, store it): {created.secret}",
            file=sys.stderr,
        )
    return kit


def app_from_environment() -> FastAPI:
    """The app of one worker process, configured by ``Settings.environment()``."""
    configure_logging()
    settings = Settings.resolve({}, os.environ, None)
    return create_app(open_kit(settings))


def check_port_free(host: str, port: int) -> None:
    """Raises ``InvalidRequest`` naming ``port`` when another process listens there, before
    serve says it is serving (uvicorn would only log the clash after)."""
    probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    # As uvicorn binds: SO_REUSEADDR lets a port in TIME_WAIT be taken, not one listened on.
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((host, port))
    except OSError as error:
        raise InvalidRequest(
            "port",
            f"cannot listen on {host}:{port} ({error.strerror}); stop what uses it or choose"
            " another with --port or $CREDITKIT_PORT",
        ) from None
    finally:
        probe.close()


def serve(settings: Settings) -> None:
    import uvicorn

    check_port_free(settings.host, settings.port)
    os.environ.update(settings.environment())
    configure_logging()
    open_kit(settings).close()  # migrate (and make the first key) once, before the workers
    print(
        f"creditkit: serving {settings.database_url} with catalog {settings.catalog_path()}"
        f" on http://{settings.host}:{settings.port} (docs at /docs)",
        file=sys.stderr,
    )
    print(
        f"creditkit: operator console at http://{settings.host}:{settings.port}/console"
        " (sign in with an admin key); a customer's pages: creditkit link CUSTOMER",
        file=sys.stderr,
    )
    uvicorn.run(
        "creditkit.api.serve:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=False,  # creditkit logs each request itself, as JSON
        log_level="warning",
    )
