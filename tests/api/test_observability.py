"""Each request's X-Request-Id, metrics and JSON log line; a charge's answer as its model."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from api_helpers import Api, write
from pydantic import TypeAdapter

from creditkit.api import observability
from creditkit.api.observability import JsonFormatter, Metrics
from creditkit.notify.schemas import ChargeAnswer


def test_a_charge_is_logged_counted_and_given_a_request_id(api: Api) -> None:
    api.kit.create_customer("u1")
    api.kit.grant("u1", 10, idempotency_key="g")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    observability.access_log.addHandler(handler)
    level = observability.access_log.level
    observability.access_log.setLevel(logging.INFO)
    try:
        chosen = api.client.post(
            "/v1/charges",
            json={"customer": "u1", "amount": 1},
            headers={**write(api.admin, "c1"), "X-Request-Id": "from-the-client"},
        )
        made = api.client.post(
            "/v1/charges", json={"customer": "u1", "amount": 1}, headers=write(api.admin, "c2")
        )
    finally:
        observability.access_log.removeHandler(handler)
        observability.access_log.setLevel(level)
    assert chosen.status_code == made.status_code == 201
    assert chosen.headers["x-request-id"] == "from-the-client"
    assert re.fullmatch("[0-9a-f]{32}", made.headers["x-request-id"])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["request_id"], line["status"]) for line in lines] == [
        ("from-the-client", 201),
        (made.headers["x-request-id"], 201),
    ]
    for line in lines:
        assert line["level"] == "info" and line["logger"] == "creditkit.access"
        assert line["message"] == "request" and line["method"] == "POST"
        assert line["route"] == line["path"] == "/v1/charges"
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", str(line["time"]))
    metrics = api.client.get("/metrics").text
    assert (
        'creditkit_http_requests_total{method="POST",route="/v1/charges",status="201"} 2.0'
        in metrics
    )
    assert (
        'creditkit_http_request_duration_seconds_count{method="POST",route="/v1/charges"} 2.0'
        in metrics
    )


def test_a_charge_answers_what_its_model_writes(api: Api) -> None:
    """The route encodes its answer itself: the same JSON FastAPI writes for ChargeAnswer."""
    api.kit.create_customer("u1")
    api.kit.grant("u1", 10, idempotency_key="g")
    response = api.client.post(
        "/v1/charges",
        json={"customer": "u1", "amount": 3, "metadata": {"job": "j1"}},
        headers=write(api.admin, "c1"),
    )
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    charged = api.kit.charge("u1", 3, idempotency_key="c1", metadata={"job": "j1"})
    expected = TypeAdapter(ChargeAnswer).dump_python(
        ChargeAnswer.of(charged, None), mode="json", by_alias=True
    )
    body = response.json()
    assert body.pop("alert_crossed") is False
    expected.pop("alert_crossed")
    # The retry through the kit says it replayed; the first answer did not.
    assert body.pop("replayed") is False and expected.pop("replayed") is True
    assert body == expected
    assert body["draws"] and body["available_after"] == expected["available_after"]


def test_metrics_keep_a_bounded_set_of_label_children(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(observability, "LABELS_CACHED_MAX", 3)
    metrics = Metrics()
    for status in (200, 201, 404, 409, 201):
        metrics.observe("POST", "/v1/charges", status, 0.001)
    assert len(metrics._children) <= 3
    assert metrics.requests.labels("POST", "/v1/charges", "201")._value.get() == 2
    assert metrics.duration.labels("POST", "/v1/charges")._sum.get() == pytest.approx(0.005)


def test_a_log_line_has_the_time_of_its_own_second() -> None:
    formatter = JsonFormatter()
    first = logging.LogRecord("creditkit.access", logging.INFO, "", 0, "request", (), None)
    later = logging.LogRecord("creditkit.access", logging.INFO, "", 0, "request", (), None)
    later.created = first.created + 61
    times = [json.loads(formatter.format(record))["time"] for record in (first, later, first)]
    assert times[0] == times[2] != times[1]
    assert times[0] == formatter.formatTime(first, "%Y-%m-%dT%H:%M:%S%z")
