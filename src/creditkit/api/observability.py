"""``/healthz``, Prometheus ``/metrics``, and one structured (JSON) log line per request."""

import json
import logging
import os
import threading
import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from creditkit.api.context import Service
from creditkit.api.problems import LEDGER_BUSY_RETRY_AFTER_SECONDS, problem_response
from creditkit.api.responses import Health

access_log = logging.getLogger("creditkit.access")


#: Label sets whose metric children are kept at hand, at most (routes are a fixed set, statuses
#: a few; the bound only guards against a surprise).
LABELS_CACHED_MAX = 4096
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: what log pipelines parse without a pattern."""

    def __init__(self) -> None:
        super().__init__()
        # A line's time has whole seconds: the text of the last second is formatted once.
        self._second: tuple[int, str] = (-1, "")

    def _time(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        cached = self._second
        if cached[0] != second:
            cached = self._second = (second, self.formatTime(record, _TIME_FORMAT))
        return cached[1]

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self._time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "creditkit_http_requests",
            "HTTP requests answered, by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "creditkit_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route.",
            ["method", "route"],
            registry=self.registry,
        )
        self._lock = threading.Lock()
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Counts and times one answered request. The labelled children are kept per label set:
        looking them up in the metrics costs more than counting."""
        key = (method, route, str(status))
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(*key),
                self.duration.labels(method, route),
            )
            with self._lock:
                if len(self._children) >= LABELS_CACHED_MAX:
                    self._children.clear()
                self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


def log_request(fields: dict[str, Any]) -> None:
    """The request's JSON log line, through ``creditkit.access``'s handlers as ``info`` would
    send it, without looking up the caller's source line (no line shows it; the lookup walks
    the stack and was a third of the logging's cost)."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    record = access_log.makeRecord(
        access_log.name, logging.INFO, "", 0, "request", (), None, extra={"fields": fields}
    )
    access_log.handle(record)


class ObservedApp:
    """ASGI middleware (not BaseHTTPMiddleware: this one adds no task per request on the hot
    path): times each request, counts it, logs it, and gives it an ``X-Request-Id``."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self._app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self._metrics.observe(method, route, status, seconds)
            log_request(
                {
                    "request_id": request_id,
                    "method": method,
                    "route": route,
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                }
            )


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id" and 0 < len(value) <= 128:
            return str(value.decode("latin-1"))
    # 128 random bits as 32 hex digits, as uuid4().hex spells them, without building a UUID.
    return os.urandom(16).hex()


def router(service: Service, metrics: Metrics) -> APIRouter:
    api = APIRouter(tags=["operations"])

    @api.get("/healthz", response_model=Health)
    def healthz() -> JSONResponse:
        """200 when the database answers, 503 with ``Retry-After`` when it does not (a standby
        taking over answers within seconds: a load balancer should ask again, not give up)."""
        try:
            service.kit.ping()
        except Exception as error:  # any failure to reach the database is "not healthy"
            return problem_response(
                503,
                "database_unavailable",
                f"the database: {error}",
                headers={"Retry-After": str(LEDGER_BUSY_RETRY_AFTER_SECONDS)},
            )
        return JSONResponse({"status": "ok"})

    @api.get("/metrics", response_class=PlainTextResponse)
    def get_metrics() -> Response:
        """Prometheus text format: requests by route and status, and their durations."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return api
