"""Which credential each socket was opened with, and the events that end one.

A socket is opened with a login session (named by its tag, see
``chat.accounts.credentials``) or an API token (its id). Six events end what a
socket may do; each is written in the same transaction as the change, in the
``system`` chain, and reaches every server process through the broker:

=========================  ==========================================  ========================
event                      sockets closed                              close code, reason
=========================  ==========================================  ========================
``session.logout``         the ones opened with that session           4001 ``logged out``
``session.login``          with ``replaced_session``: the ones opened  4001 ``logged out``
                           with the session the login replaced (its
                           cookie was presented at login)
``token.revoked``          the ones opened with that token             4001 ``token revoked``
``user.password_changed``  the user's session sockets, except those    4001 ``password changed``
                           of ``kept_session`` (the one that changed
                           it); token sockets stay (tokens survive a
                           password change; revoke one explicitly)
``user.sessions_reset``    the user's session sockets (an admin        4001 ``sessions reset``
                           logged them out everywhere; token
                           sockets stay)
``user.deactivated``       every socket of the user (the hub)          4003 ``account deactivated``
(the session expires)      the ones opened with it, when it expires    4001 ``session expired``
=========================  ==========================================  ========================

:class:`Revocations` remembers the recent ones for a socket that is being
opened: its credential was checked in a snapshot as of event id ``as_of``, and
an event after that, already applied when it attaches, must still close it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

REVOKING_KINDS = frozenset(
    {"session.logout", "session.login", "token.revoked", "user.password_changed", "user.sessions_reset"}
)
_PER_USER = 32  # recent revocations kept per user
_USERS = 10_000  # users with recent revocations kept (the oldest are forgotten first)


@dataclass(frozen=True)
class Credential:
    """What a socket was opened with: a session (``session`` = its tag) or a token (``token`` = its id).

    ``expires_at`` (POSIX seconds) is when a session stops working on its own: the hub closes
    the socket then (4001 ``session expired``)."""

    session: str | None = None
    token: int | None = None
    expires_at: float | None = None


def revocation_facts(kind: str, data: dict[str, Any]) -> dict[str, Any] | None:
    """The routing facts the hub needs about an event that ends credentials (None for other kinds)."""
    if kind == "session.logout":
        return {"session": data.get("session")}
    if kind == "session.login":  # a login that replaced a session ends it, like a logout
        replaced = data.get("replaced_session")
        return {"session": replaced} if replaced else None
    if kind == "token.revoked":
        return {"token": data.get("token_id")}
    if kind == "user.password_changed":
        return {"kept_session": data.get("kept_session")}
    if kind == "user.sessions_reset":
        return {"all_sessions": True}
    return None


def ends(kind: str, facts: dict[str, Any], credential: Credential) -> str | None:
    """The close reason if this event (of the socket's own user) ends ``credential``, else None."""
    if (
        kind in ("session.logout", "session.login")
        and credential.session is not None
        and credential.session == facts.get("session")
    ):
        return "logged out"
    if kind == "token.revoked" and credential.token is not None and credential.token == facts.get("token"):
        return "token revoked"
    if (
        kind == "user.password_changed"
        and credential.session is not None
        and credential.session != facts.get("kept_session")
    ):
        return "password changed"
    if kind == "user.sessions_reset" and credential.session is not None:
        return "sessions reset"
    return None


class Revocations:
    def __init__(self) -> None:
        self._recent: dict[int, deque[tuple[int, str, dict[str, Any]]]] = {}

    def record(self, user_id: int, event_id: int, kind: str, facts: dict[str, Any]) -> None:
        recent = self._recent.pop(user_id, None) or deque(maxlen=_PER_USER)
        recent.append((event_id, kind, facts))
        self._recent[user_id] = recent  # re-inserted: the dict's order is least recently revoked first
        if len(self._recent) > _USERS:
            del self._recent[next(iter(self._recent))]

    def ended_after(self, user_id: int, credential: Credential, as_of: int) -> str | None:
        """The close reason if an event newer than ``as_of`` ended ``credential``."""
        for event_id, kind, facts in self._recent.get(user_id, ()):
            if event_id > as_of and (reason := ends(kind, facts, credential)) is not None:
                return reason
        return None
