"""The kit's corrections (``CreditKit``'s methods: see kit/__init__.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from creditkit.errors import Quantity
from creditkit.kit.parts import KitParts
from creditkit.ledger.schemas import Adjustment, Grant, Reversal


class KitCorrections(KitParts):
    """An operator's corrections: credits taken back, a grant voided or its expiry moved, a
    charge reversed."""

    def remove_credits(
        self,
        customer: str,
        amount: Quantity | str,
        *,
        idempotency_key: str,
        unit: str = "credits",
        metadata: dict[str, Any] | None = None,
    ) -> Adjustment:
        """Takes credits back from the customer (an operator's adjustment down; there is no
        negative grant): from its live grants in burn-down order, back to issuance, as one
        ``adjustment`` transaction in its history. Un-issued, not spent: usage and consumption
        figures do not count it, and it sets off no alert or automatic top-up. Raises
        ``InsufficientCredits`` (recorded, nothing moved) when the grants hold less: credits in
        holds are in use, and overage or an unlimited plan leave nothing to take back. Put the
        reason and who decided in ``metadata``."""
        return self._ledger.remove(
            customer, amount, unit=unit, idempotency_key=idempotency_key, metadata=metadata
        )

    def void_grant(
        self,
        grant_id: int,
        amount: Quantity | str | None = None,
        *,
        reason: str,
        idempotency_key: str,
    ) -> Adjustment:
        """Takes ``amount`` of one chosen grant (None: all that is left of it) back to
        issuance, as one ``void`` transaction in the customer's history with ``reason``. Un-issued,
        not spent, like ``remove_credits``; unlike it, only this grant is touched. Raises
        ``InsufficientCredits`` (recorded, nothing moved) when the grant holds less."""
        return self._ledger.void_grant(
            grant_id, amount, reason=reason, idempotency_key=idempotency_key
        )

    def reverse_charge(
        self,
        charge_key: str,
        amount: Quantity | str | None = None,
        *,
        reason: str,
        idempotency_key: str,
    ) -> Reversal:
        """Gives back ``amount`` (None: all that is not reversed yet) of the charge recorded
        under the idempotency key ``charge_key``, as one ``reversal`` transaction in the
        customer's history, linked to the charge, with ``reason``. The credits go back the way
        the charge took them, in the reverse of the burn-down (debt, then overage, then the
        grants, last drawn first); the part of a grant that expired since goes to breakage.
        Usage counts it in the charge's period; the budgets that counted the charge count it
        less. Partial reversals accumulate. Raises ``InvalidRequest`` naming ``charge_key`` (no
        such charge, a refused charge, not a charge, past the reversal window) or ``amount``
        (more than is left to reverse)."""
        return self._ledger.reverse_charge(
            charge_key, amount, reason=reason, idempotency_key=idempotency_key
        )

    def change_grant_expiry(
        self,
        grant_id: int,
        expires_at: datetime | None,
        *,
        reason: str,
        idempotency_key: str,
    ) -> Grant:
        """Moves what is left of the grant into a new grant expiring at ``expires_at`` (None:
        never; never in the past), as one ``expiry_change`` transaction in the customer's history
        with ``reason``. Returns the new grant; the old one keeps its history and holds
        nothing."""
        return self._ledger.change_grant_expiry(
            grant_id, expires_at, reason=reason, idempotency_key=idempotency_key
        )
