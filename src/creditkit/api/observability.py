"""``/healthz``, Prometheus ``/metrics``, and one structured (JSON) log line per request."""

import json
import logging
import time
import uuid
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


class JsonFormatter(logging.Formatter):
    """One JSON object per line: what log pipelines parse without a pattern."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
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
            self._metrics.requests.labels(method, route, str(status)).inc()
            self._metrics.duration.labels(method, route).observe(seconds)
            access_log.info(
                "request",
                extra={
                    "fields": {
                        "request_id": request_id,
                        "method": method,
                        "route": route,
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(seconds * 1000, 3),
                    }
                },
            )


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id" and 0 < len(value) <= 128:
            return str(value.decode("latin-1"))
    return uuid.uuid4().hex


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
