"""Entitlements: features, limits (live counts and per-period counters), quotas, and workspace
members, all read from the plan in force. See docs/entitlements.md."""

from creditkit.entitlements.schemas import (
    TEAM_MEMBERS_LIMIT,
    Decision,
    LimitUsage,
    Member,
    Reason,
    Role,
)

__all__ = ["TEAM_MEMBERS_LIMIT", "Decision", "LimitUsage", "Member", "Reason", "Role"]
