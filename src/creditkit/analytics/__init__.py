"""The operator's reads: revenue, recurring revenue, conversion, the credit liability,
consumption, breakage and margin (``CreditKit.analytics``), and the console's customer search
(``CreditKit.customers``). See docs/analytics.md."""

from creditkit.analytics.schemas import (
    Analytics,
    Conversion,
    CustomerOverview,
    CustomerPage,
    ItemRevenue,
)

__all__ = ["Analytics", "Conversion", "CustomerOverview", "CustomerPage", "ItemRevenue"]
