"""The geometry of the pages' SVG charts, in whole pixels computed with integers; the templates
(``templates/charts.html``) draw it. No script and no inline style: the numbers are in the
markup, with a text alternative for screen readers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from creditkit.errors import InvariantViolation, Quantity

CHART_WIDTH = 640
#: The bars' own height: the first and last day's labels are HTML under the chart, so that a
#: phone, which draws the chart narrower, does not shrink them with it.
CHART_HEIGHT = 142
#: Bars drawn at most (a year of days); longer series are cut by the caller.
BARS_MAX = 366
#: Seed 003's meter colours: green under half, yellow to 80%, red beyond.
METER_YELLOW_FROM = Decimal("0.5")
METER_RED_ABOVE = Decimal("0.8")


@dataclass(frozen=True, slots=True)
class Bar:
    x: int
    y: int
    width: int
    height: int
    start: datetime
    value: Quantity


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    baseline: int
    bars: tuple[Bar, ...]
    peak: Quantity


def bar_chart(points: Sequence[tuple[datetime, Quantity]]) -> BarChart:
    """Bars for (start, value) points, scaled so the largest fills the chart's height."""
    if not (len(points) <= BARS_MAX):
        raise InvariantViolation("a chart draws a year of days at most", "")
    baseline = CHART_HEIGHT
    peak = max((value for _start, value in points), default=0)
    slot = CHART_WIDTH // max(len(points), 1)
    # A gap between bars once they are wide enough to afford one.
    gap = 2 if slot >= 6 else 0
    bars = []
    for index, (start, value) in enumerate(points):
        height = 0 if peak <= 0 or value <= 0 else max(1, int(value * baseline // peak))
        bars.append(Bar(index * slot, baseline - height, max(slot - gap, 1), height, start, value))
    return BarChart(CHART_WIDTH, CHART_HEIGHT, baseline, tuple(bars), peak)


@dataclass(frozen=True, slots=True)
class Meter:
    """A period's use as a bar: ``filled`` of ``METER_WIDTH`` pixels, in ``colour``."""

    share: Decimal
    filled: int
    colour: str


METER_WIDTH = 400


def meter(share: Decimal) -> Meter:
    """The meter of ``share`` used (0.42 is 42%); beyond 100% it is full and red."""
    colour = "green"
    if share > METER_RED_ABOVE:
        colour = "red"
    elif share >= METER_YELLOW_FROM:
        colour = "yellow"
    filled = int(min(max(share, Decimal(0)), Decimal(1)) * METER_WIDTH)
    return Meter(share, filled, colour)


#: A horizontal bar chart's rows: one per plan, action, ... (the caller cuts longer lists).
ROWS_MAX = 50
ROW_HEIGHT = 28
BAR_THICKNESS = 18
#: Room on the left for each row's label, and on the right for its value.
ROW_LABEL_WIDTH = 170
ROW_VALUE_WIDTH = 80
#: Labels longer than this are cut (with an ellipsis); the whole label is the bar's title.
ROW_LABEL_LENGTH_MAX = 24


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    short_label: str
    value: Quantity
    y: int
    width: int


@dataclass(frozen=True, slots=True)
class RowChart:
    """Horizontal bars, one a row: the label on the left, the bar, its value on the right."""

    width: int
    height: int
    bar_x: int
    bar_thickness: int
    rows: tuple[Row, ...]
    peak: Quantity


def row_chart(rows: Sequence[tuple[str, Quantity]]) -> RowChart:
    """Bars for (label, value) rows, in the given order, scaled so the largest fills the width
    left between the labels and the values."""
    if not (len(rows) <= ROWS_MAX):
        raise InvariantViolation("a row chart draws at most ROWS_MAX rows", "")
    span = CHART_WIDTH - ROW_LABEL_WIDTH - ROW_VALUE_WIDTH
    peak = max((value for _label, value in rows), default=0)
    drawn = []
    for index, (label, value) in enumerate(rows):
        width = 0 if peak <= 0 or value <= 0 else max(1, int(value * span // peak))
        short = label
        if len(label) > ROW_LABEL_LENGTH_MAX:
            short = label[: ROW_LABEL_LENGTH_MAX - 1] + "…"
        drawn.append(Row(label, short, value, index * ROW_HEIGHT, width))
    height = max(len(rows), 1) * ROW_HEIGHT
    return RowChart(CHART_WIDTH, height, ROW_LABEL_WIDTH, BAR_THICKNESS, tuple(drawn), peak)
