"""Each validation rule of the catalog: the loader reports it with file, line and field, and the
JSON Schema agrees (or, for the rules only the loader can check, is documented not to).

Every case is one edit of a valid catalog (``BASE``), so that the edit is the only thing wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest
import yaml

from creditkit.catalog import SCHEMA_PATH, CatalogInvalid, CatalogProblem, parse_catalog

SOURCE = "shop/catalog.yaml"

BASE = """\
units:
  credits: {scale: 0}
  usd_credits: {scale: 2}
actions:
  ask_anything: {price: 2, unit: credits, label: "Ask Anything", category: "AI queries"}
  render: {price: "0.25", unit: usd_credits}
plans:
  free:
    name: Free
    default: true
    rank: 0
    prices:
      month: {amount: 0, currency: USD}
    allowance:
      amount: 50
      unit: credits
      period: month
      rollover: none
    features: [usage_dashboard]
    limits:
      tasks: {count: 1}
      scheduled_posts: {per_period: 30, period: month}
    quotas: {max_file_mb: 10}
  pro:
    name: Pro
    rank: 1
    prices:
      month: {amount: 2900, currency: USD}
      year: {amount: 29000, currency: USD}
    prices_in_credits:
      month: {amount: 5800, unit: credits}
    allowance:
      amount: 1000
      unit: credits
      rollover: {cap: 500}
    features: [usage_dashboard, priority_support]
    limits:
      tasks: {count: unlimited}
      scheduled_posts: {per_period: unlimited, period: month}
    overage:
      unit: credits
      price: {amount: 500, currency: USD, per: 1000}
      spend_limit: 5000
    rate_limit_per_minute: 60
packs:
  basic: {name: "Basic Pack", amount: 40, unit: credits, price: {amount: 999, currency: USD}}
  trial: {name: "Trial", amount: 10, unit: usd_credits, price: {amount: 0, currency: USD},
    purchase_limit: 1}
coupons:
  launch: {percent_off: 20, plans: [pro], intervals: [year], max_redemptions: 100,
    expires_at: "2026-12-31T23:59:59Z"}
  basic_off: {name: "A dollar off", amount_off: {amount: 100, currency: USD}, packs: [basic]}
discounts:
  agency: {percent_off: 15, min_owner_workspaces: 3}
"""


@dataclass(frozen=True)
class Case:
    """Replace ``old`` (which must occur once) by ``new``; expect a problem at ``field`` on the
    line of the ``line_at``-th occurrence of ``line_of`` in the edited text, whose reason
    contains ``reason``. ``schema``: whether the JSON Schema refuses the edit too."""

    id: str
    old: str
    new: str
    field: str
    line_of: str
    reason: str
    schema: bool = True
    line_at: int = 1

    def text(self) -> str:
        assert BASE.count(self.old) == 1, f"{self.id}: {self.old!r} must occur once in BASE"
        return BASE.replace(self.old, self.new)

    def line(self) -> int:
        lines = self.text().splitlines()
        hits = [number for number, line in enumerate(lines, 1) if self.line_of in line]
        return hits[self.line_at - 1]


# fmt: off
# (a table: one case to a few lines reads better than the formatter's one argument per line)
CASES = [
    # -- unknown keys: typos are errors, at every level --
    Case("unknown top-level key", "packs:\n", "extras: {}\npacks:\n", "extras", "extras:",
         "unknown key (expected one of: units, actions, plans, packs, coupons, discounts,"
         " dimensions, features, limits)"),
    Case("misspelt section", "packs:\n", "pack:\n", "pack", "pack:", "did you mean 'packs'?"),
    Case("unknown plan key", "    rate_limit_per_minute: 60", "    rate_limit_per_minut: 60",
         "plans.pro.rate_limit_per_minut", "rate_limit_per_minut", "did you mean"),
    Case("unknown action key", 'category: "AI queries"', 'categry: "AI queries"',
         "actions.ask_anything.categry", "categry", "did you mean 'category'?"),
    Case("unknown allowance key", "      rollover: none", "      rolover: none",
         "plans.free.allowance.rolover", "rolover", "unknown key"),
    Case("unknown dimension key", "packs:\n", "dimensions:\n  agent: {colour: red}\npacks:\n",
         "dimensions.agent.colour", "colour", "unknown key"),
    Case("dimension id not an identifier", "packs:\n", "dimensions:\n  Top Agent: {}\npacks:\n",
         "dimensions.Top Agent", "Top Agent", "lowercase"),
    Case("unknown pack key", '"Basic Pack", amount', '"Basic Pack", colour: red, amount',
         "packs.basic.colour", "colour", "unknown key"),
    Case("unknown unit key", "  credits: {scale: 0}", "  credits: {scale: 0, scael: 1}",
         "units.credits.scael", "scael", "did you mean 'scale'?"),
    Case("unknown interval", "      year: {amount: 29000", "      annual: {amount: 29000",
         "plans.pro.prices.annual", "annual:", "expected one of: month, year"),
    Case("unknown limit key", "      tasks: {count: 1}", "      tasks: {max: 1}",
         "plans.free.limits.tasks.max", "tasks: {max", "unknown key"),
    Case("missing required key", "    name: Pro\n", "", "plans.pro.name", "  pro:", "missing"),
    Case("missing section", "units:\n  credits: {scale: 0}\n  usd_credits: {scale: 2}\n", "",
         "units", "actions:", "missing"),
    # -- money: integers in minor units, ISO currencies --
    Case("float price", "{amount: 999, currency: USD}", "{amount: 9.99, currency: USD}",
         "packs.basic.price.amount", "Basic Pack", "write 999 for 9.99"),
    Case("float price written like an integer", "month: {amount: 2900,", "month: {amount: 29.00,",
         "plans.pro.prices.month.amount", "29.00", "write 2900", schema=False),
    Case("negative price", "month: {amount: 2900,", "month: {amount: -1,",
         "plans.pro.prices.month.amount", "-1", "at least 0"),
    Case("boolean as amount", "month: {amount: 2900,", "month: {amount: true,",
         "plans.pro.prices.month.amount", "amount: true", "expected an integer"),
    Case("lowercase currency", "year: {amount: 29000, currency: USD}",
         "year: {amount: 29000, currency: usd}", "plans.pro.prices.year.currency", "currency: usd",
         "ISO 4217"),
    Case("four-letter currency", "year: {amount: 29000, currency: USD}",
         "year: {amount: 29000, currency: USDT}", "plans.pro.prices.year.currency", "USDT",
         "ISO 4217"),
    Case("one plan, two currencies", "year: {amount: 29000, currency: USD}",
         "year: {amount: 29000, currency: EUR}", "plans.pro.prices.year.currency", "EUR",
         "share one currency", schema=False),
    Case("overage in another currency", "{amount: 500, currency: USD, per: 1000}",
         "{amount: 500, currency: GBP, per: 1000}", "plans.pro.overage.price.currency", "GBP",
         "share one currency", schema=False),
    Case("free overage", "{amount: 500, currency: USD, per: 1000}",
         "{amount: 0, currency: USD, per: 1000}", "plans.pro.overage.price.amount", "per: 1000",
         "at least 1"),
    Case("overage per zero", "{amount: 500, currency: USD, per: 1000}",
         "{amount: 500, currency: USD, per: 0}", "plans.pro.overage.price.per", "per: 0",
         "at least 1"),
    Case("no prices listed", "    prices:\n      month: {amount: 0, currency: USD}\n",
         "    prices: {}\n", "plans.free.prices", "prices: {}", "at least one of month, year"),
    # -- units: declared, and amounts within their scale --
    Case("action in an undeclared unit", "unit: credits, label", "unit: credit, label",
         "actions.ask_anything.unit", "ask_anything", "did you mean 'credits'?", schema=False),
    Case("allowance in an undeclared unit", "      unit: credits\n      period",
         "      unit: tokens\n      period", "plans.free.allowance.unit", "tokens",
         "unknown unit 'tokens'", schema=False),
    Case("pack in an undeclared unit", "amount: 40, unit: credits", "amount: 40, unit: coins",
         "packs.basic.unit", "coins", "unknown unit 'coins'", schema=False),
    Case("overage in an undeclared unit", "      unit: credits\n      price:",
         "      unit: coins\n      price:", "plans.pro.overage.unit", "coins",
         "unknown unit", schema=False),
    Case("price in credits in an undeclared unit", "{amount: 5800, unit: credits}",
         "{amount: 5800, unit: coins}", "plans.pro.prices_in_credits.month.unit", "coins",
         "unknown unit", schema=False),
    Case("more decimals than the scale", 'price: "0.25"', 'price: "0.255"',
         "actions.render.price", "0.255", "more decimal places", schema=False),
    Case("decimals on a whole unit", "      amount: 50", '      amount: "1.5"',
         "plans.free.allowance.amount", '"1.5"', "more decimal places", schema=False),
    Case("float quantity", 'price: "0.25"', "price: 0.25", "actions.render.price", "0.25",
         'in quotes ("0.25")'),
    Case("quantity beyond the ledger's bound", "      amount: 1000\n",
         "      amount: 2000000000000000\n", "plans.pro.allowance.amount", "2000000000000000",
         "at most"),
    Case("unit cost as a float", "  credits: {scale: 0}",
         "  credits: {scale: 0, cost: {amount: 0.2, currency: USD}}", "units.credits.cost.amount",
         "cost:", "not an integer"),
    Case("unit cost per zero", "  credits: {scale: 0}",
         "  credits: {scale: 0, cost: {amount: 2, currency: USD, per: 0}}",
         "units.credits.cost.per", "cost:", "at least 1"),
    Case("unit cost without a currency", "  credits: {scale: 0}",
         "  credits: {scale: 0, cost: {amount: 2, per: 1000}}", "units.credits.cost.currency",
         "cost:", "missing"),
    Case("scale too fine", "usd_credits: {scale: 2}", "usd_credits: {scale: 7}",
         "units.usd_credits.scale", "scale: 7", "at most 6"),
    # -- plans: one default, unique ranks --
    Case("no default plan", "    default: true\n", "", "plans", "plans:", "exactly one plan",
         schema=False),
    Case("two default plans", "    name: Pro\n", "    name: Pro\n    default: true\n",
         "plans.pro.default", "default: true", "'free' is the default already", schema=False,
         line_at=2),
    Case("tied ranks", "    rank: 1", "    rank: 0", "plans.pro.rank", "rank: 0",
         "taken by plan 'free'", schema=False, line_at=2),
    Case("negative rank", "    rank: 1", "    rank: -1", "plans.pro.rank", "rank: -1",
         "at least 0"),
    Case("plan id not an identifier", "  pro:\n", "  Pro:\n", "plans.Pro", "Pro:",
         "not an identifier"),
    # -- allowance and rollover --
    Case("rollover cap zero", "rollover: {cap: 500}", "rollover: {cap: 0}",
         "plans.pro.allowance.rollover.cap", "cap: 0", "positive"),
    Case("rollover unknown", "      rollover: none", "      rollover: some",
         "plans.free.allowance.rollover", "some", "expected none, all or {cap: N}"),
    Case("rollover of credits that never expire", "      rollover: {cap: 500}",
         "      rollover: {cap: 500}\n      expires: never", "plans.pro.allowance.rollover",
         "cap: 500", "no effect"),
    Case("allowance period unknown", "      period: month\n", "      period: fortnight\n",
         "plans.free.allowance.period", "fortnight",
         "expected one of hour, day, week, month, quarter, year"),
    Case("allowance anchor unknown", "      period: month\n",
         "      period: month\n      anchor: payday\n", "plans.free.allowance.anchor", "payday",
         "expected one of anniversary, calendar"),
    Case("time zone unknown", "      period: month\n",
         "      period: month\n      time_zone: Europe/Pariss\n",
         "plans.free.allowance.time_zone", "Pariss", "unknown time zone 'Europe/Pariss'",
         schema=False),
    Case("time zone of an hour period", "      period: month\n",
         "      period: hour\n      time_zone: Europe/Paris\n",
         "plans.free.allowance.time_zone", "Europe/Paris", "hour periods are counted in UTC",
         schema=False),
    Case("counter time zone unknown", "{per_period: 30, period: month}",
         "{per_period: 30, period: day, time_zone: Mars/Olympus}",
         "plans.free.limits.scheduled_posts.time_zone", "Mars/Olympus", "unknown time zone",
         schema=False),
    Case("anchor of a count", "      tasks: {count: 1}",
         "      tasks: {count: 1, anchor: calendar}",
         "plans.free.limits.tasks.anchor", "anchor: calendar", "only a per_period limit"),
    Case("rollover fraction above one", "      rollover: {cap: 500}",
         '      rollover: {fraction: "1.5"}', "plans.pro.allowance.rollover.fraction", "1.5",
         "must be more than 0 and at most 1, got 1.5"),
    Case("rollover fraction of zero", "      rollover: {cap: 500}",
         '      rollover: {fraction: "0"}', "plans.pro.allowance.rollover.fraction", "fraction",
         "must be more than 0 and at most 1, got 0"),
    Case("rollover fraction as a float", "      rollover: {cap: 500}",
         "      rollover: {fraction: 0.5}", "plans.pro.allowance.rollover.fraction", "fraction",
         'expected a decimal in quotes ("0.5")'),
    Case("rolled credits expiring after no period", "      rollover: {cap: 500}",
         "      rollover: {expires_after_periods: 0}",
         "plans.pro.allowance.rollover.expires_after_periods", "expires_after_periods",
         "must be at least 1, got 0"),
    Case("rollover per-grant minimum above its maximum", "      rollover: {cap: 500}",
         "      rollover: {min_per_grant: 50, max_per_grant: 20}",
         "plans.pro.allowance.rollover.min_per_grant", "min_per_grant",
         "is more than max_per_grant (20)", schema=False),
    Case("empty rollover mapping", "      rollover: {cap: 500}", "      rollover: {}",
         "plans.pro.allowance.rollover", "rollover: {}", "name at least one of cap, fraction"),
    Case("carried overage with a price", "      spend_limit: 5000",
         "      spend_limit: 5000\n      carry: debt", "plans.pro.overage.price",
         "price: {amount: 500", "owed in credits, never billed: leave price out"),
    Case("carried overage without an allowance to repay it",
         "      unit: credits\n      price: {amount: 500, currency: USD, per: 1000}\n",
         "      unit: usd_credits\n      carry: debt\n", "plans.pro.overage.carry", "carry: debt",
         "carrying overage as debt needs an allowance of 'usd_credits'", schema=False),
    Case("allowance neither mapping nor unlimited", "    allowance:\n      amount: 50\n"
         "      unit: credits\n      period: month\n      rollover: none\n",
         "    allowance: lots\n", "plans.free.allowance", "lots",
         "expected a mapping or `unlimited`"),
    # -- limits, quotas, features --
    Case("limit name not an identifier", "      tasks: {count: 1}", "      Tasks: {count: 1}",
         "plans.free.limits.Tasks", "Tasks", "not an identifier"),
    Case("limit name with a dash", "      tasks: {count: 1}", "      max-tasks: {count: 1}",
         "plans.free.limits.max-tasks", "max-tasks", "not an identifier"),
    Case("limit of -1", "      tasks: {count: 1}", "      tasks: {count: -1}",
         "plans.free.limits.tasks.count", "count: -1", "at least 0"),
    Case("limit both count and per_period", "      tasks: {count: 1}",
         "      tasks: {count: 1, per_period: 2}", "plans.free.limits.tasks", "per_period: 2",
         "exclude each other"),
    Case("per-period limit without a period", "{per_period: 30, period: month}",
         "{per_period: 30}", "plans.free.limits.scheduled_posts.period", "per_period: 30",
         "missing"),
    Case("count with a period", "      tasks: {count: 1}", "      tasks: {count: 1, period: month}",
         "plans.free.limits.tasks.period", "tasks:", "only per_period"),
    Case("quota not a number", "{max_file_mb: 10}", "{max_file_mb: big}",
         "plans.free.quotas.max_file_mb", "big", "expected an integer"),
    Case("quotas as a list", "    quotas: {max_file_mb: 10}", "    quotas: [max_file_mb]",
         "plans.free.quotas", "quotas:", "expected a mapping, got a list"),
    Case("feature listed twice", "[usage_dashboard, priority_support]",
         "[usage_dashboard, priority_support, usage_dashboard]", "plans.pro.features[2]",
         "priority_support, usage_dashboard", "listed twice"),
    Case("feature not an identifier", "    features: [usage_dashboard]\n",
         "    features: [usage_dashboard, Usage Dashboard]\n", "plans.free.features[1]",
         "Usage Dashboard", "not an identifier"),
    # -- unlimited where stated, and only there --
    Case("unlimited action price", "price: 2, unit: credits", "price: unlimited, unit: credits",
         "actions.ask_anything.price", "ask_anything", "`unlimited` is not accepted here"),
    Case("unlimited rank", "    rank: 1", "    rank: unlimited", "plans.pro.rank", "unlimited",
         "`unlimited` is not accepted here"),
    Case("unlimited pack", "amount: 40,", "amount: unlimited,", "packs.basic.amount",
         "Basic Pack", "`unlimited` is not accepted here"),
    Case("minus one for unlimited", "      tasks: {count: unlimited}", "      tasks: {count: -1}",
         "plans.pro.limits.tasks.count", "count: -1", "at least 0"),
    # -- actions --
    Case("action price zero", "price: 2, unit: credits", "price: 0, unit: credits",
         "actions.ask_anything.price", "ask_anything", "must be positive"),
    Case("action price negative", 'price: "0.25"', 'price: "-0.25"', "actions.render.price",
         "render", "expected an amount"),
    Case("action price zero in an undeclared unit", "price: 2, unit: credits",
         "price: 0, unit: credit", "actions.ask_anything.price", "ask_anything",
         "must be positive"),
    # -- packs --
    Case("free pack without a purchase limit", ",\n    purchase_limit: 1}", "}",
         "packs.trial.price", "Trial", "needs a purchase_limit"),
    Case("pack expiry zero days", "price: {amount: 999, currency: USD}}",
         "price: {amount: 999, currency: USD}, expires_after_days: 0}",
         "packs.basic.expires_after_days", "Basic Pack", "at least 1"),
    Case("rate limit zero", "    rate_limit_per_minute: 60", "    rate_limit_per_minute: 0",
         "plans.pro.rate_limit_per_minute", "rate_limit_per_minute", "at least 1"),
    Case("popular as text", "currency: USD}}", 'currency: USD}, popular: "yes"}',
         "packs.basic.popular", "Basic Pack", "expected true or false"),
    # -- coupons and discounts --
    Case("percent off over 100", "percent_off: 20,", "percent_off: 120,",
         "coupons.launch.percent_off", "launch:", "at most 100"),
    Case("percent and amount off", "percent_off: 15,",
         "percent_off: 15, amount_off: {amount: 1, currency: USD},", "discounts.agency",
         "agency:", "exactly one of them"),
    Case("neither percent nor amount off", "percent_off: 15, ", "", "discounts.agency",
         "agency:", "exactly one of them"),
    Case("coupon for an unknown plan", "plans: [pro]", "plans: [pro, prime]",
         "coupons.launch.plans[1]", "prime", "unknown plan 'prime'", schema=False),
    Case("coupon for an unknown pack", "packs: [basic]", "packs: [basics]",
         "coupons.basic_off.packs[0]", "basics", "did you mean 'basic'?", schema=False),
    Case("coupon interval unknown", "intervals: [year]", "intervals: [week]",
         "coupons.launch.intervals[0]", "week", "expected one of month, year"),
    Case("coupon expiry without an offset", '"2026-12-31T23:59:59Z"', '"2026-12-31T23:59:59"',
         "coupons.launch.expires_at", "expires_at", "no UTC offset"),
    Case("coupon expiry unquoted", '"2026-12-31T23:59:59Z"', "2026-12-31",
         "coupons.launch.expires_at", "expires_at", "in quotes"),
    Case("amount off in another currency", "{amount: 100, currency: USD}",
         "{amount: 100, currency: EUR}", "coupons.basic_off.amount_off.currency", "basic_off",
         "EUR differs from USD", schema=False),
    Case("amount off of nothing", "{amount: 100, currency: USD}", "{amount: 0, currency: USD}",
         "coupons.basic_off.amount_off.amount", "basic_off", "at least 1"),
    Case("discount without its condition", ", min_owner_workspaces: 3}", "}",
         "discounts.agency.min_owner_workspaces", "agency:", "missing"),
    Case("coupon with a condition", "max_redemptions: 100,",
         "max_redemptions: 100, min_owner_workspaces: 2,", "coupons.launch.min_owner_workspaces",
         "launch:", "unknown key"),
    Case("max redemptions zero", "max_redemptions: 100,", "max_redemptions: 0,",
         "coupons.launch.max_redemptions", "launch:", "at least 1"),
    # -- YAML itself --
    Case("key written twice", "packs:\n", "  free:\n    name: Again\n    rank: 7\npacks:\n",
         "plans.free", "  free:", "duplicate key (line 8)", schema=False, line_at=2),
    Case("text as a key", "  credits: {scale: 0}", "  credits: {scale: 0}\n  7: {scale: 0}",
         "units", "7:", "keys must be text"),
]
# fmt: on


def problems_of(text: str) -> tuple[CatalogProblem, ...]:
    with pytest.raises(CatalogInvalid) as caught:
        parse_catalog(text, SOURCE)
    return caught.value.problems


def test_base_is_valid() -> None:
    catalog = parse_catalog(BASE, SOURCE)
    assert list(catalog.plans) == ["free", "pro"]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_loader_reports_file_line_field(case: Case) -> None:
    problems = problems_of(case.text())

    matching = [problem for problem in problems if problem.field == case.field]
    assert matching, f"no problem at {case.field}; got {[str(p) for p in problems]}"
    problem = matching[0]
    assert problem.file == SOURCE
    assert problem.line == case.line(), str(problem)
    assert case.reason in problem.reason


def _schema_errors(document: Any) -> list[str]:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{error.json_path}: {error.message}" for error in validator.iter_errors(document)]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_json_schema_agrees(case: Case) -> None:
    """The schema refuses every edit the loader refuses, except the rules documented in
    docs/catalog.md as the loader's alone (they relate fields to each other, or depend on how a
    number was spelt), which the schema must then accept: anything else is a disagreement."""
    errors = _schema_errors(yaml.safe_load(case.text()))

    if case.schema:
        assert errors, "the JSON Schema accepts what the loader refuses"
    else:
        assert not errors, "a loader-only rule is now in the schema: mark the case schema=True"


def test_json_schema_accepts_the_base() -> None:
    assert _schema_errors(yaml.safe_load(BASE)) == []


# -- the whole file, and YAML syntax --


def test_every_problem_is_reported_in_one_run_in_file_order() -> None:
    text = (
        BASE.replace("{amount: 999, currency: USD}", "{amount: 9.99, currency: USD}")
        .replace("      rollover: none", "      rolover: none")
        .replace("unit: credits, label", "unit: credit, label")
    )

    problems = problems_of(text)

    assert [problem.field for problem in problems] == [
        "actions.ask_anything.unit",
        "plans.free.allowance.rolover",
        "packs.basic.price.amount",
    ]
    assert [problem.line for problem in problems] == sorted(problem.line for problem in problems)


def test_message_has_one_line_per_problem() -> None:
    text = BASE.replace("    rank: 1", "    rank: 0").replace("currency: USD}}", "currency: usd}}")

    with pytest.raises(CatalogInvalid) as caught:
        parse_catalog(text, SOURCE)

    error = caught.value
    lines = str(error).splitlines()
    assert lines[0] == f"{SOURCE}: 2 problems in the catalog"
    assert lines[1:] == [str(problem) for problem in error.problems]
    rank_line = text.splitlines().index("    rank: 0", 12) + 1
    assert lines[1] == (
        f"{SOURCE}:{rank_line}: plans.pro.rank: rank 0 is taken by plan 'free': ranks must be"
        " unique"
    )
    assert (error.file, error.line, error.field) == (SOURCE, rank_line, "plans.pro.rank")


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("    rank: 1", "    rank: 1: 2", "mapping values are not allowed here"),
        ("  render: {price", "  render: {price: [, ", "expected the node content"),
        ("    name: Pro", "\tname: Pro", "found character '\\t'"),
    ],
    ids=["mapping in a scalar", "broken flow", "tab indentation"],
)
def test_yaml_syntax_error_has_its_line(old: str, new: str, reason: str) -> None:
    text = BASE.replace(old, new)
    line = next(n for n, text_line in enumerate(text.splitlines(), 1) if text_line.startswith(new))

    problems = problems_of(text)

    assert len(problems) == 1
    assert (problems[0].file, problems[0].line, problems[0].field) == (SOURCE, line, "")
    assert problems[0].reason.startswith("YAML syntax: ")
    assert reason in problems[0].reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "the catalog is empty"),
        ("# only a comment\n", "the catalog is empty"),
        ("- units\n- plans\n", "expected a mapping, got a list"),
        ("units: {}\n---\nplans: {}\n", "expected a single document"),
        ("units: !!python/object:os.system {}\nplans: {}\n", "a value tagged"),
        ("units: !!binary aGk=\nplans: {}\n", "got a binary value"),
    ],
    ids=["empty", "comment only", "a list", "two documents", "python tag", "binary"],
)
def test_documents_that_are_no_catalog(text: str, reason: str) -> None:
    problems = problems_of(text)

    assert reason in problems[0].reason
