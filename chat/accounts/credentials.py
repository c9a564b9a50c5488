"""How events name a credential, so that open websockets can be closed when it ends.

A websocket is opened with a login session (cookie) or an API token. The events
that end one carry its name: ``session.logout`` (``session``), ``token.revoked``
(``token_id``) and ``user.password_changed`` (``kept_session``: the one session
the change leaves alive). The realtime hub closes the matching sockets on every
server process (close code 4001). A session's name is a tag of its stored id,
never the cookie secret.
"""

from __future__ import annotations


def session_tag(session_id: str) -> str:
    """The name of a session in events: the first 64 bits of its stored id (SHA-256 hex of
    the cookie secret), enough to tell a user's sessions apart and useless as a cookie."""
    return session_id[:16]
