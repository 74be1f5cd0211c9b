"""What of a period's allowance is used: the one definition the dashboard's meter and the
percent-used alerts share, so that the meter never shows a share the alerts do not fire at."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from creditkit.ledger.repository import GrantRow
from creditkit.ledger.schemas import GrantSource

PERCENT_MAX = 100


def allowance_left(grants: Iterable[GrantRow], start: datetime, end: datetime) -> int:
    """The steps the allowance grants given in ``[start, end)`` still hold. Only they count:
    credits bought, gifted or given as a promotion are not the allowance."""
    return sum(
        grant.remaining
        for grant in grants
        if grant.source == GrantSource.ALLOWANCE and start <= grant.effective_at < end
    )


def allowance_spent(allowance: int, left: int) -> int:
    """The steps of the period's ``allowance`` used: the allowance less what its grants still
    hold, from 0 to the allowance (spending bought credits uses none of it, so a customer who
    bought credits is at most at 100%)."""
    return min(allowance, max(0, allowance - left))


def reached(allowance: int, spent: int, percent: int) -> bool:
    """Whether ``spent`` steps are ``percent`` or more of ``allowance``, exactly (integers)."""
    return allowance > 0 and spent * PERCENT_MAX >= allowance * percent
