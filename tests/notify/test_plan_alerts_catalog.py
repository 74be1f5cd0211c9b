"""Plan alerts in the catalog: parsed, defaulted, and refused with file:line and field."""

from __future__ import annotations

import pytest

from creditkit.catalog import CatalogInvalid, PlanAlerts, parse_catalog

HEAD = """units:
  credits: {scale: 0}
  tokens: {scale: 2}
plans:
  free:
    name: Free
    default: true
    rank: 0
"""


def plan(lines: str) -> str:
    return HEAD + "".join(f"    {line}\n" for line in lines.strip().splitlines())


def test_alerts_default_to_the_allowance_unit() -> None:
    catalog = parse_catalog(
        plan(
            """
allowance: {amount: 200, unit: credits}
alerts: {credits_left: 5, percent_used: [50, 80, 100]}
"""
        )
    )
    assert catalog.plan("free").alerts == PlanAlerts("credits", 5, (50, 80, 100))


def test_a_plan_without_allowance_names_the_unit_of_its_low_balance_alert() -> None:
    catalog = parse_catalog(plan('alerts: {unit: tokens, credits_left: "2.50"}'))
    alerts = catalog.plan("free").alerts
    assert alerts is not None and alerts.unit == "tokens" and str(alerts.credits_left) == "2.50"


def test_alerts_are_not_terms_so_they_make_no_new_version() -> None:
    quiet = parse_catalog(plan("allowance: {amount: 200, unit: credits}"))
    warned = parse_catalog(
        plan("allowance: {amount: 200, unit: credits}\nalerts: {credits_left: 5}")
    )
    assert quiet.fingerprint("free") == warned.fingerprint("free")


@pytest.mark.parametrize(
    ("lines", "line", "field", "reason"),
    [
        ("alerts: {credits_left: 5}", 9, "plans.free.alerts.unit", "no allowance"),
        ("alerts: {unit: credits, percent_used: [50]}", 9, "plans.free.alerts.percent_used",
         "needs an allowance of 'credits'"),
        ("allowance: {amount: 9, unit: credits}\nalerts: {unit: tokens, percent_used: [50]}", 10,
         "plans.free.alerts.percent_used", "needs an allowance of 'tokens'"),
        ("allowance: {amount: 9, unit: credits}\nalerts: {percent_used: [80, 50]}", 10,
         "plans.free.alerts.percent_used[1]", "must be above 80"),
        ("allowance: {amount: 9, unit: credits}\nalerts: {percent_used: [50, 101]}", 10,
         "plans.free.alerts.percent_used[1]", "at most 100"),
        ("allowance: {amount: 9, unit: credits}\nalerts: {percent_used: []}", 10,
         "plans.free.alerts.percent_used", "at least one percentage"),
        ("allowance: {amount: 9, unit: credits}\nalerts: {percent_used: 50}", 10,
         "plans.free.alerts.percent_used", "expected a list"),
        ("allowance: {amount: 9, unit: credits}\nalerts: {}", 10, "plans.free.alerts",
         "credits_left, percent_used or both"),
        ("allowance: {amount: 9, unit: credits}\nalerts: {credits_left: 0}", 10,
         "plans.free.alerts.credits_left", "must be positive"),
        ("allowance: {amount: 9, unit: credits}\nalerts: {credit_left: 5}", 10,
         "plans.free.alerts.credit_left", "did you mean 'credits_left'"),
    ],
)  # fmt: skip
def test_bad_alerts_are_reported_at_their_line(
    lines: str, line: int, field: str, reason: str
) -> None:
    with pytest.raises(CatalogInvalid) as invalid:
        parse_catalog(plan(lines), "catalog.yaml")
    problems = [p for p in invalid.value.problems if p.field == field]
    assert problems, invalid.value.problems
    assert problems[0].line == line and reason in problems[0].reason
    assert str(problems[0]).startswith(f"catalog.yaml:{line}: {field}")
