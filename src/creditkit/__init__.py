"""creditkit: credits, subscriptions and entitlements for AI products.

>>> from creditkit import CreditKit
>>> ck = CreditKit("sqlite:///credits.db")
"""

from importlib.metadata import version

from creditkit.catalog import UNLIMITED, Catalog, CatalogInvalid, Plan, load_catalog
from creditkit.client import Client
from creditkit.clock import ManualClock, system_clock
from creditkit.entitlements import Decision, LimitUsage, Member, Reason, Role
from creditkit.errors import (
    CreditKitError,
    HoldAlreadyCommitted,
    HoldAlreadyReleased,
    HoldAmountExceeded,
    HoldExpired,
    HoldNotFound,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidAmount,
    InvalidRequest,
    LedgerBusy,
    MemberSpendCapReached,
    PurchaseLimitReached,
    Quantity,
    UnitScaleConflict,
    UnknownCustomer,
    UnknownUnit,
)
from creditkit.integrations import Meter
from creditkit.kit import CreditKit
from creditkit.ledger.schemas import (
    Adjustment,
    AuditProblem,
    AuditReport,
    Balance,
    Charge,
    ChargeRequest,
    Customer,
    CustomerKind,
    Draw,
    Expiry,
    Grant,
    GrantBalance,
    GrantSource,
    HistoryItem,
    HistoryPage,
    Hold,
    HoldStatus,
    Money,
    SweepReport,
    TransactionKind,
    Transfer,
    Unit,
)
from creditkit.subscriptions.schemas import (
    AllowanceOnUpgrade,
    BillingLine,
    BillingLineKind,
    Subscription,
    SubscriptionStatus,
)

__version__ = version("creditkit")

__all__ = [
    "UNLIMITED",
    "Adjustment",
    "AllowanceOnUpgrade",
    "AuditProblem",
    "AuditReport",
    "Balance",
    "BillingLine",
    "BillingLineKind",
    "Catalog",
    "CatalogInvalid",
    "Charge",
    "ChargeRequest",
    "Client",
    "CreditKit",
    "CreditKitError",
    "Customer",
    "CustomerKind",
    "Decision",
    "Draw",
    "Expiry",
    "Grant",
    "GrantBalance",
    "GrantSource",
    "HistoryItem",
    "HistoryPage",
    "Hold",
    "HoldAlreadyCommitted",
    "HoldAlreadyReleased",
    "HoldAmountExceeded",
    "HoldExpired",
    "HoldNotFound",
    "HoldStatus",
    "IdempotencyConflict",
    "InsufficientCredits",
    "InvalidAmount",
    "InvalidRequest",
    "LedgerBusy",
    "LimitUsage",
    "ManualClock",
    "Member",
    "MemberSpendCapReached",
    "Meter",
    "Money",
    "Plan",
    "PurchaseLimitReached",
    "Quantity",
    "Reason",
    "Role",
    "Subscription",
    "SubscriptionStatus",
    "SweepReport",
    "TransactionKind",
    "Transfer",
    "Unit",
    "UnitScaleConflict",
    "UnknownCustomer",
    "UnknownUnit",
    "load_catalog",
    "system_clock",
]
