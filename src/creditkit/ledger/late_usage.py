"""Late usage: a charge may carry the moment its usage happened (``occurred_at``), within the
kit's late-usage window. It spends credits now (burn-down, budgets and balance as of now) and
counts in the usage of the moment it happened (rollups, usage reads).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from creditkit.errors import InvalidRequest

#: How far back a charge's usage may have happened, unless the kit sets another window.
LATE_USAGE_WINDOW_DEFAULT = timedelta(hours=1)
#: The longest window a kit may set (Stripe accepts meter events up to 35 days back).
LATE_USAGE_WINDOW_MAX = timedelta(days=35)
#: How far in the future a moment may be, for clocks a little apart: it counts as now.
CLOCK_SKEW_MAX = timedelta(minutes=5)


def check_late_usage_window(window: object) -> timedelta:
    """A kit's late-usage window: a ``timedelta`` from 0 (no late usage) to 35 days."""
    if not isinstance(window, timedelta) or not timedelta(0) <= window <= LATE_USAGE_WINDOW_MAX:
        raise InvalidRequest(
            "late_usage_window",
            f"must be a timedelta from 0 to {LATE_USAGE_WINDOW_MAX.days} days",
        )
    return window


def counted_moment(
    occurred_at: datetime, now: datetime, window: timedelta, field_name: str = "occurred_at"
) -> datetime | None:
    """The moment a charge made at ``now`` counts at (None: now), or InvalidRequest naming
    ``field_name`` when ``occurred_at`` is before the window or beyond the clock skew."""
    if occurred_at > now + CLOCK_SKEW_MAX:
        raise InvalidRequest(field_name, "is in the future")
    if occurred_at >= now:
        return None
    if now - occurred_at > window:
        raise InvalidRequest(
            field_name,
            f"is more than the late-usage window ({window}) before now: usage that late is"
            " not accepted",
        )
    return occurred_at
