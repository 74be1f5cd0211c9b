"""``row_chart``: horizontal bars in whole pixels, the largest filling the room between the
labels and the values."""

from __future__ import annotations

from creditkit.web import charts

SPAN = charts.CHART_WIDTH - charts.ROW_LABEL_WIDTH - charts.ROW_VALUE_WIDTH


def test_rows_scale_to_the_largest_and_stack_downwards() -> None:
    chart = charts.row_chart([("Free", 30), ("Pro", 10), ("Team", 0)])
    assert [(row.label, row.y, row.width) for row in chart.rows] == [
        ("Free", 0, SPAN),
        ("Pro", charts.ROW_HEIGHT, SPAN // 3),
        ("Team", 2 * charts.ROW_HEIGHT, 0),
    ]
    assert (chart.peak, chart.height, chart.bar_x) == (30, 3 * charts.ROW_HEIGHT, 170)


def test_a_tiny_value_still_shows_and_long_labels_are_cut() -> None:
    label = "An enterprise plan with a very long name"
    chart = charts.row_chart([(label, 1), ("Big", 1_000_000)])
    assert chart.rows[0].width == 1
    assert chart.rows[0].short_label == label[: charts.ROW_LABEL_LENGTH_MAX - 1] + "…"
    assert chart.rows[0].label == label
    assert charts.row_chart([]).rows == ()
