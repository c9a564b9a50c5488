"""Account-level access rules: pure functions over already-loaded facts.

TO BE MOVED into ``chat/channels/policy.py`` (the one module that decides
access; owned by the conversations engineer). Until then they live here, and
every account action and ``chat.web.auth`` calls them, never inline checks.
Once moved, this module is deleted and imports point at ``chat.channels.policy``.
"""

from __future__ import annotations

from typing import Literal

from chat.channels.policy import Actor
from chat.config import RegistrationMode

InviteRole = Literal["member", "guest"]
DirectoryScope = Literal["all", "shared"]


def can_manage_users(actor: Actor) -> bool:
    """Change roles, (de)activate accounts, see deactivated accounts in the directory."""
    return actor.is_admin and not actor.is_bot


def can_create_invitation(actor: Actor, role: InviteRole, mode: RegistrationMode) -> bool:
    """Who may create an invitation code.

    Guests: staff only. Members: staff in ``open`` and ``invite`` mode. In
    ``closed`` mode only admins' invitations exist. The same rule is checked
    again when the code is redeemed, so a code stops working when its creator
    loses the right (demoted, deactivated, or the mode became ``closed``).
    """
    if actor.is_bot or not actor.is_staff:
        return False
    if mode == "closed":
        return actor.is_admin
    return True


def can_register(mode: RegistrationMode, *, first_account: bool, has_invitation: bool) -> bool:
    """Self-registration: the first account always; then ``open`` anyone, otherwise an invitation."""
    return first_account or mode == "open" or has_invitation


def directory_scope(actor: Actor) -> DirectoryScope:
    """Guests see only the people they share a conversation with; everyone else sees all users."""
    return "shared" if actor.is_guest else "all"


def can_own_bot(role: str, is_bot: bool, active: bool) -> bool:
    """A bot's owner is an active human who is not a guest."""
    return active and not is_bot and role != "guest"
