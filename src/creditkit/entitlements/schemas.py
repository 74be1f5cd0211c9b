"""Entitlements' value types: decisions, limit usage, workspace members."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from creditkit.catalog import UNLIMITED, CountOrUnlimited, LimitKind

#: The count limit that ``add_member`` counts against: a workspace's members, owner included.
#: Its usage is the members table, so ``acquire`` and ``release_resource`` refuse it.
TEAM_MEMBERS_LIMIT: Final = "team_members"


class Reason(StrEnum):
    """Why a ``Decision`` went the way it did: stable codes, for programs (and translations)."""

    #: ``entitled``: the plan in force grants the feature.
    FEATURE_INCLUDED = "feature_included"
    #: ``entitled``: it does not.
    FEATURE_NOT_IN_PLAN = "feature_not_in_plan"
    #: Counted, and still within the plan's cap.
    WITHIN_LIMIT = "within_limit"
    #: Counted; the plan sets no cap (``UNLIMITED``, or the plan does not name the limit).
    UNLIMITED = "unlimited"
    #: ``acquire`` of a resource already held, ``add_member`` of a member with that role
    #: already: nothing new is counted.
    ALREADY_COUNTED = "already_counted"
    #: ``add_member`` of a member with another role: the role changed, no new seat.
    ROLE_CHANGED = "role_changed"
    #: Refused: it would take the usage over the plan's cap.
    LIMIT_REACHED = "limit_reached"


@dataclass(frozen=True, slots=True)
class Decision:
    """May the customer do it? ``reason`` is a ``Reason`` code. When refused, ``upgrade_to`` is
    the id of the lowest-ranked plan above the plan in force that would allow it (``None``:
    no plan would). For limits, ``used`` is the usage after the call (before it, when refused)
    and ``limit`` the plan's cap; both are ``None`` for features."""

    allowed: bool
    reason: str
    upgrade_to: str | None = None
    used: int | None = None
    limit: CountOrUnlimited | None = None


@dataclass(frozen=True, slots=True)
class LimitUsage:
    """One limit of the plan in force and the customer's usage of it. For a ``per_period``
    limit, the usage is the current period's, ``period_start`` ≤ now < ``period_end``."""

    name: str
    kind: LimitKind
    used: int
    limit: CountOrUnlimited
    period_start: datetime | None = None
    period_end: datetime | None = None

    @property
    def over(self) -> bool:
        """More in use than the plan allows (after a downgrade: existing things stay)."""
        return self.limit is not UNLIMITED and self.used > self.limit


class Role(StrEnum):
    """A member's role in a workspace. A workspace with members has exactly one owner."""

    OWNER = "owner"
    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"


#: Members are listed in this order, then by when they were added.
ROLE_ORDER: Final = (Role.OWNER, Role.ADMIN, Role.EDITOR, Role.VIEWER)


@dataclass(frozen=True, slots=True)
class Member:
    workspace: str
    user: str
    role: Role
    added_at: datetime


@dataclass(frozen=True, slots=True)
class RateDecision:
    """One request counted against the plan's rate limit: ``limit`` None means none is set;
    when refused, ``retry_after_seconds`` is when the current minute's window ends."""

    allowed: bool
    limit: int | None
    count: int
    retry_after_seconds: int
