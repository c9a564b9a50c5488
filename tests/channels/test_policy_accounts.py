"""Account-level access rules (to move into chat/channels/policy.py): truth tables."""

from __future__ import annotations

import pytest

from chat.channels import policy as access
from chat.config import RegistrationMode
from chat.domain.actors import ROLES, Actor, Role


def actor(role: Role, is_bot: bool = False) -> Actor:
    return Actor(id=1, username="x", display_name="X", role=role, is_bot=is_bot)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("is_bot", [False, True])
def test_only_human_admins_manage_users(role: Role, is_bot: bool) -> None:
    assert access.can_manage_users(actor(role, is_bot)) is (role == "admin" and not is_bot)


CREATE_INVITATION = {
    # (role of the creator, mode): may create member / guest invitations
    ("admin", "open"): True,
    ("admin", "invite"): True,
    ("admin", "closed"): True,
    ("moderator", "open"): True,
    ("moderator", "invite"): True,
    ("moderator", "closed"): False,
    ("member", "open"): False,
    ("member", "invite"): False,
    ("member", "closed"): False,
    ("guest", "open"): False,
    ("guest", "invite"): False,
    ("guest", "closed"): False,
}


@pytest.mark.parametrize(("role", "mode"), list(CREATE_INVITATION))
@pytest.mark.parametrize("invite_role", ["member", "guest"])
def test_who_creates_invitations(role: Role, mode: RegistrationMode, invite_role: access.InviteRole) -> None:
    assert access.can_create_invitation(actor(role), invite_role, mode) is CREATE_INVITATION[(role, mode)]
    assert access.can_create_invitation(actor(role, is_bot=True), invite_role, mode) is False


@pytest.mark.parametrize("mode", ["open", "invite", "closed"])
@pytest.mark.parametrize("first", [False, True])
@pytest.mark.parametrize("invited", [False, True])
def test_who_registers(mode: RegistrationMode, first: bool, invited: bool) -> None:
    expected = first or invited or mode == "open"
    assert access.can_register(mode, first_account=first, has_invitation=invited) is expected


@pytest.mark.parametrize("role", ROLES)
def test_directory_scope(role: Role) -> None:
    assert access.directory_scope(actor(role)) == ("shared" if role == "guest" else "all")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("is_bot", [False, True])
@pytest.mark.parametrize("active", [False, True])
def test_bot_owners(role: Role, is_bot: bool, active: bool) -> None:
    assert access.can_own_bot(role, is_bot, active) is (active and not is_bot and role != "guest")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("is_bot", [False, True])
@pytest.mark.parametrize("is_creator", [False, True])
def test_who_sees_and_revokes_invitations(role: Role, is_bot: bool, is_creator: bool) -> None:
    who = actor(role, is_bot)
    assert access.can_see_all_invitations(who) is (role == "admin" and not is_bot)
    assert access.can_revoke_invitation(who, is_creator) is (not is_bot and (is_creator or role == "admin"))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("is_bot", [False, True])
@pytest.mark.parametrize("owner_id", [None, 1, 2])  # the actor's id is 1
def test_who_manages_a_bot(role: Role, is_bot: bool, owner_id: int | None) -> None:
    expected = not is_bot and (role == "admin" or owner_id == 1)
    assert access.can_manage_bot(actor(role, is_bot), owner_id) is expected


# --- retention, legal hold and personal data ------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("is_bot", [False, True])
def test_only_human_admins_manage_retention_and_holds(role: Role, is_bot: bool) -> None:
    assert access.can_manage_retention(actor(role, is_bot)) is (role == "admin" and not is_bot)


ERASE = {
    # (role of the actor, the target is the actor): may erase the target's personal data
    ("admin", False): True,
    ("admin", True): False,  # never oneself: another admin must
    ("moderator", False): False,
    ("moderator", True): False,
    ("member", False): False,
    ("member", True): False,
    ("guest", False): False,
    ("guest", True): False,
}


@pytest.mark.parametrize(("role", "itself"), list(ERASE))
def test_who_erases_a_user(role: Role, itself: bool) -> None:
    assert access.can_erase_user(actor(role), target_is_self=itself) is ERASE[(role, itself)]
    assert access.can_erase_user(actor(role, is_bot=True), target_is_self=itself) is False
