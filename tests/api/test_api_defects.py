"""A defect in creditkit (``InvariantViolation``) is answered as a bug, not as the caller's
mistake: a 500 ``internal_error``, never a 4xx problem, and nothing recorded for the request's
Idempotency-Key, so that the same request sent again (after the fix) runs."""

from __future__ import annotations

from typing import Any

import pytest
from api_helpers import Api, assert_problem, write

from creditkit.errors import CreditKitError, InvariantViolation
from creditkit.kit import CreditKit


def test_a_defect_is_no_creditkit_error() -> None:
    assert not issubclass(InvariantViolation, CreditKitError)
    with pytest.raises(InvariantViolation):
        try:
            raise InvariantViolation("a rule", "broken")
        except CreditKitError:  # what the server, a batch and the CLI catch as refusals
            pytest.fail("a defect was handled as a refusal")


def test_a_defect_answers_500_and_records_nothing_for_its_key(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_customer = CreditKit.create_customer

    def broken(self: CreditKit, *arguments: Any, **options: Any) -> Any:
        raise InvariantViolation("a customer is created once", "a defect injected by the test")

    monkeypatch.setattr(CreditKit, "create_customer", broken)
    answer = api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c1"))
    body = assert_problem(answer, 500, "internal_error")
    assert "injected" not in body["detail"]  # a bug's details are logged, not answered

    monkeypatch.setattr(CreditKit, "create_customer", create_customer)
    again = api.client.post("/v1/customers", json={"id": "u1"}, headers=write(api.admin, "c1"))
    assert again.status_code == 201, again.text
    assert api.kit.customer("u1").id == "u1"
