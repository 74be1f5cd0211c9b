"""``memberships``: the workspaces a user belongs to, with its role in each."""

from __future__ import annotations

import pytest

from creditkit import CreditKit, InvalidRequest, ManualClock, UnknownCustomer
from creditkit.entitlements import Role


def test_a_users_workspaces_in_the_order_it_joined_them(kit: CreditKit, clock: ManualClock) -> None:
    kit.add_member("w2", "u1", "owner")
    clock.advance(minutes=1)
    kit.add_member("w1", "u2", "owner")
    clock.advance(minutes=1)
    kit.subscribe("w1", "plus", collected_elsewhere=True)  # room for a second member
    kit.add_member("w1", "u1", "viewer")

    assert [(m.workspace, m.user, m.role) for m in kit.memberships("u1")] == [
        ("w2", "u1", Role.OWNER),
        ("w1", "u1", Role.VIEWER),
    ]
    assert [m.workspace for m in kit.memberships("u1", limit=1)] == ["w2"]
    assert kit.memberships("u3") == []


def test_a_role_change_and_a_removal_show_at_once(kit: CreditKit) -> None:
    kit.add_member("w1", "u1", "owner")
    kit.subscribe("w1", "plus", collected_elsewhere=True)
    kit.add_member("w1", "u2", "editor")
    kit.transfer_ownership("w1", "u2")
    assert [(m.workspace, m.role) for m in kit.memberships("u1")] == [("w1", Role.ADMIN)]
    kit.remove_member("w1", "u1")
    assert kit.memberships("u1") == []


def test_only_users_have_memberships(kit: CreditKit) -> None:
    with pytest.raises(InvalidRequest) as workspace:
        kit.memberships("w1")
    assert workspace.value.field == "user"
    for limit in (0, 1_001, True):
        with pytest.raises(InvalidRequest) as bad_limit:
            kit.memberships("u1", limit=limit)
        assert bad_limit.value.field == "limit"
    with pytest.raises(UnknownCustomer):
        kit.memberships("ghost")
