"""What every moderation page shares: who may see it, the layout, the section list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from chat.domain.actors import Actor
from chat.web.pages import language, page_actor, render, to_login, user_json


@dataclass(frozen=True, slots=True)
class Section:
    path: str
    label: str  # an i18n key
    admins_only: bool


# the navigation, in order; a section's page module registers the route under its path
SECTIONS = (
    Section("/admin/reports", "admin.nav.reports", admins_only=False),
    Section("/admin/users", "admin.nav.users", admins_only=True),
    Section("/admin/bots", "admin.nav.bots", admins_only=True),
    Section("/admin/conversations", "admin.nav.conversations", admins_only=True),
    Section("/admin/settings", "admin.nav.settings", admins_only=True),
    Section("/admin/retention", "admin.nav.retention", admins_only=True),
    Section("/admin/exports", "admin.nav.exports", admins_only=True),
    Section("/admin/audit", "admin.nav.audit", admins_only=True),
)


class NotStaff(Exception):
    """The visitor may not see this page: answered with a 404, as if it did not exist."""


async def admin_page(request: Request, *, admins_only: bool = True) -> Actor:
    """The signed-in admin (or moderator, when ``admins_only`` is false) asking for a page.

    Raises :class:`NotStaff` for anyone else, signed in or not, so the page
    answers 404 (``not_staff``); a signed-out visitor is sent to the login page
    first by :func:`guarded`.
    """
    auth = await page_actor(request)
    if auth is None:
        raise NotStaff("signed out")
    actor = auth.actor
    if not (actor.is_admin if admins_only else actor.is_staff):
        raise NotStaff(actor.role)
    return actor


def sections_for(actor: Actor) -> list[Section]:
    return [s for s in SECTIONS if actor.is_admin or not s.admins_only]


def render_admin(request: Request, template: str, actor: Actor, *, status: int = 200, **context: Any) -> Response:
    """A moderation page: ``template`` extends ``admin/base.html``."""
    boot = {"user": user_json(actor), "api": "/api/v1", "lang": language(request)}
    return render(
        request,
        template,
        status=status,
        boot=boot,
        user=actor,
        sections=sections_for(actor),
        current=request.url.path,
        **context,
    )


def not_found(request: Request) -> Response:
    return render(request, "error.html", status=404, code="not_found", message_key="error.page_not_found")


async def signed_out_or_404(request: Request) -> Response:
    """The answer to a visitor :func:`admin_page` refused: the login page if signed out, else 404."""
    if await page_actor(request) is None:
        return to_login(request)
    return not_found(request)


async def admin_home(request: Request) -> Response:
    """``/admin``: the first section this person may see."""
    try:
        actor = await admin_page(request, admins_only=False)
    except NotStaff:
        return await signed_out_or_404(request)
    return RedirectResponse(sections_for(actor)[0].path, status_code=303)


routes: list[BaseRoute] = [Route("/admin", admin_home, methods=["GET"], name="admin")]
