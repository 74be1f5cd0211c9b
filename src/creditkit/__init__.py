"""creditkit: credits, subscriptions and entitlements for AI products.

>>> from creditkit import CreditKit
>>> ck = CreditKit("sqlite:///credits.db")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from creditkit.engine_extra import engine_missing
from creditkit.version import __version__ as __version__

# The names below are imported on first use (PEP 562), not with the package: so that
# ``import creditkit.client`` (the HTTP client) loads neither SQLAlchemy nor the store.
if TYPE_CHECKING:
    from creditkit.catalog import UNLIMITED, Catalog, CatalogInvalid, Plan, load_catalog
    from creditkit.catalog.examples import example_catalog
    from creditkit.client import Client
    from creditkit.clock import ManualClock, system_clock
    from creditkit.entitlements import Decision, LimitUsage, Member, Reason, Role
    from creditkit.errors import (
        BudgetExceeded,
        CreditKitError,
        HoldAlreadyCommitted,
        HoldAlreadyReleased,
        HoldAmountExceeded,
        HoldExpired,
        HoldHasOpenChildren,
        HoldNotFound,
        HoldParentExceeded,
        IdempotencyConflict,
        InsufficientCredits,
        InvalidAmount,
        InvalidRequest,
        InvariantViolation,
        LedgerBusy,
        MemberSpendCapReached,
        PurchaseLimitReached,
        Quantity,
        RateLimited,
        UnitScaleConflict,
        UnknownCustomer,
        UnknownUnit,
    )
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
        HistoryHold,
        HistoryItem,
        HistoryPage,
        HistoryPart,
        Hold,
        HoldOutcome,
        HoldStatus,
        Money,
        SweepReport,
        TransactionKind,
        Transfer,
        Unit,
    )
    from creditkit.metering import Meter, TokenMeter
    from creditkit.subscriptions.schemas import (
        AllowanceOnUpgrade,
        BillingLine,
        BillingLineKind,
        Subscription,
        SubscriptionStatus,
    )

_EXPORTS = {
    "Adjustment": "creditkit.ledger.schemas",
    "Reversal": "creditkit.ledger.schemas",
    "AllowanceOnUpgrade": "creditkit.subscriptions.schemas",
    "AuditProblem": "creditkit.ledger.schemas",
    "AuditReport": "creditkit.ledger.schemas",
    "Balance": "creditkit.ledger.schemas",
    "BillingLine": "creditkit.subscriptions.schemas",
    "BillingLineKind": "creditkit.subscriptions.schemas",
    "Catalog": "creditkit.catalog",
    "CatalogInvalid": "creditkit.catalog",
    "Charge": "creditkit.ledger.schemas",
    "ChargeRequest": "creditkit.ledger.schemas",
    "Client": "creditkit.client",
    "CreditKit": "creditkit.kit",
    "CreditKitError": "creditkit.errors",
    "Customer": "creditkit.ledger.schemas",
    "CustomerKind": "creditkit.ledger.schemas",
    "Decision": "creditkit.entitlements",
    "Draw": "creditkit.ledger.schemas",
    "Expiry": "creditkit.ledger.schemas",
    "Grant": "creditkit.ledger.schemas",
    "GrantBalance": "creditkit.ledger.schemas",
    "GrantSource": "creditkit.ledger.schemas",
    "HistoryHold": "creditkit.ledger.schemas",
    "HistoryItem": "creditkit.ledger.schemas",
    "HistoryPage": "creditkit.ledger.schemas",
    "HistoryPart": "creditkit.ledger.schemas",
    "HoldOutcome": "creditkit.ledger.schemas",
    "Hold": "creditkit.ledger.schemas",
    "Lease": "creditkit.metering.lease",
    "HoldAlreadyCommitted": "creditkit.errors",
    "HoldAlreadyReleased": "creditkit.errors",
    "HoldAmountExceeded": "creditkit.errors",
    "HoldExpired": "creditkit.errors",
    "HoldHasOpenChildren": "creditkit.errors",
    "HoldNotFound": "creditkit.errors",
    "HoldParentExceeded": "creditkit.errors",
    "HoldStatus": "creditkit.ledger.schemas",
    "IdempotencyConflict": "creditkit.errors",
    "BudgetExceeded": "creditkit.errors",
    "InsufficientCredits": "creditkit.errors",
    "InvalidAmount": "creditkit.errors",
    "InvalidRequest": "creditkit.errors",
    "InvariantViolation": "creditkit.errors",
    "LedgerBusy": "creditkit.errors",
    "LimitUsage": "creditkit.entitlements",
    "ManualClock": "creditkit.clock",
    "Member": "creditkit.entitlements",
    "MemberSpendCapReached": "creditkit.errors",
    "Meter": "creditkit.metering",
    "Money": "creditkit.ledger.schemas",
    "Plan": "creditkit.catalog",
    "PurchaseLimitReached": "creditkit.errors",
    "Quantity": "creditkit.errors",
    "RateLimited": "creditkit.errors",
    "Reason": "creditkit.entitlements",
    "Role": "creditkit.entitlements",
    "Subscription": "creditkit.subscriptions.schemas",
    "SubscriptionStatus": "creditkit.subscriptions.schemas",
    "SweepReport": "creditkit.ledger.schemas",
    "TokenMeter": "creditkit.metering",
    "TransactionKind": "creditkit.ledger.schemas",
    "Transfer": "creditkit.ledger.schemas",
    "UNLIMITED": "creditkit.catalog",
    "Unit": "creditkit.ledger.schemas",
    "UnitScaleConflict": "creditkit.errors",
    "UnknownCustomer": "creditkit.errors",
    "UnknownUnit": "creditkit.errors",
    "example_catalog": "creditkit.catalog.examples",
    "load_catalog": "creditkit.catalog",
    "system_clock": "creditkit.clock",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'creditkit' has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as error:
        # A client-only install (no engine extra): the one error that names the extra.
        line = engine_missing(error, name)
        if line is None:
            raise
        raise ModuleNotFoundError(line, name=error.name) from error
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "UNLIMITED",
    "Adjustment",
    "AllowanceOnUpgrade",
    "AuditProblem",
    "AuditReport",
    "Balance",
    "BillingLine",
    "BillingLineKind",
    "BudgetExceeded",
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
    "HistoryHold",
    "HistoryItem",
    "HistoryPage",
    "HistoryPart",
    "Hold",
    "HoldAlreadyCommitted",
    "HoldAlreadyReleased",
    "HoldAmountExceeded",
    "HoldExpired",
    "HoldHasOpenChildren",
    "HoldNotFound",
    "HoldOutcome",
    "HoldParentExceeded",
    "HoldStatus",
    "IdempotencyConflict",
    "InsufficientCredits",
    "InvalidAmount",
    "InvalidRequest",
    "InvariantViolation",
    "Lease",
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
    "RateLimited",
    "Reason",
    "Reversal",
    "Role",
    "Subscription",
    "SubscriptionStatus",
    "SweepReport",
    "TokenMeter",
    "TransactionKind",
    "Transfer",
    "Unit",
    "UnitScaleConflict",
    "UnknownCustomer",
    "UnknownUnit",
    "example_catalog",
    "load_catalog",
    "system_clock",
]
