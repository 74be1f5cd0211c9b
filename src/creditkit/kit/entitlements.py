"""The kit's entitlements (``CreditKit``'s methods: see kit/__init__.py)."""

from __future__ import annotations

from creditkit.catalog import CountOrUnlimited
from creditkit.entitlements.schemas import Decision, LimitUsage, Member, RateDecision
from creditkit.errors import Quantity
from creditkit.kit.parts import KitParts


class KitEntitlements(KitParts):
    """Features, limits, quotas and workspace members (they need a catalog; see
    docs/entitlements.md)."""

    def entitled(self, customer: str, feature: str) -> Decision:
        """Does the plan in force grant ``feature``? When not, ``upgrade_to`` names the
        lowest-ranked plan above it that does. A feature no plan grants is an InvalidRequest."""
        return self._entitlements_required().entitled(customer, feature)

    def acquire(self, customer: str, limit: str, resource_id: str) -> Decision:
        """Counts a live thing (a task, an agent: ``resource_id`` is yours) against a ``count``
        limit; acquiring it again counts nothing. Refused (``allowed`` False, nothing written)
        when it would take the count over the plan's cap. Undo with ``release_resource``."""
        return self._entitlements_required().acquire(customer, limit, resource_id)

    def release_resource(self, customer: str, limit: str, resource_id: str) -> bool:
        """Stops counting the thing (it was deleted); True when it was counted. Not to be
        confused with ``release``, which gives back a hold's credits."""
        return self._entitlements_required().release_resource(customer, limit, resource_id)

    def track(
        self, customer: str, limit: str, quantity: int = 1, *, idempotency_key: str
    ) -> Decision:
        """Counts ``quantity`` against a ``per_period`` limit (scheduled posts per month) in the
        current period, exactly once per key (per customer); refusals are recorded too."""
        return self._entitlements_required().track(customer, limit, quantity, idempotency_key)

    def usage_of_limits(self, customer: str) -> list[LimitUsage]:
        """Every limit with the customer's usage of it under the plan in force."""
        return self._entitlements_required().usage_of_limits(customer)

    def over_limit(self, customer: str) -> list[LimitUsage]:
        """The limits whose usage is above the plan's cap (after a downgrade: what exists
        stays, nothing new is counted until back under)."""
        return self._entitlements_required().over_limit(customer)

    def quota(self, customer: str, name: str) -> CountOrUnlimited:
        """A number of the plan in force (``max_file_mb``), or ``UNLIMITED``."""
        return self._entitlements_required().quota(customer, name)

    def set_member_spend_cap(
        self, workspace: str, user: str, amount: Quantity | str | None, *, unit: str = "credits"
    ) -> None:
        """Caps what a member may spend of the workspace's ``unit`` per month of its
        subscription (``None``: no cap). Charges that name the member (``member=``) over it
        are refused with ``MemberSpendCapReached``."""
        self._entitlements_required().set_member_spend_cap(workspace, user, amount, unit)

    def add_member(self, workspace: str, user: str, role: str) -> Decision:
        """Adds a user to a workspace as ``owner`` (the first member), ``admin``, ``editor`` or
        ``viewer``, counted against the ``team_members`` limit (the owner counts); for a member
        already, changes the role. Ownership moves only with ``transfer_ownership``."""
        return self._entitlements_required().add_member(workspace, user, role)

    def remove_member(self, workspace: str, user: str) -> bool:
        """True when the user was a member. The owner goes last: transfer ownership first."""
        return self._entitlements_required().remove_member(workspace, user)

    def members(self, workspace: str) -> list[Member]:
        """The owner first, then admins, editors, viewers."""
        return self._entitlements_required().members(workspace)

    def memberships(self, user: str, *, limit: int = 100) -> list[Member]:
        """The workspaces the user is a member of, with its role in each, in the order it
        joined them; at most ``limit`` (up to 1,000)."""
        return self._entitlements_required().memberships(user, limit)

    def transfer_ownership(self, workspace: str, new_owner: str) -> list[Member]:
        """Makes a member the owner; the previous owner becomes an admin."""
        return self._entitlements_required().transfer_ownership(workspace, new_owner)

    def hit_rate_limit(self, customer: str) -> RateDecision:
        """Counts one request against the plan's ``rate_limit_per_minute`` (shared by every
        process on the database); refused past it, with ``retry_after_seconds``."""
        return self._entitlements_required().hit_rate_limit(customer)
