"""The pages' number formats and chart geometry: exact, from integers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from creditkit.ledger.schemas import Money
from creditkit.web import charts
from creditkit.web.rendering import credits, day, money, percent


@pytest.mark.parametrize(
    ("price", "shown"),
    [
        (Money(2000, "USD"), "$20.00"),
        (Money(123456789, "USD"), "$1,234,567.89"),
        (Money(5, "EUR"), "€0.05"),
        (Money(-1999, "GBP"), "-£19.99"),
        (Money(500, "JPY"), "¥500"),
        (Money(1050, "CHF"), "10.50 CHF"),
    ],
)
def test_money(price: Money, shown: str) -> None:
    assert money(price) == shown


def test_credits_and_percent() -> None:
    assert credits(1234567) == "1,234,567"
    assert credits(Decimal("1234.50")) == "1,234.50"
    assert percent(Decimal("0.4250")) == "43%"  # half up
    assert percent(Decimal("0.4249")) == "42%"
    assert percent(None) == "—"
    assert day(datetime(2026, 11, 1, tzinfo=UTC)) == "Nov 1, 2026"


@pytest.mark.parametrize(
    ("used", "colour"),
    [("0", "green"), ("0.4999", "green"), ("0.5", "yellow"), ("0.8", "yellow"),
     ("0.8001", "red"), ("1.5", "red")],
)  # fmt: skip
def test_meter_colours_follow_seed_003(used: str, colour: str) -> None:
    assert charts.meter(Decimal(used)).colour == colour


def test_meter_fills_in_proportion_and_stops_at_full() -> None:
    assert charts.meter(Decimal("0.25")).filled == charts.METER_WIDTH // 4
    assert charts.meter(Decimal("3")).filled == charts.METER_WIDTH
    assert charts.meter(Decimal("0")).filled == 0


def test_bar_chart_scales_to_the_peak() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    chart = charts.bar_chart([(start + timedelta(days=day), value) for day, value in
                              enumerate([0, 50, 100, 1])])  # fmt: skip
    heights = [bar.height for bar in chart.bars]
    assert heights == [0, chart.baseline // 2, chart.baseline, 1]  # a small value stays visible
    assert all(bar.y + bar.height == chart.baseline for bar in chart.bars)
    assert chart.peak == 100
    widths = {bar.width for bar in chart.bars}
    assert len(widths) == 1 and widths.pop() * 4 <= chart.width


def test_an_empty_chart_has_no_bars() -> None:
    assert charts.bar_chart([]).bars == ()
