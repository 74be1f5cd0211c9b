"""The client's corrections (``Client``'s methods: see client.py)."""

from __future__ import annotations

from datetime import datetime

from creditkit.client.encode import amount_json, row_id, time_json, v1_path
from creditkit.client.wire import Wire
from creditkit.errors import Quantity
from creditkit.ledger.schemas import Adjustment, Grant, Reversal


class ClientCorrections:
    """Corrections over HTTP: a grant voided or its expiry moved, a charge reversed."""

    _wire: Wire

    def void_grant(
        self,
        grant_id: int,
        amount: Quantity | str | None = None,
        *,
        reason: str,
        idempotency_key: str | None = None,
    ) -> Adjustment:
        """Takes ``amount`` of one grant (None: all that is left of it) back, with a reason."""
        body = {"amount": None if amount is None else amount_json(amount), "reason": reason}
        path = v1_path("grants", row_id(grant_id, "grant_id"), "void")
        return self._wire.write("POST", path, Adjustment, body, idempotency_key)

    def reverse_charge(
        self,
        charge_key: str,
        amount: Quantity | str | None = None,
        *,
        reason: str,
        idempotency_key: str | None = None,
    ) -> Reversal:
        """Gives back ``amount`` (None: all not reversed yet) of the charge recorded under
        ``charge_key``, with a reason kept in the history."""
        body = {
            "charge_key": charge_key,
            "amount": None if amount is None else amount_json(amount),
            "reason": reason,
        }
        return self._wire.write("POST", v1_path("reversals"), Reversal, body, idempotency_key)

    def change_grant_expiry(
        self,
        grant_id: int,
        expires_at: datetime | None,
        *,
        reason: str,
        idempotency_key: str | None = None,
    ) -> Grant:
        """Moves what is left of the grant into a new grant expiring at ``expires_at`` (None:
        never); returns the new grant."""
        body = {"expires_at": time_json(expires_at, "expires_at"), "reason": reason}
        path = v1_path("grants", row_id(grant_id, "grant_id"), "expiry")
        return self._wire.write("POST", path, Grant, body, idempotency_key)
