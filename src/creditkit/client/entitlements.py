"""The client's entitlements (``Client``'s methods: see client.py)."""

from __future__ import annotations

import uuid

from creditkit.catalog import CountOrUnlimited
from creditkit.client.encode import amount_json, v1_path
from creditkit.client.wire import Wire, decoded, decoded_list
from creditkit.entitlements.schemas import Decision, LimitUsage, Member
from creditkit.errors import Quantity


class ClientEntitlements:
    """Features, limits, quotas and workspace members over HTTP."""

    _wire: Wire

    def entitled(self, customer: str, feature: str) -> Decision:
        return self._wire.read(v1_path("customers", customer, "entitlements", feature), Decision)

    def acquire(
        self, customer: str, limit: str, resource_id: str, *, idempotency_key: str | None = None
    ) -> Decision:
        """Counts a live thing against a ``count`` limit; a refusal is a ``Decision`` with
        ``allowed`` False, as on ``CreditKit``."""
        path = v1_path("customers", customer, "limits", limit, "resources")
        body = {"resource_id": resource_id}
        return self._wire.decided("POST", path, body, idempotency_key)

    def release_resource(self, customer: str, limit: str, resource_id: str) -> bool:
        """Stops counting the thing; True when it was counted."""
        path = v1_path("customers", customer, "limits", limit, "resources", resource_id)
        return self._wire.removed(path)

    def track(
        self, customer: str, limit: str, quantity: int = 1, *, idempotency_key: str | None = None
    ) -> Decision:
        """Counts ``quantity`` against a ``per_period`` limit, once per key."""
        path = v1_path("customers", customer, "limits", limit, "usage")
        return self._wire.decided("POST", path, {"quantity": quantity}, idempotency_key)

    def usage_of_limits(self, customer: str) -> list[LimitUsage]:
        return self._wire.read_list(v1_path("customers", customer, "limits"), LimitUsage)

    def quota(self, customer: str, name: str) -> CountOrUnlimited:
        """A number of the plan in force, or ``UNLIMITED``."""
        path = v1_path("customers", customer, "quotas", name)
        answer = self._wire.call("GET", path)
        value: CountOrUnlimited = decoded(
            answer.get("value") if isinstance(answer, dict) else answer, CountOrUnlimited
        )
        return value

    def set_member_spend_cap(
        self, workspace: str, user: str, amount: Quantity | str | None, *, unit: str = "credits"
    ) -> None:
        """Caps what a member may spend per month (``None``: no cap)."""
        path = v1_path("customers", workspace, "members", user, "spend-cap")
        body = {"amount": None if amount is None else amount_json(amount), "unit": unit}
        self._wire.call("PUT", path, body)

    def add_member(
        self, workspace: str, user: str, role: str, *, idempotency_key: str | None = None
    ) -> Decision:
        """Adds a user to a workspace with ``role``, or changes a member's role."""
        path = v1_path("customers", workspace, "members", user)
        return self._wire.decided("PUT", path, {"role": role}, idempotency_key)

    def remove_member(self, workspace: str, user: str) -> bool:
        """True when the user was a member. The owner goes last: transfer ownership first."""
        return self._wire.removed(v1_path("customers", workspace, "members", user))

    def members(self, workspace: str) -> list[Member]:
        return self._wire.read_list(v1_path("customers", workspace, "members"), Member)

    def transfer_ownership(
        self, workspace: str, new_owner: str, *, idempotency_key: str | None = None
    ) -> list[Member]:
        """Makes a member the owner; the previous owner becomes an admin."""
        path = v1_path("customers", workspace, "owner")
        key = idempotency_key or str(uuid.uuid4())
        answer = self._wire.call("PUT", path, {"user": new_owner}, idempotency_key=key)
        return decoded_list(answer, Member)
