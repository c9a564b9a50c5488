"""REST endpoints: retention and legal holds (admins), your data export, a user's erasure (admins).

Thin: parse, call one domain action in a transaction (the erasure and the export
hand the database to the action, which runs its own short transactions), answer.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from chat.accounts.erasure import ErasureResult, erase_user
from chat.accounts.personal_data import export_personal_data, log_export
from chat.channels.legal_hold import (
    RetentionInfo,
    RetentionOverview,
    SetLegalHold,
    SetRetention,
    UserHold,
    retention_overview,
    set_conversation_retention,
    set_user_legal_hold,
)
from chat.channels.retention import utc_now
from chat.store.workspace import load
from chat.web.auth import check_download_origin, require_actor
from chat.web.http import int_query, json_ok, path_id, read_command
from chat.web.openapi import Query, api_route
from chat.web.state import services

_BODY = ("malformed_json", "body_too_large", "invalid_body", "unknown_field", "wrong_type", "missing_field")
_AUTH = ("not_authenticated", "csrf_failed")
PAGE = 100


async def change_conversation_retention(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = await read_command(request, SetRetention)
    svc = services(request)
    async with svc.db.transaction() as session:
        workspace = await load(session, svc.settings)
        info = await set_conversation_retention(
            session, actor, path_id(request), cmd, workspace_days=workspace.retention_days
        )
    return json_ok(info)


async def change_user_hold(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = await read_command(request, SetLegalHold)
    async with services(request).db.transaction() as session:
        return json_ok(await set_user_legal_hold(session, actor, path_id(request), cmd))


async def show_retention(request: Request) -> Response:
    actor = await require_actor(request)
    after = int_query(request, "after") or 0
    svc = services(request)
    async with svc.db.read() as session:
        workspace = await load(session, svc.settings)
        overview = await retention_overview(
            session, actor, workspace_days=workspace.retention_days, after=after, limit=PAGE
        )
    return json_ok(overview)


async def export_my_data(request: Request) -> Response:
    actor = await require_actor(request)
    check_download_origin(request)
    db = services(request).db
    async with db.read(threaded=True) as session:
        export = await export_personal_data(session, actor, now=utc_now())
    async with db.transaction() as session:
        await log_export(session, actor, export)
    return Response(
        export.content,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "Cache-Control": "no-store",
        },
    )


async def erase(request: Request) -> Response:
    actor = await require_actor(request)
    result = await erase_user(services(request).db.write, actor, path_id(request), now=utc_now())
    return json_ok(result)


routes: list[BaseRoute] = [
    api_route(
        "GET",
        "/retention",
        show_retention,
        "Admin: every conversation's retention and legal hold (100 per page), and the users on legal hold",
        response=RetentionOverview,
        query=[Query("after", int, "list conversations with an id above this one")],
        errors=("not_authenticated", "admin_required", "wrong_type", "out_of_range"),
    ),
    api_route(
        "PUT",
        "/conversations/{id:id}/retention",
        change_conversation_retention,
        "Admin: set a conversation's retention in days (null: the workspace's, 0: forever) and legal hold",
        request=SetRetention,
        response=RetentionInfo,
        errors=(*_BODY, *_AUTH, "admin_required", "conversation_not_found", "out_of_range", "not_found"),
    ),
    api_route(
        "PUT",
        "/users/{id:id}/legal-hold",
        change_user_hold,
        "Admin: place or lift a legal hold on a user's messages everywhere",
        request=SetLegalHold,
        response=UserHold,
        errors=(*_BODY, *_AUTH, "admin_required", "user_not_found", "not_found"),
    ),
    api_route(
        "GET",
        "/me/export",
        export_my_data,
        "Download your personal data: a zip of JSON files (profile, messages, reactions, memberships, …)",
        errors=_AUTH,
    ),
    api_route(
        "POST",
        "/users/{id:id}/erase",
        erase,
        "Admin: erase a user's personal data (bodies redacted, name pseudonymised, account closed)",
        response=ErasureResult,
        errors=(
            *_AUTH,
            "admin_required",
            "cannot_erase_self",
            "user_not_found",
            "not_found",
            "already_erased",
            "user_on_legal_hold",
            "last_admin",
        ),
    ),
]
