"""The account-level half of the access policy: registration, invitations, users and bots,
the workspace's administration, retention and erasure, reports and mutes.

Split out of :mod:`chat.channels.policy` by size only: ``policy`` re-exports every name here
(``__all__``), so callers keep asking ``policy.can_manage_users`` and the truth tables keep
one place. Pure functions over loaded facts, like the rest of the policy; the one loader here
(``load_mutes``) reads who is muted for the SQLite writer's memory.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.config import RegistrationMode
from chat.domain.actors import Actor
from chat.errors import Forbidden
from chat.store import models
from chat.store.db import stage

__all__ = [
    "MUTES_KEY",
    "REPORT_ACTIONS",
    "REPORT_CONTEXT",
    "DirectoryScope",
    "InviteRole",
    "ReportAction",
    "can_administer",
    "can_create_invitation",
    "can_erase_user",
    "can_export_compliance",
    "can_manage_bot",
    "can_manage_retention",
    "can_manage_users",
    "can_own_bot",
    "can_register",
    "can_report",
    "can_resolve_report",
    "can_review_reports",
    "can_revoke_invitation",
    "can_see_all_invitations",
    "directory_scope",
    "load_mutes",
    "require_unmuted",
]


# --- accounts: registration, invitations, user management, the directory -------------------

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


def can_see_all_invitations(actor: Actor) -> bool:
    """Admins list every invitation; everyone else only the ones they created."""
    return actor.is_admin and not actor.is_bot


def can_revoke_invitation(actor: Actor, is_creator: bool) -> bool:
    """Its creator revokes an invitation, and so does any admin."""
    return not actor.is_bot and (is_creator or actor.is_admin)


def can_manage_bot(actor: Actor, owner_id: int | None) -> bool:
    """Issue and revoke a bot's tokens, see them: the bot's owner, and admins."""
    return not actor.is_bot and (actor.is_admin or (owner_id is not None and owner_id == actor.id))


def can_register(mode: RegistrationMode, *, first_account: bool, has_invitation: bool) -> bool:
    """Self-registration: the first account always; then ``open`` anyone, otherwise an invitation."""
    return first_account or mode == "open" or has_invitation


def directory_scope(actor: Actor) -> DirectoryScope:
    """Guests see only the people they share a conversation with; everyone else sees all users."""
    return "shared" if actor.is_guest else "all"


def can_own_bot(role: str, is_bot: bool, active: bool) -> bool:
    """A bot's owner is an active human who is not a guest."""
    return active and not is_bot and role != "guest"


# --- reports ------------------------------------------------------------------------------
#
# * **Report** a message: anyone who can see it (``access_message``) but its author.
# * **Review** the queue: staff. A report shows its message and ``REPORT_CONTEXT`` neighbours
#   on each side in its topic, even in a private group or DM the reviewer is not in: that
#   window (``chat.channels.reports``) is all they see of it; other reads still answer 404.
# * **Resolve**: staff; ``deactivate`` admins only (``can_manage_users``); no ``remove`` in
#   a direct conversation (fixed membership); muting or removing an admin takes an admin.

ReportAction = Literal["dismiss", "delete", "mute", "remove", "deactivate"]
REPORT_ACTIONS: tuple[ReportAction, ...] = ("dismiss", "delete", "mute", "remove", "deactivate")
REPORT_CONTEXT = 2  # neighbours shown on each side of a reported message


def can_report(actor: Actor, is_author: bool) -> bool:  # a message the actor can see (``access_message``)
    return not is_author


def can_review_reports(actor: Actor) -> bool:  # the queue, each report with its window of context
    return actor.is_staff


def can_resolve_report(actor: Actor, action: ReportAction, kind: str, author_role: str) -> bool:
    if not can_review_reports(actor):
        return False
    if action == "deactivate":
        return can_manage_users(actor)
    if action == "remove" and kind == "direct":
        return False
    if action in ("mute", "remove") and author_role == "admin":
        return actor.is_admin
    return True


# --- workspace administration (the rest is in ``policy``) ------------------------------


def can_administer(actor: Actor) -> bool:
    """Change workspace settings, read the audit log, list every conversation."""
    return actor.is_admin and not actor.is_bot


def can_export_compliance(actor: Actor) -> bool:
    """Export a date range across conversations (itself logged)."""
    return can_administer(actor)


# --- retention, legal hold and personal data (issue 11) ----------------------------------
#
# * Retention periods and legal holds (on a conversation or a user): admins, who are not
#   bots, for every conversation, private groups and direct conversations included: a hold
#   is a legal duty over the data, not a look at it (the admin page shows no message).
# * Erasing a user's personal data: admins, never themselves (another admin must do it, so
#   nobody erases the record of their own actions); the last admin and a user on legal hold
#   are refused by the action, which knows those facts.
# * Exporting your own data: anyone signed in, for themselves only.


def can_manage_retention(actor: Actor) -> bool:
    """Set a conversation's retention or legal hold, or a user's legal hold."""
    return can_administer(actor)


def can_erase_user(actor: Actor, target_is_self: bool) -> bool:
    """Erase a user's personal data (bodies redacted, name pseudonymised, account closed)."""
    return can_manage_users(actor) and not target_is_self


# --- mutes ---------------------------------------------------------------------------------


MUTES_KEY = ("mutes",)  # the SQLite writer remembers who is muted; muting someone forgets it


async def load_mutes(session: AsyncSession) -> dict[int, datetime]:
    u = models.User
    rows = (await session.execute(select(u.id, u.muted_until).where(u.muted_until > models.utcnow()))).all()
    mutes = {user_id: until for user_id, until in rows if until is not None}
    stage(session, MUTES_KEY, mutes)
    return mutes


def require_unmuted(muted_until: datetime | None) -> None:
    """Raise 403 ``muted`` (with ``until``) while a moderator's mute lasts."""
    if muted_until is not None and muted_until > models.utcnow():
        until = muted_until.isoformat()
        raise Forbidden("muted", f"you are muted until {until} and may not post", until=until)
