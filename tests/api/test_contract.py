"""The OpenAPI document is a contract generators can use: it validates (openapi-spec-validator),
passes Redocly's strict recommended ruleset, and the types openapi-typescript makes from it with
its default flags compile under ``tsc --strict`` in a program that uses them (contract/usage.ts).

The npm tools come from contract/package-lock.json (``npm ci``, run once: the Makefile's test
target does it, and so does this module when they are missing)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from creditkit import CreditKit
from creditkit.server import create_app
from creditkit.server.serve import example_catalog

CONTRACT = Path(__file__).resolve().parents[2] / "contract"
NPM_TIMEOUT_SECONDS = 600
TOOL_TIMEOUT_SECONDS = 180
#: POSTs that take no Idempotency-Key: the payment providers' own webhook (the provider's event
#: id makes it exactly-once), and a quote (a read: its body is a usage object, but it writes
#: nothing).
POSTS_WITHOUT_KEY = {"handlePaymentWebhook", "createQuote"}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    database = tmp_path_factory.mktemp("contract") / "contract.db"
    kit = CreditKit(f"sqlite:///{database}", catalog=example_catalog())
    yield create_app(kit).openapi()
    kit.close()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_operation_ids_are_short_unique_camel_case(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))
    for operation_id in ids:
        assert re.fullmatch(r"[a-z]+([A-Z][a-z]+)*", operation_id), operation_id
        assert len(operation_id) <= 24, operation_id
    assert {"createCharge", "getBalance", "createHold", "commitHold"} <= set(ids)


def test_every_post_declares_an_idempotency_key(document: dict[str, Any]) -> None:
    missing = [
        operation["operationId"]
        for method, _, operation in operations(document)
        if method == "post"
        and operation["operationId"] not in POSTS_WITHOUT_KEY
        and not any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))
    ]
    assert missing == []


def test_every_operation_declares_its_errors_and_security(document: dict[str, Any]) -> None:
    for _, path, operation in operations(document):
        responses = operation["responses"]
        assert "security" in operation, path
        if operation["security"]:
            assert {"401", "403"} <= set(responses), path
        if operation.get("parameters") or "requestBody" in operation:
            assert "422" in responses, path
    charge = document["paths"]["/v1/charges"]["post"]["responses"]
    assert "InsufficientCreditsProblem" in json.dumps(charge["402"])
    assert "Retry-After" in charge["429"]["headers"]
    problem = document["components"]["schemas"]["Problem"]
    assert "insufficient_credits" in problem["properties"]["code"]["enum"]


def test_holds_nest_stretch_and_settle_in_parts(document: dict[str, Any]) -> None:
    paths = document["paths"]
    extend = paths["/v1/holds/{hold_id}/extend"]["post"]
    assert extend["operationId"] == "extendHold"
    assert {"402", "404", "409", "422", "503"} <= set(extend["responses"])
    schemas = document["components"]["schemas"]
    assert {"amount", "timeout_seconds"} <= set(schemas["HoldExtend"]["properties"])
    assert "parent" in schemas["HoldCreate"]["properties"]
    assert "final" in schemas["HoldCommit"]["properties"]
    assert {"parent_id", "remaining"} <= set(schemas["Hold"]["properties"])
    codes = schemas["Problem"]["properties"]["code"]["enum"]
    assert {"hold_parent_exceeded", "hold_has_open_children"} <= set(codes)
    conflict = json.dumps(schemas["ConflictProblem"])
    assert "children" in conflict and "parent_id" in conflict


def test_document_validates(document: dict[str, Any]) -> None:
    validate(document)  # raises, naming the first error


def _npm_tools() -> Path:
    """contract/node_modules/.bin, installed from the lock file if it is not yet."""
    stamp = CONTRACT / "node_modules" / ".package-lock.json"
    lock = CONTRACT / "package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=CONTRACT,
            check=True,
            timeout=NPM_TIMEOUT_SECONDS,
        )
    return CONTRACT / "node_modules" / ".bin"


def _run(command: list[str]) -> None:
    result = subprocess.run(
        command, cwd=CONTRACT, capture_output=True, text=True, timeout=TOOL_TIMEOUT_SECONDS
    )
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}\n{result.stderr}"


def test_lints_and_its_types_compile_under_strict(document: dict[str, Any]) -> None:
    tools = _npm_tools()
    (CONTRACT / "openapi.json").write_text(json.dumps(document, indent=1))
    _run([str(tools / "redocly"), "lint", "--config", "lint.yaml", "openapi.json"])
    _run([str(tools / "openapi-typescript"), "openapi.json", "-o", "openapi.d.ts"])
    _run([str(tools / "tsc"), "-p", "tsconfig.json"])


#: Members whose values are the caller's own JSON, free-form by design: what it sent as a
#: charge's or a customer's ``metadata`` comes back as sent.
FREE_FORM_MEMBERS = {"metadata"}
#: The problem body (RFC 9457) takes its error's facts as further members; each error's own
#: schema (``InsufficientCreditsProblem`` …) types them.
OPEN_SCHEMAS = {"Problem"}
#: Keywords that say what a value is; a schema with none of them says nothing.
TYPING_KEYWORDS = {"type", "$ref", "anyOf", "oneOf", "allOf", "enum", "const"}


def _untyped(document: dict[str, Any], schema: dict[str, Any], where: str) -> Iterator[str]:
    """Every place under ``schema`` that does not say what it holds: an empty schema, an object
    with no properties and no typed ``additionalProperties``, or ``additionalProperties: true``."""
    components = document["components"]["schemas"]
    seen: set[str] = set()
    pending = [(schema, where)]
    while pending:
        item, at = pending.pop()
        reference = item.get("$ref")
        if reference is not None:
            name = reference.rsplit("/", 1)[-1]
            if name not in seen and name not in OPEN_SCHEMAS:
                seen.add(name)
                pending.append((components[name], name))
            continue
        if not TYPING_KEYWORDS & set(item):
            yield f"{at}: says nothing of its value"
        extra = item.get("additionalProperties")
        if extra is True or extra == {}:
            yield f"{at}: additionalProperties: true"
        if item.get("type") == "object" and not item.get("properties") and extra is None:
            yield f"{at}: a bare object"
        for keyword in ("anyOf", "oneOf", "allOf"):
            pending.extend((option, f"{at}.{keyword}") for option in item.get(keyword, []))
        for name, member in item.get("properties", {}).items():
            if name not in FREE_FORM_MEMBERS:
                pending.append((member, f"{at}.{name}"))
        for keyword in ("items", "additionalProperties"):
            if isinstance(item.get(keyword), dict):
                pending.append((item[keyword], f"{at}.{keyword}"))


def test_every_success_answer_is_typed(document: dict[str, Any]) -> None:
    untyped: list[str] = []
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            content = response.get("content", {})
            if not status.startswith("2") or "application/json" not in content:
                continue
            schema = content["application/json"]["schema"]
            untyped.extend(_untyped(document, schema, f"{method.upper()} {path} {status}"))
    assert untyped == []


def test_each_event_type_has_its_own_data_schema(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    mapping = schemas["Event"]["discriminator"]["mapping"]
    assert set(mapping) == set(schemas["EventType"]["enum"])
    low = schemas[mapping["credits.low"].rsplit("/", 1)[-1]]
    assert low["properties"]["type"]["enum"] == ["credits.low"]
    data = schemas[low["properties"]["data"]["$ref"].rsplit("/", 1)[-1]]
    assert {"available", "credits_left", "unit"} <= set(data["required"])
    failed = schemas["PaymentFailedData"]
    assert "grace_ends_at" in failed["properties"] and "grace_ends_at" not in failed["required"]
