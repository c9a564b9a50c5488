"""Your e-mail address: set, confirm, remove; an admin sets one for a user; the confirmation page.

Thin, like the other endpoints: parse, one action of ``chat.accounts.emails`` in a
transaction, answer. The confirmation mail is sent after commit, through the relay
(``services(request).mailer``): no relay, 503 ``mail_unavailable`` before anything
is stored; the relay refuses, the pending confirmation is deleted again and the
answer is 502 ``mail_failed``. Confirmations are limited per account
(``Services.confirmation_limiter``, 429 ``too_many_confirmations``).

The link in the mail opens ``GET /confirm-email?token=…``, a page that shows the
address and a Confirm button: a GET never changes anything, since mail scanners
fetch links before people do. The button posts the form to ``POST /confirm-email``
(same-origin forms only); scripts use ``POST /api/v1/email/confirm``. Neither
needs a session: the link may be opened in another browser.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from chat.accounts import emails
from chat.accounts.emails import EmailStatus, PendingConfirmation
from chat.domain.actors import Actor
from chat.errors import ChatError
from chat.mail.smtp import Mailer, MailError
from chat.validation import Checked, limits
from chat.web.auth import check_origin, own_origin, require_actor
from chat.web.http import json_ok, path_id, read_command
from chat.web.i18n import translate
from chat.web.openapi import api_route
from chat.web.pages import is_same_origin, language, render
from chat.web.state import services

log = logging.getLogger(__name__)

_BODY = ("malformed_json", "body_too_large", "invalid_body", "unknown_field", "wrong_type", "missing_field")
_MAIL = ("mail_unavailable", "mail_failed", "too_many_confirmations")
_SET_ERRORS = (
    *_BODY,
    *_MAIL,
    "not_authenticated",
    "csrf_failed",
    "too_long",
    "invalid_email",
    "email_taken",
    "email_unchanged",
    "not_allowed",
)
TOKEN_MAX = 128


class NoRelay(ChatError):
    status = 503
    default_code = "mail_unavailable"


class RelayFailed(ChatError):
    status = 502
    default_code = "mail_failed"


@dataclass(frozen=True)
class SetEmail(Checked):
    """An address to prove: a confirmation link is mailed to it."""

    email: str = field(metadata=limits(max_len=emails.MAX_ADDRESS, description="name@example.com"))

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "email", emails.normalize_address(self.email))


@dataclass(frozen=True)
class ConfirmEmail(Checked):
    """The token of a confirmation link."""

    token: str = field(metadata=limits(min_len=1, max_len=TOKEN_MAX))


@dataclass(frozen=True)
class EmailPending:
    """The address a confirmation link was mailed to."""

    pending: str


@dataclass(frozen=True)
class EmailVerified:
    """The address a confirmation link proved."""

    email: str
    verified: bool = True


def _mailer(request: Request) -> Mailer:
    mailer = services(request).mailer
    if mailer is None or not mailer.enabled:
        raise NoRelay("mail_unavailable", "this server sends no mail (no relay is configured)")
    return mailer


def confirmation_link(request: Request, token: str) -> str:
    return f"{own_origin(request)}/confirm-email?token={quote(token, safe='')}"


def confirmation_mail(request: Request, mailer: Mailer, pending: PendingConfirmation) -> EmailMessage:
    """The mail with the link, as text and HTML, in the language of the request."""
    lang, link = language(request), confirmation_link(request, pending.token)
    hours = int(emails.CONFIRMATION_TTL.total_seconds() // 3600)
    message = mailer.new_message(pending.email, translate(lang, "email.mail_subject"))
    lines = [
        translate(lang, "email.mail_intro", email=pending.email),
        "",
        link,
        "",
        translate(lang, "email.mail_expiry", hours=hours),
        translate(lang, "email.mail_ignore"),
    ]
    message.set_content("\n".join(lines))
    esc = html.escape
    message.add_alternative(
        "<!doctype html><html><body>"
        f"<p>{esc(lines[0])}</p>"
        f'<p><a href="{esc(link)}">{esc(translate(lang, "email.mail_button"))}</a></p>'
        f"<p>{esc(lines[4])}<br>{esc(lines[5])}</p>"
        "</body></html>",
        subtype="html",
    )
    return message


async def mail_confirmation(request: Request, pending: PendingConfirmation) -> None:
    """Send the link (after commit); if the relay refuses it, forget the confirmation and raise ``mail_failed``."""
    mailer = _mailer(request)
    try:
        await mailer.send(confirmation_mail(request, mailer, pending))
    except MailError:
        async with services(request).db.transaction() as session:
            await emails.cancel_confirmation(session, pending.token_hash)
        raise RelayFailed("mail_failed", "the mail server refused the confirmation mail; try again later") from None


async def request_and_mail(request: Request, actor: Actor, user_id: int, address: str) -> PendingConfirmation:
    _mailer(request)  # no relay: refused before anything is stored
    services(request).confirmation_limiter.hit(str(user_id))
    async with services(request).db.transaction() as session:
        pending = await emails.request_confirmation(session, actor, user_id, address)
    await mail_confirmation(request, pending)
    return pending


async def show_email(request: Request) -> Response:
    actor = await require_actor(request)
    async with services(request).db.read() as session:
        return json_ok(await emails.get_email(session, actor))


async def set_email(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = await read_command(request, SetEmail)
    pending = await request_and_mail(request, actor, actor.id, cmd.email)
    return json_ok(EmailPending(pending.email), status=202)


async def set_user_email(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = await read_command(request, SetEmail)
    pending = await request_and_mail(request, actor, path_id(request), cmd.email)
    return json_ok(EmailPending(pending.email), status=202)


async def delete_email(request: Request) -> Response:
    actor = await require_actor(request)
    async with services(request).db.transaction() as session:
        await emails.remove_email(session, actor, actor.id)
    return Response(status_code=204)


async def confirm_email(request: Request) -> Response:
    if "authorization" not in request.headers:
        check_origin(request)  # no session needed, but no cross-site form either
    cmd = await read_command(request, ConfirmEmail)
    async with services(request).db.transaction() as session:
        done = await emails.confirm(session, cmd.token)
    return json_ok(EmailVerified(done.email))


# --- the page the link opens ---------------------------------------------------------------------


async def confirm_page(request: Request) -> Response:
    token = request.query_params.get("token", "")[:TOKEN_MAX]
    try:
        async with services(request).db.read() as session:
            row = await emails.peek_confirmation(session, token)
    except ChatError as exc:
        return render(request, "confirm_email.html", status=exc.status, state="error", code=exc.code, token="")
    return render(request, "confirm_email.html", state="ask", email=row.email, token=token)


async def confirm_page_post(request: Request) -> Response:
    if not is_same_origin(request):
        return render(request, "confirm_email.html", status=403, state="error", code="csrf_failed", token="")
    form = await request.form(max_files=0, max_fields=4)
    raw = form.get("token")
    token = raw[:TOKEN_MAX] if isinstance(raw, str) else ""
    try:
        async with services(request).db.transaction() as session:
            done = await emails.confirm(session, token)
    except ChatError as exc:
        return render(request, "confirm_email.html", status=exc.status, state="error", code=exc.code, token="")
    return render(request, "confirm_email.html", state="done", email=done.email, token="")


routes: list[BaseRoute] = [
    api_route(
        "GET",
        "/me/email",
        show_email,
        "Your e-mail address, whether it is verified, and the address waiting for its confirmation",
        response=EmailStatus,
        errors=("not_authenticated",),
    ),
    api_route(
        "PUT",
        "/me/email",
        set_email,
        "Set your e-mail address: a confirmation link is mailed to it (the address counts once confirmed)",
        request=SetEmail,
        response=EmailPending,
        status=202,
        errors=_SET_ERRORS,
    ),
    api_route(
        "DELETE",
        "/me/email",
        delete_email,
        "Remove your e-mail address and any confirmation waiting for its link",
        status=204,
        errors=("not_authenticated", "csrf_failed"),
    ),
    api_route(
        "POST",
        "/email/confirm",
        confirm_email,
        "Use a confirmation link's token: its address becomes the account's verified address (no session needed)",
        request=ConfirmEmail,
        response=EmailVerified,
        auth=False,
        errors=(
            *_BODY,
            "csrf_failed",
            "empty",
            "too_long",
            "confirmation_not_found",
            "confirmation_expired",
            "email_taken",
        ),
    ),
    api_route(
        "PUT",
        "/users/{id:id}/email",
        set_user_email,
        "Admin: mail a confirmation link to an address for a user (it counts once the user confirms it)",
        request=SetEmail,
        response=EmailPending,
        status=202,
        errors=(*_SET_ERRORS, "admin_required", "user_not_found"),
    ),
    Route("/confirm-email", confirm_page, methods=["GET"], name="confirm-email"),
    Route("/confirm-email", confirm_page_post, methods=["POST"]),
]
