"""Anniversary periods: a subscription's periods are anchored on the day it started.

The n-th period starts at ``anchor + n months`` computed from the anchor itself, never from the
previous period, so a subscription that started on Jan 31 renews on Feb 28 (29 in a leap year),
then on Mar 31 again: the day is clamped to the month's length only for the month it falls in.
"""

from __future__ import annotations

import calendar
from datetime import datetime

from creditkit.catalog import Interval, Period
from creditkit.errors import InvariantViolation

#: Why a bound: a customer untouched for years catches up one period at a time; 1,200 monthly
#: periods is a century, far past any real gap, and stops a clock bug from looping forever.
PERIODS_CAUGHT_UP_MAX = 1_200


def months_in(period: Period | Interval) -> int:
    return 12 if period.value == "year" else 1


def add_months(anchor: datetime, months: int) -> datetime:
    """``anchor`` moved by whole months, its day clamped to the target month's last day."""
    # Checked with ``if`` rather than ``require``: catching up calls this once per period, and
    # the detail is formatted only when the rule is broken.
    if months < 0:
        raise InvariantViolation("periods only move forward", f"{months} months")
    month_index = anchor.month - 1 + months
    year = anchor.year + month_index // 12
    month = month_index % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def period_bounds(anchor: datetime, months: int, index: int) -> tuple[datetime, datetime]:
    """Start and end of the ``index``-th period of ``months`` months from ``anchor``."""
    return add_months(anchor, months * index), add_months(anchor, months * (index + 1))


def period_index_at(anchor: datetime, months: int, moment: datetime) -> int:
    """The index of the period that contains ``moment`` (periods are half-open: a period's
    end belongs to the next one)."""
    if moment < anchor:
        raise InvariantViolation(
            "no period before the anchor", f"{moment.isoformat()} is before {anchor.isoformat()}"
        )
    # Start from the calendar estimate and correct it: clamping can shift a boundary by days.
    estimate = ((moment.year - anchor.year) * 12 + moment.month - anchor.month) // months
    index = max(estimate - 1, 0)
    for _step in range(4):
        start, end = period_bounds(anchor, months, index)
        if moment < start:
            index -= 1
        elif moment >= end:
            index += 1
        else:
            return index
    raise AssertionError(f"no period of {months} months from {anchor} contains {moment}")
