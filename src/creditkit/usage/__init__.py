"""Usage: period summaries, breakdowns and series over the ledger's own rows, and batch ingestion
of usage events. See docs/usage.md."""

from creditkit.usage.schemas import (
    BreakdownBy,
    Granularity,
    UsageBreakdown,
    UsageGroup,
    UsagePoint,
    UsageSeries,
    UsageSummary,
)

__all__ = [
    "BreakdownBy",
    "Granularity",
    "UsageBreakdown",
    "UsageGroup",
    "UsagePoint",
    "UsageSeries",
    "UsageSummary",
]
