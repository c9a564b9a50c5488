"""Server-side login sessions.

The browser holds a random secret (``secrets.token_urlsafe(32)``) in the
``salon_session`` cookie; the database holds only its SHA-256
(``WebSession.id``), so a copy of the database cannot be replayed as cookies.

* Login is split in two so that argon2 never runs under the SQLite write lock:
  :func:`check_credentials` in a read session, then :func:`start_session` in a
  write transaction (which re-checks that the account is still active).
* Every login creates a new session row (the id rotates); a session cookie
  presented at login is revoked, and announced like a logout so its sockets close:
  ``session.login`` names it in ``replaced_session`` (its tag) when it was the same
  user's, and a ``session.logout`` of its owner does when it was someone else's (a
  shared browser). Logout deletes the row; deactivation deletes
  all of the user's rows; expired rows are refused and purged at the next login.
  ``session.logout`` names the session by :func:`session_tag`, so the realtime hub
  closes the sockets opened with it (close code 4001) on every server process.
* An unknown user, a bot and a wrong password get the same answer
  (401 ``invalid_credentials``) after the same work (a dummy argon2 check).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.accounts.commands import Login
from chat.accounts.credentials import session_tag
from chat.accounts.passwords import verify_password_async
from chat.accounts.results import SessionInfo, UserInfo
from chat.accounts.users import ACTOR_COLUMNS, actor_from_row, get_user_by_name
from chat.domain.actors import Actor
from chat.domain.events import append_event
from chat.errors import Unauthorized
from chat.store import models

COOKIE_NAME = "salon_session"


def session_id_of(secret: str) -> str:
    """The stored id of a session: SHA-256 hex of the cookie secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class ClientInfo:
    """Where a login comes from (kept on the session row for the user's device list)."""

    address: str = ""
    user_agent: str = ""


@dataclass(frozen=True)
class Credentials:
    """A checked username and password; ``rehash`` is set when the stored hash needs an upgrade."""

    user_id: int
    rehash: str | None = None


@dataclass(frozen=True)
class NewSession:
    """A started session; ``secret`` goes into the cookie and nowhere else."""

    secret: str
    id: str
    info: SessionInfo


def invalid_credentials() -> Unauthorized:
    return Unauthorized("invalid_credentials", "the username or password is wrong")


async def check_credentials(session: AsyncSession, cmd: Login) -> Credentials:
    """Verify a username and password (a read session is enough).

    401 ``invalid_credentials`` for an unknown user, a bot or a wrong password,
    all on the same path; 401 ``account_deactivated`` only with the right password.
    """
    user = await get_user_by_name(session, cmd.username)
    ok, rehash = await verify_password_async(cmd.password, user.password_hash if user is not None else None)
    if user is None or not ok:
        raise invalid_credentials()
    if not user.active:
        raise Unauthorized("account_deactivated", "this account is deactivated")
    return Credentials(user_id=user.id, rehash=rehash)


async def start_session(
    session: AsyncSession,
    credentials: Credentials,
    *,
    days: int,
    client: ClientInfo | None = None,
    replaces: str | None = None,
) -> NewSession:
    """Create a session for checked credentials; ``replaces`` is a cookie secret presented at login (revoked)."""
    client = client or ClientInfo()
    user = await session.get(models.User, credentials.user_id, with_for_update=True)
    if user is None or not user.active:  # deactivated between the check and now
        raise invalid_credentials()
    if credentials.rehash is not None:
        user.password_hash = credentials.rehash
    now = models.utcnow()
    stale = (models.WebSession.user_id == user.id) & (models.WebSession.expires_at <= now)
    replaced_id = session_id_of(replaces) if replaces else None
    replaced_owner: int | None = None
    if replaced_id is not None:
        replaced_owner = (
            await session.execute(select(models.WebSession.user_id).where(models.WebSession.id == replaced_id))
        ).scalar_one_or_none()
        stale = stale | (models.WebSession.id == replaced_id)
    await session.execute(delete(models.WebSession).where(stale))
    data: dict[str, object] = {"user_id": user.id}
    if replaced_id is not None and replaced_owner is not None:
        if replaced_owner == user.id:
            data["replaced_session"] = session_tag(replaced_id)
        else:  # someone else's cookie in this browser: their session ended, tell their sockets
            await append_event(
                session,
                kind="session.logout",
                actor_id=user.id,
                subject_id=replaced_owner,
                audience="subject",
                data={"user_id": replaced_owner, "session": session_tag(replaced_id)},
            )
    secret = secrets.token_urlsafe(32)
    row = models.WebSession(
        id=session_id_of(secret),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + timedelta(days=days),
        address=client.address[:64],
        user_agent=client.user_agent[:255],
    )
    session.add(row)
    await session.flush()
    await append_event(
        session,
        kind="session.login",
        actor_id=user.id,
        subject_id=user.id,
        audience="subject",
        data={**data, "address": row.address},
    )
    return NewSession(secret=secret, id=row.id, info=SessionInfo(user=UserInfo.of(user), expires_at=row.expires_at))


async def end_session(session: AsyncSession, actor: Actor, session_id: str | None) -> bool:
    """Log out: delete the session row (``session.logout``); False if there was none (token auth)."""
    if session_id is None:
        return False
    result = await session.execute(
        delete(models.WebSession).where(models.WebSession.id == session_id, models.WebSession.user_id == actor.id)
    )
    if not getattr(result, "rowcount", 0):
        return False
    await append_event(
        session,
        kind="session.logout",
        actor_id=actor.id,
        subject_id=actor.id,
        audience="subject",
        data={"user_id": actor.id, "session": session_tag(session_id)},
    )
    return True


MAX_SECRET_CHARS = 128  # a longer cookie is no session of ours: refused without a lookup


async def actor_for_session(session: AsyncSession, secret: str) -> tuple[Actor, str] | None:
    """The active user behind a cookie secret, with the session id; None if unknown, expired or inactive."""
    if not secret or len(secret) > MAX_SECRET_CHARS:
        return None
    sid = session_id_of(secret)
    actor = await actor_for_session_id(session, sid)
    return (actor, sid) if actor is not None else None


async def actor_for_session_id(session: AsyncSession, sid: str) -> Actor | None:
    """The user of a session that still works, as they are now."""
    found = await live_session(session, sid)
    return found[0] if found is not None else None


async def live_session(session: AsyncSession, sid: str) -> tuple[Actor, datetime] | None:
    """The user of a session that still works, as they are now, and when the session expires
    (a socket is closed when its session expires)."""
    row = (await session.execute(_LIVE_SESSION, {"sid": sid, "now": models.utcnow()})).first()
    return (actor_from_row(row), row[-1]) if row is not None else None


# built once: every request with a cookie, and every socket handshake, runs it
_LIVE_SESSION = (
    select(*ACTOR_COLUMNS, models.WebSession.expires_at)
    .join(models.WebSession, models.WebSession.user_id == models.User.id)
    .where(
        models.WebSession.id == bindparam("sid"),
        models.WebSession.expires_at > bindparam("now"),
        models.User.active.is_(True),
    )
)
