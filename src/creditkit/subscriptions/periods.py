"""Periods: a subscription's billing periods are anchored on the day it started; allowance and
counter periods follow a ``Cadence`` of their own.

The n-th period starts at ``anchor + n months`` computed from the anchor itself, never from the
previous period, so a subscription that started on Jan 31 renews on Feb 28 (29 in a leap year),
then on Mar 31 again: the day is clamped to the month's length only for the month it falls in.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final
from zoneinfo import ZoneInfo

from creditkit.catalog import Allowance, Anchor, Interval, Limit, Period
from creditkit.errors import InvariantViolation

#: Why a bound: a customer untouched for years catches up one period at a time; 1,200 monthly
#: periods is a century, far past any real gap, and stops a clock bug from looping forever.
PERIODS_CAUGHT_UP_MAX = 1_200


def months_in(interval: Interval) -> int:
    return 12 if interval is Interval.YEAR else 1


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


_MONTHS_IN: Final = {Period.MONTH: 1, Period.QUARTER: 3, Period.YEAR: 12}
_LENGTH_OF: Final = {
    Period.HOUR: timedelta(hours=1),
    Period.DAY: timedelta(days=1),
    Period.WEEK: timedelta(weeks=1),
}
#: Corrections of a period index estimated from the calendar: clamped month days and
#: daylight-saving shifts move a boundary by days or an hour, never by more than a period.
_INDEX_CORRECTIONS_MAX: Final = 4


@dataclass(frozen=True, slots=True)
class PeriodRun:
    """Where a run of allowance or counter periods is counted from, and the customer's zone
    it is counted in (None: the terms' own)."""

    anchor_at: datetime
    time_zone: str | None = None


@dataclass(frozen=True, slots=True)
class Cadence:
    """How an allowance's or a per-period counter's periods follow each other, apart from the
    billing interval: every ``period`` from the run's anchor (``ANNIVERSARY``), or on the
    calendar's own boundaries (``CALENDAR``: each hour, midnight, Monday, the 1st of a month,
    quarter or year), counted on the wall clock of ``time_zone`` (None: UTC).

    Index 0 starts at the anchor itself; with a calendar anchor it ends at the first calendar
    boundary after it (a first period shorter than the others), index n > 0 is the n-th
    calendar period after that. Months and quarters are counted as in ``add_months``: from the
    origin, never from the previous period, so a day clamped in February comes back in March.
    Hours are UTC hours (the catalog refuses a time zone for them)."""

    period: Period
    anchor: Anchor = Anchor.ANNIVERSARY
    time_zone: str | None = None

    @classmethod
    def of(cls, terms: Allowance | Limit, customer_time_zone: str | None = None) -> Cadence:
        """The terms' cadence, on the wall clock of the customer's zone when it states one,
        else of the terms' own ``time_zone`` (hours stay UTC hours whatever the zone)."""
        period = terms.period or Period.MONTH
        zone = terms.time_zone if customer_time_zone is None else customer_time_zone
        return cls(period, terms.anchor, None if period is Period.HOUR else zone)

    def bounds(self, anchor_at: datetime, index: int) -> tuple[datetime, datetime]:
        """Start and end of the ``index``-th period of the run anchored at ``anchor_at``."""
        if index < 0:
            raise InvariantViolation("periods only move forward", f"period {index}")
        origin = self._origin(anchor_at)
        start = anchor_at if index == 0 else self._step(origin, index)
        return start, self._step(origin, index + 1)

    def index_at(self, anchor_at: datetime, moment: datetime) -> int:
        """The index of the period that contains ``moment`` (half-open periods)."""
        if moment < anchor_at:
            raise InvariantViolation(
                "no period before the anchor",
                f"{moment.isoformat()} is before {anchor_at.isoformat()}",
            )
        origin = self._origin(anchor_at)
        index = max(self._estimate(origin, moment) - 1, 0)
        for _step in range(_INDEX_CORRECTIONS_MAX):
            start, end = self.bounds(anchor_at, index)
            if moment < start:
                index -= 1
            elif moment >= end:
                index += 1
            else:
                return index
        raise InvariantViolation(
            "a period contains every moment after its run's anchor",
            f"{self} from {anchor_at.isoformat()} at {moment.isoformat()}",
        )

    def _zone(self) -> tzinfo | None:
        return None if self.time_zone is None else ZoneInfo(self.time_zone)

    def _origin(self, anchor_at: datetime) -> datetime:
        """The wall-clock moment periods are counted from: the anchor itself, or the start of
        the calendar period that contains it."""
        zone = self._zone()
        local = anchor_at if zone is None else anchor_at.astimezone(zone)
        if self.anchor is Anchor.ANNIVERSARY:
            return local
        hour = local.replace(minute=0, second=0, microsecond=0)
        if self.period is Period.HOUR:
            return hour
        day = hour.replace(hour=0)
        if self.period is Period.DAY:
            return day
        if self.period is Period.WEEK:
            return day - timedelta(days=day.weekday())
        if self.period is Period.MONTH:
            return day.replace(day=1)
        if self.period is Period.QUARTER:
            return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
        return day.replace(month=1, day=1)

    def _step(self, origin: datetime, count: int) -> datetime:
        """``count`` periods after ``origin`` on the wall clock, as an instant in UTC when a
        zone is stated (aware arithmetic within one zone is wall-clock arithmetic)."""
        months = _MONTHS_IN.get(self.period)
        moved = (
            add_months(origin, months * count)
            if months is not None
            else origin + _LENGTH_OF[self.period] * count
        )
        return moved if self.time_zone is None else moved.astimezone(UTC)

    def _estimate(self, origin: datetime, moment: datetime) -> int:
        months = _MONTHS_IN.get(self.period)
        if months is None:
            return (moment - origin) // _LENGTH_OF[self.period]
        local = moment if self.time_zone is None else moment.astimezone(ZoneInfo(self.time_zone))
        return ((local.year - origin.year) * 12 + local.month - origin.month) // months
