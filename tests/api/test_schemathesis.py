"""Schemathesis over the API's OpenAPI document: generated requests, valid and invalid, to every
operation, and every answer checked against the document and the error contract.

The app runs in this process (ASGI) on the test's database (SQLite, then PostgreSQL: NUL in text
fails only there) with the bundled example catalog and a ManualClock, so that a run is the same
every time (generation is derandomized too). Requests carry
an admin key, and a few customers, a workspace with members and a hold exist, so that valid
requests also name real things (``with_real_names``). Each response goes through every check
schemathesis has (no 5xx; status codes, content types, headers and bodies as documented;
authentication enforced; invalid data refused) plus ``problem_details``: every error is
``application/problem+json`` with ``type``, ``title``, ``status``, ``detail`` and ``code``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import pytest
import schemathesis
from api_helpers import Api, assert_problem, write
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.config import PositiveDataAcceptanceConfig
from schemathesis.core.failures import FailureGroup

from creditkit import CreditKit, ManualClock
from creditkit.api.problems import PROBLEM_CONTENT_TYPE
from creditkit.keys.schemas import Scope
from creditkit.server.app import create_app
from creditkit.server.serve import example_catalog

#: Generated cases per operation and generation mode, at most (an operation whose inputs allow
#: fewer distinct requests gets fewer).
CASES_PER_OPERATION_MAX = 25
#: What the whole run must reach: less means the checks ran on too little.
CASES_TOTAL_MIN = 1_000
#: Invalid requests the run must send, at least.
NEGATIVE_CASES_MIN = 500
#: Successes and refusals (4xx) the run must see, at least: a run of 25 cases per operation
#: and mode sees about 150 and 1,250.
SUCCESSES_MIN = 100
PROBLEMS_MIN = 500
#: Failures shown per operation and mode (the first ones; the rest are mostly the same).
FAILURES_SHOWN_MAX = 3
#: Valid (schema-conforming) requests may still be refused by the business rules that a schema
#: cannot say: a payment webhook whose signature does not verify (400), a short balance (402),
#: an unknown plan, unit or feature (422). Everything else schemathesis expects of valid data
#: stays (2xx, 401, 403, 404, 409, 429).
POSITIVE_STATUSES_EXPECTED = ["2xx", "400", "401", "402", "403", "404", "409", "422", "429"]
PROBLEM_MEMBERS_REQUIRED = ("type", "title", "status", "detail", "code")

CUSTOMERS = ("alice", "bob", "acme")
#: Amounts small enough for the balances above (bob holds 50 of his; a commit spends up to that).
AMOUNTS = (1, 2, 5, "3", 50)
USERS = ("alice", "bob", "carol")
#: Body fields of which a request names exactly one, by path.
ONE_OF = {
    "/v1/customers/{customer}/grants": ("amount", "pack"),
    "/v1/charges": ("amount", "action"),
}


@dataclass(frozen=True)
class Served:
    kit: CreditKit
    schema: Any
    authorization: dict[str, str]
    real_names: dict[str, tuple[Any, ...]]
    #: Numbers of Idempotency-Keys never sent before (the generated ones repeat: "0", "00" ...).
    fresh_keys: Iterator[int] = field(default_factory=lambda: count(1))


@pytest.fixture
def served(database_url: str) -> Iterator[Served]:
    kit = CreditKit(database_url, catalog=example_catalog(), clock=ManualClock())
    secret = kit.keys.create_key("schemathesis", Scope.ADMIN).secret
    for user in USERS:
        kit.create_customer(user)
    kit.subscribe("bob", "pro")
    kit.create_customer("acme", "workspace")
    kit.subscribe("acme", "team")
    kit.add_member("acme", "alice", "owner")
    kit.add_member("acme", "carol", "editor")
    kit.grant("bob", 500, idempotency_key="grant-bob")
    hold = kit.reserve("bob", 50, idempotency_key="hold-bob")
    catalog = kit.catalog
    assert catalog is not None
    features = sorted({feature for plan in catalog.plans.values() for feature in plan.features})
    real_names: dict[str, tuple[Any, ...]] = {
        "customer": CUSTOMERS,
        "from_customer": CUSTOMERS,
        "to_customer": CUSTOMERS,
        "user": USERS,
        "member": USERS,
        "plan": tuple(sorted(catalog.plans)),
        "action": tuple(sorted(catalog.actions)),
        "pack": tuple(sorted(catalog.packs)),
        "unit": ("credits",),
        "amount": AMOUNTS,
        "feature": tuple(features),
        "limit": ("team_members",),
        "hold_id": (hold.id,),
        "dimension": ("agent",),
    }
    # Schemathesis sends thousands of requests without valid credentials from one address in
    # one (manual) minute: the throttle of failed authentication, tested on its own in
    # test_side_doors.py, is set out of reach so that every operation is still reached.
    app = create_app(kit, auth_failures_per_minute_max=2**31 - 1)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(
        expected_statuses=POSITIVE_STATUSES_EXPECTED
    )
    # Every request carries the admin key (the ignored_auth check still sends each operation
    # without a key and with a wrong one), so generation leaves Authorization alone; and, like
    # most HTTP services, the API ignores query parameters it does not know.
    schema.config.generation.update(with_security_parameters=False, allow_extra_parameters=False)
    yield Served(kit, schema, {"Authorization": f"Bearer {secret}"}, real_names)
    kit.close()


def problem_details(_ctx: Any, response: Any, _case: Any) -> bool | None:
    """Every error is a problem (RFC 9457) with creditkit's members."""
    if response.status_code < 400:
        return None
    headers = {name.lower(): values for name, values in response.headers.items()}
    content_type = headers.get("content-type", [""])[0].split(";")[0].strip()
    assert content_type == PROBLEM_CONTENT_TYPE, (
        f"{response.status_code} answered as {content_type!r}, not {PROBLEM_CONTENT_TYPE}"
    )
    body = json.loads(response.content)
    missing = [member for member in PROBLEM_MEMBERS_REQUIRED if member not in body]
    assert not missing, f"the problem lacks {missing}: {body}"
    assert body["status"] == response.status_code, body
    assert body["type"].endswith("/" + body["code"]), body
    return True


def with_real_names(case: Any, data: st.DataObject, served: Served) -> None:
    """Swaps some generated values for real ones (a customer that exists, a small amount, a
    fresh Idempotency-Key), so that valid requests also get past the business rules and reach
    the success paths, not only 404s, 409s and 422s."""
    places = [case.path_parameters, case.query]
    if isinstance(case.body, dict):
        places.append(case.body)
        one_of_amount(case, data, served.real_names)
    for place in places:
        for name in list(place or {}):
            if name in served.real_names and data.draw(st.booleans(), label=f"real {name}"):
                place[name] = data.draw(st.sampled_from(served.real_names[name]), label=name)
    if "Idempotency-Key" in case.headers and data.draw(st.booleans(), label="fresh key"):
        case.headers["Idempotency-Key"] = f"fresh-{next(served.fresh_keys)}"


def one_of_amount(case: Any, data: st.DataObject, real_names: dict[str, tuple[Any, ...]]) -> None:
    """A grant names an amount or a pack, a charge an amount or an action (times a quantity):
    one of them, which the schema does not say. Sometimes keeps just one."""
    alternatives = ONE_OF.get(case.path)
    if alternatives is None:
        return
    kept = data.draw(st.sampled_from(["as generated", *alternatives]), label="one of")
    if kept == "as generated":
        return
    for name in (*alternatives, "quantity"):
        if name != kept:
            case.body.pop(name, None)
    case.body[kept] = data.draw(st.sampled_from(real_names[kept]), label=kept)


def exercise(
    served: Served,
    operation: Any,
    mode: GenerationMode,
    cases: Counter[str],
    answers: Counter[str],
) -> list[str]:
    """Runs the generated cases of one operation in one mode, counting them and their answers'
    status classes; returns their failures. A failing
    case is recorded, not raised: Hypothesis would replay it to shrink it, and the API's state
    has moved on by then (the customer it would create exists), so it would call it flaky."""
    label = f"{operation.label} ({mode.value})"
    failures: list[str] = []

    @given(data=st.data())
    @settings(
        max_examples=CASES_PER_OPERATION_MAX,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def run(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy(generation_mode=mode))
        if mode is GenerationMode.POSITIVE:
            with_real_names(case, data, served)
        cases[label] += 1
        try:
            response = case.call_and_validate(
                headers=served.authorization, additional_checks=[problem_details]
            )
            answers[f"{response.status_code // 100}xx"] += 1
        except (Exception, FailureGroup) as error:  # reported with the others, at the end
            failures.append(f"{label}:\n{error}")

    try:
        run()
    except Unsatisfiable:
        # Some operations have nothing that can be sent invalid (no input, or only a path
        # string that takes any text but NUL, which a URL cannot carry).
        assert mode is GenerationMode.NEGATIVE, label
    return failures


def test_every_operation_answers_as_its_document_says(served: Served) -> None:
    cases: Counter[str] = Counter()
    answers: Counter[str] = Counter()
    failures = []
    operations = [result.ok() for result in served.schema.get_all_operations()]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures.extend(exercise(served, operation, mode, cases, answers)[:FAILURES_SHOWN_MAX])
    assert not failures, "\n\n".join(failures)
    untested = [op.label for op in operations if not cases[f"{op.label} (positive)"]]
    assert not untested, f"operations without a single case: {untested}"
    negative = sum(count for label, count in cases.items() if label.endswith("(negative)"))
    assert negative >= NEGATIVE_CASES_MIN, cases
    assert sum(cases.values()) >= CASES_TOTAL_MIN, cases
    # The checks ran on both kinds of answer: successes (the real names reached them) and
    # problems (invalid requests, and refusals of valid ones).
    assert answers["2xx"] >= SUCCESSES_MIN, answers
    assert answers["4xx"] >= PROBLEMS_MIN, answers
    assert served.kit.audit().ok


# -- what this proof found, each pinned by an example -------------------------------------------


def test_the_document_declares_every_error_as_a_problem(api: Api) -> None:
    """Every operation documents its errors as application/problem+json (FastAPI's own 422
    body, which the API never sends, is replaced); /metrics is text."""
    document = api.client.get("/openapi.json").json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    problem = document["components"]["schemas"]["Problem"]
    assert set(PROBLEM_MEMBERS_REQUIRED) <= set(problem["required"])
    for path, path_item in document["paths"].items():
        for method, operation in path_item.items():
            for status, response in operation["responses"].items():
                if status == "default" or status >= "400":
                    assert list(response["content"]) == [PROBLEM_CONTENT_TYPE], (method, path)
    assert list(document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == [
        "text/plain"
    ]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("post", "/v1/customers", {"id": "a\x00b"}, "id"),
        ("get", "/v1/customers/a%00b", None, "customer"),
        ("get", "/v1/customers/u1/balance?unit=%00", None, "unit"),
        ("get", "/v1/customers/u1/history?cursor=%00", None, "cursor"),
        ("post", "/v1/charges", {"customer": "u1", "amount": 1, "action": "\x00"}, "action"),
        (
            "post",
            "/v1/charges",
            {"customer": "u1", "amount": 1, "metadata": {"a\x00": 1}},
            "metadata",
        ),
        (
            "post",
            "/v1/holds",
            {"customer": "u1", "amount": 1, "metadata": {"a": ["\x00"]}},
            "metadata",
        ),
        ("put", "/v1/customers/u1/payment-method", {"payment_method": "pm\x00"}, "payment_method"),
        (
            "post",
            "/v1/events",
            {"events": [{"customer": "u1", "action": "a\x00", "idempotency_key": "e"}]},
            "events[0].action",
        ),
        ("get", "/v1/customers/u1/usage/summary?unit=%00", None, "unit"),
        ("get", "/v1/events?type=%00", None, "type"),
    ],
)
def test_text_a_database_cannot_store_is_refused_naming_the_field(
    api: Api, method: str, path: str, body: dict[str, Any] | None, field: str
) -> None:
    """PostgreSQL refuses NUL in text and JSON: it was a 500 there, now a 422 on both."""
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "create"))
    response = api.client.request(method, path, json=body, headers=write(api.admin, "nul"))
    problem = assert_problem(response, 422, "invalid_request")
    assert [item["name"] for item in problem["invalid_params"]] == [field]
    assert api.kit.audit().ok


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_metadata_numbers_must_be_finite(api: Api, number: str) -> None:
    """Python's JSON parser reads NaN and Infinity (and 1e400 as infinity); a JSON column does
    not hold them: it was a 500 on PostgreSQL, now a 422 on both."""
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "create"))
    for path, fields in [
        ("/v1/customers", '"id": "u2"'),
        ("/v1/charges", '"customer": "u1", "amount": 1'),
        ("/v1/customers/u1/grants", '"amount": 1'),
    ]:
        response = api.client.post(
            path,
            content=f'{{{fields}, "metadata": {{"x": [{number}]}}}}',
            headers={**write(api.admin, f"{path}-{number}"), "Content-Type": "application/json"},
        )
        problem = assert_problem(response, 422, "invalid_request")
        assert problem["invalid_params"][0]["name"] == "metadata"
    assert api.kit.balance("u1").available == 100  # the free plan's allowance, nothing charged


def test_a_body_that_cannot_be_parsed_is_a_malformed_request(api: Api) -> None:
    response = api.client.post(
        "/v1/charges",
        content="[" * 100_000,
        headers={**write(api.admin, "deep"), "Content-Type": "application/json"},
    )
    assert_problem(response, 400, "malformed_request")


def test_an_amount_string_is_a_decimal(api: Api) -> None:
    api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "create"))
    for amount, key in [("1e3", "exponent"), ("5 ", "space"), ("5\n", "newline"), ("", "empty")]:
        response = api.client.post(
            "/v1/charges", json={"customer": "u1", "amount": amount}, headers=write(api.admin, key)
        )
        problem = assert_problem(response, 422, "invalid_request")
        assert [item["name"] for item in problem["invalid_params"]] == ["amount"]
    refused = api.client.post(
        "/v1/charges", json={"customer": "u1", "amount": "-5"}, headers=write(api.admin, "minus")
    )
    assert "must be positive" in assert_problem(refused, 422, "invalid_amount")["detail"]
    document = api.client.get("/openapi.json").json()
    amount = document["components"]["schemas"]["HoldCreate"]["properties"]["amount"]
    assert {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$", "maxLength": 64} in amount[
        "anyOf"
    ]
