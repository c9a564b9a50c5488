"""``/unsubscribe``: the one-click unsubscribe of Salon's mails (RFC 8058).

* ``GET /unsubscribe?token=…`` shows a page with one button; a GET never changes
  anything (mail scanners follow links).
* ``POST /unsubscribe?token=…`` (what a mail client sends for ``List-Unsubscribe-Post:
  List-Unsubscribe=One-Click``, and what the button posts) turns that kind of mail off.

No cookie and no CSRF token: the token is signed (``chat.mail.unsubscribe``) and can only
turn one kind of mail off for one user. A token that is not ours gets a 400 page
(``bad_unsubscribe_token``) and changes nothing; a second POST changes nothing either.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from chat.errors import Invalid
from chat.mail.unsubscribe import Kind, read_token, unsubscribe, unsubscribe_key
from chat.web.pages import render
from chat.web.state import services

MAX_TOKEN_CHARS = 100


async def _token(request: Request) -> tuple[str, int, Kind] | None:
    token = request.query_params.get("token", "")[:MAX_TOKEN_CHARS]
    try:
        user_id, kind = read_token(await unsubscribe_key(services(request).db), token)
    except Invalid:
        return None
    return token, user_id, kind


def _bad(request: Request) -> Response:
    return render(request, "mail/unsubscribe.html", status=400, state="bad", kind="", token="")


async def unsubscribe_page(request: Request) -> Response:
    found = await _token(request)
    if found is None:
        return _bad(request)
    token, _user_id, kind = found
    return render(request, "mail/unsubscribe.html", state="ask", kind=kind, token=token)


async def unsubscribe_post(request: Request) -> Response:
    found = await _token(request)
    if found is None:
        return _bad(request)
    token, user_id, kind = found
    try:
        async with services(request).db.transaction() as session:
            await unsubscribe(session, user_id, kind)
    except Invalid:
        return _bad(request)
    return render(request, "mail/unsubscribe.html", state="done", kind=kind, token=token)


routes: list[BaseRoute] = [
    Route("/unsubscribe", unsubscribe_page, methods=["GET"], name="unsubscribe-page"),
    Route("/unsubscribe", unsubscribe_post, methods=["POST"], name="unsubscribe"),
]
