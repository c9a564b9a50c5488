"""REST endpoints: registration, sessions, your profile, tokens, invitations, the user directory.

Registration and invitations obey the workspace settings in force
(``chat.store.workspace.load``: an admin changes them at run time), read in
the same transaction as the change.

Thin: parse the body into a command, call one domain action in a transaction,
answer JSON. Login is the one exception, on purpose: the password is checked
in a read session so argon2 never runs under the SQLite write lock, then the
session is written in a transaction.
"""

from __future__ import annotations

import dataclasses
import logging

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from chat.accounts.commands import CreateInvitation, CreateToken, Login, UpdateMe, UpdateUser
from chat.accounts.directory import get_me, list_users
from chat.accounts.emails import cancel_confirmation, check_may_sign_in
from chat.accounts.invitations import create_invitation, list_invitations, revoke_invitation
from chat.accounts.registration import RegisteredWithEmail, RegisterRequest, register_with_email
from chat.accounts.results import (
    InvitationCreated,
    InvitationInfo,
    InvitationList,
    SessionInfo,
    TokenCreated,
    TokenList,
    UserInfo,
    UserList,
)
from chat.accounts.sessions import COOKIE_NAME, check_credentials, end_session, start_session
from chat.accounts.tokens import create_token, list_tokens, revoke_token
from chat.accounts.users import reset_sessions, update_me, update_user
from chat.config import InvitePolicy, RegistrationMode
from chat.errors import ChatError, Invalid
from chat.store import workspace
from chat.web.api.email import mail_confirmation
from chat.web.auth import (
    authenticate,
    check_origin,
    clear_session_cookie,
    client_address,
    client_info,
    own_origin,
    require_actor,
    set_session_cookie,
)
from chat.web.http import json_ok, path_id, read_command
from chat.web.openapi import Query, api_route
from chat.web.state import services

log = logging.getLogger(__name__)

_BODY_ERRORS = ("malformed_json", "body_too_large", "invalid_body", "unknown_field", "wrong_type", "missing_field")


async def rules_in_force(session: AsyncSession, request: Request) -> tuple[RegistrationMode, InvitePolicy]:
    """The registration mode and invitation policy in force now (stored settings over ``CHAT_*``)."""
    ws = await workspace.load(session, services(request).settings)
    return ws.registration_mode, ws.invite_policy


def _check_browser_origin(request: Request) -> None:
    """CSRF for the unauthenticated forms (login CSRF); bearer requests are exempt."""
    if "authorization" not in request.headers:
        check_origin(request)


async def register_user(request: Request) -> Response:
    """Register; with an ``email``, mail its confirmation after commit. A relay that is missing or
    refuses the mail is logged and reported in the answer (``confirmation_sent``), never a failure:
    the account exists, and its owner asks for a new link from the settings."""
    _check_browser_origin(request)
    cmd = await read_command(request, RegisterRequest)
    services(request).limiters.register_address.hit(client_address(request))
    svc = services(request)
    async with svc.db.transaction() as session:
        ws = await workspace.load(session, svc.settings)
        done = await register_with_email(
            session,
            cmd,
            mode=ws.registration_mode,
            allowed_domains=ws.allowed_domains,
            invite_policy=ws.invite_policy,
            setup_token=svc.setup_token,
        )
    if done.confirmation is None:
        return json_ok(done.user, status=201)
    try:
        await mail_confirmation(request, done.confirmation)
        sent = True
    except ChatError as exc:  # no relay, or it refused: keep no link that was never mailed
        log.warning("registration of %s: confirmation not mailed (%s)", done.user.username, exc.code)
        async with svc.db.transaction() as session:
            await cancel_confirmation(session, done.confirmation.token_hash)
        sent = False
    fields = {f.name: getattr(done.user, f.name) for f in dataclasses.fields(done.user)}
    answer = RegisteredWithEmail(**fields, email_pending=done.confirmation.email, confirmation_sent=sent)
    return json_ok(answer, status=201)


async def login(request: Request) -> Response:
    _check_browser_origin(request)
    cmd = await read_command(request, Login)
    limits, address = services(request).limiters, client_address(request)
    limits.login_address.hit(address)
    limits.check_login(cmd.username, address)  # failures per account and address, then per account
    svc = services(request)
    try:
        async with svc.db.read() as session:
            credentials = await check_credentials(session, cmd)
            await check_may_sign_in(session, credentials.user_id)  # registered by domain: address proved?
    except ChatError as exc:
        if exc.code == "invalid_credentials":
            limits.login_failed(cmd.username, address)
        raise
    limits.login_succeeded(cmd.username, address)
    async with svc.db.transaction() as session:
        new = await start_session(
            session,
            credentials,
            days=svc.settings.session_days,
            client=client_info(request),
            replaces=request.cookies.get(COOKIE_NAME),
        )
    response = json_ok(new.info)
    set_session_cookie(response, request, new.secret)
    return response


async def logout(request: Request) -> Response:
    actor = await require_actor(request)
    auth = await authenticate(request)
    async with services(request).db.transaction() as session:
        await end_session(session, actor, auth.session_id if auth is not None else None)
    response = Response(status_code=204)
    clear_session_cookie(response, request)
    return response


async def show_me(request: Request) -> Response:
    actor = await require_actor(request)
    async with services(request).db.read() as session:
        return json_ok(await get_me(session, actor))


async def change_me(request: Request) -> Response:
    actor = await require_actor(request)
    auth = await authenticate(request)
    cmd = await read_command(request, UpdateMe)
    limits, address = services(request).limiters, client_address(request)
    if cmd.password is not None:
        limits.check_login(actor.username, address)  # the current password is a password guess too
    try:
        async with services(request).db.transaction() as session:
            user = await update_me(session, actor, cmd, keep_session=auth.session_id if auth is not None else None)
    except ChatError as exc:
        if exc.code == "wrong_password":
            limits.login_failed(actor.username, address)
        raise
    return json_ok(user)


async def new_token(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = await read_command(request, CreateToken)
    async with services(request).db.transaction() as session:
        created = await create_token(session, actor, cmd)
    return json_ok(created, status=201)


async def my_tokens(request: Request) -> Response:
    actor = await require_actor(request)
    async with services(request).db.read() as session:
        return json_ok(await list_tokens(session, actor))


async def delete_token(request: Request) -> Response:
    actor = await require_actor(request)
    async with services(request).db.transaction() as session:
        await revoke_token(session, actor, path_id(request))
    return Response(status_code=204)


async def new_invitation(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = await read_command(request, CreateInvitation)
    async with services(request).db.transaction() as session:
        mode, invite_policy = await rules_in_force(session, request)
        created = await create_invitation(session, actor, cmd, mode=mode, invite_policy=invite_policy)
    # the link is ready to copy: this server's origin before the registration path
    return json_ok(dataclasses.replace(created, link=own_origin(request) + created.link), status=201)


async def invitations(request: Request) -> Response:
    actor = await require_actor(request)
    async with services(request).db.read() as session:
        return json_ok(await list_invitations(session, actor))


async def delete_invitation(request: Request) -> Response:
    actor = await require_actor(request)
    async with services(request).db.transaction() as session:
        return json_ok(await revoke_invitation(session, actor, path_id(request)))


async def directory(request: Request) -> Response:
    actor = await require_actor(request)
    include_inactive = _flag(request, "include_inactive")
    async with services(request).db.read() as session:
        return json_ok(await list_users(session, actor, include_inactive=include_inactive))


async def change_user(request: Request) -> Response:
    actor = await require_actor(request)
    cmd = await read_command(request, UpdateUser)
    async with services(request).db.transaction() as session:
        user = await update_user(session, actor, path_id(request), cmd)
    return json_ok(user)


async def end_user_sessions(request: Request) -> Response:
    actor = await require_actor(request)
    async with services(request).db.transaction() as session:
        await reset_sessions(session, actor, path_id(request))
    return Response(status_code=204)


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "false").lower()
    if raw in ("1", "true", "yes"):
        return True
    if raw in ("0", "false", "no", ""):
        return False
    raise Invalid("wrong_type", f"{name} must be true or false", field=name)


routes: list[BaseRoute] = [
    api_route(
        "POST",
        "/users",
        register_user,
        "Register an account (first account becomes admin); with an email, its confirmation link is mailed",
        request=RegisterRequest,
        response=UserInfo | RegisteredWithEmail,
        status=201,
        auth=False,
        errors=(
            *_BODY_ERRORS,
            "too_long",
            "too_short",
            "bad_format",
            "password_too_long",
            "password_too_short",
            "username_taken",
            "username_reserved",
            "invitation_required",
            "registration_closed",
            "invalid_invitation",
            "setup_token_required",
            "invalid_setup_token",
            "csrf_failed",
            "too_many_registrations",
            "invalid_email",
            "email_domain_not_allowed",
            "email_taken",
        ),
    ),
    api_route(
        "POST",
        "/session",
        login,
        "Log in: sets the salon_session cookie",
        request=Login,
        response=SessionInfo,
        auth=False,
        errors=(
            *_BODY_ERRORS,
            "invalid_credentials",
            "account_deactivated",
            "email_unverified",
            "csrf_failed",
            "too_many_logins",
        ),
    ),
    api_route(
        "DELETE",
        "/session",
        logout,
        "Log out: ends this session",
        status=204,
        errors=("not_authenticated", "csrf_failed"),
    ),
    api_route("GET", "/me", show_me, "Your account", response=UserInfo, errors=("not_authenticated",)),
    api_route(
        "PATCH",
        "/me",
        change_me,
        "Change your display name or password (needs current_password)",
        request=UpdateMe,
        response=UserInfo,
        errors=(
            *_BODY_ERRORS,
            "not_authenticated",
            "csrf_failed",
            "nothing_to_change",
            "too_long",
            "empty",
            "password_too_long",
            "password_too_short",
            "wrong_password",
            "too_many_logins",
        ),
    ),
    api_route(
        "POST",
        "/tokens",
        new_token,
        "Create a personal API token (shown once)",
        request=CreateToken,
        response=TokenCreated,
        status=201,
        errors=(*_BODY_ERRORS, "not_authenticated", "csrf_failed", "too_long", "empty"),
    ),
    api_route(
        "GET",
        "/tokens",
        my_tokens,
        "Your API tokens (without secrets)",
        response=TokenList,
        errors=("not_authenticated",),
    ),
    api_route(
        "DELETE",
        "/tokens/{id:id}",
        delete_token,
        "Revoke one of your API tokens",
        status=204,
        errors=("not_authenticated", "csrf_failed", "token_not_found"),
    ),
    api_route(
        "POST",
        "/invitations",
        new_invitation,
        "Create an invitation code (shown once)",
        request=CreateInvitation,
        response=InvitationCreated,
        status=201,
        errors=(
            *_BODY_ERRORS,
            "not_authenticated",
            "csrf_failed",
            "cannot_invite",
            "conversation_not_found",
            "not_allowed",
            "conversation_archived",
            "guest_needs_conversations",
            "duplicate_ids",
            "too_many",
            "bad_format",
            "out_of_range",
            "wrong_value",
        ),
    ),
    api_route(
        "GET",
        "/invitations",
        invitations,
        "Invitations (admins: all; others: their own), newest first, without codes",
        response=InvitationList,
        errors=("not_authenticated",),
    ),
    api_route(
        "DELETE",
        "/invitations/{id:id}",
        delete_invitation,
        "Revoke an invitation (its creator or an admin)",
        response=InvitationInfo,
        errors=("not_authenticated", "csrf_failed", "invitation_not_found"),
    ),
    api_route(
        "GET",
        "/users",
        directory,
        "The user directory (guests see only people they share a conversation with)",
        response=UserList,
        query=[Query("include_inactive", bool, "admins: include deactivated accounts")],
        errors=("not_authenticated", "admin_required", "wrong_type"),
    ),
    api_route(
        "PATCH",
        "/users/{id:id}",
        change_user,
        "Admin: change a user's role, or (de)activate the account",
        request=UpdateUser,
        response=UserInfo,
        errors=(
            *_BODY_ERRORS,
            "not_authenticated",
            "csrf_failed",
            "admin_required",
            "user_not_found",
            "nothing_to_change",
            "one_change_at_a_time",
            "wrong_value",
            "last_admin",
        ),
    ),
    api_route(
        "DELETE",
        "/users/{id:id}/sessions",
        end_user_sessions,
        "Admin: end every login session of a user (logs them out everywhere)",
        status=204,
        errors=("not_authenticated", "csrf_failed", "admin_required", "user_not_found"),
    ),
]
