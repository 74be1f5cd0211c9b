"""Workspace members: roles, exactly one owner, ownership transfer, and the team_members limit
(the owner counts)."""

from collections.abc import Callable

import pytest

from creditkit import CreditKit, InvalidRequest, UnknownCustomer
from creditkit.entitlements import Decision, Member, Reason, Role


def roles(kit: CreditKit, workspace: str = "w1") -> list[tuple[str, str]]:
    return [(member.user, member.role.value) for member in kit.members(workspace)]


def test_the_first_member_is_the_owner_and_counts_against_the_limit(kit: CreditKit) -> None:
    with pytest.raises(InvalidRequest) as raised:
        kit.add_member("w1", "u2", "editor")
    assert raised.value.field == "role"
    assert kit.add_member("w1", "u1", "owner") == Decision(True, Reason.WITHIN_LIMIT, None, 1, 1)
    # Free has 1 team member: the owner. The next one needs Plus.
    assert kit.add_member("w1", "u2", "editor") == Decision(
        False, Reason.LIMIT_REACHED, "plus", 1, 1
    )
    assert roles(kit) == [("u1", "owner")]
    member = kit.members("w1")[0]
    assert isinstance(member, Member)
    assert (member.workspace, member.role) == ("w1", Role.OWNER)


def test_an_upgrade_makes_room_up_to_its_cap(kit: CreditKit) -> None:
    kit.add_member("w1", "u1", "owner")
    kit.change_plan("w1", "plus")
    assert kit.add_member("w1", "u2", "viewer").used == 2
    assert kit.add_member("w1", "u3", "admin").used == 3
    assert kit.add_member("w1", "u4", "editor") == Decision(
        False, Reason.LIMIT_REACHED, "max", 3, 3
    )
    assert roles(kit) == [("u1", "owner"), ("u3", "admin"), ("u2", "viewer")]
    team = [item for item in kit.usage_of_limits("w1") if item.name == "team_members"]
    assert (team[0].used, team[0].limit) == (3, 3)


def test_adding_a_member_again_sets_the_role_without_a_new_seat(kit: CreditKit) -> None:
    kit.change_plan("w1", "plus")
    kit.add_member("w1", "u1", "owner")
    kit.add_member("w1", "u2", "viewer")
    kit.add_member("w1", "u3", "viewer")
    assert kit.add_member("w1", "u2", "viewer") == Decision(
        True, Reason.ALREADY_COUNTED, None, 3, 3
    )
    assert kit.add_member("w1", "u2", "editor") == Decision(True, Reason.ROLE_CHANGED, None, 3, 3)
    assert roles(kit) == [("u1", "owner"), ("u2", "editor"), ("u3", "viewer")]


def test_ownership_moves_only_by_transfer(kit: CreditKit) -> None:
    kit.change_plan("w1", "plus")
    kit.add_member("w1", "u1", "owner")
    kit.add_member("w1", "u2", "editor")
    for user, role in (("u3", "owner"), ("u2", "owner"), ("u1", "admin")):
        with pytest.raises(InvalidRequest) as raised:
            kit.add_member("w1", user, role)
        assert raised.value.field == "role"
        if role == "owner":  # the error names the route a caller can use, not a method
            assert "PUT /v1/customers/{workspace}/owner" in raised.value.reason
    members = kit.transfer_ownership("w1", "u2")
    assert [(member.user, member.role) for member in members] == [
        ("u2", Role.OWNER),
        ("u1", Role.ADMIN),
    ]
    assert members == kit.members("w1")
    assert kit.transfer_ownership("w1", "u2") == members  # the owner already: nothing changes


def test_transfer_is_to_a_member(kit: CreditKit) -> None:
    kit.add_member("w1", "u1", "owner")
    with pytest.raises(InvalidRequest) as raised:
        kit.transfer_ownership("w1", "u2")
    assert raised.value.field == "new_owner"
    with pytest.raises(InvalidRequest) as raised:
        kit.transfer_ownership("w1", "ghost")
    assert raised.value.field == "new_owner"
    assert roles(kit) == [("u1", "owner")]


def test_removing_members_and_the_owner_last(kit: CreditKit) -> None:
    kit.change_plan("w1", "plus")
    kit.add_member("w1", "u1", "owner")
    kit.add_member("w1", "u2", "editor")
    with pytest.raises(InvalidRequest) as raised:
        kit.remove_member("w1", "u1")
    assert raised.value.field == "user"
    assert kit.remove_member("w1", "u2") is True
    assert kit.remove_member("w1", "u2") is False
    assert kit.remove_member("w1", "u3") is False
    assert kit.remove_member("w1", "u1") is True
    assert kit.members("w1") == []
    with pytest.raises(InvalidRequest):
        kit.add_member("w1", "u2", "viewer")  # an empty workspace starts again with its owner
    assert kit.add_member("w1", "u2", "owner").allowed


def test_a_removed_member_frees_the_seat(kit: CreditKit) -> None:
    kit.change_plan("w1", "plus")
    kit.add_member("w1", "u1", "owner")
    kit.add_member("w1", "u2", "viewer")
    kit.add_member("w1", "u3", "viewer")
    assert not kit.add_member("w1", "u4", "viewer").allowed
    kit.remove_member("w1", "u2")
    assert kit.add_member("w1", "u4", "viewer").allowed


def test_a_user_may_be_a_member_of_several_workspaces(kit: CreditKit) -> None:
    kit.add_member("w1", "u1", "owner")
    kit.add_member("w2", "u1", "owner")
    assert roles(kit, "w1") == roles(kit, "w2") == [("u1", "owner")]


def test_only_workspaces_have_members_and_only_users_are_members(kit: CreditKit) -> None:
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: kit.add_member("u1", "u2", "owner"), "workspace"),
        (lambda: kit.remove_member("u1", "u2"), "workspace"),
        (lambda: kit.transfer_ownership("u1", "u2"), "workspace"),
        (lambda: kit.members("u1"), "workspace"),
        (lambda: kit.add_member("w1", "w2", "owner"), "user"),
        (lambda: kit.add_member("w1", "ghost", "owner"), "user"),
        (lambda: kit.add_member("w1", "", "owner"), "user"),
        (lambda: kit.add_member("w1", "u1", "superuser"), "role"),
        (lambda: kit.add_member("w1", "u1", "OWNER"), "role"),
        (lambda: kit.remove_member("w1", "ghost"), "user"),
    ]
    for call, field in cases:
        with pytest.raises(InvalidRequest) as raised:
            call()
        assert raised.value.field == field
    with pytest.raises(UnknownCustomer):
        kit.add_member("ghost", "u1", "owner")
    with pytest.raises(UnknownCustomer):
        kit.members("ghost")
