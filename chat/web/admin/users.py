"""``/admin/users`` (admins): accounts and invitations.

Reads through the same domain functions as the API (``roster.list_accounts``,
``invitations.list_invitations``); every button is a form that
``static/js/admin.js`` sends to a documented API call, which writes the event:

* change role, deactivate, reactivate: ``PATCH /api/v1/users/{id}``;
* reset sessions: ``DELETE /api/v1/users/{id}/sessions``;
* set an e-mail address: ``PUT /api/v1/users/{id}/email`` mails the user a confirmation
  link (the address shows as waiting until they use it); each account's address and
  whether it is verified come from ``chat.accounts.emails.email_statuses``;
* create an invitation (member, or guest with the conversations they may see;
  expiry; single use or reusable link): ``POST /api/v1/invitations``, whose
  one-time link is shown for the admin to copy;
* revoke an invitation: ``DELETE /api/v1/invitations/{id}``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from chat.accounts.emails import email_statuses
from chat.accounts.invitations import list_invitations
from chat.accounts.roster import list_accounts
from chat.channels.queries import ConversationInfo, list_conversations, list_public
from chat.web.admin.base import NotStaff, admin_page, render_admin, signed_out_or_404
from chat.web.state import services

ROLES = ("admin", "moderator", "member", "guest")
EXPIRY_DAYS = (1, 7, 30, 90)
_MAX_SEARCH = 80


async def users_page(request: Request) -> Response:
    try:
        actor = await admin_page(request)
    except NotStaff:
        return await signed_out_or_404(request)
    search = request.query_params.get("q", "")[:_MAX_SEARCH].replace("\x00", "")
    async with services(request).db.read() as session:
        roster = await list_accounts(session, actor, search=search)
        invitations = await list_invitations(session, actor)
        mine = await list_conversations(session, actor)
        public = await list_public(session, actor)
        addresses = await email_statuses(session, actor, [entry.user.id for entry in roster.accounts])
    invitable = _invitable([*mine.conversations, *public.conversations])
    names = {c.id: c.name or f"#{c.id}" for c in [*mine.conversations, *public.conversations]}
    return render_admin(
        request,
        "admin/users.html",
        actor,
        search=search,
        roster=roster,
        addresses=addresses,
        invitations=invitations.invitations,
        invitable=invitable,
        conversation_names=names,
        roles=ROLES,
        expiry_days=EXPIRY_DAYS,
    )


def _invitable(conversations: list[ConversationInfo]) -> list[ConversationInfo]:
    """The channels and groups an invitation may name: not direct, not archived; groups the admin is in."""
    seen: dict[int, ConversationInfo] = {}
    for c in conversations:
        if c.kind != "direct" and not c.archived and (c.kind == "public" or c.joined):
            seen.setdefault(c.id, c)
    return sorted(seen.values(), key=lambda c: (c.kind, (c.name or "").casefold(), c.id))


routes: list[BaseRoute] = [Route("/admin/users", users_page, methods=["GET"], name="admin-users")]
