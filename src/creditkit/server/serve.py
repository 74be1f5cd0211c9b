"""``creditkit serve``: settings from flags, environment and a config file, then uvicorn.

Precedence: a flag, then the environment (``CREDITKIT_DATABASE_URL``, ``CREDITKIT_CATALOG``,
``CREDITKIT_HOST``, ``CREDITKIT_PORT``, ``CREDITKIT_WORKERS``, ``CREDITKIT_PUBLIC_URL``,
``CREDITKIT_SECRET_KEY``, ``CREDITKIT_PAYMENTS``, ``CREDITKIT_STRIPE_SECRET_KEY``,
``CREDITKIT_STRIPE_WEBHOOK_SECRET``, ``CREDITKIT_STRIPE_API_URL``, ``CREDITKIT_CLOCK_FILE``,
``CREDITKIT_CORS_ORIGINS``, ``CREDITKIT_ALLOW_PRIVATE_WEBHOOKS``, ``CREDITKIT_BODY_BYTES_MAX``,
``CREDITKIT_RETURN_ORIGINS``, ``CREDITKIT_EVENTS_URL``, ``CREDITKIT_EVENTS_PARTITIONS``), then
the config file (TOML, same names in lower case without the prefix), then the defaults: a
SQLite file ``creditkit.db`` in the working directory and the bundled example catalog, on
127.0.0.1:8000.

``public_url`` is the address browsers reach the service at (default ``http://host:port``;
required when binding beyond loopback): the sandbox's checkout sessions link to the checkout
page served there (``/checkout/sandbox/<id>``), so a checkout made through the API opens in a
browser as a real provider's would; pages build their links from it, never from ``Host``, and
accept forms from its origin only. ``return_origins`` adds origins checkouts may return
browsers to; ``body_bytes_max`` bounds request bodies; ``allow_private_webhooks`` is for
development only (docs/security.md). ``late_usage_window_seconds`` (default an hour) and
``reversal_window_seconds`` (default 35 days) are the kit's windows for late usage and reversals
(docs/ledger.md).

``payments`` chooses who takes the money, and ``serve`` refuses to start without a choice: a
billing service that silently simulated payments would hand out credits for nothing.
``sandbox`` simulates payments (no money moves; test cards decide); ``stripe`` charges through
Stripe with ``stripe_secret_key`` and ``stripe_webhook_secret`` (``stripe_api_url`` points the SDK
at another address, for tests). ``make serve`` and the demo choose the sandbox.

``clock_file`` reads the time from a file instead of the system clock (``creditkit.clock.
FileClock``), for rehearsals and end-to-end tests: a renewal or a grace period's end happens when
the file says so, in every process that reads it.

``cors_origins`` are the web origins (``https://app.example``) whose pages may call the API from
the browser, with a customer's session token (``@creditkit/react``): CORS answers name those
origins and no others, and never allow credentials (cookies): the token is a bearer header.
``--cors-origin`` is repeatable; the environment separates origins with commas; the config file
takes a list. None by default: no page of another origin may call the API.

``events`` (``--events``, ``CREDITKIT_EVENTS_URL``, ``events`` in the config file) names the NATS
servers of a JetStream stream, ``nats://h1:4222,nats://h2:4222``: ``POST /v1/events`` then
publishes there and answers 202, and ``creditkit ingest-worker`` charges them (docs/events.md);
``events_partitions`` splits them by customer into that many partitions (serve and the workers
alike).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from creditkit.api.limits import BODY_BYTES_MAX_DEFAULT, BODY_BYTES_MAX_LEAST, BODY_BYTES_MAX_MOST
from creditkit.api.observability import JsonFormatter
from creditkit.catalog.examples import example_catalog
from creditkit.clock import Clock, FileClock
from creditkit.errors import InvalidRequest, present
from creditkit.events.publisher import EventPublisher
from creditkit.events.stream import check_partitions, events_servers
from creditkit.keys.schemas import Scope
from creditkit.kit import CreditKit
from creditkit.ledger.late_usage import LATE_USAGE_WINDOW_DEFAULT, check_late_usage_window
from creditkit.ledger.reversals import REVERSAL_WINDOW_DEFAULT, check_reversal_window
from creditkit.notify.outbound import OutboundPolicy
from creditkit.payments import PaymentProvider, PaymentSettings, SandboxProvider
from creditkit.payments.checkout import return_origins as payment_return_origins
from creditkit.server.app import create_app
from creditkit.store.database import check_database_url, display_url
from creditkit.web.checkout import SANDBOX_CHECKOUT_PATH

DEFAULT_DATABASE_URL = "sqlite:///creditkit.db"
#: Processes serving at once, at most: each holds a pool of database connections.
WORKERS_MAX = 32
_ENVIRONMENT_PREFIX = "CREDITKIT_"
PAYMENT_PROVIDERS = ("sandbox", "stripe")
#: Origins a browser may call the API from, at most: each is compared on every request.
CORS_ORIGINS_MAX = 64
#: A web origin as a browser sends it: scheme, host, optional port; no path, no wildcard.
_ORIGIN = re.compile(r"https?://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")
#: What a browser's page sends the API: its bearer token, JSON, an idempotency key.
CORS_HEADERS_ALLOWED = ("Authorization", "Content-Type", "Idempotency-Key")
#: What a page may read of an answer beyond the safe headers: when to retry.
CORS_HEADERS_EXPOSED = ("Retry-After",)
#: Hosts only this machine reaches: serving there needs no public URL.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    catalog: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    public_url: str | None = None
    #: Encrypts webhook endpoint secrets at rest (notify/sealing.py; ``creditkit secret-key``
    #: makes one). Required on PostgreSQL; on SQLite a key file beside the database serves.
    secret_key: str | None = None
    payments: str | None = None
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_url: str | None = None
    clock_file: str | None = None
    cors_origins: tuple[str, ...] = ()
    #: Lets webhooks go to private and loopback addresses over plain http: for development
    #: against a receiver on this machine only (notify/outbound.py). Announced at start.
    allow_private_webhooks: bool = False
    #: The largest request body read, in bytes; a larger one is refused with 413 unread.
    body_bytes_max: int = BODY_BYTES_MAX_DEFAULT
    #: How far back a charge's or an event's ``occurred_at`` may be (0 to 35 days).
    late_usage_window_seconds: int = int(LATE_USAGE_WINDOW_DEFAULT.total_seconds())
    #: How long after a charge it may be reversed (up to 366 days).
    reversal_window_seconds: int = int(REVERSAL_WINDOW_DEFAULT.total_seconds())
    #: Origins besides ``public_url`` that checkouts may return browsers to, comma-separated
    #: (``https://app.example,https://www.app.example``).
    return_origins: str | None = None
    #: The events stream's NATS servers (docs/events.md); None: ``POST /v1/events`` charges at
    #: once.
    events: str | None = None
    #: Partitions of the events by customer (docs/events.md): each has its own subject and
    #: consumer, so that workers owning different partitions never charge the same customers.
    #: ``serve`` and every ``ingest-worker`` must share it.
    events_partitions: int = 1

    def webhook_policy(self) -> OutboundPolicy:
        return OutboundPolicy(allow_private=self.allow_private_webhooks)

    def announce_webhook_policy(self) -> None:
        if self.allow_private_webhooks:
            print(
                "creditkit: webhooks: PRIVATE TARGETS ALLOWED (allow_private_webhooks): webhooks"
                " may reach loopback and private addresses over plain http. Development only.",
                file=sys.stderr,
            )

    def clock(self) -> Clock | None:
        """The file's clock when ``clock_file`` is set; None for the system clock."""
        return None if self.clock_file is None else FileClock(self.clock_file)

    def catalog_path(self) -> str:
        return self.catalog or example_catalog()

    def require_secret_key(self) -> None:
        """Refuses to serve or work PostgreSQL without a secret key: there is no file beside the
        database to keep one in, and endpoints' secrets could be neither sealed nor opened."""
        if self.secret_key is None and not self.database_url.startswith("sqlite"):
            raise InvalidRequest(
                "secret_key",
                "set CREDITKIT_SECRET_KEY (or secret_key in the config file) to use PostgreSQL:"
                " it encrypts webhook secrets; make one with `creditkit secret-key`",
            )

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
        for layer in cls.layers(flags, environment, config_file):
            settings = replace(settings, **_typed(layer))
        # The ledger's URL first: a bare file name is that mistake, not PostgreSQL's missing key.
        check_database_url(settings.database_url)
        if not 1 <= settings.port <= 65_535:
            raise InvalidRequest("port", "must be 1 to 65535")
        if not BODY_BYTES_MAX_LEAST <= settings.body_bytes_max <= BODY_BYTES_MAX_MOST:
            raise InvalidRequest(
                "body_bytes_max", f"must be {BODY_BYTES_MAX_LEAST} to {BODY_BYTES_MAX_MOST}"
            )
        for name in ("late_usage_window_seconds", "reversal_window_seconds"):
            seconds = getattr(settings, name)
            checked = check_late_usage_window if name.startswith("late") else check_reversal_window
            try:
                checked(timedelta(seconds=seconds))
            except InvalidRequest as error:
                raise InvalidRequest(name, error.reason) from None
        if not 1 <= settings.workers <= WORKERS_MAX:
            raise InvalidRequest("workers", f"must be 1 to {WORKERS_MAX}")
        if settings.public_url is not None and not settings.public_url.startswith(
            ("http://", "https://")
        ):
            raise InvalidRequest("public_url", "must start with http:// or https://")
        settings.check_payments()
        if settings.events is not None:
            events_servers(settings.events)  # InvalidRequest naming events
        check_partitions(settings.events_partitions)  # InvalidRequest naming events_partitions
        settings.allowed_return_origins()  # InvalidRequest naming return_origins
        return settings

    @classmethod
    def layers(
        cls,
        flags: Mapping[str, Any],
        environment: Mapping[str, str],
        config_file: str | None,
    ) -> list[Mapping[str, Any]]:
        """The settings given, lowest precedence first: the config file, the environment, the
        flags (a flag's ``None`` is not given)."""
        layers: list[Mapping[str, Any]] = []
        if config_file is not None:
            layers.append(_read_config(config_file))
        layers.append(
            {
                field.name: environment[_environment_name(field.name)]
                for field in fields(cls)
                if _environment_name(field.name) in environment
            }
        )
        layers.append({name: value for name, value in flags.items() if value is not None})
        return layers

    def check_payments(self) -> None:
        if self.payments is not None and self.payments not in PAYMENT_PROVIDERS:
            raise InvalidRequest("payments", f"must be one of {', '.join(PAYMENT_PROVIDERS)}")
        if self.payments == "stripe":
            if not (self.stripe_secret_key or "").startswith(("sk_", "rk_")):
                raise InvalidRequest(
                    "stripe_secret_key", "is required with payments stripe (sk_live_… or sk_test_…)"
                )
            if not (self.stripe_webhook_secret or "").startswith("whsec_"):
                raise InvalidRequest(
                    "stripe_webhook_secret",
                    "is required with payments stripe (the endpoint's whsec_… signing secret)",
                )
        if self.stripe_api_url is not None and not self.stripe_api_url.startswith(
            ("http://", "https://")
        ):
            raise InvalidRequest("stripe_api_url", "must start with http:// or https://")

    def require_payments(self) -> str:
        """The chosen provider; serving without one is refused."""
        if self.payments is None:
            raise InvalidRequest(
                "payments",
                "choose who takes payments: --payments sandbox (simulated, no money moves) or"
                " --payments stripe (with stripe_secret_key and stripe_webhook_secret);"
                " also CREDITKIT_PAYMENTS or payments in the config file",
            )
        return self.payments

    def payment_settings(self) -> PaymentSettings:
        """The provider these settings choose; the sandbox's checkouts served at
        ``public_url``."""
        provider: PaymentProvider
        if self.payments == "stripe":
            from creditkit.payments.stripe_provider import StripeProvider

            # Settings made without ``load`` name their keys too: InvalidRequest on the missing one.
            self.check_payments()
            provider = StripeProvider(
                present(self.stripe_secret_key, "checked payments stripe have a secret key"),
                present(
                    self.stripe_webhook_secret, "checked payments stripe have a webhook secret"
                ),
                base_url=self.stripe_api_url,
            )
        else:
            checkout_pages = f"{self.public_address()}{SANDBOX_CHECKOUT_PATH}"
            provider = SandboxProvider(checkout_base_url=checkout_pages)
        return PaymentSettings(provider=provider, return_origins=self.allowed_return_origins())

    def allowed_return_origins(self) -> tuple[str, ...]:
        """Where checkouts may send browsers back to: the public URL's origin and
        ``return_origins``."""
        configured = [o for o in (self.return_origins or "").split(",") if o.strip()]
        return payment_return_origins([self.public_address(), *configured])

    def require_public_url(self) -> None:
        """Links, return URLs and the pages' Origin check are built from ``public_url``, never
        from a request's ``Host``: serving beyond loopback without it is refused."""
        if self.public_url is None and self.host not in LOOPBACK_HOSTS:
            raise InvalidRequest(
                "public_url",
                f"is required when serving on {self.host} (not loopback): the address browsers"
                " reach the service at, e.g. https://billing.example; also CREDITKIT_PUBLIC_URL",
            )

    def environment(self) -> dict[str, str]:
        """These settings as the environment that worker processes read them from."""
        environment: dict[str, str] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, tuple):
                value = ",".join(value) or None  # the origins, as $CREDITKIT_CORS_ORIGINS
            if value is not None:
                environment[_environment_name(field.name)] = str(value)
        return environment


def _environment_name(setting: str) -> str:
    """``CREDITKIT_`` and the setting's name in capitals; the events' servers are URLs, so
    ``CREDITKIT_EVENTS_URL``."""
    return _ENVIRONMENT_PREFIX + ("EVENTS_URL" if setting == "events" else setting.upper())


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
        if name == "allow_private_webhooks" and not isinstance(value, bool):
            flag = str(value).strip().lower()
            if flag not in {"1", "true", "yes", "on", "0", "false", "no", "off", ""}:
                raise InvalidRequest(name, f"must be true or false, not {value!r}")
            value = flag in {"1", "true", "yes", "on"}
        if name in {
            "port",
            "workers",
            "body_bytes_max",
            "late_usage_window_seconds",
            "reversal_window_seconds",
            "events_partitions",
        }:
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise InvalidRequest(name, f"must be an integer, not {value!r}") from None
        if name == "cors_origins":
            value = _origins(value)
        typed[name] = value
    return typed


def _origins(value: object) -> tuple[str, ...]:
    """Origins from a flag's list, a config file's list or the environment's comma-separated
    text; each exactly as a browser's Origin header spells it."""
    if isinstance(value, str):
        listed: list[object] = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, list | tuple):
        listed = list(value)
    else:
        raise InvalidRequest("cors_origins", "must be a list of origins")
    if len(listed) > CORS_ORIGINS_MAX:
        raise InvalidRequest("cors_origins", f"at most {CORS_ORIGINS_MAX} origins")
    origins: list[str] = []
    for origin in listed:
        if not isinstance(origin, str) or _ORIGIN.fullmatch(origin) is None:
            raise InvalidRequest(
                "cors_origins",
                f"{origin!r} is not an origin: scheme and host, with a port if any"
                " (https://app.example, http://localhost:3000), no path, no wildcard",
            )
        origins.append(origin)
    return tuple(dict.fromkeys(origins))


def allow_origins(app: FastAPI, origins: tuple[str, ...]) -> None:
    """Lets pages of ``origins`` call the API with a bearer token; other origins get no CORS
    headers, so their browsers refuse the answer."""
    if not origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(origins),
        allow_credentials=False,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=list(CORS_HEADERS_ALLOWED),
        expose_headers=list(CORS_HEADERS_EXPOSED),
        max_age=600,
    )


def configure_logging() -> None:
    """JSON lines on stderr for creditkit's loggers (requests, errors)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("creditkit")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def open_kit(settings: Settings) -> CreditKit:
    """Opens (creating or migrating) the database with the chosen payment provider; on a
    database with no key yet, creates an admin key and prints it once, so that a first start
    is usable at once."""
    settings.require_payments()
    settings.require_secret_key()
    kit = CreditKit(
        settings.database_url,
        catalog=settings.catalog_path(),
        payments=settings.payment_settings(),
        secret_key=settings.secret_key,
        clock=settings.clock(),
        webhook_policy=settings.webhook_policy(),
        late_usage_window=timedelta(seconds=settings.late_usage_window_seconds),
        reversal_window=timedelta(seconds=settings.reversal_window_seconds),
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
    app = create_app(
        open_kit(settings),
        body_bytes_max=settings.body_bytes_max,
        # Unset on loopback: forms are then accepted from the address the browser used
        # (127.0.0.1 or localhost alike); beyond loopback serve requires it.
        public_url=settings.public_url,
        return_origins=settings.allowed_return_origins(),
        events=None
        if settings.events is None
        else EventPublisher(events_servers(settings.events), partitions=settings.events_partitions),
    )
    allow_origins(app, settings.cors_origins)
    return app


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

    provider = settings.require_payments()
    settings.require_public_url()
    check_port_free(settings.host, settings.port)
    os.environ.update(settings.environment())
    configure_logging()
    # Migrate (and make the first key) once, before the workers; and say where this ledger is
    # served, so that `creditkit link` on it makes links there whatever port serve was given.
    with open_kit(settings) as kit:
        kit.keys.record_served_at(settings.public_address())
    if provider == "sandbox":
        print(
            "creditkit: payments: SANDBOX. Payments are simulated: no money moves, test cards"
            " decide (4242 4242 4242 4242 pays). Use --payments stripe to take real money.",
            file=sys.stderr,
        )
    else:
        print(
            "creditkit: payments: Stripe"
            f" ({'test mode' if '_test_' in (settings.stripe_secret_key or '') else 'LIVE'});"
            " webhooks at /v1/payments/stripe/webhook",
            file=sys.stderr,
        )
    settings.announce_webhook_policy()
    if settings.clock_file is not None:
        print(
            f"creditkit: clock: SIMULATED, read from {settings.clock_file} (clock_file);"
            " unset it to run on the system clock",
            file=sys.stderr,
        )
    print(
        f"creditkit: serving {display_url(settings.database_url)}"
        f" with catalog {settings.catalog_path()}"
        f" on http://{settings.host}:{settings.port} (docs at /docs)",
        file=sys.stderr,
    )
    if settings.events is not None:
        print(
            f"creditkit: events: POST /v1/events publishes to JetStream at {settings.events};"
            " run `creditkit ingest-worker` beside it to charge them",
            file=sys.stderr,
        )
    print(
        f"creditkit: operator console at http://{settings.host}:{settings.port}/console"
        " (sign in with an admin key); a customer's pages: creditkit link CUSTOMER",
        file=sys.stderr,
    )
    uvicorn.run(
        "creditkit.server.serve:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=False,  # creditkit logs each request itself, as JSON
        log_level="warning",
    )
