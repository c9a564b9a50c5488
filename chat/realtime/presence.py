"""Who is online, across server processes: a pure table, no I/O.

Each server process ("node") reports the users who have a socket on it: one
message per change and a full list every few seconds. A user is online while
at least one node lists them; a node silent for too long is forgotten with all
its users. Every method returns the users whose overall status changed, for
the hub to announce.
"""

from __future__ import annotations

from collections.abc import Iterable

Change = tuple[int, bool]  # (user id, online now)


class PresenceTable:
    def __init__(self) -> None:
        self._where: dict[int, set[str]] = {}  # user -> nodes with a socket of theirs
        self._users: dict[str, set[int]] = {}  # node -> its users
        self._seen: dict[str, float] = {}  # node -> when it last spoke

    def is_online(self, user_id: int) -> bool:
        return user_id in self._where

    def mark(self, node: str, user_id: int, online: bool, *, now: float) -> list[Change]:
        """One node says one user connected (``online``) or left it."""
        self._seen[node] = now
        return self._set(node, user_id, online)

    def replace(self, node: str, users: Iterable[int], *, now: float) -> list[Change]:
        """One node lists all the users connected to it."""
        self._seen[node] = now
        return self._replace(node, set(users))

    def expire(self, *, before: float, keep: str) -> list[Change]:
        """Forget the nodes (other than ``keep``) not heard from since ``before``."""
        changes: list[Change] = []
        for node in [n for n, seen in self._seen.items() if seen < before and n != keep]:
            del self._seen[node]
            changes.extend(self._replace(node, set()))
        return changes

    def _set(self, node: str, user_id: int, online: bool) -> list[Change]:
        was = user_id in self._where
        if online:
            self._where.setdefault(user_id, set()).add(node)
            self._users.setdefault(node, set()).add(user_id)
        else:
            nodes = self._where.get(user_id)
            if nodes is not None:
                nodes.discard(node)
                if not nodes:
                    del self._where[user_id]
            users = self._users.get(node)
            if users is not None:
                users.discard(user_id)
                if not users:
                    del self._users[node]
        return [(user_id, online)] if was != (user_id in self._where) else []

    def _replace(self, node: str, users: set[int]) -> list[Change]:
        old = set(self._users.get(node, ()))
        changes: list[Change] = []
        for user_id in old - users:
            changes.extend(self._set(node, user_id, False))
        for user_id in users - old:
            changes.extend(self._set(node, user_id, True))
        return changes
